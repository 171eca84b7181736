"""Dunning: chasing an unpaid invoice through its tenant's policy, one step at a time, each step exactly once.

A daily sweep finds the open invoices that need attention today through the attention index (gsi4, keyed by the
day: no scan) and fans them out; the worker (``advance``) does what each invoice needs: marks it past due, keeps
or breaks its payment plan, and runs the policy steps whose day has come. A step is recorded on the invoice
(``dunning.steps_done``) in the same transaction as its events, under the invoice's version: a redelivered
message or a racing worker finds the step done, and a charge made by a step that lost the race is the same
charge (its payment id, and so Stripe's idempotency key, derive from the step).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain import collections as cases
from billing.domain.base_model import BaseModel
from billing.domain.dunning import (
    Action,
    Anchor,
    DunningPolicy,
    Instalment,
    PaymentPlan,
    PlannedStep,
    is_hard_decline,
    next_on,
    plan_instalments,
    timeline,
)
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import Customer, DomainEvent, Invoice
from billing.domain.payments import Payment, payment_id
from billing.observability import business_event
from billing.services import collections, following
from billing.services import payments as payments_service
from billing.services.dunning_sweep import LOOKBACK_DAYS as LOOKBACK_DAYS
from billing.services.dunning_sweep import SWEEP as SWEEP
from billing.services.dunning_sweep import sweep as sweep
from billing.services.unit import Claim, Context, remember, retrying

# The sweep (LOOKBACK_DAYS, SWEEP, sweep) lives in billing.services.dunning_sweep, re-exported above: the sweep's
# function imports it without the worker's payments, subscriptions and collections.


# --- the worker ------------------------------------------------------------------------------------------------
def advance(ctx: Context, gateway: Any, tenant_id: str, invoice_id: str) -> list[str]:
    """Do everything the invoice needs today, one committed change at a time; what was done, in order."""
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        return []
    done: list[str] = []
    for _ in range(32):  # more than a policy has steps: each turn commits one change or stops
        outcome = _advance_once(ctx, gateway, tenant.dunning_policy, tenant_id, invoice_id)
        if outcome is None:
            return done
        done.append(outcome)
    return done


@retrying()
def _advance_once(ctx: Context, gateway: Any, policy: DunningPolicy, tenant_id: str, invoice_id: str) -> str | None:
    try:
        invoice = ctx.repo.invoice(tenant_id, invoice_id)
    except NotFound:
        return None
    now = ctx.clock.now()
    today = now.date()
    if invoice.status != "open" or invoice.amount_due <= 0 or invoice.due_date is None:
        return None  # paid, voided, written off, or credited in full: dunning has stopped
    progress = invoice.dunning
    if invoice.dispute_open:
        if progress.paused == "dispute" and progress.attention_on is None:
            return None
        paused = progress.pause("dispute", today).model_copy(update={"attention_on": None})
        _save(ctx, invoice.model_copy(update={"dunning": paused, "updated_at": now}), [])
        return "paused_for_dispute"
    if invoice.is_overdue(now):
        marked, event = invoice.mark_past_due(now)
        _save(ctx, _with_attention(marked, policy, today), [event], follow="past_due")
        return "marked_past_due"
    if progress.paused == "payment_plan" and progress.plan is not None:
        return _keep_plan(ctx, gateway, invoice, policy, now)
    if progress.paused == "promise_to_pay":
        return _keep_promise(ctx, invoice, policy, now)
    due = progress.due_steps(policy, invoice.due_date, today)
    if due:
        return _run_step(ctx, gateway, invoice, policy, due[0], now)
    settled = _with_attention(invoice, policy, today)
    if settled.dunning.attention_on != invoice.dunning.attention_on:
        _save(ctx, settled.model_copy(update={"updated_at": now}), [])
    return None


def _run_step(ctx: Context, gateway: Any, invoice: Invoice, policy: DunningPolicy, step: PlannedStep, now: datetime):
    today = now.date()
    tenant_id = invoice.tenant_id
    customer = ctx.repo.customer(tenant_id, invoice.customer_id)
    blocked = _blocking_decline(ctx.repo.payments(tenant_id, invoice.id), customer)
    charge: dict[str, Any] | None = None
    if "retry_charge" in step.actions:
        if invoice.collection_method != "charge_automatically":
            charge = {"outcome": "not_charged", "reason": "send_invoice"}
        elif blocked:
            charge = {"outcome": "not_charged", "reason": "hard_decline", "decline_code": blocked.decline_code}
        else:
            payment = payments_service.collect(ctx, gateway, tenant_id, invoice.id, _attempt_key(ctx, invoice, step))
            invoice = ctx.repo.invoice(tenant_id, invoice.id)  # a charge that went through paid it
            charge = _charge_outcome(payment)
    progress = invoice.dunning.model_copy(update={"steps_done": [*invoice.dunning.steps_done, step.id]})
    stepped = invoice.model_copy(update={"dunning": progress, "updated_at": now})
    events = []
    if "mark_uncollectible" in step.actions and stepped.status == "open":
        stepped, written_off = stepped.mark_uncollectible(now)
        events.append(written_off)
    tx = ctx.repo.transaction()
    case_id = None
    if "escalate" in step.actions and stepped.status == "open":
        # the invoice's one collection case, opened in this step's transaction (none if it has one already)
        case_id = collections.open_for_step(ctx, tx, stepped, step.id, now)
        if case_id:
            stepped = stepped.model_copy(update={"dunning": stepped.dunning.model_copy(update={"case_id": case_id})})
    collections.follow_invoice(ctx, tx, stepped, now)  # written off: its case, if open, resolves
    stepped = _with_attention(stepped, policy, today)
    upcoming = stepped.dunning.upcoming(policy, stepped.due_date, today) if stepped.status == "open" else []
    # a card declined for good (now, or before and still the customer's card) is not tried again: ask for another
    card_update_required = bool(charge and charge.get("decline_code") and is_hard_decline(charge["decline_code"]))
    # (a step charges only an unblocked card, so its own hard decline is the one new way to become blocked)
    retries_left = invoice.collection_method == "charge_automatically" and not (card_update_required or blocked)
    data = {
        "step": step.index,
        "step_id": step.id,
        "day": step.day,
        "anchor": step.anchor,
        "actions": step.actions,
        "charge": charge,
        "email": _email_for(step.actions, charge, stepped),
        "card_update_required": card_update_required,
        "next_retry_on": _iso(next_on(upcoming, "retry_charge") if retries_left else None),
        "suspend_on": _iso(next_on(upcoming, "pause_service")),
        "write_off_on": _iso(next_on(upcoming, "mark_uncollectible")),
        "service_paused": "pause_service" in step.actions and stepped.status in ("open", "uncollectible"),
        "amount_due": stepped.amount_due,
    }
    if "escalate" in step.actions:
        data["collection_case_id"] = case_id or stepped.dunning.case_id
    events.insert(0, DomainEvent.new("invoice.dunning_step", tenant_id, "invoice", invoice.id, now, **data))
    _save(ctx, stepped, events, follow="pause_service" if data["service_paused"] else None, tx=tx)
    business_event("DunningStepRun")
    return f"step-{step.id}"


def _attempt_key(ctx: Context, invoice: Invoice, step: PlannedStep) -> str:
    """The step's charge attempt, by its id; one a crash left unanswered under the position-based key of before
    step ids is resumed with that key, never doubled by a new one."""
    legacy = ctx.repo.payment(invoice.tenant_id, invoice.id, payment_id(invoice.id, f"step-{step.index}"))
    if legacy is not None and legacy.status == "pending" and legacy.attempt_key:
        return legacy.attempt_key
    return f"step-{step.id}"


def _keep_plan(ctx: Context, gateway: Any, invoice: Invoice, policy: DunningPolicy, now: datetime) -> str | None:
    """A payment plan's day: charge the instalment owed today to the saved card, then see the plan was kept."""
    today = now.date()
    plan = invoice.dunning.plan
    assert plan is not None
    owed = plan.due_today(invoice.amount_paid, today)
    if owed and invoice.collection_method == "charge_automatically":
        reached = sum(1 for i in plan.instalments if i.due_on <= today)
        payments_service.collect(ctx, gateway, invoice.tenant_id, invoice.id, f"{plan.id}-{reached}", amount=owed)
        invoice = ctx.repo.invoice(invoice.tenant_id, invoice.id)
        if invoice.status != "open":
            return "instalment_paid_in_full"
    if plan.is_missed(invoice.amount_paid, today):
        missed = plan.model_copy(update={"status": "missed"})
        progress = invoice.dunning.model_copy(update={"plan": missed}).resume(today)
        resumed = _with_attention(invoice.model_copy(update={"dunning": progress, "updated_at": now}), policy, today)
        event = DomainEvent.new(
            "invoice.payment_plan_missed",
            invoice.tenant_id,
            "invoice",
            invoice.id,
            now,
            plan_id=plan.id,
            required=plan.required_by(today),
            paid=invoice.amount_paid - plan.paid_before,
        )
        _save(ctx, resumed, [event])
        business_event("PaymentPlanMissed")
        return "plan_missed"
    attention = plan.next_check_on(today)
    if attention != invoice.dunning.attention_on:
        progress = invoice.dunning.model_copy(update={"attention_on": attention})
        _save(ctx, invoice.model_copy(update={"dunning": progress, "updated_at": now}), [])
    return None


