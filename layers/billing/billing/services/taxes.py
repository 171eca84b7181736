"""Taxes: the tenant's tax rates and tax settings, and the resolution of every line's rate before an invoice is
drafted (``apply_taxes``: one Query for the tenant's rates and settings, billing.domain.tax.resolve for each line)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.domain.changes import changes
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.models import Customer, DomainEvent
from billing.domain.pricing import LineInput
from billing.domain.tax import PlaceRule, TaxRate, TaxSettings, ordered_rules, resolve
from billing.observability import business_event
from billing.services.fields import Percent
from billing.services.unit import Claim, Context, remember, retrying


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


DisplayName = Field(min_length=1, max_length=50, examples=["VAT", "Sales tax", "消费税"])


class CreateTaxRate(_Strict):
    """The body of ``POST /v1/tax_rates``. ``percentage``: an exact decimal string ("8.875") or a whole number,
    0 to 100, at most 4 decimals; ``inclusive``: prices billed at it include the tax (it is split out of them)."""

    display_name: str = DisplayName
    description: str | None = Field(default=None, max_length=500)
    jurisdiction: str | None = Field(
        default=None, max_length=6, examples=["US-NY", "DE"], description='a country ("DE") or a subdivision ("US-NY")'
    )
    percentage: Percent = Field(ge=0, le=100, decimal_places=4, examples=["20", "8.875"])
    inclusive: bool = False
    active: bool = True


class UpdateTaxRate(BaseModel):
    """The body of ``POST /v1/tax_rates/{id}``: ``display_name`` and ``active`` only. Any other field (the
    percentage, inclusiveness, jurisdiction, description) is 422 ``tax_rate_immutable``: a new rate replaces it."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, min_length=1, max_length=50)
    active: bool | None = None

    def patch(self) -> dict[str, Any]:
        given = {name: getattr(self, name) for name in self.model_fields_set if name in ("display_name", "active")}
        if None in given.values():
            raise ValidationFailed("invalid_request", "display_name and active cannot be null")
        return {**given, **(self.model_extra or {})}


class TaxSettingsIn(_Strict):
    """The body of ``PUT /v1/settings/tax``: the default rate and the rules by place (a rule with a region is
    kept before the rules without; one rule per place). Every rate named must exist and be active."""

    default_tax_rate_id: str | None = Field(default=None, min_length=1, max_length=64)
    rules: list[PlaceRule] = Field(default_factory=list, max_length=200)


# --- rates -----------------------------------------------------------------------------------------------------
@retrying()
def create_tax_rate(ctx: Context, tenant_id: str, cmd: CreateTaxRate, claim: Claim | None = None) -> TaxRate:
    rate, event = TaxRate.create(tenant_id, ctx.clock.now(), **cmd.model_dump())
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_tax_rate(tx, rate)
    ctx.repo.add_event(tx, keys.tax_rate(tenant_id, rate.id), event)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("TaxRateCreated")
    return saved


def get_tax_rate(ctx: Context, tenant_id: str, tax_rate_id: str) -> TaxRate:
    return ctx.repo.tax_rate(tenant_id, tax_rate_id)


def list_tax_rates(
    ctx: Context, tenant_id: str, limit: int, cursor: str | None, active: bool | None
) -> tuple[list[TaxRate], str | None]:
    return ctx.repo.tax_rates(tenant_id, limit, cursor, active)


@retrying()
def update_tax_rate(
    ctx: Context, tenant_id: str, tax_rate_id: str, cmd: UpdateTaxRate, claim: Claim | None = None
) -> TaxRate:
    """Rename or archive/unarchive a rate. A rate the tax settings name (default or a place rule) cannot be archived
    (409 ``tax_rate_in_use``): change the settings first. Nothing changed: nothing written."""
    settings, settings_version, rates = ctx.repo.tax_book(tenant_id)
    rate = rates.get(tax_rate_id) or ctx.repo.tax_rate(tenant_id, tax_rate_id, consistent=True)  # 404 if none
    updated, event = rate.updated(cmd.patch(), ctx.clock.now())
    if event is None:
        return rate
    if not updated.active and rate.id in settings.rate_ids():
        raise Conflict(
            "tax_rate_in_use",
            f"tax rate {rate.id} is the tax settings' default or a place rule's: change the settings first",
            tax_rate_id=rate.id,
        )
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_tax_rate(tx, updated)
    ctx.repo.add_event(tx, keys.tax_rate(tenant_id, rate.id), event)
    if not updated.active:  # the settings must not come to name it meanwhile: their version is checked too
        ctx.repo.save_tax_settings(tx, tenant_id, settings, settings_version)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("TaxRateUpdated")
    return saved


