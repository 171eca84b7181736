"""Collecting invoices through Stripe: saved cards, off-session charges, and Stripe's word on each payment.

A charge is crash-safe: the payment is recorded first (its id derived from the invoice and the attempt), Stripe is
called with that id as the idempotency key, and the answer is applied by the same rule as a webhook. A Lambda that
dies anywhere in between is retried and ends in the same single charge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.events import DomainEvent
from billing.domain.payments import DISPUTE_CLOSED, Payment, payment_id, status_of
from billing.domain.stripe_money import NotChargeable, can_charge, chargeable
from billing.observability import business_event, logger
from billing.services import collections
from billing.services.following import follow_invoice
from billing.services.unit import Claim, Context, remember, retrying

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Customer, Invoice


class InvoiceNotVisibleYet(Exception):
    """A Stripe event names an invoice we cannot read yet: the message is retried until it is there."""


# --- saved cards -----------------------------------------------------------------------------------------------
@retrying()
def _link_stripe_customer(ctx: Context, gateway: Any, customer: Customer) -> Customer:
    if customer.stripe_customer_id:
        return customer
    stripe_id = gateway.create_customer(customer.tenant_id, customer.id, customer.email, customer.name)
    current = ctx.repo.customer(customer.tenant_id, customer.id)
    if current.stripe_customer_id:
        return current
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, current.model_copy(update={"stripe_customer_id": stripe_id}))
    ctx.repo.commit(tx)
    return saved


class SetupIntent(BaseModel):
    """What Stripe.js needs to save a card: ``stripe.confirmCardSetup(client_secret, …)``."""

    id: str
    client_secret: str
    customer_id: str
    status: str | None = None


def create_setup_intent(
    ctx: Context,
    gateway: Any,
    tenant_id: str,
    customer_id: str,
    claim: Claim | None = None,
) -> SetupIntent:
    """A SetupIntent for Stripe.js to save the customer's card for off-session charges. With an Idempotency-Key the
    same SetupIntent comes back (Stripe's idempotency key is derived from ours)."""
    customer = _link_stripe_customer(ctx, gateway, ctx.repo.customer(tenant_id, customer_id).ensure_not_erased())
    key = f"seti-{customer.id}-{hashlib.sha256(claim.key.encode()).hexdigest()[:32]}" if claim else None
    intent = gateway.create_setup_intent(tenant_id, customer.id, customer.stripe_customer_id, key)
    answer = SetupIntent(
        id=intent["id"], client_secret=intent["client_secret"], customer_id=customer.id, status=intent.get("status")
    )
    _remember_alone(ctx, tenant_id, claim, answer)
    return answer


def _remember_alone(ctx: Context, tenant_id: str, claim: Claim | None, answer: BaseModel) -> None:
    """Keep the answer for an Idempotency-Key when the call changed nothing of ours to commit it with."""
    if claim:
        tx = ctx.repo.transaction()
        remember(ctx, tx, tenant_id, claim, answer.model_dump(mode="json"))
        ctx.repo.commit(tx)


@retrying()
def save_payment_method(ctx: Context, gateway: Any, tenant_id: str, setup_intent_id: str) -> Customer | None:
    """Stripe confirmed a SetupIntent: its card becomes the customer's default. Read from Stripe, not the event."""
    intent = gateway.setup_intent(setup_intent_id)
    customer_id = (intent.get("metadata") or {}).get("customer_id")
    if intent.get("status") != "succeeded" or not intent.get("payment_method") or not customer_id:
        return None
    customer = ctx.repo.customer(tenant_id, customer_id)
    method = intent["payment_method"]
    method = method["id"] if isinstance(method, dict) else method
    if customer.default_payment_method == method:
        return customer
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, customer.model_copy(update={"default_payment_method": method}))
    event = DomainEvent.new(
        "customer.payment_method_saved", tenant_id, "customer", customer.id, ctx.clock.now(), payment_method=method
    )
    ctx.repo.add_event(tx, keys.customer(tenant_id, customer.id), event)
    ctx.repo.commit(tx)
    return saved