def _keep_promise(ctx: Context, invoice: Invoice, policy: DunningPolicy, now: datetime) -> str | None:
    """Dunning paused for a promise to pay: nothing to do until the day after its date; then the promise is kept
    or broken (on the case, with a note) and dunning resumes where it was, its remaining steps moved on by the days
    it was paused (as after a missed payment plan). The case stays open, back with its assignee."""
    today = now.date()
    progress = invoice.dunning
    case = ctx.repo.collection_case(invoice.tenant_id, progress.case_id) if progress.case_id else None
    promise = case.pending_promise if case is not None else None
    if promise is not None and today < promise.check_on:
        if progress.attention_on != promise.check_on:
            moved = progress.model_copy(update={"attention_on": promise.check_on})
            _save(ctx, invoice.model_copy(update={"dunning": moved, "updated_at": now}), [])
        return None
    tx = ctx.repo.transaction()
    outcome = "promise_lifted"  # no pending promise (resolved or lost in between): nothing holds dunning back
    if promise is not None:
        settled, event = cases.settle_promise(case, invoice.amount_paid, now)
        ctx.repo.save_collection_case(tx, settled)
        ctx.repo.add_event(tx, keys.collection_case(case.tenant_id, case.id), event)
        outcome = "promise_kept" if event.type == "collection_case.promise_kept" else "promise_broken"
        business_event("PromiseToPayBroken" if outcome == "promise_broken" else "PromiseToPayKept")
    resumed = progress.resume(today).model_copy(update={"promise_until": None})
    invoice = invoice.model_copy(update={"dunning": resumed, "updated_at": now})
    _save(ctx, _with_attention(invoice, policy, today), [], tx=tx)
    return outcome


