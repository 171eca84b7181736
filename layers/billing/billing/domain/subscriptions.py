"""The subscription aggregate: plans billed every period, in advance or in arrears, with proration on changes.

Rules (docs/subscriptions.md says the same):

- Items: one per plan, all on one interval (``mixed_intervals``), each with a price in the subscription's currency
  (``no_price_for_currency``), a snapshot of it taken when the item is made. Quantity applies to per-unit and tiered
  licensed prices; flat prices and metered plans take quantity 1.
- Periods are counted from ``billing_anchor`` in ``timezone`` (billing.domain.periods). ``current_period_index`` is
  the period the next billing run opens; ``next_billing_at`` is its start: the end of the period the subscription is
  in, or the trial's end (the start of period 0). None: nothing is due (held for review, or canceled and settled).
- The run for period k (``bill_period(k, ...)``) bills licensed items for period k **in advance** and metered items
  for period k - 1 **in arrears** (the usage summed over it), with the proration lines that changes in period k - 1
  left pending. It depends only on the subscription and its arguments, so a retried run gives the same invoice, and
  it refuses any k but ``current_period_index``. Period 0 closes nothing: usage during a trial is free.
- A trial ends with the first invoice: the anchor is the trial's end and the run for period 0 starts the
  subscription. Without a trial the anchor is the start (or a later ``billing_anchor``) and period 0 is billed then.
- A change in a paid period (active or past due) prorates licensed items (billing.domain.proration): the credit and
  charge lines wait in ``pending_proration`` for the next invoice. In a trial, under review or before the first
  invoice, items are simply replaced. A metered item removed mid-period is still billed for that period's usage.
- Cancel at period end: the next run bills what is owed in arrears and cancels. Cancel now: the unused time of the
  period is credited (the credit half of a change to no items) and one last run settles the arrears and credits.
- A suspended subscription (service paused, e.g. by dunning) is not charged in advance for a period that starts
  while it is suspended (its usage and pending prorations are still invoiced); it cannot change its items.
- Held for review (enterprise or trial orders): nothing is billed until approved; approval starts the trial, or
  the subscription, then, and a subscription without a trial goes straight on to active.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from billing.domain import proration
from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import CollectionMethod, DomainEvent
from billing.domain.money import normalize_currency, round_minor
from billing.domain.periods import local_days_after, period_bounds, validate_timezone
from billing.domain.plans import Interval, Plan, PlanPrice, Usage, amount_for, lines_for
from billing.domain.pricing import LineInput
from billing.domain.proration import Granularity, ProrationItem, ProrationLine
from billing.domain.state_machine import StateMachine

MAX_ITEMS = 20
MAX_TRIAL_DAYS = 730

SUBSCRIPTION = StateMachine(
    "subscription",
    {
        ("pending_review", "approve"): "trialing",  # and on to active at once when there is no trial
        ("pending_review", "change"): "pending_review",
        ("pending_review", "cancel"): "canceled",
        ("trialing", "start"): "active",  # the trial's end: the first invoice
        ("trialing", "expire"): "canceled",  # the trial's end, canceled at period end: no invoice
        ("trialing", "change"): "trialing",
        ("trialing", "cancel"): "canceled",
        ("active", "bill"): "active",
        ("active", "change"): "active",
        ("active", "fall_past_due"): "past_due",
        ("active", "suspend"): "suspended",
        ("active", "expire"): "canceled",
        ("active", "cancel"): "canceled",
        ("past_due", "bill"): "past_due",
        ("past_due", "change"): "past_due",
        ("past_due", "recover"): "active",
        ("past_due", "suspend"): "suspended",
        ("past_due", "expire"): "canceled",
        ("past_due", "cancel"): "canceled",
        ("suspended", "bill"): "suspended",
        ("suspended", "resume"): "active",
        ("suspended", "expire"): "canceled",
        ("suspended", "cancel"): "canceled",
        ("canceled", "settle"): "canceled",  # the last invoice of a subscription canceled now
    },
)
_PRORATING = ("active", "past_due", "suspended")  # a period is paid for: changes and cancellations are prorated
RECURRING = _PRORATING  # a subscriber until canceled, behind on payment or not: what MRR counts
_PER_MONTH = {"week": (52, 12), "month": (1, 1), "year": (1, 12)}  # an interval's amount x a / b is a month's


class SubscriptionItem(BaseModel):
    plan_id: str
    plan_name: str
    quantity: int = Field(default=1, ge=1)
    price: PlanPrice  # the plan's price in the subscription's currency, when the item was made
    interval: Interval
    usage: Usage
    basis: Granularity | None = None  # how its charge for the open period was measured; None: the whole period
    tax_rate_id: str | None = None  # the plan's tax rate when the item was made: it bills on at it (a snapshot)

    @classmethod
    def of(cls, plan: Plan, currency: str, quantity: int = 1) -> SubscriptionItem:
        price = plan.price_for(currency)
        if quantity < 1:
            raise ValidationFailed("invalid_quantity", "a quantity is at least 1")
        if quantity != 1 and (plan.usage == "metered" or price.scheme == "flat"):
            raise ValidationFailed("quantity_not_applicable", f"plan {plan.id} is billed without a quantity")
        return cls(
            plan_id=plan.id,
            plan_name=plan.name,
            quantity=quantity,
            price=price,
            interval=plan.interval,
            usage=plan.usage,
            tax_rate_id=plan.tax_rate_id,
        )

    @property
    def description(self) -> str:
        return self.plan_name if self.price.scheme == "flat" else f"{self.plan_name} × {self.quantity}"

    def proration_item(self) -> ProrationItem:
        amount = amount_for(self.price, self.quantity)
        return ProrationItem(key=self.plan_id, description=self.description, amount=amount, basis=self.basis)


def _of_plan(item: SubscriptionItem, lines: list[LineInput]) -> list[LineInput]:
    """The item's lines, naming its plan (its tax rate and the discounts that apply to listed plans find them)."""
    return [line.model_copy(update={"plan_id": item.plan_id}) for line in lines]


