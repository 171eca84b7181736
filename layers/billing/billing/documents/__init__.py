"""Legal documents as PDF: the invoice and the credit note, rendered once, in the customer's language."""

from billing.documents.pdf import render_credit_note_pdf, render_invoice_pdf

__all__ = ["render_credit_note_pdf", "render_invoice_pdf"]
