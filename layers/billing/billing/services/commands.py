"""What a caller may ask for: the validated request bodies of the API, shared by every door into the services."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, model_validator

from billing.domain.errors import ValidationFailed
from billing.domain.models import METADATA_MAX_KEYS, SUPPORTED_LOCALES, Address, CollectionMethod, TaxExempt
from billing.domain.payments import OfflineMethod
from billing.domain.periods import validate_timezone
from billing.domain.pricing import MAX_AMOUNT, Discount
from billing.domain.profile import SellerProfile
from billing.domain.tax import TaxIdType, validated_tax_id, validated_tax_ids
from billing.services.fields import Currency as Currency  # re-exported: their home is fields.py
from billing.services.fields import Percent as Percent
from billing.services.fields import Redeeming as Redeeming
from billing.services.fields import _Strict
from billing.services.scheduled import ScheduledRun as ScheduledRun  # re-exported: its home is scheduled.py

ExternalId = Annotated[str, Field(min_length=1, max_length=200)]


def _locale(value: str) -> str:
    lang = value.replace("_", "-").split("-")[0].lower()
    if lang not in SUPPORTED_LOCALES:
        raise ValueError(f"locale must be one of {', '.join(SUPPORTED_LOCALES)}")
    return lang


class AddressIn(_Strict, Address):
    """Stripe's address limits, roughly: enough for any real address, and an item stays far under DynamoDB's
    400 KB."""

    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2, pattern=r"^[A-Z]{2}$", examples=["DE"])


class SellerProfileIn(SellerProfile):
    """The seller profile as a tenant sends it: the address within the customers' address limits."""

    address: AddressIn | None = None


Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Locale = Annotated[str, Field(examples=["en", "zh", "ru"]), AfterValidator(_locale)]
Timezone = Annotated[str, Field(max_length=64, examples=["Europe/Moscow"]), AfterValidator(validate_timezone)]
MetadataKey = Annotated[str, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Field(max_length=500)]


class TaxIdIn(_Strict):
    """A customer's tax id: its format and check digits are checked (python-stdnum) and it is kept compact
    (``"DE 136 695 976"`` -> ``DE136695976``); an invalid one is 422 ``invalid_tax_id`` naming the type."""

    type: TaxIdType
    value: str = Field(min_length=1, max_length=64, examples=["DE136695976"])

    @model_validator(mode="after")
    def _valid(self) -> TaxIdIn:
        self.value = validated_tax_id(self.type, self.value).value
        return self


def _tax_ids(ids: list[TaxIdIn] | None) -> list[TaxIdIn] | None:
    if ids is not None:
        validated_tax_ids(ids)  # at most 5, none twice
    return ids


TaxIds = Annotated[list[TaxIdIn], AfterValidator(_tax_ids)]


class CreateCustomer(_Strict):
    email: Email
    name: Name
    locale: Locale
    currency: Currency
    external_id: ExternalId | None = None
    address: AddressIn | None = None
    timezone: Timezone = "UTC"
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=METADATA_MAX_KEYS)
    tax_exempt: TaxExempt = Field(
        default="none", description="exempt or reverse: no tax on its invoices (reverse charge needs a tax id)"
    )
    tax_ids: TaxIds = Field(default_factory=list, description="at most 5, e.g. [{type: eu_vat, value: DE136695976}]")


class AddressPatch(AddressIn):
    """An address as a PATCH gives it: the fields given replace theirs, ``null`` clears one."""


class EraseCustomer(_Strict):
    """``POST /v1/customers/{id}/erase``: tombstone the customer's personal data (docs/api.md, "Erasure")."""

    force: bool = Field(
        default=False,
        description="erase although money is owed or a dispute is open (an admin-scoped key only: else 403)",
    )
    keep_metadata: list[MetadataKey] = Field(
        default_factory=list,
        max_length=METADATA_MAX_KEYS,
        description="metadata keys that hold no personal data and stay (a CRM's id); every other key is erased",
    )


