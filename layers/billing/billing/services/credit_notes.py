"""Credit notes without refund: a numbered correction of a finalized invoice that gives no money back. It lowers
what an open invoice owes (``credit_to`` invoice: credited in full, the invoice is paid by it, its dunning stops and
its collection case resolves), or puts the amount on the customer's balance (``credit_to`` balance: any finalized
invoice, open or paid; the next invoices take it off). Numbered in the credit note series in the transaction that
writes it; all the credit notes of an invoice (refunds too) never exceed its total.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from billing.adapters import keys
from billing.domain.base_model import BaseModel
from billing.domain.credit_notes import split_tax
from billing.domain.errors import NotFound
from billing.domain.ids import new_id
from billing.domain.models import CreditNote, CreditNoteLine, DomainEvent
from billing.domain.pricing import MAX_AMOUNT
from billing.observability import business_event
from billing.services import customers, payments
from billing.services.invoicing import take_number
from billing.services.unit import Claim, Context, remember, retrying

CreditReason = Literal["duplicate", "product_unsatisfactory", "order_change", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreditLineIn(_Strict):
    description: str = Field(min_length=1, max_length=500)
    amount: int = Field(gt=0, le=MAX_AMOUNT, strict=True, description="minor units")


class IssueCredit(_Strict):
    amount: int | None = Field(default=None, gt=0, le=MAX_AMOUNT, strict=True, description="minor units")
    lines: list[CreditLineIn] | None = Field(default=None, min_length=1, max_length=50)
    reason: CreditReason
    memo: str | None = Field(default=None, min_length=1, max_length=1000)
    credit_to: Literal["invoice", "balance"]

    @model_validator(mode="after")
    def _amount_or_lines(self) -> IssueCredit:
        if (self.amount is None) == (self.lines is None):
            raise ValueError("give exactly one of amount and lines")
        return self


@retrying()
def issue_credit(
    ctx: Context, tenant_id: str, invoice_id: str, cmd: IssueCredit, claim: Claim | None = None
) -> CreditNote:
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    lines = [CreditNoteLine(description=li.description, amount=li.amount) for li in cmd.lines or []]
    amount = cmd.amount if cmd.amount is not None else sum(li.amount for li in lines)
    now = ctx.clock.now()
    net, tax = split_tax(amount, invoice)
    tx = ctx.repo.transaction()
    note = CreditNote(
        id=new_id("cn", now),
        tenant_id=tenant_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        number="",
        currency=invoice.currency,
        amount=amount,
        reason=cmd.reason,
        refunds=[],
        created_at=now,
        kind="credit",
        credit_to=cmd.credit_to,
        lines=lines,
        memo=cmd.memo,
        net_amount=net,
        tax_amount=tax,
    )
    credited, events = invoice.credit(note, now)  # refuses before anything is written (or numbered)
    note = note.model_copy(
        update={"number": take_number(ctx, tx, tenant_id, "credit_note", tenant.credit_note_number_format)}
    )
    saved = ctx.repo.save_credit_note(tx, note)
    ctx.repo.save_invoice(tx, credited)
    invoice_key = keys.invoice(tenant_id, invoice.id)
    for event in events:
        ctx.repo.add_event(tx, invoice_key, event)
    if credited.status == "paid" and invoice.status != "paid":
        payments.settled(ctx, tx, credited, now)
    if cmd.credit_to == "balance":
        customers.add_credit(
            ctx,
            tx,
            tenant_id,
            invoice.customer_id,
            amount,
            now,
            invoice_id=invoice.id,
            credit_note_id=note.id,
            reason="credit_note",
        )
    ctx.repo.add_event(
        tx,
        invoice_key,
        DomainEvent.new(
            "credit_note.issued",
            tenant_id,
            "invoice",
            invoice.id,
            now,
            credit_note_id=note.id,
            number=note.number,
            amount=amount,
            amount_refunded_total=credited.amount_refunded,
            kind="credit",
            credit_to=cmd.credit_to,
            reason=cmd.reason,
            memo=cmd.memo,
            net_amount=net,
            tax_amount=tax,
            changes={
                "amount_due": {"before": invoice.amount_due, "after": credited.amount_due},
                "amount_credited": {"before": invoice.amount_credited, "after": credited.amount_credited},
                "amount_credited_to_balance": {
                    "before": invoice.amount_credited_to_balance,
                    "after": credited.amount_credited_to_balance,
                },
                "status": {"before": invoice.status, "after": credited.status},
            },
        ),
    )
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("CreditNoteIssued")
    return saved
