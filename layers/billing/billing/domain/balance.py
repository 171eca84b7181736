"""The customer's balance ledger: every movement of a customer's credit balance, one entry each.

Pure Python: no I/O. A positive amount is credit to the customer (taken off their next invoices), a negative one a
debit they owe (added to the next invoice). The entries of a customer sum to its ``credit_balance``: each is written
in the transaction that moves the balance (billing.services.customers is the one place that does).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from billing.domain.base_model import BaseModel

# What moved the balance: an entry's ``type``.
TYPES = {
    "adjustment": "a credit or debit made through the API (POST /v1/customers/{id}/balance_transactions)",
    "applied_to_invoice": "credit taken off an invoice when it was issued (a debit: added to it)",
    "invoice_excess_credit": "an invoice whose credits outweighed its charges left the rest as credit",
    "overpaid": "money received beyond what an invoice owed",
    "invoice_voided": "a voided invoice gave back the credit it took and what was paid on it",
    "credit_note": "a credit note without refund credited the balance",
    "payment_reversed": "a payment received outside Stripe did not stand: the credit it brought is taken back",
    "unapplied_payment": "money for an invoice that did not take it (paid or void already)",
}


class BalanceTransaction(BaseModel):
    id: str  # "cbtxn_…", time-sorted
    tenant_id: str
    customer_id: str
    currency: str
    amount: int = Field(description="positive: credit to the customer; negative: a debit they owe")
    ending_balance: int = Field(description="the customer's credit_balance after this entry")
    type: str = Field(description="what moved the balance (docs/api.md, Customer balance)")
    description: str | None = None
    reason: str | None = None
    invoice_id: str | None = None
    credit_note_id: str | None = None
    created_at: datetime


def entry_type(reason: str | None) -> str:
    """The ledger type of a credit movement recorded with ``reason`` (the existing credit events' reasons)."""
    if reason in TYPES:
        return reason
    return "unapplied_payment" if reason else "adjustment"
