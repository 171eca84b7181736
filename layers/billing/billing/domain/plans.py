"""The plan catalogue: what a subscription is billed for each period, and how a quantity becomes an amount.

Rules (docs/subscriptions.md says the same):

- A plan repeats every ``interval`` (``count`` weeks, months or years, 1-36) and has one price per currency.
- ``licensed`` plans are billed for the subscribed quantity; ``metered`` plans for the usage summed over the period.
- A price's scheme turns a quantity into an amount, in exact integers of the currency's minor unit:
  - ``flat``: ``amount``, whatever the quantity (0 included); a metered plan may not have one (usage would not count);
  - ``per_unit``: quantity x ``amount``;
  - ``tiered_graduated``: every unit is charged at the tier it falls in, plus the ``flat_amount`` of every tier at
    least one unit reached (``up_to`` is inclusive: tiers up to 10 / up to 100 / open put unit 10 in the first tier
    and unit 11 in the second);
  - ``tiered_volume``: every unit at the tier the total quantity falls in, plus that tier's ``flat_amount``.
  A quantity of 0 costs nothing in either tiered scheme (no tier is reached).
- Tiers: ``up_to`` strictly increasing, only the last tier open (``up_to`` None). All amounts 0..MAX_AMOUNT.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from billing.domain.base_model import BaseModel
from billing.domain.errors import ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import DomainEvent
from billing.domain.money import normalize_currency
from billing.domain.pricing import MAX_AMOUNT, LineInput

Scheme = Literal["flat", "per_unit", "tiered_graduated", "tiered_volume"]
Usage = Literal["licensed", "metered"]
Currency = Annotated[str, AfterValidator(normalize_currency)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, strict=True)]
MAX_TIERS = 25
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Interval(_Forbid):
    unit: Literal["week", "month", "year"]
    count: int = Field(default=1, ge=1, le=36, strict=True)


class Tier(_Forbid):
    up_to: int | None = Field(ge=1, le=10**12, strict=True, description="last unit in this tier; None: open")
    unit_amount: Amount = 0
    flat_amount: Amount = 0


class PlanPrice(_Forbid):
    currency: Currency
    scheme: Scheme
    amount: Amount | None = Field(default=None, description="flat: the amount; per_unit: the amount of one unit")
    tiers: list[Tier] | None = Field(default=None, min_length=1, max_length=MAX_TIERS)

    @model_validator(mode="after")
    def _shape(self) -> PlanPrice:
        if self.scheme in ("flat", "per_unit"):
            if self.amount is None or self.tiers is not None:
                raise ValueError(f"a {self.scheme} price has an amount and no tiers")
            return self
        if self.tiers is None or self.amount is not None:
            raise ValueError("a tiered price has tiers and no amount")
        bounds = [t.up_to for t in self.tiers]
        if bounds[-1] is not None or None in bounds[:-1]:
            raise ValueError("only the last tier is open (up_to null), and it must be")
        if any(a >= b for a, b in pairwise(bounds[:-1])):
            raise ValueError("tiers' up_to must increase strictly")
        return self


class Plan(BaseModel):
    id: str
    tenant_id: str
    name: str
    interval: Interval
    usage: Usage
    prices: dict[str, PlanPrice]  # keyed by currency
    trial_days: int = 0
    tax_rate_id: str | None = None  # the tax rate its lines get (billing.domain.tax.resolve); None: the settings'
    created_at: datetime
    version: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if any(key != price.currency for key, price in self.prices.items()):
            raise ValueError("prices are keyed by their currency")
        _check_usage(self.usage, self.prices.values())
        return self

    @classmethod
    def create(cls, tenant_id: str, request: PlanRequest, now: datetime) -> tuple[Plan, list[DomainEvent]]:
        plan = cls(
            id=new_id("plan", now),
            tenant_id=tenant_id,
            name=request.name,
            interval=request.interval,
            usage=request.usage,
            prices={p.currency: p for p in request.prices},
            trial_days=request.trial_days,
            tax_rate_id=request.tax_rate_id,
            created_at=now,
        )
        event = DomainEvent.new("plan.created", tenant_id, "plan", plan.id, now, name=plan.name)
        return plan, [event]

    def price_for(self, currency: str) -> PlanPrice:
        cur = normalize_currency(currency)
        if cur not in self.prices:
            raise ValidationFailed("no_price_for_currency", f"plan {self.id} has no price in {cur}", plan_id=self.id)
        return self.prices[cur]


class PlanRequest(_Forbid):
    """The body of ``POST /v1/plans``. Prices come as a list, one per currency; the plan keys them by currency."""

    name: str = Field(min_length=1, max_length=200)
    interval: Interval
    usage: Usage = "licensed"
    prices: list[PlanPrice] = Field(min_length=1, max_length=50)
    trial_days: int = Field(default=0, ge=0, le=730, strict=True)
    tax_rate_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the tax rate of its lines (an active rate of the tenant); none: the tenant's tax settings",
    )

    @model_validator(mode="after")
    def _rules(self) -> PlanRequest:
        currencies = [p.currency for p in self.prices]
        if len(set(currencies)) != len(currencies):
            raise ValidationFailed("duplicate_currency", "a plan has one price per currency")
        _check_usage(self.usage, self.prices)
        return self


def _check_usage(usage: Usage, prices) -> None:
    if usage == "metered" and any(p.scheme == "flat" for p in prices):
        raise ValidationFailed("flat_price_on_metered_plan", "a metered plan's price must depend on the usage")


def amount_for(price: PlanPrice, quantity: int) -> int:
    """The amount for ``quantity`` units (or the usage of a metered plan) under ``price``, exact."""
    if quantity < 0:
        raise ValidationFailed("negative_quantity", "a quantity may not be negative")
    if price.scheme == "flat":
        return price.amount or 0
    if price.scheme == "per_unit":
        return quantity * (price.amount or 0)
    if quantity == 0:
        return 0
    tiers = price.tiers or []
    if price.scheme == "tiered_volume":
        tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
        return quantity * tier.unit_amount + tier.flat_amount
    total, below = 0, 0  # graduated: `below` units are already counted in earlier tiers
    for tier in tiers:
        units = (quantity if tier.up_to is None else min(quantity, tier.up_to)) - below
        if units <= 0:
            break
        total += units * tier.unit_amount + tier.flat_amount
        below += units
    return total


def local_date(instant: datetime, tz: str) -> str:
    """``instant``'s date where the customer is, as "1 Mar 2026"."""
    day = instant.astimezone(ZoneInfo(tz)).date()
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def lines_for(
    plan: Plan | str, price: PlanPrice, quantity: int, period_start: datetime, period_end: datetime, *, tz: str = "UTC"
) -> list[LineInput]:
    """The invoice line for one plan over one period: "Pro plan × 3 (1 Mar 2026 – 1 Apr 2026)".

    ``plan`` is the plan or its name (a subscription keeps a snapshot of the name). The dates are the period's
    bounds in the customer's time zone ``tz``; the end is the next period's start. Flat: 1 x amount. Per unit:
    quantity x amount. Tiered: 1 x the tiered amount, the description naming the quantity.
    """
    name = plan if isinstance(plan, str) else plan.name
    period = f"({local_date(period_start, tz)} – {local_date(period_end, tz)})"
    amount = amount_for(price, quantity)
    if price.scheme == "flat":
        return [LineInput(description=f"{name} {period}", quantity=1, unit_amount=amount)]
    if price.scheme == "per_unit":
        return [LineInput(description=f"{name} × {quantity} {period}", quantity=quantity, unit_amount=price.amount)]
    units = "unit" if quantity == 1 else "units"
    kind = price.scheme.removeprefix("tiered_")
    return [
        LineInput(description=f"{name} – {quantity} {units}, {kind} tiers {period}", quantity=1, unit_amount=amount)
    ]