class UpdateCustomer(_Strict):
    """``PATCH /v1/customers/{id}``: JSON merge semantics. A field left out stays as it is; ``address`` and
    ``metadata`` merge key by key (``null`` deletes a key; ``"address": null`` or ``"metadata": null`` clears all).
    ``currency`` changes only while the customer has no invoice and no subscription; ``external_id`` moves its
    uniqueness guard (``null`` releases it)."""

    email: Email | None = None
    name: Name | None = None
    locale: Locale | None = None
    timezone: Timezone | None = None
    currency: Currency | None = None
    external_id: ExternalId | None = None
    address: AddressPatch | None = None
    metadata: dict[MetadataKey, MetadataValue | None] | None = Field(default=None, max_length=METADATA_MAX_KEYS)
    tax_exempt: TaxExempt | None = None
    tax_ids: TaxIds | None = Field(default=None, description="replaces the list (null or []: none)")

    @model_validator(mode="after")
    def _no_null_for_required(self) -> UpdateCustomer:
        cleared = sorted(
            n
            for n in ("email", "name", "locale", "timezone", "currency", "tax_exempt")
            if n in self.model_fields_set and getattr(self, n) is None
        )
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null")
        return self

    def patch(self) -> dict[str, object]:
        """The fields given, as the merge applies them (an address with only the fields given)."""
        given = self.model_dump(include=self.model_fields_set)
        if self.address is not None:
            given["address"] = self.address.model_dump(include=self.address.model_fields_set)
        return given


class RecordPayment(_Strict):
    """Money received outside Stripe for an invoice (a wire, cash, a check), as the ERP or the finance team
    records it. ``(method, reference)`` identifies it: recorded twice, it is the same payment."""

    amount: int = Field(ge=1, le=MAX_AMOUNT, strict=True, description="in the invoice currency's minor unit")
    currency: Currency | None = Field(default=None, description="the invoice's currency, if given")
    method: OfflineMethod
    reference: str = Field(
        min_length=1, max_length=200, description="the bank's or receipt's reference: unique per method"
    )
    received_at: AwareDatetime = Field(description="when the money arrived (not in the future)")
    recorded_by: str | None = Field(default=None, max_length=200, description="who recorded it (a person, an ERP)")


class ReversePayment(_Strict):
    """A reversal entry: the payment did not stand (a bounced check, a recalled wire)."""

    reason: str = Field(min_length=1, max_length=500, examples=["check bounced"])
    recorded_by: str | None = Field(default=None, max_length=200)


class OrderLineIn(_Strict):
    """An order line: its tax is a tax rate object of the tenant (``tax_rate_id``), or the compatibility path, a
    free-form exclusive ``tax_rate_percent`` without an object; both at once is 422 ``tax_rate_ambiguous``.
    Neither: the tenant's tax settings decide (billing.domain.tax.resolve)."""

    description: str = Field(min_length=1, max_length=500)
    quantity: int = Field(ge=1, le=1_000_000, strict=True)
    unit_amount: int = Field(ge=0, le=MAX_AMOUNT, strict=True)
    tax_rate_percent: Percent = Field(
        default=Decimal(0),
        ge=0,
        le=100,
        decimal_places=4,
        examples=["8.25"],
        description="compatibility: an exclusive rate without a tax rate object (prefer tax_rate_id)",
    )
    tax_rate_id: str | None = Field(default=None, min_length=1, max_length=64, examples=["txr_01JE…"])

    @model_validator(mode="after")
    def _one_rate(self) -> OrderLineIn:
        if self.tax_rate_id is not None and "tax_rate_percent" in self.model_fields_set:
            raise ValidationFailed(
                "tax_rate_ambiguous", "give a line tax_rate_id or tax_rate_percent (the compatibility path), not both"
            )
        return self


class DiscountIn(_Strict, Discount):
    model_config = ConfigDict(title="DiscountIn")  # its own name, not the stored OrderDiscount's
    percent_off: Percent | None = Field(default=None, gt=0, le=100, decimal_places=4, examples=["10"])
    amount_off: int | None = Field(default=None, gt=0, le=MAX_AMOUNT, strict=True)

    @model_validator(mode="after")
    def _one_kind(self) -> DiscountIn:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("give exactly one of percent_off and amount_off")
        return self


class PlaceOrder(Redeeming):
    customer_id: str = Field(min_length=1, max_length=64)
    currency: Currency
    lines: list[OrderLineIn] = Field(min_length=1, max_length=50)
    discount: DiscountIn | None = None
    collection_method: CollectionMethod
    days_until_due: int | None = Field(default=None, ge=0, le=365, strict=True)
    external_id: ExternalId | None = None
    metadata: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50
    )

    @model_validator(mode="after")
    def _due_days(self) -> PlaceOrder:
        if self.collection_method == "send_invoice" and self.days_until_due is None:
            self.days_until_due = 30
        if self.collection_method == "charge_automatically" and self.days_until_due not in (None, 0):
            raise ValueError("days_until_due applies to send_invoice orders only")
        return self