# --- charging --------------------------------------------------------------------------------------------------
def collect(
    ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, attempt_key: str, amount: int | None = None
) -> Payment | None:
    """Charge the invoice's amount due (or ``amount`` of it: a payment plan's instalment) to the customer's saved
    card, off session, once per ``attempt_key``."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if not invoice.payable:
        return None
    customer = ctx.repo.customer(tenant_id, invoice.customer_id)
    payment = _payment_for(
        ctx,
        invoice,
        payment_id(invoice.id, attempt_key),
        attempt_key=attempt_key,
        payment_method=customer.default_payment_method,
        amount=min(amount, invoice.amount_due) if amount else None,
    )
    if payment.status != "pending":
        return payment  # this attempt already has Stripe's answer
    cannot = None
    if customer.status == "erased":
        cannot = {"code": "customer_erased", "message": "the customer was erased: it is charged no more"}
    elif not customer.stripe_customer_id or not customer.default_payment_method:
        cannot = {"code": "no_payment_method", "message": "the customer has no saved payment method"}
    elif not can_charge(invoice.currency):
        cannot = {"code": "currency_not_chargeable", "message": f"Stripe does not charge {invoice.currency.upper()}"}
    if cannot:
        failed = {"id": None, "status": "requires_payment_method", "last_payment_error": cannot}
        return apply_payment_intent(ctx, tenant_id, invoice.id, payment.id, failed)
    answer = gateway.charge_off_session(payment, customer.stripe_customer_id, customer.default_payment_method)
    applied = apply_payment_intent(ctx, tenant_id, invoice.id, payment.id, answer)
    close_if_settled(ctx, gateway, tenant_id, invoice.id)
    return applied


def retry_now(ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, claim: Claim | None = None) -> Payment:
    """``POST /v1/invoices/{id}/pay``: a new attempt now. Its number follows the attempts recorded so far, so two
    concurrent calls make the same attempt, not two."""
    _payable(ctx.repo.invoice(tenant_id, invoice_id))
    attempts = ctx.repo.payments(tenant_id, invoice_id)
    # An off-session charge still settling at Stripe blocks a new one; a link payment the customer left half-way
    # (3-D Secure abandoned on the hosted page) does not.
    if any(p.method == "off_session" and p.status in ("processing", "requires_action") for p in attempts):
        raise Conflict("payment_in_progress", f"a payment of invoice {invoice_id} is still in progress at Stripe")
    # An attempt whose outcome we never recorded (its Lambda died after calling Stripe) is resumed with its own
    # idempotency key, never replaced by a new one: that would charge twice.
    unknown = next((p for p in attempts if p.status == "pending" and p.attempt_key), None)
    attempt_key = unknown.attempt_key if unknown else f"attempt-{len(attempts) + 1}"
    payment = collect(ctx, gateway, tenant_id, invoice_id, attempt_key)
    assert payment is not None
    _remember_alone(ctx, tenant_id, claim, payment)
    return payment


def _payable(invoice: Invoice) -> Invoice:
    """``invoice``, if it can be paid now (``Invoice.payable``); else why not, as a problem."""
    if not invoice.takes_payments:
        raise Conflict("invoice_not_payable", f"invoice {invoice.id} is {invoice.status}")
    if not invoice.payable:
        raise ValidationFailed("nothing_due", f"invoice {invoice.id} has nothing left to pay")
    if not can_charge(invoice.currency):
        raise NotChargeable("currency_not_chargeable", f"Stripe does not charge {invoice.currency.upper()}")
    return invoice


class PaymentIntentForInvoice(BaseModel):
    """What Stripe.js needs to take the payment on session: ``stripe.confirmCardPayment(client_secret, …)``."""

    id: str
    client_secret: str
    amount: int
    currency: str
    payment_id: str


def payment_intent_for(
    ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, claim: Claim | None = None
) -> PaymentIntentForInvoice:
    """The PaymentIntent for paying the invoice's amount due by link. One per amount due: asking again gives the
    same PaymentIntent (the payment id, and so Stripe's idempotency key, derive from the amount)."""
    invoice = _payable(ctx.repo.invoice(tenant_id, invoice_id))
    customer = ctx.repo.customer(tenant_id, invoice.customer_id)
    payment = _payment_for(ctx, invoice, payment_id(invoice.id, f"link-{invoice.amount_due}"), "payment_link")
    if payment.stripe_payment_intent_id:
        intent = gateway.payment_intent(payment.stripe_payment_intent_id)
    else:  # the idempotency key (the payment id) makes a retried create return the same PaymentIntent
        intent = gateway.create_payment_intent(payment, customer.stripe_customer_id)
        apply_payment_intent(ctx, tenant_id, invoice.id, payment.id, intent)
        if not ctx.repo.invoice(tenant_id, invoice.id).payable:
            # voided (or paid) since it was read: the collector's cancel (invoice.voided) may have read the payments
            # before this one was recorded, so it is closed here; recorded first, the collector closes it
            close_open_intents(ctx, gateway, tenant_id, invoice.id)
            raise Conflict("invoice_not_payable", f"invoice {invoice.id} is no longer payable")
    answer = PaymentIntentForInvoice(
        id=intent["id"],
        client_secret=intent["client_secret"],
        amount=payment.amount,
        currency=payment.currency,
        payment_id=payment.id,
    )
    _remember_alone(ctx, tenant_id, claim, answer)
    return answer


@retrying()
def _payment_for(
    ctx: Context,
    invoice: Invoice,
    pay_id: str,
    method: str = "off_session",
    attempt_key: str | None = None,
    payment_method: str | None = None,
    amount: int | None = None,
) -> Payment:
    existing = ctx.repo.payment(invoice.tenant_id, invoice.id, pay_id)
    if existing:
        return existing
    now = ctx.clock.now()
    asked = amount or invoice.amount_due
    payment = Payment(
        id=pay_id,
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        # what Stripe can charge: in KWD (10 fils) or MGA (whole ariary) the next chargeable amount; the
        # difference is the customer's credit (overpaid) once it is paid
        amount=chargeable(asked, invoice.currency) if can_charge(invoice.currency) else asked,
        currency=invoice.currency,
        method=method,
        attempt_key=attempt_key,
        payment_method=payment_method,
        created_at=now,
        updated_at=now,
    )
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_payment(tx, payment)
    ctx.repo.commit(tx)
    return saved


# --- Stripe's word ---------------------------------------------------------------------------------------------
@retrying()
def apply_payment_intent(
    ctx: Context, tenant_id: str, invoice_id: str, pay_id: str, payment_intent: dict[str, Any]
) -> Payment:
    """Bring the payment to the state ``payment_intent`` (Stripe's current view) gives it, and the invoice with it:
    the amount counts once, when the payment first becomes ``succeeded``, in the same transaction."""
    try:
        invoice = ctx.repo.invoice(tenant_id, invoice_id)
    except NotFound:
        raise InvoiceNotVisibleYet(invoice_id) from None
    payment = ctx.repo.payment(tenant_id, invoice_id, pay_id)
    intent_id = payment_intent.get("id")
    if payment and intent_id and payment.stripe_payment_intent_id not in (None, intent_id):
        # another PaymentIntent naming this payment: it is a payment of its own, never counted as this one
        pay_id = payment_id(invoice_id, f"pi-{intent_id}")
        payment = ctx.repo.payment(tenant_id, invoice_id, pay_id)
    now = ctx.clock.now()
    if payment is None:  # a payment made outside our attempts (a pay link) is recorded when Stripe tells us
        payment = Payment(
            id=pay_id,
            tenant_id=tenant_id,
            invoice_id=invoice_id,
            customer_id=invoice.customer_id,
            amount=int(payment_intent.get("amount") or invoice.amount_due),
            currency=payment_intent.get("currency") or invoice.currency,
            method="payment_link",
            created_at=now,
            updated_at=now,
        )
    status = status_of(payment_intent)
    if not payment.moves_to(status):
        return payment
    observed = payment.observe(payment_intent, now)
    received = int(payment_intent.get("amount_received") or payment.amount) if status == "succeeded" else 0
    currency = str(payment_intent.get("currency") or payment.currency).lower()
    unapplied_reason = None
    if received and currency != invoice.currency:
        unapplied_reason = "currency_mismatch"
    elif received and not invoice.takes_payments:
        unapplied_reason = f"invoice_{invoice.status}"
    if unapplied_reason:
        observed = observed.model_copy(update={"amount_unapplied": received, "unapplied_reason": unapplied_reason})
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_payment(tx, observed)
    invoice_key = keys.invoice(tenant_id, invoice_id)
    ctx.repo.add_event(
        tx,
        invoice_key,
        DomainEvent.new(
            f"payment.{status}",
            tenant_id,
            "invoice",
            invoice_id,
            now,
            payment_id=pay_id,
            decline_code=observed.decline_code,
        ),
    )
    if status == "failed" and payment.method == "off_session" and invoice.status == "open":
        if invoice.dunning.first_failure_at is None:  # steps anchored on the first failure start counting now
            dunning = invoice.dunning.model_copy(update={"first_failure_at": now, "attention_on": now.date()})
            ctx.repo.save_invoice(tx, invoice.model_copy(update={"dunning": dunning, "updated_at": now}))
    if unapplied_reason:
        # Money the invoice does not take: the customer's credit when it is in their invoice's currency; otherwise
        # it stays on the payment, marked, for finance to refund (the event says which).
        credited = received if unapplied_reason != "currency_mismatch" else 0
        ctx.repo.add_event(
            tx,
            invoice_key,
            DomainEvent.new(
                "payment.unapplied",
                tenant_id,
                "invoice",
                invoice_id,
                now,
                payment_id=pay_id,
                payment_intent=observed.stripe_payment_intent_id,
                amount=received,
                currency=currency,
                reason=unapplied_reason,
                credited=credited,
            ),
        )
        if credited:
            from billing.services import customers  # money we cannot apply: rare, the customer's ledger then

            customers.add_credit(
                ctx, tx, tenant_id, invoice.customer_id, credited, now, invoice_id=invoice_id, reason=unapplied_reason
            )
    elif received:
        count_against(ctx, tx, invoice, received, pay_id, now)
    ctx.repo.commit(tx)
    business_event(f"Payment{status.title().replace('_', '')}")
    return saved


def count_against(
    ctx: Context, tx: Any, invoice: Invoice, amount: int, pay_id: str, now: datetime, **receipt: Any
) -> int:
    """Money received for ``invoice`` (through Stripe or outside it), counted in ``tx``: the invoice's new amounts
    and its events (``receipt``: what the receipt also says of the money), a paid invoice's subscription back in
    service and its collection case resolved, an overpayment kept as the customer's credit. Returns the overpaid
    part."""
    updated, events = invoice.apply_payment(amount, pay_id, now)
    events[0].data |= receipt
    ctx.repo.save_invoice(tx, updated)
    if updated.status == "paid":
        settled(ctx, tx, updated, now)
    for event in events:
        ctx.repo.add_event(tx, keys.invoice(invoice.tenant_id, invoice.id), event)
    overpaid = int(events[0].data["overpaid"])
    if overpaid:  # kept as the customer's credit for the next invoice
        from billing.services import customers  # an overpayment: rare, the customer's ledger then

        customers.add_credit(
            ctx, tx, invoice.tenant_id, invoice.customer_id, overpaid, now, invoice_id=invoice.id, reason="overpaid"
        )
    return overpaid


def settled(ctx: Context, tx: Any, invoice: Invoice, now: datetime) -> None:
    """An invoice just paid (by money, or by a credit note), inside ``tx``: a subscription held back by its dunning
    is back in service, and its collection case, if open, resolves as paid."""
    follow_invoice(ctx, tx, invoice, "paid", now)
    collections.follow_invoice(ctx, tx, invoice, now)


@retrying()
def record_dispute(ctx: Context, tenant_id: str, invoice_id: str, pay_id: str, dispute: dict[str, Any]) -> bool:
    """A dispute opened or moved on: kept on the payment, and the invoice is marked while one is open (dunning
    pauses on it). Stripe's current dispute status is applied when it differs from ours; whether it did."""
    payment = ctx.repo.payment(tenant_id, invoice_id, pay_id)
    if payment is None or payment.dispute_status == dispute.get("status"):
        return False
    now = ctx.clock.now()
    status = dispute.get("status") or "needs_response"
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    open_now = status not in DISPUTE_CLOSED
    lost = int(dispute.get("amount") or 0) if status == "lost" and not payment.amount_disputed_lost else 0
    tx = ctx.repo.transaction()
    ctx.repo.save_payment(
        tx,
        payment.model_copy(
            update={
                "dispute_id": dispute.get("id"),
                "dispute_status": status,
                "amount_disputed_lost": payment.amount_disputed_lost + lost,
                "updated_at": now,
            }
        ),
    )
    if invoice.dispute_open != open_now or lost:
        updated = invoice.model_copy(
            update={"dispute_open": open_now, "dunning": _dunning_on_dispute(invoice, open_now, now), "updated_at": now}
        )
        if lost:  # the money went back to the card holder: owed again, and chased again
            updated, reopened = updated.take_back(lost, "dispute_lost", now)
            ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), reopened)
        ctx.repo.save_invoice(tx, updated)
    ctx.repo.add_event(
        tx,
        keys.invoice(tenant_id, invoice_id),
        DomainEvent.new(
            "invoice.disputed" if open_now else "invoice.dispute_closed",
            tenant_id,
            "invoice",
            invoice_id,
            now,
            payment_id=pay_id,
            dispute_id=dispute.get("id"),
            dispute_status=status,
            amount=dispute.get("amount"),
        ),
    )
    ctx.repo.commit(tx)
    business_event("DisputeOpened" if open_now else "DisputeClosed")
    return True


