"""Coupons, promotion codes and the discounts they apply (pure: no I/O). docs/money.md and docs/api.md say the same.

- A coupon's terms (percent or amount off, duration, plans, limits) never change once it is created; only its name
  and metadata do. Archiving it stops new redemptions; the discounts it applied go on.
- A promotion code is a customer-facing code for a coupon, unique per tenant case-insensitively, with its own
  limits (expiry, redemptions, first-time customers only, a minimum amount, a per-customer limit).
- A discount is a coupon applied to an order, a subscription or a customer: a snapshot of the coupon's terms, from
  ``start`` to ``end``. It applies to the invoices whose period starts while it is in effect (Stripe's rule):
  ``once`` the first such invoice, ``repeating`` the first ``duration_in_periods`` (a customer's discount:
  ``duration_in_periods`` months from its start, over all their subscriptions and orders), ``forever`` all.
- Proration in a discounted period: a credit for unused time gives back what was paid for that time (the charge's
  discount taken off), and the charge for the rest of the period is discounted if the discount is in effect at the
  change (``discount_proration``).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.changes import changes
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import DomainEvent
from billing.domain.money import normalize_currency, percent_of, round_minor
from billing.domain.periods import period_bounds
from billing.domain.plans import Interval
from billing.domain.proration import ProrationLine
from billing.domain.state_machine import StateMachine

Duration = Literal["once", "repeating", "forever"]
COUPON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CODE = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
MAX_PERIODS = 120
MAX_AMOUNT = 99_999_999_999

COUPON = StateMachine(
    "coupon",
    {
        ("active", "update"): "active",
        ("archived", "update"): "archived",  # its name and metadata still change
        ("active", "archive"): "archived",  # no new redemptions; discounts applied go on
    },
)


class CouponTerms(BaseModel):
    """What a discount keeps of its coupon: the terms as they were when it was applied (they never change)."""

    id: str
    name: str
    percent_off: Decimal | None = None
    amount_off: dict[str, int] | None = None
    duration: Duration
    duration_in_periods: int | None = None
    applies_to_plans: list[str] | None = None

    def label(self) -> str:
        """How a proration line says the discount was taken: "20 % off" (an amount off: "discount taken")."""
        if self.percent_off is not None:
            return f"{_plain(self.percent_off)} % off"
        return "discount taken"

    def applies_to(self, plan_id: str | None) -> bool:
        return self.applies_to_plans is None or plan_id in self.applies_to_plans


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


class Coupon(BaseModel):
    id: str
    tenant_id: str
    name: str
    percent_off: Decimal | None = None
    amount_off: dict[str, int] | None = None  # {currency: minor units}
    duration: Duration
    duration_in_periods: int | None = None
    applies_to_plans: list[str] | None = None
    max_redemptions: int | None = None
    redeem_by: datetime | None = None
    times_redeemed: int = 0  # read from the coupon's redemption counter (an item of its own), never written here
    status: Literal["active", "archived"] = "active"
    archived_at: datetime | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    # --- reading -----------------------------------------------------------------------------------------------
    def valid_at(self, now: datetime) -> bool:
        """Whether it can be redeemed now (derived: not archived, not past redeem_by, redemptions left)."""
        return (
            self.status == "active"
            and (self.redeem_by is None or now < self.redeem_by)
            and (self.max_redemptions is None or self.times_redeemed < self.max_redemptions)
        )

    def terms(self) -> CouponTerms:
        return CouponTerms(
            id=self.id,
            name=self.name,
            percent_off=self.percent_off,
            amount_off=self.amount_off,
            duration=self.duration,
            duration_in_periods=self.duration_in_periods,
            applies_to_plans=self.applies_to_plans,
        )

    def _event(self, type_: str, now: datetime, **data: Any) -> DomainEvent:
        return DomainEvent.new(type_, self.tenant_id, "coupon", self.id, now, **data)

    # --- changes -----------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        tenant_id: str,
        now: datetime,
        *,
        name: str,
        duration: Duration,
        id: str | None = None,  # noqa: A002 - the tenant's own id for it
        percent_off: Decimal | None = None,
        amount_off: dict[str, int] | None = None,
        duration_in_periods: int | None = None,
        applies_to_plans: list[str] | None = None,
        max_redemptions: int | None = None,
        redeem_by: datetime | None = None,
        metadata: dict[str, str] | None = None,
    ) -> tuple[Coupon, list[DomainEvent]]:
        if id is not None and not COUPON_ID.match(id):
            raise ValidationFailed("invalid_coupon_id", "a coupon id is 1 to 64 of A-Z a-z 0-9 _ -")
        if (percent_off is None) == (amount_off is None):
            raise ValidationFailed("coupon_terms", "give exactly one of percent_off and amount_off")
        if percent_off is not None:
            if isinstance(percent_off, float):
                raise ValidationFailed("coupon_terms", "percent_off is exact: a string or a whole number")
            percent_off = Decimal(percent_off)
            if not Decimal(0) < percent_off <= Decimal(100) or percent_off != percent_off.quantize(Decimal("0.01")):
                raise ValidationFailed("coupon_terms", "percent_off is above 0, at most 100, with at most 2 decimals")
        if amount_off is not None:
            if not amount_off:
                raise ValidationFailed("coupon_terms", "amount_off needs an amount in at least one currency")
            normalized = {}
            for currency, amount in amount_off.items():
                if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
                    raise ValidationFailed("coupon_terms", "an amount_off is a whole number of minor units above 0")
                normalized[normalize_currency(currency)] = amount
            amount_off = normalized
        if duration == "repeating":
            if duration_in_periods is None or not 1 <= duration_in_periods <= MAX_PERIODS:
                raise ValidationFailed(
                    "coupon_terms", f"a repeating coupon lasts 1 to {MAX_PERIODS} periods (duration_in_periods)"
                )
        elif duration_in_periods is not None:
            raise ValidationFailed("coupon_terms", "duration_in_periods applies to a repeating coupon only")
        if max_redemptions is not None and max_redemptions < 1:
            raise ValidationFailed("coupon_terms", "max_redemptions is at least 1")
        if redeem_by is not None:
            if redeem_by.tzinfo is None:
                raise ValidationFailed("naive_datetime", "give redeem_by with its UTC offset")
            if redeem_by <= now:
                raise ValidationFailed("redeem_by_in_past", "redeem_by is in the future")
        if applies_to_plans is not None:
            if not applies_to_plans:
                raise ValidationFailed("coupon_terms", "applies_to_plans lists at least one plan (or is left out)")
            applies_to_plans = list(dict.fromkeys(applies_to_plans))
        coupon = cls(
            id=id or new_id("co", now),
            tenant_id=tenant_id,
            name=name,
            percent_off=percent_off,
            amount_off=amount_off,
            duration=duration,
            duration_in_periods=duration_in_periods,
            applies_to_plans=applies_to_plans,
            max_redemptions=max_redemptions,
            redeem_by=redeem_by,
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
        )
        return coupon, [coupon._event("coupon.created", now, duration=duration)]

    def update(
        self, now: datetime, *, name: str | None = None, metadata: dict[str, str | None] | None = None
    ) -> tuple[Coupon, list[DomainEvent]]:
        """Its name and metadata (merged key by key; ``None`` deletes a key). Its terms never change."""
        COUPON.next_state(self.status, "update")
        merged = dict(self.metadata)
        for key, value in (metadata or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        after = self.model_copy(update={"name": name or self.name, "metadata": merged, "updated_at": now})
        diff = changes(
            {"name": self.name, "metadata": self.metadata}, {"name": after.name, "metadata": after.metadata}
        )
        if not diff:
            return self, []
        return after, [after._event("coupon.updated", now, changes=diff)]

    def archive(self, now: datetime) -> tuple[Coupon, list[DomainEvent]]:
        status = COUPON.next_state(self.status, "archive")
        after = self.model_copy(update={"status": status, "archived_at": now, "updated_at": now})
        diff = changes({"status": self.status, "archived_at": None}, {"status": status, "archived_at": now.isoformat()})
        return after, [after._event("coupon.archived", now, changes=diff)]

    def check_redeemable(self, now: datetime, currency: str) -> None:
        """Refuse a redemption now, for a customer billed in ``currency``. The redemption count is checked again
        (exactly) by the redemption's own write."""
        if self.status != "active":
            raise Conflict("coupon_archived", f"coupon {self.id} is archived: it takes no new redemptions")
        if self.redeem_by is not None and now >= self.redeem_by:
            raise Conflict("coupon_expired", f"coupon {self.id} could be redeemed until {self.redeem_by.isoformat()}")
        if self.max_redemptions is not None and self.times_redeemed >= self.max_redemptions:
            raise Conflict("coupon_max_redemptions", f"coupon {self.id} has been redeemed {self.max_redemptions} times")
        if self.amount_off is not None and currency not in self.amount_off:
            raise Conflict("coupon_currency", f"coupon {self.id} has no amount off in {currency}")


