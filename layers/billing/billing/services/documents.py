"""Legal documents: every finalized invoice and every credit note rendered to PDF once, off the request path (from
the outbox event), stored immutably, and handed out as a short-lived link.

The PDF shows the invoice as it was issued (``Invoice.as_issued``): a later payment, refund or void is shown on the
portal and the hosted page, never by rendering it again. Rendering is idempotent: a redelivered event finds the
document attached and does nothing; a renderer that died between storing and attaching finds its PDF in the
bucket (the write is conditional, the first one stays) and attaches it.
"""

from __future__ import annotations

from billing.adapters import keys
from billing.adapters.document_store import DocumentStore
from billing.domain.errors import Conflict
from billing.domain.models import CreditNote, DomainEvent, Invoice
from billing.observability import business_event
from billing.services import hosted_page, settings
from billing.services.document_events import EVENTS as EVENTS
from billing.services.unit import Context, retrying

RETRY_AFTER_SECONDS = 5  # what a caller is told to wait while a PDF renders (a render takes well under a second)


class PdfNotReady(Conflict):
    """The document is being rendered (HTTP 409 with Retry-After)."""

    code = "pdf_not_ready"


def invoice_key(invoice: Invoice) -> str:
    return f"{invoice.tenant_id}/invoices/{invoice.id}.pdf"


def credit_note_key(note: CreditNote) -> str:
    return f"{note.tenant_id}/credit_notes/{note.id}.pdf"


def render_for(ctx: Context, store: DocumentStore, event: DomainEvent, public_base_url: str | None) -> str | None:
    """Render the document ``event`` calls for; the key it is stored at (None: the event calls for none)."""
    if event.type == "invoice.finalized":
        return _invoice_pdf(ctx, store, event.tenant_id, event.aggregate_id, public_base_url)
    if event.type == "credit_note.issued":
        return _credit_note_pdf(ctx, store, event.tenant_id, event.aggregate_id, event.data["credit_note_id"])
    return None


def _invoice_pdf(ctx: Context, store: DocumentStore, tenant_id: str, invoice_id: str, base_url: str | None) -> str:
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if invoice.pdf_key:
        return invoice.pdf_key
    from billing.documents import render_invoice_pdf  # the renderer and its fonts: only in the renderer

    issued = invoice.as_issued()
    pay_url = hosted_page.hosted_url(invoice, base_url) if issued.amount_due > 0 else None
    key = invoice_key(invoice)
    if store.put_once(key, render_invoice_pdf(issued, settings.profile(ctx, tenant_id), pay_url=pay_url)):
        business_event("InvoicePdfRendered")
    _attach_to_invoice(ctx, tenant_id, invoice_id, key)
    return key


@retrying()
def _attach_to_invoice(ctx: Context, tenant_id: str, invoice_id: str, key: str) -> None:
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if invoice.pdf_key:
        return
    attached, event = invoice.attach_pdf(key, ctx.clock.now())
    tx = ctx.repo.transaction()
    ctx.repo.save_invoice(tx, attached)
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    ctx.repo.commit(tx)


def _credit_note_pdf(ctx: Context, store: DocumentStore, tenant_id: str, invoice_id: str, note_id: str) -> str:
    note = ctx.repo.credit_note_by_id(tenant_id, note_id)
    if note.pdf_key:
        return note.pdf_key
    from billing.documents import render_credit_note_pdf

    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    key = credit_note_key(note)
    if store.put_once(key, render_credit_note_pdf(note, invoice.as_issued(), settings.profile(ctx, tenant_id))):
        business_event("CreditNotePdfRendered")
    _attach_to_credit_note(ctx, tenant_id, note_id, key)
    return key


@retrying()
def _attach_to_credit_note(ctx: Context, tenant_id: str, note_id: str, key: str) -> None:
    note = ctx.repo.credit_note_by_id(tenant_id, note_id)
    if note.pdf_key:
        return
    tx = ctx.repo.transaction()
    ctx.repo.save_credit_note(tx, note.attach_pdf(key))
    ctx.repo.commit(tx)


def invoice_link(ctx: Context, store: DocumentStore, tenant_id: str, invoice_id: str) -> str:
    """A short-lived link to the invoice's PDF; ``PdfNotReady`` while it renders, 404 for a draft."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if invoice.issued_at is None:
        raise Conflict("invoice_not_issued", f"invoice {invoice_id} is a draft: it has no PDF")
    if not invoice.pdf_key:
        raise PdfNotReady(detail=f"the PDF of invoice {invoice_id} is being rendered", retry_after=RETRY_AFTER_SECONDS)
    return store.link(invoice.pdf_key, f"{invoice.number}.pdf")


def credit_note_link(ctx: Context, store: DocumentStore, tenant_id: str, note_id: str) -> str:
    note = ctx.repo.credit_note_by_id(tenant_id, note_id)
    if not note.pdf_key:
        raise PdfNotReady(detail=f"the PDF of credit note {note_id} is being rendered", retry_after=RETRY_AFTER_SECONDS)
    return store.link(note.pdf_key, f"{note.number}.pdf")