def _dunning_on_dispute(invoice: Invoice, open_now: bool, now: datetime):
    """Dunning pauses while a dispute is open (off the attention index) and picks up the day it closes."""
    progress = invoice.dunning
    if open_now:
        return progress.pause("dispute", now.date()).model_copy(update={"attention_on": None})
    if progress.plan and progress.plan.status == "active":
        return progress.model_copy(update={"paused": "payment_plan", "attention_on": now.date()})
    if progress.promise_until:  # a promise to pay made before the dispute still holds: the worker settles it
        return progress.model_copy(update={"paused": "promise_to_pay", "attention_on": now.date()})
    return progress.resume(now.date()).model_copy(update={"attention_on": now.date()})


def ours(gateway: Any, payment_intent_id: Any) -> tuple[str, str, str, dict[str, Any]] | None:
    """(tenant, invoice, payment id, PaymentIntent) for a PaymentIntent, charge, refund or dispute, from the
    PaymentIntent as Stripe has it now: nothing in an event's body decides which invoice money goes to."""
    if not isinstance(payment_intent_id, str) or not payment_intent_id:
        return None
    intent = gateway.payment_intent(payment_intent_id)
    metadata = intent.get("metadata") or {}
    tenant_id, invoice_id = metadata.get("tenant_id"), metadata.get("invoice_id")
    if not tenant_id or not invoice_id:
        return None
    return tenant_id, invoice_id, metadata.get("payment_id") or payment_id(invoice_id, f"pi-{intent['id']}"), intent


