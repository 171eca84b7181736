"""Plans, subscriptions, metered usage, and the billing run that turns subscription periods into invoices.

The billing run: an hourly schedule starts a run that pages through the billing index (gsi4, ``BILL#<shard>`` sorted
by due time: no scan), every shard in parallel, and fans the subscriptions due out (billing.services.billing_run);
the invoice worker bills a batch of one tenant's subscriptions in one transaction: every subscription moves on one
period (conditional on its version), every invoice is written as a draft, and an internal ``invoices.drafted`` event
names the drafts for their series' one numbering writer (billing.services.invoice_numbering): no counter in the
billing transaction, so parallel workers of one tenant never contend on it. A retried or duplicated message finds
the period billed (the subscription has moved on) and does nothing: exactly one invoice per period.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain.base_model import BaseModel
from billing.domain.coupons import Discount, discount_proration, paid_shares
from billing.domain.coupons import effective as effective_discount
from billing.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from billing.domain.models import CollectionMethod, Customer, DomainEvent, Invoice
from billing.domain.plans import Plan, PlanRequest
from billing.domain.pricing import DiscountInput, LineInput
from billing.domain.proration import Granularity
from billing.domain.subscriptions import Subscription, SubscriptionItem
from billing.observability import business_event, logger
from billing.services import coupons, invoice_items, taxes
from billing.services.billing_terms import BILLING_RUN as BILLING_RUN
from billing.services.billing_terms import PER_TRANSACTION as PER_TRANSACTION
from billing.services.billing_terms import RUN_DELAY as RUN_DELAY
from billing.services.billing_terms import USAGE_FUTURE_SKEW, USAGE_GRACE, WRITES_PER_RUN
from billing.services.customers import invoice_credit
from billing.services.fields import Redeeming
from billing.services.following import FOLLOWS_INVOICE as FOLLOWS_INVOICE
from billing.services.following import follow_invoice as follow_invoice
from billing.services.invoice_numbering import drafted_event
from billing.services.unit import Claim, Context, remember, retrying


def _events(ctx: Context, tx: Transaction, tenant_id: str, key: dict[str, str], events: list[DomainEvent]) -> None:
    for event in events:
        ctx.repo.add_event(tx, key, event)


# --- plans -----------------------------------------------------------------------------------------------------
@retrying()
def create_plan(ctx: Context, tenant_id: str, request: PlanRequest, claim: Claim | None = None) -> Plan:
    if request.tax_rate_id:
        taxes.usable_rate(ctx, tenant_id, request.tax_rate_id)  # 422 if none or archived
    plan, events = Plan.create(tenant_id, request, ctx.clock.now())
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_plan(tx, plan)
    _events(ctx, tx, tenant_id, keys.plan(tenant_id, plan.id), events)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("PlanCreated")
    return saved


def get_plan(ctx: Context, tenant_id: str, plan_id: str) -> Plan:
    return ctx.repo.plan(tenant_id, plan_id)


def list_plans(ctx: Context, tenant_id: str, limit: int, cursor: str | None) -> tuple[list[Plan], str | None]:
    return ctx.repo.plans(tenant_id, limit, cursor)


# --- subscriptions ---------------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ItemIn(_Strict):
    plan_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=1_000_000, strict=True)


class CreateSubscription(Redeeming):
    customer_id: str = Field(min_length=1, max_length=64)
    items: list[ItemIn] = Field(min_length=1, max_length=20)
    trial_days: int | None = Field(default=None, ge=0, le=730, strict=True)  # None: the longest of the plans'
    billing_anchor: datetime | None = None
    collection_method: CollectionMethod = "charge_automatically"
    days_until_due: int | None = Field(default=None, ge=0, le=365, strict=True)
    metadata: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50
    )


class ChangeSubscription(_Strict):
    items: list[ItemIn] = Field(min_length=1, max_length=20)
    proration: Granularity = "second"


class CancelSubscription(_Strict):
    at_period_end: bool = True
    proration: Granularity = "second"


def _items(ctx: Context, tenant_id: str, currency: str, wanted: list[ItemIn]) -> list[SubscriptionItem]:
    return [SubscriptionItem.of(ctx.repo.plan(tenant_id, i.plan_id), currency, i.quantity) for i in wanted]


def _save(
    ctx: Context, sub: Subscription, events: list[DomainEvent], claim: Claim | None, tx: Transaction | None = None
) -> Subscription:
    tx = tx or ctx.repo.transaction()
    saved = ctx.repo.save_subscription(tx, sub, int(RUN_DELAY.total_seconds()))
    _events(ctx, tx, sub.tenant_id, keys.subscription(sub.tenant_id, sub.id), events)
    remember(ctx, tx, sub.tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    return saved


@retrying()
def create_subscription(
    ctx: Context, tenant_id: str, cmd: CreateSubscription, claim: Claim | None = None
) -> Subscription:
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    customer = ctx.repo.customer(tenant_id, cmd.customer_id).ensure_active()
    plans = [ctx.repo.plan(tenant_id, i.plan_id) for i in cmd.items]
    for rate_id in sorted({p.tax_rate_id for p in plans if p.tax_rate_id}):  # a new subscription: rates in use
        taxes.usable_rate(ctx, tenant_id, rate_id)
    items = [SubscriptionItem.of(plan, customer.currency, i.quantity) for plan, i in zip(plans, cmd.items, strict=True)]
    trial_days = cmd.trial_days if cmd.trial_days is not None else max(p.trial_days for p in plans)
    sub, events = Subscription.create(
        tenant_id,
        customer.id,
        customer.currency,
        items,
        ctx.clock.now(),
        timezone=customer.timezone,
        billing_anchor=cmd.billing_anchor,
        trial_days=trial_days,
        collection_method=cmd.collection_method,
        days_until_due=cmd.days_until_due,
        metadata=cmd.metadata,
        review_reason=tenant.review_rule.reason(cmd.metadata),
    )
    tx = ctx.repo.transaction()
    if cmd.coupon is not None or cmd.promotion_code is not None:  # redeemed in the subscription's own transaction
        ref = coupons.ApplyDiscount(coupon=cmd.coupon, promotion_code=cmd.promotion_code)
        key = keys.subscription(tenant_id, sub.id)
        discount = coupons.redeem(
            ctx, tx, customer, ref, target_key=key, subscription_id=sub.id, plan_ids=[i.plan_id for i in items]
        )
        coupons.store(ctx).save_discount(tx, key, discount, 0)
    saved = _save(ctx, sub, events, claim, tx)
    business_event("SubscriptionCreated")
    return saved


def get_subscription(ctx: Context, tenant_id: str, subscription_id: str) -> Subscription:
    return ctx.repo.subscription(tenant_id, subscription_id, consistent=False)


def list_subscriptions(
    ctx: Context, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    return ctx.repo.subscriptions(tenant_id, limit, cursor)


@retrying()
def change_subscription(
    ctx: Context, tenant_id: str, subscription_id: str, cmd: ChangeSubscription, claim: Claim | None = None
) -> Subscription:
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    changed, events = sub.change(_items(ctx, tenant_id, sub.currency, cmd.items), ctx.clock.now(), cmd.proration)
    return save_change(ctx, sub, changed, events, claim)


@retrying()
def cancel_subscription(
    ctx: Context, tenant_id: str, subscription_id: str, cmd: CancelSubscription, claim: Claim | None = None
) -> Subscription:
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    canceled, events = sub.cancel(cmd.at_period_end, ctx.clock.now(), cmd.proration)
    return save_change(ctx, sub, canceled, events, claim)


def save_change(
    ctx: Context, before: Subscription, after: Subscription, events: list[DomainEvent], claim: Claim | None
) -> Subscription:
    """Save a change of the subscription (its items, a cancellation) with its proration lines discounted."""
    tx = ctx.repo.transaction()
    return _save(ctx, _discounted_proration(ctx, tx, before, after), events, claim, tx)


def _discounted_proration(ctx: Context, tx: Transaction, before: Subscription, after: Subscription) -> Subscription:
    """``after`` with the proration lines its change added discounted (billing.domain.coupons.discount_proration):
    credits give back what was paid, charges take the discount in effect now. What is paid per plan in the period
    after the change is written in ``tx``."""
    added = after.pending_proration[len(before.pending_proration) :]
    if not added:
        return after
    store = coupons.store(ctx)
    index, shares, version = store.paid_shares(before.tenant_id, before.id)
    if index != before.current_period_index - 1:
        shares = {}  # what was paid in another period (or nothing discounted in this one)
    now = ctx.clock.now()
    own, _ = store.discount(keys.subscription(before.tenant_id, before.id))
    theirs, _ = store.discount(keys.customer(before.tenant_id, before.customer_id))
    in_effect = effective_discount(own, theirs, now)
    lines, paid = discount_proration(added, shares, in_effect.coupon if in_effect else None)
    if paid != shares:
        store.save_paid_shares(tx, before.tenant_id, before.id, before.current_period_index - 1, paid, version)
    return after.model_copy(update={"pending_proration": [*before.pending_proration, *lines]})


@retrying()
def approve_subscription(
    ctx: Context, tenant_id: str, subscription_id: str, claim: Claim | None = None
) -> Subscription:
    sub = ctx.repo.subscription(tenant_id, subscription_id)
    approved, events = sub.approve(ctx.clock.now())
    return _save(ctx, approved, events, claim)


# --- usage -----------------------------------------------------------------------------------------------------
class RecordUsage(_Strict):
    subscription_id: str = Field(min_length=1, max_length=64)
    plan_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=1_000_000_000, strict=True)
    timestamp: datetime | None = None  # when the usage happened (default: now); decides its period
    idempotency_key: str = Field(min_length=1, max_length=200)


class UsageRecord(BaseModel):
    id: str
    subscription_id: str
    plan_id: str
    quantity: int
    timestamp: str
    idempotency_key: str
    recorded_at: str


def record_usage(ctx: Context, tenant_id: str, cmd: RecordUsage) -> UsageRecord:
    """Record metered usage once per idempotency key (the same key again answers the first record). Its timestamp
    decides its period: up to ``USAGE_GRACE`` late is fine, as the period's billing run waits that long."""
    sub = ctx.repo.subscription(tenant_id, cmd.subscription_id, consistent=False)
    now = ctx.clock.now()
    when = cmd.timestamp or now
    if when.tzinfo is None:
        raise ValidationFailed("naive_datetime", "give the timestamp with its UTC offset")
    at = when.astimezone(UTC).replace(microsecond=0)
    record_id = "ur_" + hashlib.sha256(f"{sub.id}:{cmd.idempotency_key}".encode()).hexdigest()[:24]
    guard = f"{sub.id}:{cmd.idempotency_key}"
    if owner := ctx.repo.external_owner(tenant_id, "usage", guard):
        return _replay_usage(ctx, tenant_id, sub.id, owner, cmd)
    metered = {i.plan_id for i in [*sub.items, *sub.retired_items] if i.usage == "metered"}
    if cmd.plan_id not in metered:
        raise ValidationFailed("not_a_metered_item", f"plan {cmd.plan_id} is not metered on subscription {sub.id}")
    if at > now + USAGE_FUTURE_SKEW:
        raise ValidationFailed("usage_in_future", "usage cannot be recorded ahead of time")
    if at < now - USAGE_GRACE:
        raise Conflict("usage_too_late", f"usage is accepted up to {int(USAGE_GRACE.total_seconds() // 60)} min late")
    if sub.status == "pending_review" or at < sub.billing_anchor or (sub.canceled_at and at >= sub.canceled_at):
        raise Conflict("usage_outside_billing", "the subscription is not billing at that time")
    stamp = keys.instant(at)
    record = UsageRecord(
        id=record_id,
        subscription_id=sub.id,
        plan_id=cmd.plan_id,
        quantity=cmd.quantity,
        timestamp=stamp,
        idempotency_key=cmd.idempotency_key,
        recorded_at=now.isoformat(),
    )
    tx = ctx.repo.transaction()
    ctx.repo.claim_external_id(tx, tenant_id, "usage", guard, f"{stamp}#{record_id}")
    ctx.repo.add_usage(tx, tenant_id, sub.id, record.model_dump())
    try:
        ctx.repo.commit(tx)
    except Exception:
        if owner := ctx.repo.external_owner(tenant_id, "usage", guard):  # a concurrent twin got in first
            return _replay_usage(ctx, tenant_id, sub.id, owner, cmd)
        raise
    business_event("UsageRecorded")
    return record