class Subscription(BaseModel):
    id: str
    tenant_id: str
    customer_id: str
    currency: str
    items: list[SubscriptionItem]
    retired_items: list[SubscriptionItem] = Field(default_factory=list)  # metered, removed in the open period
    timezone: str = "UTC"
    billing_anchor: datetime
    trial_days: int = 0
    trial_end: datetime | None = None
    collection_method: CollectionMethod = "charge_automatically"
    days_until_due: int | None = None
    status: str
    review_reason: str | None = None
    current_period_index: int = 0
    next_billing_at: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    pending_proration: list[ProrationLine] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    # --- reading -----------------------------------------------------------------------------------------------

    @property
    def interval(self) -> Interval:
        return self.items[0].interval

    @property
    def monthly_recurring(self) -> int:
        """What it brings in a month (MRR), before tax: its licensed items at their quantities, per interval, over the
        months an interval lasts (a year 12, a week 12/52), rounded once, half up. Metered usage is no recurring
        revenue; a trial, a subscription held for review and a canceled one bring nothing."""
        if self.status not in RECURRING:
            return 0
        per_interval = sum(amount_for(i.price, i.quantity) for i in self.items if i.usage == "licensed")
        times, over = _PER_MONTH[self.interval.unit]
        return round_minor(Decimal(per_interval * times) / (over * self.interval.count))

    def plan_tax_rates(self) -> dict[str, str | None]:
        """Each plan's tax rate id as its item keeps it (the rate its lines bill at; None: the tenant's settings)."""
        return {item.plan_id: item.tax_rate_id for item in [*self.retired_items, *self.items]}

    def period(self, index: int) -> tuple[datetime, datetime]:
        """Period ``index`` as (start, end) in UTC."""
        return period_bounds(self.billing_anchor, self.timezone, self.interval, index)

    def open_period(self) -> tuple[datetime, datetime] | None:
        """The period that is paid for and not yet closed by a run, if a change would be prorated in it."""
        if self.status in _PRORATING and self.current_period_index >= 1:
            return self.period(self.current_period_index - 1)
        return None

    def _event(self, type_: str, now: datetime, **data: Any) -> DomainEvent:
        return DomainEvent.new(type_, self.tenant_id, "subscription", self.id, now, **data)

    # --- changes -----------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        tenant_id: str,
        customer_id: str,
        currency: str,
        items: list[SubscriptionItem],
        now: datetime,
        *,
        timezone: str = "UTC",
        billing_anchor: datetime | None = None,
        trial_days: int = 0,
        collection_method: CollectionMethod = "charge_automatically",
        days_until_due: int | None = None,
        metadata: dict[str, str] | None = None,
        review_reason: str | None = None,
    ) -> tuple[Subscription, list[DomainEvent]]:
        """A new subscription in the customer's ``currency``: trialing for ``trial_days`` (services default it to
        the longest trial of the plans), else active from now or ``billing_anchor`` (not in the past, not with a
        trial); held for review when ``review_reason`` is given."""
        currency = normalize_currency(currency)
        _check_items(items, currency)
        validate_timezone(timezone)
        if not 0 <= trial_days <= MAX_TRIAL_DAYS:
            raise ValidationFailed("invalid_trial_days", f"a trial lasts 0 to {MAX_TRIAL_DAYS} days")
        start = _second(now)
        if billing_anchor is not None:
            if billing_anchor.tzinfo is None:
                raise ValidationFailed("naive_datetime", "give billing_anchor with its UTC offset")
            if trial_days:
                raise ValidationFailed("anchor_with_trial", "a trial's end is the billing anchor")
            if billing_anchor < start:
                raise ValidationFailed("anchor_in_past", "the billing anchor may not be in the past")
        if collection_method == "send_invoice" and days_until_due is None:
            days_until_due = 30
        if collection_method == "charge_automatically" and days_until_due not in (None, 0):
            raise ValidationFailed("days_until_due_not_applicable", "days_until_due applies to send_invoice")
        sub = cls(
            id=new_id("sub", now),
            tenant_id=tenant_id,
            customer_id=customer_id,
            currency=currency,
            items=[i.model_copy(update={"basis": None}) for i in items],
            timezone=timezone,
            billing_anchor=_second(billing_anchor or start),
            trial_days=trial_days,
            collection_method=collection_method,
            days_until_due=days_until_due,
            status="pending_review",
            review_reason=review_reason,
            metadata=metadata or {},
            created_at=now,
            updated_at=now,
        )
        if review_reason is None:
            sub = sub._scheduled(start, "trialing" if trial_days else "active")
        return sub, [sub._event("subscription.created", now, status=sub.status, review_reason=review_reason)]

    def _scheduled(self, start: datetime, status: str) -> Subscription:
        """Start the clock at ``start``: the trial runs from it, or billing starts at it (or the later anchor)."""
        if self.trial_days:
            trial_end = local_days_after(start, self.timezone, self.trial_days)
            return self.model_copy(
                update={
                    "status": status,
                    "trial_end": trial_end,
                    "billing_anchor": trial_end,
                    "next_billing_at": trial_end,
                }
            )
        anchor = max(self.billing_anchor, start)
        return self.model_copy(update={"status": status, "billing_anchor": anchor, "next_billing_at": anchor})

    def approve(self, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        """Approve a held subscription: its trial (or billing) starts now, or at its later billing anchor."""
        status = SUBSCRIPTION.next_state(self.status, "approve")
        if not self.trial_days:
            status = SUBSCRIPTION.next_state(status, "start")  # a trial of no days ends as it starts
        sub = self._scheduled(_second(now), status).model_copy(update={"updated_at": now})
        return sub, [sub._event("subscription.approved", now, status=sub.status)]

    def bill_period(
        self, index: int, usage_by_plan: dict[str, int], now: datetime
    ) -> tuple[Subscription, list[LineInput], list[DomainEvent]]:
        """The invoice lines of the run that opens period ``index`` and closes period ``index - 1``.

        Lines: metered usage of the closing period (``usage_by_plan``: plan id -> units summed over it; a metered
        plan left out used nothing), then the proration lines pending from it, then licensed items for the new
        period. A subscription canceled now closes its last period at ``canceled_at``; one canceled at period end
        opens no new period. No lines: no invoice. The result depends on the subscription, ``index`` and the usage
        only (``now`` is the run's clock, checked against ``next_billing_at``).
        """
        action = self._billing_action()
        status = SUBSCRIPTION.next_state(self.status, action)
        if self.next_billing_at is None:
            raise Conflict("nothing_to_bill", "this subscription has no billing run due")
        if index != self.current_period_index:
            code = "period_already_billed" if index < self.current_period_index else "period_not_current"
            raise Conflict(
                code,
                f"period {index} is not the one due: the next run bills period {self.current_period_index}",
                expected_index=self.current_period_index,
            )
        if now < self.next_billing_at:
            raise Conflict("period_not_due", f"period {index} is billed from {self.next_billing_at.isoformat()}")
        metered = [i for i in [*self.items, *self.retired_items] if i.usage == "metered"]
        unknown = set(usage_by_plan) - {i.plan_id for i in metered}
        if unknown:
            raise ValidationFailed("unknown_usage_plan", f"no metered item for plan(s) {', '.join(sorted(unknown))}")
        lines: list[LineInput] = []
        if index >= 1:  # close period index - 1: usage in arrears and what changes left pending
            start, end = self.period(index - 1)
            if self.canceled_at is not None:  # canceled now (the run settles it): the period closed then
                end = min(end, self.canceled_at)
            for item in metered:
                usage = usage_by_plan.get(item.plan_id, 0)
                lines += _of_plan(item, lines_for(item.plan_name, item.price, usage, start, end, tz=self.timezone))
            lines += [
                LineInput(
                    description=p.description,
                    quantity=1,
                    unit_amount=p.amount,
                    plan_id=p.key,
                    discountable=p.discountable,
                )
                for p in self.pending_proration
            ]
        update: dict[str, Any] = {
            "status": status,
            "current_period_index": index + 1,
            "pending_proration": [],
            "retired_items": [],
            "items": [i.model_copy(update={"basis": None}) for i in self.items],
            "updated_at": now,
        }
        events = []
        if action in ("start", "bill"):  # open period index: licensed items in advance
            start, end = self.period(index)
            for item in self.items:
                if item.usage == "licensed" and self.status != "suspended":  # no service, no charge in advance
                    billed = lines_for(item.plan_name, item.price, item.quantity, start, end, tz=self.timezone)
                    lines += _of_plan(item, billed)
            update["next_billing_at"] = end
            if action == "start":
                events.append(self._event("subscription.trial_ended", now, trial_end=self.next_billing_at.isoformat()))
        else:
            update["next_billing_at"] = None
            if action == "expire":
                update["canceled_at"] = self.next_billing_at
                events.append(self._event("subscription.canceled", now, at_period_end=True))
        sub = self.model_copy(update=update)
        suspended = self.status == "suspended"
        events.insert(
            0, sub._event("subscription.period_billed", now, index=index, lines=len(lines), suspended=suspended)
        )
        return sub, lines, events

    def _billing_action(self) -> str:
        if self.status == "canceled":
            return "settle"
        if self.cancel_at_period_end:
            return "expire"
        return "start" if self.status == "trialing" else "bill"

    def change(
        self, items: list[SubscriptionItem], at: datetime, granularity: Granularity = "second"
    ) -> tuple[Subscription, list[DomainEvent]]:
        """Replace the items at ``at``. In a paid period licensed items are prorated and the lines wait in
        ``pending_proration`` for the next invoice; a metered item removed is billed for the period's usage."""
        status = SUBSCRIPTION.next_state(self.status, "change")
        _second(at)  # refuses a naive time
        _check_items(items, self.currency)
        if self.current_period_index >= 1 and items[0].interval != self.interval:
            raise ValidationFailed("interval_change", "a subscription keeps its interval once billed")
        items = [i.model_copy(update={"basis": None}) for i in items]
        update: dict[str, Any] = {"status": status, "items": items, "updated_at": at}
        period = self.open_period()
        lines: list[ProrationLine] = []
        if period is not None:
            start, end = period
            if not start <= at <= end:
                raise Conflict(
                    "change_outside_period",
                    f"a change falls within the current period, {start.isoformat()} to {end.isoformat()}"
                    " (after its end, the billing run for the next one comes first)",
                )
            before = [i.proration_item() for i in self.items if i.usage == "licensed"]
            after = [i.proration_item() for i in items if i.usage == "licensed"]
            lines = proration.change(before, after, start, end, at, granularity, tz=self.timezone)
            basis = {p.key: p.basis for p in proration.carried(before, after, granularity)}
            update["items"] = [i.model_copy(update={"basis": basis.get(i.plan_id)}) for i in items]
            kept = {i.plan_id for i in items}
            gone = [i for i in self.items if i.usage == "metered" and i.plan_id not in kept]
            update["retired_items"] = [i for i in [*self.retired_items, *gone] if i.plan_id not in kept]
            update["pending_proration"] = [*self.pending_proration, *(ln for ln in lines if ln.amount)]
        sub = self.model_copy(update=update)
        return sub, [sub._event("subscription.changed", at, proration=sum(ln.amount for ln in lines))]

    def cancel(
        self, at_period_end: bool, now: datetime, granularity: Granularity = "second"
    ) -> tuple[Subscription, list[DomainEvent]]:
        """Cancel at the end of the period (the next run bills the arrears and cancels) or now (the period's
        unused time is credited, and a last run settles it with the metered usage)."""
        status = SUBSCRIPTION.next_state(self.status, "cancel")
        if at_period_end and self.next_billing_at is not None:
            sub = self.model_copy(update={"cancel_at_period_end": True, "updated_at": now})
            return sub, [sub._event("subscription.cancel_scheduled", now, at=self.next_billing_at.isoformat())]
        update: dict[str, Any] = {"status": status, "canceled_at": now, "next_billing_at": None, "updated_at": now}
        period = self.open_period()
        if period is not None:
            start, end = period
            at = min(max(now, start), end)
            licensed = [i.proration_item() for i in self.items if i.usage == "licensed"]
            credits = proration.cancellation_credits(licensed, start, end, at, granularity, tz=self.timezone)
            pending = [*self.pending_proration, *(ln for ln in credits if ln.amount)]
            update.update(pending_proration=pending, canceled_at=at)
            if pending or any(i.usage == "metered" for i in [*self.items, *self.retired_items]):
                update["next_billing_at"] = at  # one last run settles the period
        sub = self.model_copy(update=update)
        return sub, [sub._event("subscription.canceled", now, at_period_end=False)]

    def _moved(self, action: str, type_: str, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        sub = self.model_copy(update={"status": SUBSCRIPTION.next_state(self.status, action), "updated_at": now})
        return sub, [sub._event(type_, now)]

    def mark_past_due(self, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        return self._moved("fall_past_due", "subscription.past_due", now)

    def recover(self, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        return self._moved("recover", "subscription.recovered", now)

    def suspend(self, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        return self._moved("suspend", "subscription.suspended", now)

    def resume(self, now: datetime) -> tuple[Subscription, list[DomainEvent]]:
        return self._moved("resume", "subscription.resumed", now)


def _second(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValidationFailed("naive_datetime", "times carry their UTC offset")
    return instant.astimezone(UTC).replace(microsecond=0)


def _check_items(items: list[SubscriptionItem], currency: str) -> None:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationFailed("invalid_items", f"a subscription has 1 to {MAX_ITEMS} items")
    if len({i.plan_id for i in items}) != len(items):
        raise ValidationFailed("duplicate_plan", "a plan appears once in a subscription; use its quantity")
    if len({(i.interval.unit, i.interval.count) for i in items}) != 1:
        raise ValidationFailed("mixed_intervals", "every plan of a subscription bills on the same interval")
    for item in items:
        if item.price.currency != currency:
            raise ValidationFailed("no_price_for_currency", f"plan {item.plan_id} has no price in {currency}")