# --- closing the door ------------------------------------------------------------------------------------------
def void_invoice(ctx: Context, tenant_id: str, invoice_id: str, claim: Claim | None = None) -> Invoice:
    """Void the invoice (its credit and what was paid go back to the customer): one read, one transaction. Its
    PaymentIntents still open at Stripe are canceled shortly after, by the collector on the ``invoice.voided``
    event (``cancel_voided``), so that no old hosted page can take money; one that Stripe takes meanwhile is
    applied as any late payment is: the customer's credit."""
    from billing.services import invoicing  # the API's void, not the workers'

    return invoicing.void_invoice(ctx, tenant_id, invoice_id, claim)


def cancel_voided(ctx: Context, gateway: Callable[[], Any], tenant_id: str, invoice_id: str) -> None:
    """On ``invoice.voided`` (the collector): cancel every PaymentIntent of the invoice that could still take
    money, the ones recorded after the void committed included (the payments are read now, after it). Idempotent:
    a payment Stripe answered for (canceled, or succeeded after all) is recorded so, and a redelivered event
    finds nothing left to cancel; cancelling is idempotent at Stripe too. If Stripe cannot be reached the event
    fails (its queue retries it with back-off, then its DLQ). ``gateway`` makes the Stripe gateway, only if there
    is something to cancel."""
    if ctx.repo.invoice(tenant_id, invoice_id).status != "void":
        return  # an event replayed for an invoice that is no longer void: nothing of ours to close
    if open_now := [p for p in ctx.repo.payments(tenant_id, invoice_id) if p.cancelable]:
        _cancel(ctx, gateway(), tenant_id, invoice_id, open_now, strict=True)