class Restrictions(BaseModel):
    first_time_transaction: bool = False  # only a customer who has no invoice yet
    minimum_amount: dict[str, int] | None = None  # {currency: minor units}: an order's subtotal at least this
    per_customer_limit: int | None = None  # at most this many redemptions by one customer


class PromotionCode(BaseModel):
    id: str
    tenant_id: str
    code: str  # as the tenant wrote it; unique case-insensitively
    coupon_id: str
    active: bool = True
    expires_at: datetime | None = None
    max_redemptions: int | None = None
    restrictions: Restrictions = Field(default_factory=Restrictions)
    times_redeemed: int = 0  # read from its redemption counter
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def lookup(self) -> str:
        return normalize_code(self.code)

    def _event(self, type_: str, now: datetime, **data: Any) -> DomainEvent:
        return DomainEvent.new(type_, self.tenant_id, "promotion_code", self.id, now, **data)

    @classmethod
    def create(
        cls,
        tenant_id: str,
        coupon: Coupon,
        now: datetime,
        *,
        code: str,
        active: bool = True,
        expires_at: datetime | None = None,
        max_redemptions: int | None = None,
        restrictions: Restrictions | None = None,
        metadata: dict[str, str] | None = None,
    ) -> tuple[PromotionCode, list[DomainEvent]]:
        normalize_code(code)
        if coupon.status != "active":
            raise Conflict("coupon_archived", f"coupon {coupon.id} is archived")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValidationFailed("naive_datetime", "give expires_at with its UTC offset")
            if expires_at <= now:
                raise ValidationFailed("expires_at_in_past", "expires_at is in the future")
        if max_redemptions is not None and max_redemptions < 1:
            raise ValidationFailed("promotion_code_terms", "max_redemptions is at least 1")
        restrictions = restrictions or Restrictions()
        if restrictions.per_customer_limit is not None and restrictions.per_customer_limit < 1:
            raise ValidationFailed("promotion_code_terms", "per_customer_limit is at least 1")
        if restrictions.minimum_amount == {}:  # no minimum in any currency: none
            restrictions = restrictions.model_copy(update={"minimum_amount": None})
        if restrictions.minimum_amount is not None:
            minimum = {normalize_currency(c): a for c, a in restrictions.minimum_amount.items()}
            if any(a < 1 for a in minimum.values()):
                raise ValidationFailed("promotion_code_terms", "a minimum_amount is at least 1 minor unit")
            restrictions = restrictions.model_copy(update={"minimum_amount": minimum})
        promo = cls(
            id=new_id("promo", now),
            tenant_id=tenant_id,
            code=code,
            coupon_id=coupon.id,
            active=active,
            expires_at=expires_at,
            max_redemptions=max_redemptions,
            restrictions=restrictions,
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
        )
        return promo, [promo._event("promotion_code.created", now, code=code, coupon_id=coupon.id)]

    def set_active(self, active: bool, now: datetime) -> tuple[PromotionCode, list[DomainEvent]]:
        if active == self.active:
            return self, []
        after = self.model_copy(update={"active": active, "updated_at": now})
        diff = {"active": {"before": self.active, "after": active}}
        return after, [after._event("promotion_code.updated", now, changes=diff)]

    def check_redeemable(
        self, now: datetime, currency: str, *, has_invoice: bool, amount: int | None, customer_redemptions: int
    ) -> None:
        """Refuse a redemption by a customer (``has_invoice``: they were invoiced before; ``amount``: the order's
        subtotal, None for a subscription or a customer; ``customer_redemptions``: theirs of this code so far)."""
        if not self.active:
            raise Conflict("promotion_code_inactive", f"promotion code {self.code} is not active")
        if self.expires_at is not None and now >= self.expires_at:
            raise Conflict("promotion_code_expired", f"promotion code {self.code} expired at {self.expires_at}")
        if self.max_redemptions is not None and self.times_redeemed >= self.max_redemptions:
            raise Conflict("promotion_code_max_redemptions", f"promotion code {self.code} is used up")
        limit = self.restrictions.per_customer_limit
        if limit is not None and customer_redemptions >= limit:
            raise Conflict("promotion_code_customer_limit", f"promotion code {self.code} is used {limit} times by them")
        if self.restrictions.first_time_transaction and has_invoice:
            raise Conflict("promotion_code_first_time_only", f"promotion code {self.code} is for first-time customers")
        minimum = (self.restrictions.minimum_amount or {}).get(currency)
        if self.restrictions.minimum_amount is not None:
            if minimum is None:
                raise Conflict(
                    "promotion_code_minimum_amount", f"promotion code {self.code} has no minimum in {currency}"
                )
            if amount is not None and amount < minimum:
                raise Conflict(
                    "promotion_code_minimum_amount",
                    f"promotion code {self.code} needs an order of at least {minimum} (minor units); this is {amount}",
                    minimum_amount=minimum,
                )