def _blocking_decline(attempts: list[Payment], customer: Customer) -> Payment | None:
    """The failed charge that makes another try of the customer's card pointless: the latest failed off-session
    charge was a hard decline of the card that is still the customer's default (a new card lifts the block)."""
    failed = [p for p in attempts if p.method == "off_session" and p.status == "failed"]
    if not failed:
        return None
    last = max(failed, key=lambda p: p.updated_at)
    if not is_hard_decline(last.decline_code):
        return None
    if customer.default_payment_method and customer.default_payment_method != last.payment_method:
        return None
    return last


def _charge_outcome(payment: Payment | None) -> dict[str, Any]:
    if payment is None:
        return {"outcome": "not_charged", "reason": "nothing_due"}
    return {
        "outcome": payment.status,
        "payment_id": payment.id,
        "amount": payment.amount,
        "decline_code": payment.decline_code,
        "failure_message": payment.failure_message,
    }


def _email_for(actions: list[Action], charge: dict[str, Any] | None, invoice: Invoice) -> str | None:
    """The one email a step sends: the strongest of what it did. None when the step's charge collected it."""
    if invoice.status == "paid" or invoice.amount_due <= 0:
        return None
    if "pause_service" in actions:
        return "service_suspended"
    if "final_notice" in actions:
        return "final_notice"
    if charge and (charge["outcome"] == "failed" or charge.get("reason") == "hard_decline"):
        return "payment_retry_failed"
    if "email_reminder" in actions:
        return "dunning_reminder"
    return None