def close_if_settled(ctx: Context, gateway: Any, tenant_id: str, invoice_id: str) -> None:
    """Once the invoice wants no more money (paid by one route), its other open PaymentIntents are canceled."""
    if not ctx.repo.invoice(tenant_id, invoice_id).payable:
        close_open_intents(ctx, gateway, tenant_id, invoice_id)


def close_open_intents(ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, strict: bool = False) -> None:
    """Cancel at Stripe every PaymentIntent of the invoice that could still take money, and record what Stripe
    answers (canceled, or succeeded after all). ``strict``: if one could not be canceled, raise once every other
    was tried (the caller's message is retried)."""
    _cancel(ctx, gateway, tenant_id, invoice_id, ctx.repo.payments(tenant_id, invoice_id), strict)


def _cancel(ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, found: list[Payment], strict: bool) -> None:
    unreachable: Exception | None = None
    for payment in found:
        if not payment.cancelable:
            continue
        try:
            answer = gateway.cancel_payment_intent(payment.stripe_payment_intent_id)
        except Exception as error:  # Stripe unreachable: what the intent may still take lands as credit
            logger.exception("could not cancel a PaymentIntent", extra={"payment_id": payment.id})
            unreachable = error
            continue
        apply_payment_intent(ctx, tenant_id, invoice_id, payment.id, answer)
    if strict and unreachable is not None:
        raise unreachable


def payments_of(ctx: Context, tenant_id: str, invoice_id: str) -> list[Payment]:
    ctx.repo.invoice(tenant_id, invoice_id)  # 404 for another tenant's invoice
    return ctx.repo.payments(tenant_id, invoice_id)