def normalize_code(code: str) -> str:
    """The code as it is looked up and kept unique: case-insensitively."""
    if not CODE.match(code):
        raise ValidationFailed("invalid_promotion_code", "a code is 3 to 64 of A-Z a-z 0-9 _ -")
    return code.upper()




class Discount(BaseModel):
    """A coupon applied: to an order, a subscription, or a customer (all their subscriptions and orders that have
    none of their own). In effect from ``start`` to ``end`` (None: until further notice)."""

    id: str
    tenant_id: str
    coupon: CouponTerms
    promotion_code_id: str | None = None
    customer_id: str
    subscription_id: str | None = None
    order_id: str | None = None
    start: datetime
    end: datetime | None = None
    periods_left: int | None = None  # a subscription's repeating discount: the invoices it still discounts
    invoices: int = 0  # the invoices it discounted
    removed_at: datetime | None = None

    @classmethod
    def apply(
        cls,
        coupon: Coupon,
        customer_id: str,
        now: datetime,
        *,
        subscription_id: str | None = None,
        order_id: str | None = None,
        promotion_code_id: str | None = None,
    ) -> Discount:
        now = now.replace(microsecond=0)  # as periods are counted: a discount applied at a period's start is in it
        end = None
        periods_left = None
        if coupon.duration == "repeating":
            if subscription_id is None and order_id is None:  # a customer's: months from now
                end = period_bounds(now, "UTC", Interval(unit="month", count=1), coupon.duration_in_periods or 1)[0]
            else:
                periods_left = coupon.duration_in_periods
        return cls(
            id=new_id("di", now),
            tenant_id=coupon.tenant_id,
            coupon=coupon.terms(),
            promotion_code_id=promotion_code_id,
            customer_id=customer_id,
            subscription_id=subscription_id,
            order_id=order_id,
            start=now,
            end=end,
            periods_left=periods_left,
        )

    @property
    def target(self) -> str:
        return "order" if self.order_id else "subscription" if self.subscription_id else "customer"

    def in_effect(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)

    def as_input(self, currency: str) -> Any:
        """The discount as the pricing core takes it for an invoice in ``currency``."""
        from billing.domain.pricing import DiscountInput

        amount = None
        if self.coupon.amount_off is not None:
            if currency not in self.coupon.amount_off:
                raise Conflict("coupon_currency", f"coupon {self.coupon.id} has no amount off in {currency}")
            amount = self.coupon.amount_off[currency]
        return DiscountInput(
            id=self.id,
            coupon_id=self.coupon.id,
            name=self.coupon.name,
            percent_off=self.coupon.percent_off,
            amount_off=amount,
            plan_ids=self.coupon.applies_to_plans,
        )

    def after_invoice(self, period_end: datetime | None, now: datetime) -> tuple[Discount, bool]:
        """The discount after it discounted one more invoice (a subscription period ending at ``period_end``, or an
        order's invoice: None), and whether it ended with it."""
        update: dict[str, Any] = {"invoices": self.invoices + 1}
        ended = False
        if self.coupon.duration == "once":
            update["end"] = now
            ended = True
        elif self.periods_left is not None:
            left = self.periods_left - 1
            update["periods_left"] = left
            if left <= 0:
                update["end"] = period_end or now
                ended = True
        return self.model_copy(update=update), ended

    def removed(self, now: datetime) -> Discount:
        return self.model_copy(update={"removed_at": now, "end": now if self.end is None else min(self.end, now)})

    def _event(self, type_: str, now: datetime, **data: Any) -> DomainEvent:
        return DomainEvent.new(
            type_,
            self.tenant_id,
            "discount",
            self.id,
            now,
            coupon_id=self.coupon.id,
            promotion_code_id=self.promotion_code_id,
            customer_id=self.customer_id,
            subscription_id=self.subscription_id,
            order_id=self.order_id,
            **data,
        )