def _with_attention(invoice: Invoice, policy: DunningPolicy, today: date) -> Invoice:
    """The invoice with the day it next needs the worker: the day after its due date while it is not marked past
    due, else its next step's day; none once it is no longer owed or every step has run."""
    progress = invoice.dunning
    if invoice.status != "open" or invoice.amount_due <= 0 or invoice.due_date is None or progress.paused:
        attention = progress.plan.next_check_on(today) if progress.paused == "payment_plan" and progress.plan else None
        if progress.paused == "promise_to_pay" and progress.promise_until and invoice.status == "open":
            attention = progress.promise_until + timedelta(days=1)
    else:
        days = [p.at.date() for p in progress.upcoming(policy, invoice.due_date, today - timedelta(days=1))]
        if not invoice.past_due:
            days.append(invoice.due_date + timedelta(days=1))
        attention = min(days) if days else None
    return invoice.model_copy(update={"dunning": progress.model_copy(update={"attention_on": attention})})


def _save(
    ctx: Context, invoice: Invoice, events: list[DomainEvent], follow: str | None = None, tx: Transaction | None = None
) -> None:
    """Save the invoice and its events; ``follow``: what its subscription, if any, moves with in the same write;
    ``tx``: a transaction holding other writes of the same change (a collection case)."""
    tx = tx or ctx.repo.transaction()
    ctx.repo.save_invoice(tx, invoice)
    if follow:
        following.follow_invoice(ctx, tx, invoice, follow, invoice.updated_at)
    for event in events:
        ctx.repo.add_event(tx, keys.invoice(invoice.tenant_id, invoice.id), event)
    ctx.repo.commit(tx)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


# --- payment plans ---------------------------------------------------------------------------------------------
class PaymentPlanRequest(BaseModel):
    """Either the instalments (amounts adding up to the amount due, one a day, in order) or ``defer_to``: the
    whole amount due on a later day."""

    model_config = ConfigDict(extra="forbid")

    instalments: list[Instalment] | None = Field(default=None, min_length=1)
    defer_to: date | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PaymentPlanRequest:
        if (self.instalments is None) == (self.defer_to is None):
            raise ValueError("give either instalments or defer_to")
        return self


