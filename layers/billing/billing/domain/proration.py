"""Proration: what a change of items in the middle of a paid period credits and charges.

Rules (docs/subscriptions.md says the same):

- The share of a period left at ``at`` is an exact fraction:
  - ``second``: whole seconds left (rounded down) over the period's seconds;
  - ``day``: local calendar days left over the period's local calendar days, in the customer's time zone; the day of
    the change counts as left (a change any time on 15 March credits and charges 15 March to the period's end).
- ``prorate(amount) = round_half_up(amount x share left)``, in ``Decimal``, once per proration line.
- A change credits every item whose period amount changes or that goes (``-prorate(old amount)``) and charges every
  item whose amount changes or that comes (``+prorate(new amount)``); an item whose amount stays is untouched.
- A credit returns part of the charge the item actually has: it is measured like that charge (its ``basis``: the
  whole period billed in advance, or a proration by seconds or days). The share left only shrinks as time passes
  and half-up rounding is monotone, so a credit is never more than the charge it returns, however many changes
  are chained in a period. Over a period, charges minus credits equal the time-weighted amounts to within half a
  minor unit per proration line.
- Cancelling now is the credit half of a change to no items.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.money import round_minor
from billing.domain.plans import local_date

Granularity = Literal["second", "day"]
_SECOND = timedelta(seconds=1)


class ProrationItem(BaseModel):
    """One item as proration sees it: its amount for a whole period and how its current charge was measured."""

    key: str  # the plan id: one item per plan
    description: str  # "Pro plan × 3"
    amount: int = Field(ge=0)
    basis: Granularity | None = None  # None: billed for the whole period in advance


class ProrationLine(BaseModel):
    key: str
    kind: Literal["credit", "charge"]
    description: str
    amount: int  # negative for a credit
    discountable: bool = True  # False: its discount is taken already (billing.domain.coupons.discount_proration)


def remaining_fraction(
    start: datetime, end: datetime, at: datetime, granularity: Granularity, *, tz: str = "UTC"
) -> Fraction:
    """The exact share of the period [start, end) left at ``at`` (start <= at <= end)."""
    if not start < end:
        raise ValueError("a period ends after it starts")
    if not start <= at <= end:
        raise ValueError("a proration falls within its period")
    if granularity == "second":
        return Fraction((end - at) // _SECOND, (end - start) // _SECOND)
    zone = ZoneInfo(tz)
    last = end.astimezone(zone).date()
    return Fraction((last - at.astimezone(zone).date()).days, (last - start.astimezone(zone).date()).days)


def prorate(
    amount: int, start: datetime, end: datetime, at: datetime, granularity: Granularity, *, tz: str = "UTC"
) -> int:
    """``round_half_up(amount x the share of the period left at at)``."""
    share = remaining_fraction(start, end, at, granularity, tz=tz)
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any amount x share this product can meet: the half-up rule alone rounds
        return round_minor(Decimal(amount * share.numerator) / Decimal(share.denominator))


def _by_key(items: list[ProrationItem]) -> dict[str, ProrationItem]:
    keyed = {i.key: i for i in items}
    if len(keyed) != len(items):
        raise ValueError("one proration item per key")
    return keyed


def change(
    items_before: list[ProrationItem],
    items_after: list[ProrationItem],
    start: datetime,
    end: datetime,
    at: datetime,
    granularity: Granularity,
    *,
    tz: str = "UTC",
) -> list[ProrationLine]:
    """The credit and charge lines for replacing ``items_before`` with ``items_after`` at ``at``.

    Credits first (in ``items_before`` order), then charges (in ``items_after`` order). Every line is returned,
    zero amounts included, so a caller can see each proration made; ``granularity`` measures the new charges, and
    each credit is measured like the charge it returns.
    """
    before, after = _by_key(items_before), _by_key(items_after)
    day = local_date(at, tz)
    lines = []
    for key, old in before.items():
        if key not in after or after[key].amount != old.amount:
            amount = prorate(old.amount, start, end, at, old.basis or granularity, tz=tz)
            lines.append(
                ProrationLine(
                    key=key, kind="credit", description=f"Unused time on {old.description} from {day}", amount=-amount
                )
            )
    for key, new in after.items():
        if key not in before or before[key].amount != new.amount:
            amount = prorate(new.amount, start, end, at, granularity, tz=tz)
            lines.append(
                ProrationLine(
                    key=key, kind="charge", description=f"Remaining time on {new.description} from {day}", amount=amount
                )
            )
    return lines


def carried(
    items_before: list[ProrationItem], items_after: list[ProrationItem], granularity: Granularity
) -> list[ProrationItem]:
    """``items_after`` as they stand after ``change``: prorated ones measured by ``granularity``, untouched ones as
    they were."""
    before = _by_key(items_before)
    return [
        new.model_copy(update={"basis": before[new.key].basis})
        if new.key in before and before[new.key].amount == new.amount
        else new.model_copy(update={"basis": granularity})
        for new in items_after
    ]


def cancellation_credits(
    items_before: list[ProrationItem],
    start: datetime,
    end: datetime,
    at: datetime,
    granularity: Granularity,
    *,
    tz: str = "UTC",
) -> list[ProrationLine]:
    """The credits for cancelling at ``at``: the credit half of a change to no items."""
    return change(items_before, [], start, end, at, granularity, tz=tz)