def effective(own: Discount | None, customer: Discount | None, at: datetime) -> Discount | None:
    """The discount in effect at ``at`` for a subscription or an order: its own wins over its customer's."""
    if own is not None and own.in_effect(at):
        return own
    if customer is not None and customer.in_effect(at):
        return customer
    return None


def check_applicable(terms: CouponTerms, plan_ids: list[str | None]) -> None:
    """Refuse a coupon limited to plans when none of the lines or items bills one of them."""
    if terms.applies_to_plans is not None and not any(terms.applies_to(p) for p in plan_ids):
        raise Conflict("coupon_not_applicable", f"coupon {terms.id} applies to none of these items")


# --- proration in a discounted period -------------------------------------------------------------------------
class PaidShare(BaseModel):
    """What was paid for a plan's charge in the open period: ``paid`` of ``charged`` (the discount taken off)."""

    paid: int
    charged: int
    label: str | None = None  # how the line says it: "20 % off"

    def ratio(self) -> Fraction:
        return Fraction(self.paid, self.charged) if self.charged else Fraction(1)


def paid_shares(lines: list[Any]) -> dict[str, PaidShare]:
    """Per plan, what an invoice's lines charged and what was paid after discounts (priced lines with ``plan_id``,
    ``amount`` and ``discount_amount``), for the proration of a later change in that period."""
    shares: dict[str, PaidShare] = {}
    for line in lines:
        plan_id = getattr(line, "plan_id", None)
        if plan_id is None or line.amount <= 0:
            continue
        was = shares.get(plan_id, PaidShare(paid=0, charged=0))
        paid = was.paid + line.amount - line.discount_amount
        shares[plan_id] = PaidShare(paid=paid, charged=was.charged + line.amount, label=was.label)
    return shares