@retrying()
def agree_payment_plan(
    ctx: Context, tenant_id: str, invoice_id: str, request: PaymentPlanRequest, claim: Claim | None = None
) -> PaymentPlan:
    """Agree a payment plan on an open invoice: dunning pauses until an instalment is missed."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    now = ctx.clock.now()
    today = now.date()
    if invoice.status != "open":
        raise Conflict("invoice_not_payable", f"invoice {invoice_id} is {invoice.status}")
    if invoice.amount_due <= 0:
        raise ValidationFailed("nothing_due", f"invoice {invoice_id} has nothing left to pay")
    current = invoice.dunning.plan
    if current is not None and current.status == "active":
        raise Conflict("payment_plan_active", f"invoice {invoice_id} already has a payment plan ({current.id})")
    if invoice.dunning.promise_until:  # one pause at a time: the promise ends with its case's resolution
        raise Conflict(
            "promise_to_pay_active",
            f"invoice {invoice_id} has a promise to pay until {invoice.dunning.promise_until}: resolve its collection "
            "case (payment_plan) first",
        )
    proposed = (
        request.instalments
        if request.instalments is not None
        else [Instalment(due_on=request.defer_to, amount=invoice.amount_due)]
    )
    try:
        instalments = plan_instalments(invoice.amount_due, proposed, today)
    except ValueError as exc:
        raise ValidationFailed("invalid_payment_plan", str(exc)) from None
    plan = PaymentPlan(id=new_id("plan", now), created_at=now, instalments=instalments, paid_before=invoice.amount_paid)
    progress = invoice.dunning.pause("payment_plan", today).model_copy(
        update={"plan": plan, "attention_on": instalments[0].due_on}
    )
    event = DomainEvent.new(
        "invoice.payment_plan_agreed",
        tenant_id,
        "invoice",
        invoice_id,
        now,
        plan_id=plan.id,
        instalments=[i.model_dump(mode="json") for i in instalments],
    )
    tx = ctx.repo.transaction()
    ctx.repo.save_invoice(tx, invoice.model_copy(update={"dunning": progress, "updated_at": now}))
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    remember(ctx, tx, tenant_id, claim, plan.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("PaymentPlanAgreed")
    return plan


# --- the timeline ----------------------------------------------------------------------------------------------
StepState = Literal["done", "due", "planned", "waiting_for_failure", "paused", "not_needed"]


class TimelineStep(BaseModel):
    index: int
    day: int
    anchor: Anchor
    actions: list[Action]
    on: date | None
    state: StepState
    outcome: dict[str, Any] | None = None  # what the step did, when it ran


class SentEmail(BaseModel):
    kind: str
    to: str
    subject: str
    locale: str
    sent_at: datetime  # for an email not sent: when it would have gone
    message_id: str | None
    skipped: str | None = None  # why it was not sent (``address_suppressed``: SES reported a bounce or complaint)


class ChargeTried(BaseModel):
    payment_id: str
    method: str
    amount: int
    status: str
    decline_code: str | None
    failure_message: str | None
    at: datetime


class DunningTimeline(BaseModel):
    invoice_id: str
    invoice_status: str
    amount_due: int
    currency: str
    due_date: date | None
    past_due: bool
    paused: str | None
    next_attention_on: date | None
    first_failure_at: datetime | None
    payment_plan: PaymentPlan | None
    collection_case_id: str | None = None  # the case an escalate step opened (GET /v1/collection_cases/{id})
    promise_until: date | None = None  # while paused for a promise to pay: its date
    steps: list[TimelineStep]
    emails: list[SentEmail]
    charges: list[ChargeTried]


def timeline_of(ctx: Context, tenant_id: str, invoice_id: str) -> DunningTimeline:
    """``GET /v1/invoices/{id}/dunning``: the steps done (with what they did), the steps planned, every email sent
    and every charge tried."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    tenant = ctx.repo.tenant(tenant_id)
    assert tenant is not None
    key = keys.invoice(tenant_id, invoice_id)
    # by step id; a step run before step ids is known by its position
    outcomes = {
        e.data.get("step_id", e.data["step"]): e.data for e in ctx.repo.events(key) if e.type == "invoice.dunning_step"
    }
    progress = invoice.dunning
    owed = invoice.status == "open" and invoice.amount_due > 0 and invoice.due_date is not None
    today = ctx.clock.now().date()
    steps = []
    for planned in timeline(
        tenant.dunning_policy, invoice.due_date or today, progress.first_failure_at, progress.shift_days
    ):
        on = planned.at.date() if planned.at else None
        if progress.done(planned):
            state: StepState = "done"
        elif not owed:
            state = "not_needed"
        elif progress.paused:
            state = "paused"
        elif on is None:
            state = "waiting_for_failure"
        else:
            state = "due" if on <= today else "planned"
        steps.append(
            TimelineStep(
                index=planned.index,
                day=planned.day,
                anchor=planned.anchor,
                actions=planned.actions,
                on=on,
                state=state,
                outcome=outcomes.get(planned.id) or outcomes.get(planned.index),
            )
        )
    emails = sorted(
        (
            SentEmail(
                kind=m["kind"],
                to=m["to"],
                subject=m["subject"],
                locale=m["locale"],
                sent_at=m["sent_at"],
                message_id=m.get("message_id"),
                skipped=m.get("skipped"),
            )
            for m in ctx.repo.mail_log(key)
        ),
        key=lambda m: m.sent_at,
    )
    charges = [
        ChargeTried(
            payment_id=p.id,
            method=p.method,
            amount=p.amount,
            status=p.status,
            decline_code=p.decline_code,
            failure_message=p.failure_message,
            at=p.updated_at,
        )
        for p in ctx.repo.payments(tenant_id, invoice_id)
    ]
    return DunningTimeline(
        invoice_id=invoice.id,
        invoice_status=invoice.status,
        amount_due=invoice.amount_due,
        currency=invoice.currency,
        due_date=invoice.due_date,
        past_due=invoice.past_due,
        paused=progress.paused,
        next_attention_on=progress.attention_on if owed else None,
        first_failure_at=progress.first_failure_at,
        payment_plan=progress.plan,
        collection_case_id=progress.case_id,
        promise_until=progress.promise_until if progress.paused == "promise_to_pay" else None,
        steps=steps,
        emails=emails,
        charges=charges,
    )