def _replay_usage(ctx: Context, tenant_id: str, subscription_id: str, owner: str, cmd: RecordUsage) -> UsageRecord:
    stamp, record_id = owner.split("#", 1)
    item = ctx.repo.usage_record(tenant_id, subscription_id, stamp, record_id)
    assert item is not None
    record = UsageRecord.model_validate({k: item[k] for k in UsageRecord.model_fields})
    asked_at = keys.instant(cmd.timestamp) if cmd.timestamp else record.timestamp
    if (record.plan_id, record.quantity, record.timestamp) != (cmd.plan_id, cmd.quantity, asked_at):
        raise Conflict("idempotency_key_reused", "this idempotency_key recorded other usage")
    return record


# --- the billing run -------------------------------------------------------------------------------------------
class Billed(BaseModel):
    subscription_id: str
    period_index: int
    invoice_id: str | None  # the period's draft (numbered by its series' writer); None: nothing to invoice (no lines)


class BillingOutcome(BaseModel):
    billed: list[Billed]
    failed: list[str]  # subscriptions that could not be billed (their messages are retried, then dead-lettered)


@retrying()
def bill_subscriptions(ctx: Context, tenant_id: str, subscription_ids: list[str]) -> BillingOutcome:
    """Bill the due period of each subscription, all in one transaction: one draft invoice per subscription
    period, handed to its series' numbering writer by one ``invoices.drafted`` event. A subscription not due
    (already billed) is skipped; one that cannot be billed is reported and does not hold back the others."""
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        return BillingOutcome(billed=[], failed=[])
    failed: list[str] = []
    now = ctx.clock.now()
    originals: dict[str, Customer] = {}
    customers: dict[str, Customer] = {}  # as this batch leaves them: credit used and credit left over
    runs: list[tuple[Subscription, Subscription, list[DomainEvent], Invoice | None]] = []
    tx = ctx.repo.transaction()
    customer_discounts: dict[str, tuple[Discount | None, int]] = {}  # as this batch leaves them, with their version
    own_discounts: list[_Discounting] = []
    ended_customer_discounts: dict[str, _Discounting] = {}
    book = None
    for subscription_id in dict.fromkeys(subscription_ids):
        try:
            sub = ctx.repo.subscription(tenant_id, subscription_id)
        except NotFound:
            continue
        if sub.next_billing_at is None or now < sub.next_billing_at:
            continue  # billed already (a duplicate message), or not due yet
        index = sub.current_period_index
        metered = any(i.usage == "metered" for i in [*sub.items, *sub.retired_items])
        usage = ctx.repo.usage_totals(tenant_id, sub.id, *_usage_window(sub, index)) if index >= 1 and metered else {}
        try:
            billed, lines, events = sub.bill_period(index, usage, now)
            draft = None
            if sub.customer_id not in customer_discounts:
                customer_key = keys.customer(tenant_id, sub.customer_id)
                customer_discounts[sub.customer_id] = coupons.store(ctx).discount(customer_key)
            discounting = _Discounting.of(ctx, sub, billed, index, customer_discounts[sub.customer_id][0])
            if lines:
                if sub.customer_id not in originals:
                    originals[sub.customer_id] = customers[sub.customer_id] = ctx.repo.customer(
                        tenant_id, sub.customer_id
                    )
                customer = customers[sub.customer_id]
                book = book or ctx.repo.tax_book(tenant_id)  # the tenant's rates and settings, once a batch
                lines = taxes.apply_taxes(
                    ctx, tenant_id, customer, lines, sub.plan_tax_rates(), archived_ok=True, book=book
                )
                draft = invoice_items.take_pending(  # the customer's pending invoice items come along
                    ctx,
                    tx,
                    customer,
                    partial(_draft, ctx, book, customer, lines, now, sub, index, discounting.inputs(sub.currency)),
                    invoice_items.room(tx, reserved=WRITES_PER_RUN * len(subscription_ids) + 1),
                )
                customers[customer.id] = invoice_credit(ctx, tx, customer, draft, now)
                discounting.invoiced(lines, draft, now)
        except DomainError as error:  # this one cannot be billed (a bad price, say): the rest of the batch can
            logger.exception("subscription not billed", extra={"subscription_id": sub.id, "code": error.code})
            failed.append(sub.id)
            continue
        if discounting.customer_moved is not None:  # a customer's discount used up (once): the next sub sees it
            customer_discounts[sub.customer_id] = (discounting.customer_moved, customer_discounts[sub.customer_id][1])
            ended_customer_discounts[sub.customer_id] = discounting
        if discounting.writes_own():
            own_discounts.append(discounting)
        runs.append((sub, billed, events, draft))
    if not runs:
        return BillingOutcome(billed=[], failed=failed)
    drafts = [d for *_, d in runs if d is not None]
    answer = []
    for _sub, billed, events, draft in runs:
        if draft is not None:
            ctx.repo.save_invoice(tx, draft)  # a draft: its number comes from the series' writer
        ctx.repo.save_subscription(tx, billed, int(RUN_DELAY.total_seconds()))
        _events(ctx, tx, tenant_id, keys.subscription(tenant_id, billed.id), events)
        answer.append(
            Billed(
                subscription_id=billed.id,
                period_index=billed.current_period_index - 1,
                invoice_id=draft and draft.id,
            )
        )
    if drafts:  # in this transaction: crash-safe (the outbox is at least once, the writer skips what it numbered)
        first = keys.invoice(tenant_id, drafts[0].id)
        ctx.repo.add_event(tx, first, drafted_event(tenant_id, "default", [d.id for d in drafts], now))
    for customer_id, customer in customers.items():
        if customer.credit_balance != originals[customer_id].credit_balance:
            ctx.repo.save_customer(tx, customer)
    for discounting in own_discounts:
        discounting.write_own(ctx, tx)
    for customer_id, discounting in ended_customer_discounts.items():
        discounting.write_customer(ctx, tx, customer_discounts[customer_id][1])
    ctx.repo.commit(tx)
    business_event("SubscriptionPeriodsBilled", len(answer))
    return BillingOutcome(billed=answer, failed=failed)