def usable_rate(ctx: Context, tenant_id: str, tax_rate_id: str) -> TaxRate:
    """A rate a new plan, order line or item may name: it exists (422 ``tax_rate_not_found``) and is active (422
    ``tax_rate_inactive``)."""
    try:
        rate = ctx.repo.tax_rate(tenant_id, tax_rate_id)
    except NotFound:
        raise ValidationFailed("tax_rate_not_found", f"no tax rate {tax_rate_id}", tax_rate_id=tax_rate_id) from None
    if not rate.active:
        raise ValidationFailed("tax_rate_inactive", f"tax rate {tax_rate_id} is archived", tax_rate_id=tax_rate_id)
    return rate


# --- settings --------------------------------------------------------------------------------------------------
def tax_settings(ctx: Context, tenant_id: str) -> TaxSettings:
    return ctx.repo.tax_settings(tenant_id)[0]


@retrying()
def replace_tax_settings(ctx: Context, tenant_id: str, cmd: TaxSettingsIn, claim: Claim | None = None) -> TaxSettings:
    """Replace the tenant's tax settings; every rate they name must exist and be active (422). Written with a
    check of each named rate's version, so a rate archived meanwhile makes this retry (and then refuse)."""
    old, version, rates = ctx.repo.tax_book(tenant_id)
    new = TaxSettings(default_tax_rate_id=cmd.default_tax_rate_id, rules=ordered_rules(cmd.rules))
    for rate_id in sorted(new.rate_ids()):
        rate = rates.get(rate_id)
        if rate is None:
            raise ValidationFailed("tax_rate_not_found", f"no tax rate {rate_id}", tax_rate_id=rate_id)
        if not rate.active:
            raise ValidationFailed("tax_rate_inactive", f"tax rate {rate_id} is archived", tax_rate_id=rate_id)
    tx = ctx.repo.transaction()
    ctx.repo.save_tax_settings(tx, tenant_id, new, version)
    for rate_id in sorted(new.rate_ids() - old.rate_ids()):  # a rate newly named: still as read (active)
        ctx.repo.save_tax_rate(tx, rates[rate_id])
    diff = changes(old.model_dump(mode="json"), new.model_dump(mode="json"))
    event = DomainEvent.new(
        "tenant.tax_settings_updated", tenant_id, "tenant", tenant_id, ctx.clock.now(), changes=diff
    )
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    remember(ctx, tx, tenant_id, claim, new.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("TaxSettingsChanged")
    return new


# --- the resolution --------------------------------------------------------------------------------------------
def apply_taxes(
    ctx: Context,
    tenant_id: str,
    customer: Customer,
    lines: Sequence[LineInput],
    plan_rates: dict[str, str | None] | None = None,
    *,
    archived_ok: bool = False,
    book: tuple[TaxSettings, int, dict[str, TaxRate]] | None = None,
) -> list[LineInput]:
    """Every line with the tax rate it gets (billing.domain.tax.resolve), from ONE Query of the tenant's rates and
    settings. A line's own rate is its ``tax_rate_id`` (an order line's, an invoice item's), else its free-form
    ``tax_rate_percent``; its plan's is ``plan_rates[line.plan_id]`` (a subscription item's snapshot).
    ``archived_ok``: the line's and plan's rates were chosen before (a subscription bills on at them). ``book``:
    the tenant's ``tax_book`` read already (a billing run reads it once for its batch)."""
    plan_rates = plan_rates or {}
    settings, _, rates = book or ctx.repo.tax_book(tenant_id)
    resolved = []
    for line in lines:
        line_rate_id = getattr(line, "tax_rate_id", None)
        ref = resolve(
            tax_exempt=customer.tax_exempt,
            tax_ids=customer.tax_ids,
            address=customer.address,
            settings=settings,
            rates=rates,
            line_rate_id=line_rate_id,
            plan_rate_id=plan_rates.get(line.plan_id) if line.plan_id else None,
            line_percent=Decimal(0) if line.tax_rate is not None else line.tax_rate_percent,
            archived_ok=archived_ok,
        )
        if line.tax_rate is not None and line_rate_id is None and customer.tax_exempt == "none":
            ref = line.tax_rate  # resolved already (a pending item's snapshot)
        base = line.model_dump(exclude={"tax_rate_id"})
        resolved.append(LineInput(**{**base, "tax_rate": ref, "tax_rate_percent": ref.percentage if ref else 0}))
    return resolved


def rate_ids_of(lines: Iterable[Any]) -> set[str]:
    return {line.tax_rate_id for line in lines if getattr(line, "tax_rate_id", None)}
