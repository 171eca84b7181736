"""Refunds: money given back through Stripe, recorded as a numbered credit note on the invoice.

A refund is spread over the invoice's succeeded payments, newest first, one Stripe refund per payment touched, each
with an idempotency key derived from the credit note and the payment. With an ``Idempotency-Key`` the credit note's
id derives from it, so a retried request sends Stripe the same keys and refunds once.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from billing.adapters import keys
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import CreditNote, DomainEvent, Invoice, RefundPart
from billing.domain.payments import Payment
from billing.observability import business_event
from billing.services.invoicing import take_number
from billing.services.unit import Claim, Context, remember, retrying

RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent", "other"]


class RefundRequest(BaseModel):
    amount: int | None = Field(
        default=None, gt=0, strict=True, description="minor units; default: all that is refundable"
    )
    reason: RefundReason


def plan(payments: list[Payment], amount: int) -> list[tuple[Payment, int]]:
    """Which payments give back how much: newest succeeded payment first."""
    parts, left = [], amount
    for payment in sorted(payments, key=lambda p: p.created_at, reverse=True):
        if left == 0:
            break
        room = payment.amount - payment.amount_refunded if payment.status == "succeeded" else 0
        if room > 0:
            parts.append((payment, min(room, left)))
            left -= min(room, left)
    if left:
        raise ValidationFailed("refund_exceeds_payments", f"{left} more than the invoice's payments can refund")
    return parts


def refund(
    ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, request: RefundRequest, claim: Claim | None = None
) -> CreditNote:
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if invoice.status not in ("paid", "open"):
        raise Conflict("invoice_not_refundable", f"invoice {invoice_id} is {invoice.status}")
    amount = request.amount if request.amount is not None else invoice.refundable()
    if amount <= 0 or amount > invoice.refundable():
        raise ValidationFailed(
            "refund_exceeds_refundable", f"{amount} asked, {invoice.refundable()} refundable on invoice {invoice_id}"
        )
    now = ctx.clock.now()
    note_id = (
        f"cn_{hashlib.sha256(f'{invoice_id}:{claim.key}'.encode()).hexdigest()[:24]}" if claim else new_id("cn", now)
    )
    parts = []
    for payment, part in plan(ctx.repo.payments(tenant_id, invoice_id), amount):
        made = gateway.refund(payment.stripe_payment_intent_id, part, request.reason, f"{note_id}-{payment.id}")
        parts.append(RefundPart(payment_id=payment.id, stripe_refund_id=made.get("id"), amount=part))
    return record_credit_note(ctx, tenant_id, invoice_id, note_id, amount, request.reason, parts, claim)


@retrying()
def record_credit_note(
    ctx: Context,
    tenant_id: str,
    invoice_id: str,
    note_id: str,
    amount: int,
    reason: str,
    parts: list[RefundPart],
    claim: Claim | None = None,
) -> CreditNote:
    """Write the credit note, the payments' refunded amounts and the invoice's, in one transaction."""
    invoice: Invoice = ctx.repo.invoice(tenant_id, invoice_id)
    tenant = ctx.repo.tenant(tenant_id)
    assert tenant is not None
    now = ctx.clock.now()
    tx = ctx.repo.transaction()
    number = take_number(ctx, tx, tenant_id, "credit_note", tenant.credit_note_number_format)
    note = CreditNote(
        id=note_id,
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        customer_id=invoice.customer_id,
        number=number,
        currency=invoice.currency,
        amount=amount,
        reason=reason,
        refunds=parts,
        created_at=now,
    )
    saved = ctx.repo.save_credit_note(tx, note)
    for part in parts:
        payment = ctx.repo.payment(tenant_id, invoice_id, part.payment_id)
        assert payment is not None
        ctx.repo.save_payment(
            tx, payment.model_copy(update={"amount_refunded": payment.amount_refunded + part.amount, "updated_at": now})
        )
    updated, event = invoice.record_refund(saved, now)
    ctx.repo.save_invoice(tx, updated)
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    ctx.repo.add_event(
        tx,
        keys.invoice(tenant_id, invoice_id),
        DomainEvent.new(
            "credit_note.issued",
            tenant_id,
            "invoice",
            invoice_id,
            now,
            credit_note_id=note.id,
            number=number,
            amount=amount,
            amount_refunded_total=updated.amount_refunded,
        ),
    )
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("RefundIssued")
    return saved


def refunded_in_stripe(
    ctx: Context, tenant_id: str, invoice_id: str, pay_id: str, stripe_total: int, refund_ids: list[str]
) -> CreditNote | None:
    """A ``charge.refunded`` event: a refund we did not make (the Stripe dashboard) still gets its credit note.
    Stripe's total refunded for the payment is compared with ours; only the difference is recorded."""
    payment = ctx.repo.payment(tenant_id, invoice_id, pay_id)
    if payment is None or stripe_total <= payment.amount_refunded:
        return None
    delta = stripe_total - payment.amount_refunded
    note_id = f"cn_{hashlib.sha256(f'{pay_id}:stripe:{stripe_total}'.encode()).hexdigest()[:24]}"
    if ctx.repo.credit_note(tenant_id, invoice_id, note_id):
        return None
    part = RefundPart(payment_id=pay_id, stripe_refund_id=refund_ids[-1] if refund_ids else None, amount=delta)
    return record_credit_note(ctx, tenant_id, invoice_id, note_id, delta, "refunded_in_stripe", [part])


def credit_notes_of(ctx: Context, tenant_id: str, invoice_id: str) -> list[CreditNote]:
    ctx.repo.invoice(tenant_id, invoice_id)
    return ctx.repo.credit_notes(tenant_id, invoice_id)