def discount_proration(
    lines: list[ProrationLine],
    paid: dict[str, PaidShare],
    at_change: CouponTerms | None,
) -> tuple[list[ProrationLine], dict[str, PaidShare]]:
    """The proration lines of a change with the discounts taken: (the lines, what is paid per plan after it).

    - A credit gives back what was paid for the unused time: ``round_half_up(credit x paid / charged)`` of the
      plan's charge in the period (``paid``), never more than was paid.
    - A charge for the rest of the period is discounted by ``at_change`` (the discount in effect at the change) if it
      is a percent off and applies to the plan: ``charge - round_half_up(charge x percent / 100)``. An amount off is
      taken once per invoice, on the invoice's own lines, never on a proration.
    Discounted lines are not discountable again (``discountable=False``) and say so in their description.
    """
    out: list[ProrationLine] = []
    after = dict(paid)
    for line in lines:
        if line.kind == "credit":
            share = paid.get(line.key)
            if share is None or share.paid == share.charged:
                out.append(line.model_copy(update={"discountable": False}))
                continue
            ratio = share.ratio()
            amount = -round_minor(Decimal(-line.amount * ratio.numerator) / Decimal(ratio.denominator))
            label = share.label or "discount taken"
            out.append(
                ProrationLine(
                    key=line.key,
                    kind="credit",
                    description=f"{line.description} ({label})",
                    amount=amount,
                    discountable=False,
                )
            )
            continue
        if at_change is not None and at_change.percent_off is not None and at_change.applies_to(line.key):
            off = percent_of(line.amount, at_change.percent_off)
            label = at_change.label()
            out.append(
                ProrationLine(
                    key=line.key,
                    kind="charge",
                    description=f"{line.description} ({label})",
                    amount=line.amount - off,
                    discountable=False,
                )
            )
            after[line.key] = PaidShare(paid=line.amount - off, charged=line.amount, label=label)
        else:
            out.append(line.model_copy(update={"discountable": False}))
            after[line.key] = PaidShare(paid=line.amount, charged=line.amount)
    return out, after
