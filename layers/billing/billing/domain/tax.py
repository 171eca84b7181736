"""Taxes: the tenant's tax rates, its tax settings (a default rate, rules by place), customers' tax ids, and the one
rule that says which rate an invoice line gets.

Pure Python: no I/O. docs/money.md ("Which rate a line gets") says the same:

1. A customer who is tax ``exempt`` or on ``reverse`` charge gets no tax on any line (the price billed is the
   price; a reverse-charge invoice states that the recipient accounts for the VAT). Reverse charge needs at least one
   validated tax id on the customer.
2. Otherwise a line gets its own rate (an order line's or invoice item's ``tax_rate_id``), else its plan's
   (a subscription item keeps the plan's rate id as a snapshot), else the first of the tenant's place rules that
   matches the customer's address (a rule with a region before one without), else the tenant's default rate, else
   none. The storefront's free-form ``tax_rate_percent`` on an order line is the line's own rate (the
   compatibility path) and wins over the place rules and the default.
3. A rate named by a line or a plan must exist (``tax_rate_not_found``) and be active when it is used
   (``tax_rate_inactive``); a subscription keeps billing at the rate its item was made with even once that rate is
   archived (as Stripe does). The settings never name an archived rate (archiving one they name is refused).

A rate's percentage, inclusiveness and jurisdiction never change once it exists: a new rate replaces an old one,
and invoices keep the snapshot (``TaxRateRef``) of the rate their lines were billed at.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.errors import ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import Address, DomainEvent, TaxExempt, TaxId
from billing.domain.pricing import TaxRateRef

JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")  # ISO 3166-1 alpha-2, or a 3166-2 subdivision: "US-NY"
MAX_TAX_IDS = 5
MAX_PLACE_RULES = 200
EDITABLE = frozenset({"display_name", "active"})


class TaxRate(BaseModel):
    id: str
    tenant_id: str
    display_name: str
    description: str | None = None
    jurisdiction: str | None = None
    percentage: Decimal
    inclusive: bool = False
    active: bool = True
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @classmethod
    def create(
        cls,
        tenant_id: str,
        now: datetime,
        *,
        display_name: str,
        percentage: Decimal,
        inclusive: bool = False,
        jurisdiction: str | None = None,
        description: str | None = None,
        active: bool = True,
    ) -> tuple[TaxRate, DomainEvent]:
        check_percentage(percentage)
        if jurisdiction is not None and not JURISDICTION.match(jurisdiction):
            raise ValidationFailed(
                "invalid_jurisdiction",
                f'a jurisdiction is a country ("DE") or a subdivision ("US-NY"), not {jurisdiction!r}',
            )
        rate = cls(
            id=new_id("txr", now),
            tenant_id=tenant_id,
            display_name=display_name,
            description=description,
            jurisdiction=jurisdiction,
            percentage=percentage,
            inclusive=inclusive,
            active=active,
            created_at=now,
            updated_at=now,
        )
        event = DomainEvent.new(
            "tax_rate.created",
            tenant_id,
            "tax_rate",
            rate.id,
            now,
            display_name=display_name,
            percentage=str(percentage),
            inclusive=inclusive,
            jurisdiction=jurisdiction,
        )
        return rate, event

    def updated(self, patch: dict[str, Any], now: datetime) -> tuple[TaxRate, DomainEvent | None]:
        """The rate with ``patch`` applied: only ``display_name`` and ``active`` may change (anything else is 422
        ``tax_rate_immutable``: a new rate replaces an old one). No change: the rate as it is and no event."""
        fixed = sorted(set(patch) - EDITABLE)
        if fixed:
            raise ValidationFailed(
                "tax_rate_immutable",
                f"a tax rate's {', '.join(fixed)} never change{'s' if len(fixed) == 1 else ''}: create a new rate "
                "and archive this one",
                fields=fixed,
            )
        changes = {
            name: {"before": getattr(self, name), "after": value}
            for name, value in patch.items()
            if getattr(self, name) != value
        }
        if not changes:
            return self, None
        rate = self.model_copy(update={**{k: v["after"] for k, v in changes.items()}, "updated_at": now})
        event = DomainEvent.new("tax_rate.updated", self.tenant_id, "tax_rate", self.id, now, changes=changes)
        return rate, event

    def ref(self) -> TaxRateRef:
        """The snapshot an invoice line keeps of the rate it was billed at."""
        return TaxRateRef(
            id=self.id,
            display_name=self.display_name,
            percentage=self.percentage,
            inclusive=self.inclusive,
            jurisdiction=self.jurisdiction,
        )


def check_percentage(percentage: Decimal) -> Decimal:
    if not percentage.is_finite() or not Decimal(0) <= percentage <= Decimal(100):
        raise ValidationFailed("invalid_percentage", "a tax rate's percentage is 0 to 100")
    if percentage.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValidationFailed("invalid_percentage", "a tax rate's percentage has at most 4 decimals")
    return percentage


class PlaceRule(BaseModel):
    """Customers whose address is in ``country`` (and ``region``, the address's ``state``, if given) get
    ``tax_rate_id`` on lines that name no rate of their own."""

    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["US"])
    region: str | None = Field(default=None, min_length=1, max_length=100, examples=["NY"])
    tax_rate_id: str = Field(min_length=1, max_length=64)

    def matches(self, address: Address | None) -> bool:
        if address is None or address.country is None or address.country.upper() != self.country:
            return False
        if self.region is None:
            return True
        return (address.state or "").strip().upper() == self.region.upper()


class TaxSettings(BaseModel):
    """A tenant's tax settings: its default rate and its rules by place (the more specific applies: a rule with a
    region before one without, in the order given otherwise)."""

    default_tax_rate_id: str | None = Field(default=None, min_length=1, max_length=64)
    rules: list[PlaceRule] = Field(default_factory=list, max_length=MAX_PLACE_RULES)

    def rate_ids(self) -> set[str]:
        ids = {rule.tax_rate_id for rule in self.rules}
        return ids | ({self.default_tax_rate_id} if self.default_tax_rate_id else set())

    def for_place(self, address: Address | None) -> str | None:
        """The rate id of the most specific rule that matches ``address``, else the default, else None."""
        ordered = sorted(self.rules, key=lambda rule: rule.region is None)  # stable: the order given within each
        rule = next((r for r in ordered if r.matches(address)), None)
        return rule.tax_rate_id if rule else self.default_tax_rate_id


def ordered_rules(rules: list[PlaceRule]) -> list[PlaceRule]:
    """Rules as the settings keep them: most specific first, and one rule per place."""
    seen: set[tuple[str, str | None]] = set()
    for rule in rules:
        place = (rule.country, rule.region.upper() if rule.region else None)
        if place in seen:
            where = rule.country + (f"-{rule.region}" if rule.region else "")
            raise ValidationFailed("duplicate_tax_rule", f"two rules for {where}: give one rule per place")
        seen.add(place)
    return sorted(rules, key=lambda rule: rule.region is None)


# --- tax ids ------------------------------------------------------------------------------------------------------
# Each type and the python-stdnum module that checks its format and check digits (no network: a VIES lookup is not
# a format check and is not made here).
TAX_ID_TYPES: dict[str, str] = {
    "eu_vat": "stdnum.eu.vat",
    "ru_inn": "stdnum.ru.inn",
    "cn_uscc": "stdnum.cn.uscc",
    "gb_vat": "stdnum.gb.vat",
    "us_ein": "stdnum.us.ein",
    "ch_vat": "stdnum.ch.vat",
    "no_vat": "stdnum.no.mva",
    "au_abn": "stdnum.au.abn",
}
TaxIdType = Literal["eu_vat", "ru_inn", "cn_uscc", "gb_vat", "us_ein", "ch_vat", "no_vat", "au_abn"]


def validated_tax_id(type_: str, value: str) -> TaxId:
    """The tax id, checked and compacted (``"de 136 695 976"`` -> ``DE136695976``); 422 ``invalid_tax_id``
    naming the type if it is not a valid one of that type."""
    import importlib

    from stdnum.exceptions import ValidationError

    module_name = TAX_ID_TYPES.get(type_)
    if module_name is None:
        raise ValidationFailed("invalid_tax_id", f"unknown tax id type {type_!r}", tax_id_type=type_)
    module = importlib.import_module(module_name)
    try:
        compact = module.validate(value)
    except ValidationError as error:
        raise ValidationFailed(
            "invalid_tax_id", f"{value!r} is not a valid {type_} ({error.message})", tax_id_type=type_
        ) from None
    return TaxId(type=type_, value=compact)


def validated_tax_ids(ids: list[TaxId]) -> list[TaxId]:
    if len(ids) > MAX_TAX_IDS:
        raise ValidationFailed("too_many_tax_ids", f"a customer has at most {MAX_TAX_IDS} tax ids")
    checked = [validated_tax_id(t.type, t.value) for t in ids]
    if len({(t.type, t.value) for t in checked}) != len(checked):
        raise ValidationFailed("duplicate_tax_id", "the same tax id is given twice")
    return checked


def check_tax_status(tax_exempt: TaxExempt, tax_ids: list[TaxId]) -> None:
    """Reverse charge needs a validated tax id (the invoice names the recipient who accounts for the tax)."""
    if tax_exempt == "reverse" and not tax_ids:
        raise ValidationFailed(
            "reverse_charge_needs_tax_id", "a reverse-charge customer needs a tax id (tax_ids: [{type, value}])"
        )


# --- the resolution -----------------------------------------------------------------------------------------------
def resolve(
    *,
    tax_exempt: TaxExempt,
    tax_ids: list[TaxId],
    address: Address | None,
    settings: TaxSettings,
    rates: dict[str, TaxRate],
    line_rate_id: str | None = None,
    plan_rate_id: str | None = None,
    line_percent: Decimal = Decimal(0),
    archived_ok: bool = False,
) -> TaxRateRef | None:
    """The rate a line gets (module docstring, rules 1-3). ``line_percent`` is the free-form compatibility rate of
    an order line (non-zero: it is the line's own, without an object). ``archived_ok``: the line's or plan's rate was
    chosen before (a subscription's snapshot) and still applies once archived."""
    if tax_exempt in ("exempt", "reverse"):
        check_tax_status(tax_exempt, tax_ids)
        return None
    if line_rate_id is not None:
        return _rate(rates, line_rate_id, archived_ok).ref()
    if line_percent:
        return TaxRateRef(display_name="Tax", percentage=line_percent)
    if plan_rate_id is not None:
        return _rate(rates, plan_rate_id, archived_ok).ref()
    chosen = settings.for_place(address)
    return _rate(rates, chosen, False).ref() if chosen else None


def _rate(rates: dict[str, TaxRate], rate_id: str, archived_ok: bool) -> TaxRate:
    rate = rates.get(rate_id)
    if rate is None:
        raise ValidationFailed("tax_rate_not_found", f"no tax rate {rate_id}", tax_rate_id=rate_id)
    if not rate.active and not archived_ok:
        raise ValidationFailed("tax_rate_inactive", f"tax rate {rate_id} is archived", tax_rate_id=rate_id)
    return rate