def _draft(
    ctx: Context,
    book: Any,
    customer: Customer,
    lines: list[LineInput],
    now: datetime,
    sub: Subscription,
    index: int,
    discounts: list[DiscountInput],
    pending: list[LineInput],
) -> Invoice:
    """The period's invoice, with the discount in effect and the customer's pending items (each at the rate it was
    made with)."""
    if pending:
        pending = taxes.apply_taxes(ctx, sub.tenant_id, customer, pending, archived_ok=True, book=book)
    return Invoice.draft(
        customer,
        [*lines, *pending],
        now,
        collection_method=sub.collection_method,
        days_until_due=sub.days_until_due,
        discounts=discounts,
        subscription_id=sub.id,
        period_index=index,
    )


class _Discounting:
    """One billing run's discount: the one in effect when the period it opens starts (the subscription's own, else
    its customer's), what it becomes after discounting the invoice (periods left, ended), and what was paid per
    plan in the period opened (for the proration of a change in it). Written in the run's transaction."""

    def __init__(
        self,
        sub: Subscription,
        index: int,
        opens: bool,
        own: Discount | None,
        own_version: int,
        applied: Discount | None,
        shares_version: int,
        shares_kept: bool,
    ) -> None:
        self.sub, self.index, self.opens = sub, index, opens
        self.own, self.own_version, self.applied = own, own_version, applied
        self.shares_version, self.shares_kept = shares_version, shares_kept
        self.moved: Discount | None = None
        self.ended = False
        self.customer_moved: Discount | None = None
        self.shares: dict | None = None
        self.now: datetime | None = None

    @classmethod
    def of(
        cls, ctx: Context, sub: Subscription, billed: Subscription, index: int, customer_discount: Discount | None
    ) -> _Discounting:
        store = coupons.store(ctx)
        own, own_version = store.discount(keys.subscription(sub.tenant_id, sub.id))
        opens = billed.next_billing_at is not None and billed.current_period_index == index + 1
        if opens:
            at = sub.period(index)[0]
        else:  # a last run (canceled): what it closes
            at = sub.period(index - 1)[0] if index >= 1 else sub.billing_anchor
        applied = effective_discount(own, customer_discount, at)
        _, _, shares_version = store.paid_shares(sub.tenant_id, sub.id)
        return cls(sub, index, opens, own, own_version, applied, shares_version, shares_version > 0)

    def inputs(self, currency: str) -> list:
        return [self.applied.as_input(currency)] if self.applied else []

    def invoiced(self, lines: list, draft: Invoice, now: datetime) -> None:
        self.now = now
        if self.applied is not None:
            period_end = self.sub.period(self.index)[1] if self.opens else None
            self.moved, self.ended = self.applied.after_invoice(period_end, now)
            if self.applied is not self.own:
                self.customer_moved = self.moved if self.ended else None
        if self.opens and (self.applied is not None or self.shares_kept):
            advance = [priced for line, priced in zip(lines, draft.lines, strict=True) if line.discountable]
            shares = paid_shares(advance)
            label = self.applied.coupon.label() if self.applied else None
            self.shares = {
                plan: share.model_copy(update={"label": label if share.paid != share.charged else None})
                for plan, share in shares.items()
            }

    def writes_own(self) -> bool:
        return (self.moved is not None and self.applied is self.own) or self.shares is not None

    def write_own(self, ctx: Context, tx: Transaction) -> None:
        store = coupons.store(ctx)
        tenant_id, now = self.sub.tenant_id, self.now or ctx.clock.now()
        if self.moved is not None and self.applied is self.own:
            key = keys.subscription(tenant_id, self.sub.id)
            store.save_discount(tx, key, self.moved, self.own_version)
            if self.ended:
                ctx.repo.add_event(tx, key, self.moved._event("discount.ended", now, invoices=self.moved.invoices))
        if self.shares is not None:
            store.save_paid_shares(tx, tenant_id, self.sub.id, self.index, self.shares, self.shares_version)

    def write_customer(self, ctx: Context, tx: Transaction, version: int) -> None:
        """The customer's discount, used up by this run's invoice (once), ends."""
        assert self.customer_moved is not None
        key = keys.customer(self.sub.tenant_id, self.sub.customer_id)
        coupons.store(ctx).save_discount(tx, key, self.customer_moved, version)
        event = self.customer_moved._event("discount.ended", self.now or ctx.clock.now(), invoices=1)
        ctx.repo.add_event(tx, key, event)


def _usage_window(sub: Subscription, index: int) -> tuple[str, str]:
    """The period the run ``index`` closes, as the second-precision bounds its usage is summed over."""
    start, end = sub.period(index - 1)
    if sub.status == "canceled" and sub.canceled_at is not None:
        end = min(end, sub.canceled_at)
    return keys.instant(start), keys.instant(end)
