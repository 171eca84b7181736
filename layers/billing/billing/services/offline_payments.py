"""Payments received outside Stripe (a wire, cash, a check), recorded by the tenant's ERP or finance team.

Such a payment counts as a Stripe one does (``payments.apply_payment_intent``): partial or full, an overpayment
to the customer's credit, the receipt e-mail (``invoice.payment_succeeded``), dunning stops once the invoice is
paid, a subscription held back by it is back in service, events out. It is named by ``(tenant, method, reference)``
and guarded by that key, so the same wire recorded twice, even against another invoice, is one payment. It is never
deleted: a payment that did not stand (a bounced check, a recalled wire) gets a reversal entry, and what it paid is
owed again. Refunding one is the tenant's own bank transfer, outside this system (Stripe refunds Stripe payments).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from billing.adapters import keys
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.models import DomainEvent, Invoice
from billing.domain.payments import Payment, offline_payment_id
from billing.observability import business_event
from billing.services import customers, payments
from billing.services.commands import RecordPayment, ReversePayment
from billing.services.unit import Claim, Context, remember, retrying


class ReferenceTaken(Exception):
    """Another request recorded this (method, reference) first: answer from what it recorded."""


def record_payment(
    ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, cmd: RecordPayment, claim: Claim | None = None
) -> Payment:
    """Record money received for the invoice outside Stripe; the identical request again answers the same payment.
    Once the invoice wants no more money, its PaymentIntents still open at Stripe are canceled (as when it is paid
    by link), so that no old hosted page takes money twice."""
    payment = _record(ctx, tenant_id, invoice_id, cmd, claim)
    payments.close_if_settled(ctx, gateway, tenant_id, invoice_id)
    return payment


@retrying()
def _record(ctx: Context, tenant_id: str, invoice_id: str, cmd: RecordPayment, claim: Claim | None) -> Payment:
    if ctx.repo.payment_reference(tenant_id, cmd.method, cmd.reference):
        return _same(ctx, tenant_id, invoice_id, cmd)
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    _check(ctx, invoice, cmd)
    now = ctx.clock.now()
    pay_id = offline_payment_id(tenant_id, cmd.method, cmd.reference)
    tx = ctx.repo.transaction()
    ctx.repo.claim_payment_reference(tx, tenant_id, cmd.method, cmd.reference, pay_id, invoice_id, ReferenceTaken)
    # the receipt says how and when the money came (billing.services.notifications)
    receipt = {"method": cmd.method, "received_at": cmd.received_at.isoformat()}
    overpaid = payments.count_against(ctx, tx, invoice, cmd.amount, pay_id, now, **receipt)
    payment = Payment(
        id=pay_id,
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        customer_id=invoice.customer_id,
        amount=cmd.amount,
        currency=invoice.currency,
        method=cmd.method,
        status="succeeded",
        reference=cmd.reference,
        received_at=cmd.received_at,
        recorded_by=cmd.recorded_by,
        amount_credited=overpaid,
        created_at=now,
        updated_at=now,
    )
    saved = ctx.repo.save_payment(tx, payment)
    recorded = DomainEvent.new(
        "payment.succeeded",
        tenant_id,
        "invoice",
        invoice_id,
        now,
        payment_id=pay_id,
        method=cmd.method,
        reference=cmd.reference,
        amount=cmd.amount,
        currency=invoice.currency,
        received_at=cmd.received_at.isoformat(),
        recorded_by=cmd.recorded_by,
    )
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), recorded)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    try:
        ctx.repo.commit(tx)
    except ReferenceTaken:  # the same reference recorded at this moment by another request
        return _same(ctx, tenant_id, invoice_id, cmd)
    business_event("OfflinePaymentRecorded")
    return saved


def _check(ctx: Context, invoice: Invoice, cmd: RecordPayment) -> None:
    if not invoice.takes_payments:
        raise Conflict(
            "invoice_not_payable",
            f"invoice {invoice.id} is {invoice.status}: it takes no payment",
            invoice_status=invoice.status,
        )
    if cmd.currency and cmd.currency != invoice.currency:
        raise ValidationFailed(
            "currency_mismatch", f"invoice {invoice.id} is in {invoice.currency}, not {cmd.currency}"
        )
    if cmd.received_at > ctx.clock.now():
        raise ValidationFailed("received_in_future", f"received_at {cmd.received_at.isoformat()} is in the future")
    assert invoice.issued_at is not None  # open or uncollectible: issued
    issue_day = invoice.issued_at.astimezone(UTC).date()
    if cmd.received_at < datetime.combine(issue_day, time(0), UTC):  # compared as instants: any offset is fine
        raise ValidationFailed(
            "received_before_issue",
            f"received_at {cmd.received_at.isoformat()} is before the day invoice {invoice.id} was issued "
            f"({issue_day}, UTC): money received earlier is no payment of it",
        )


def _same(ctx: Context, tenant_id: str, invoice_id: str, cmd: RecordPayment) -> Payment:
    """The payment this (method, reference) names, if ``cmd`` is the request that recorded it; else 409."""
    guard = ctx.repo.payment_reference(tenant_id, cmd.method, cmd.reference)
    assert guard is not None
    existing = ctx.repo.payment(tenant_id, guard["invoice_id"], guard["owner_id"])
    assert existing is not None  # the guard and the payment are written in one transaction
    identical = (
        existing.invoice_id == invoice_id
        and existing.amount == cmd.amount
        and existing.received_at == cmd.received_at
        and cmd.currency in (None, existing.currency)
    )
    if not identical:
        raise Conflict(
            "payment_reference_used",
            f"{cmd.method} {cmd.reference} is recorded already, as payment {existing.id} of invoice "
            f"{existing.invoice_id}",
            payment_id=existing.id,
            invoice_id=existing.invoice_id,
        )
    return existing


@retrying()
def reverse_payment(
    ctx: Context, tenant_id: str, invoice_id: str, payment_id: str, cmd: ReversePayment, claim: Claim | None = None
) -> Payment:
    """A reversal entry for a payment received outside Stripe: the payment keeps its record (``reversed_at``,
    ``reversal_reason``, status ``reversed``); what it had put on the customer's credit comes off it first, the
    rest is owed again on the invoice (a paid invoice reopens and dunning starts over); ``payment.reversed``."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    payment = ctx.repo.payment(tenant_id, invoice_id, payment_id)
    if payment is None:
        raise NotFound("payment_not_found", f"no payment {payment_id} on invoice {invoice_id}")
    if not payment.offline:
        raise Conflict(
            "payment_not_reversible",
            f"payment {payment_id} went through Stripe: refund it (POST /v1/invoices/{invoice_id}/refunds)",
        )
    if payment.reversed_at is not None:
        raise Conflict(
            "payment_already_reversed", f"payment {payment_id} was reversed on {payment.reversed_at.isoformat()}"
        )
    now = ctx.clock.now()
    updated, events, from_credit = invoice.reverse_payment(payment.amount, payment.id, cmd.reason, now)
    if cmd.recorded_by:
        events[0].data["recorded_by"] = cmd.recorded_by
    reversed_payment = payment.model_copy(
        update={"status": "reversed", "reversed_at": now, "reversal_reason": cmd.reason, "updated_at": now}
    )
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_payment(tx, reversed_payment)
    if updated is not invoice:
        ctx.repo.save_invoice(tx, updated)
    for event in events:
        ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    if from_credit:
        customers.deduct_credit(
            ctx,
            tx,
            tenant_id,
            invoice.customer_id,
            from_credit,
            now,
            invoice_id=invoice_id,
            payment_id=payment_id,
            reason="payment_reversed",
        )
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("OfflinePaymentReversed")
    return saved
