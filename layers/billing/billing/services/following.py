"""A subscription follows its invoice's dunning and payment (past due, suspended, recovered, resumed) in the write
that moved the invoice.

Split from services/subscriptions so the payment paths (collector, Stripe events, reconciliation, dunning) load the
move table without the subscription service, its commands and the billing run (docs/benchmarks.md, section 1); the
subscription itself comes from the repository, its moves are the aggregate's own methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from billing.adapters import keys
from billing.services.billing_terms import RUN_DELAY

if TYPE_CHECKING:
    from billing.adapters.dynamodb import Transaction
    from billing.domain.models import Invoice
    from billing.services.unit import Context

# What an invoice's dunning does to the subscription that made it: (what happened, its status) -> its move.
FOLLOWS_INVOICE = {
    ("past_due", "active"): "mark_past_due",
    ("pause_service", "active"): "suspend",
    ("pause_service", "past_due"): "suspend",
    ("paid", "past_due"): "recover",
    ("paid", "suspended"): "resume",
}


def follow_invoice(ctx: Context, tx: Transaction, invoice: Invoice, what: str, now: datetime) -> None:
    """Move the invoice's subscription along with it inside ``tx`` (``what``: past_due, pause_service, paid)."""
    if invoice.subscription_id is None:
        return
    sub = ctx.repo.subscription(invoice.tenant_id, invoice.subscription_id)
    method = FOLLOWS_INVOICE.get((what, sub.status))
    if method is None:
        return
    moved, events = getattr(sub, method)(now)
    ctx.repo.save_subscription(tx, moved, int(RUN_DELAY.total_seconds()))
    key = keys.subscription(sub.tenant_id, sub.id)
    for event in events:
        ctx.repo.add_event(tx, key, event)
