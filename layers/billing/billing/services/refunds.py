"""Refunds: money given back through Stripe, recorded as a numbered credit note on the invoice.

A refund is spread over the invoice's succeeded payments, newest first, one Stripe refund per payment touched. The
refund is recorded first (a ``RefundIntent``), then Stripe is asked, each refund with an idempotency key derived
from the credit note and the payment and the credit note's id in its metadata, then the credit note is written.
The credit note's id derives from the request's ``Idempotency-Key``; without one, a request resumes the invoice's
intent for the same amount and reason that no request was answered with yet, or starts a new one. So a request
retried after it died half-way, with or without a key, even after Stripe's webhook wrote its credit note, resumes
the same refund and refunds once. Once a request is answered with its credit note, the same request without a key
is a new refund, as it is at Stripe: a client that retries blindly sends an ``Idempotency-Key``.
Stripe's ``charge.refunded`` is deduplicated by Stripe's refund id: a refund of ours completes its own intent (if
the request died after Stripe refunded), any other (the dashboard) gets a credit note of its own.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.domain.errors import ConcurrentModification, Conflict, ValidationFailed
from billing.domain.models import CreditNote, DomainEvent, Invoice, RefundIntent, RefundPart
from billing.domain.payments import Payment
from billing.domain.stripe_money import NotChargeable, step
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
        # only what Stripe took can Stripe refund: a payment received outside Stripe is refunded by the tenant
        stripe = payment.status == "succeeded" and not payment.offline
        room = payment.amount - payment.amount_refunded if stripe else 0
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
    asked = f"{request.amount or 'all'}:{request.reason}"
    if claim:
        note_id = _note_id(invoice_id, claim.key)
        intent = ctx.repo.refund_intent(tenant_id, invoice_id, note_id)
    else:  # the same request, not answered yet (it died, even after its webhook wrote the credit note): resume it
        intents = ctx.repo.refund_intents(tenant_id, invoice_id)
        intent = next((i for i in intents if i.asked == asked and i.answered_at is None), None)
        note_id = _note_id(invoice_id, f"{len(intents)}:{asked}")
    if intent is None:  # a new refund: checked against what is refundable now
        if invoice.status not in ("paid", "open"):
            raise Conflict("invoice_not_refundable", f"invoice {invoice_id} is {invoice.status}")
        unit = step(invoice.currency)  # Stripe refunds KWD in steps of 10 fils, MGA in whole ariary
        amount = request.amount if request.amount is not None else invoice.refundable() // unit * unit
        if amount % unit:
            raise NotChargeable(
                "amount_not_chargeable",
                f"{invoice.currency.upper()} refunds go in steps of {unit} minor units; {amount} is not one",
            )
        if amount <= 0 or amount > invoice.refundable():
            raise ValidationFailed(
                "refund_exceeds_refundable",
                f"{amount} asked, {invoice.refundable()} refundable on invoice {invoice_id}",
            )
        intent = _record_intent(ctx, invoice, note_id, amount, request.reason, None if claim else asked)
    note = complete(ctx, gateway, intent)
    _answered(ctx, intent, note, claim)
    return note


def _note_id(invoice_id: str, request: str) -> str:
    return f"cn_{hashlib.sha256(f'{invoice_id}:{request}'.encode()).hexdigest()[:24]}"


def _answered(ctx: Context, intent: RefundIntent, note: CreditNote, claim: Claim | None) -> None:
    """Mark the intent answered (a later request without a key is a new refund) and keep the answer for the key."""
    current = ctx.repo.refund_intent(intent.tenant_id, intent.invoice_id, intent.id)
    if current is None or (current.answered_at and claim is None):
        return
    tx = ctx.repo.transaction()
    if current.answered_at is None:
        ctx.repo.save_refund_intent(tx, current.model_copy(update={"answered_at": ctx.clock.now()}))
    remember(ctx, tx, intent.tenant_id, claim, note.model_dump(mode="json"))
    try:
        ctx.repo.commit(tx)
    except ConcurrentModification:
        pass  # the same request, answered at the same moment: either answer is this note


def _record_intent(
    ctx: Context, invoice: Invoice, note_id: str, amount: int, reason: str, asked: str | None
) -> RefundIntent:
    parts = [
        RefundPart(payment_id=payment.id, stripe_refund_id=None, amount=part)
        for payment, part in plan(ctx.repo.payments(invoice.tenant_id, invoice.id), amount)
    ]
    intent = RefundIntent(
        id=note_id,
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        amount=amount,
        reason=reason,
        parts=parts,
        created_at=ctx.clock.now(),
        asked=asked,
    )
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_refund_intent(tx, intent)
    try:
        ctx.repo.commit(tx)
    except ConcurrentModification:  # the same refund asked twice at once: the other one recorded it
        found = ctx.repo.refund_intent(invoice.tenant_id, invoice.id, note_id)
        assert found is not None
        return found
    return saved


def complete(ctx: Context, gateway: Any, intent: RefundIntent) -> CreditNote:
    """Make the intent's Stripe refunds (again: Stripe answers a repeated key with the same refund) and write its
    credit note, once."""
    tenant_id, invoice_id = intent.tenant_id, intent.invoice_id
    if note := ctx.repo.credit_note(tenant_id, invoice_id, intent.id):
        return note
    parts = []
    for part in intent.parts:
        payment = ctx.repo.payment(tenant_id, invoice_id, part.payment_id)
        assert payment is not None and payment.stripe_payment_intent_id
        made = gateway.refund(
            payment.stripe_payment_intent_id,
            part.amount,
            intent.reason,
            f"{intent.id}-{payment.id}",
            metadata={"tenant_id": tenant_id, "invoice_id": invoice_id, "credit_note_id": intent.id},
            currency=payment.currency,
        )
        parts.append(part.model_copy(update={"stripe_refund_id": made.get("id")}))
    return record_credit_note(ctx, tenant_id, invoice_id, intent.id, intent.amount, intent.reason, parts)


@retrying()
def record_credit_note(
    ctx: Context,
    tenant_id: str,
    invoice_id: str,
    note_id: str,
    amount: int,
    reason: str,
    parts: list[RefundPart],
) -> CreditNote:
    """Write the credit note, the payments' refunded amounts and the invoice's, in one transaction; once (a credit
    note already written is the answer)."""
    if note := ctx.repo.credit_note(tenant_id, invoice_id, note_id):
        return note
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
    ctx.repo.commit(tx)
    business_event("RefundIssued")
    return saved


def refunded_in_stripe(
    ctx: Context, gateway: Any, tenant_id: str, invoice_id: str, pay_id: str, stripe_refunds: list[dict[str, Any]]
) -> int:
    """Stripe's refunds of a payment (a ``charge.refunded`` event, reconciliation), each by its id. One of ours (its
    metadata names its credit note) completes its intent, if the request that made it died; any other (the Stripe
    dashboard) gets a credit note of its own, once. How many credit notes this wrote."""
    written = 0
    for made in stripe_refunds:
        if made.get("status") in ("failed", "canceled") or not made.get("id"):
            continue
        ours = (made.get("metadata") or {}).get("credit_note_id")
        if ours:
            intent = ctx.repo.refund_intent(tenant_id, invoice_id, ours)
            if intent and not ctx.repo.credit_note(tenant_id, invoice_id, ours):
                complete(ctx, gateway, intent)
                written += 1
            continue
        note_id = f"cn_{hashlib.sha256(f'{pay_id}:stripe:{made["id"]}'.encode()).hexdigest()[:24]}"
        part = RefundPart(payment_id=pay_id, stripe_refund_id=made["id"], amount=int(made.get("amount") or 0))
        if part.amount > 0 and not ctx.repo.credit_note(tenant_id, invoice_id, note_id):
            record_credit_note(ctx, tenant_id, invoice_id, note_id, part.amount, "refunded_in_stripe", [part])
            written += 1
    return written


def credit_notes_of(ctx: Context, tenant_id: str, invoice_id: str) -> list[CreditNote]:
    ctx.repo.invoice(tenant_id, invoice_id)
    return ctx.repo.credit_notes(tenant_id, invoice_id)
