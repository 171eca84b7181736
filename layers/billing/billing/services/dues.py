"""Due dates: a daily sweep finds open invoices past their due date through the due-date index (no scan) and
fans them out; the worker marks each one past due, once, which starts the customer's reminder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from billing.adapters import keys
from billing.domain.errors import NotFound
from billing.services.unit import Context, retrying

# How many past due dates a sweep reads. Marked invoices leave the index, so re-reading is cheap; the window
# only has to outlast the longest outage of the schedule.
LOOKBACK_DAYS = 14


def sweep(ctx: Context, publisher: Any, queue_url: str, scheduled_time: datetime) -> int | None:
    """Fan out the overdue invoices as of ``scheduled_time``; ``None`` if this scheduled time already ran.

    The run is recorded after its messages are sent: a run that failed half-way is retried in full (the worker is
    idempotent), and only a run that finished counts as done for a repeated firing."""
    run = ("due-sweep", scheduled_time.isoformat())
    if ctx.repo.schedule_run_done(*run):
        return None
    today = scheduled_time.date()
    messages = []
    for back in range(1, LOOKBACK_DAYS + 1):
        due: date = today - timedelta(days=back)
        messages += [{"tenant_id": t, "invoice_id": i} for t, i in ctx.repo.due_invoices(due.isoformat())]
    publisher.send(queue_url, messages)
    ctx.repo.record_schedule_run(*run, finished_at=ctx.clock.now().isoformat(), fanned_out=len(messages))
    return len(messages)


@retrying()
def mark_past_due(ctx: Context, tenant_id: str, invoice_id: str) -> bool:
    """Mark the invoice past due if it still is overdue; a repeat or a paid invoice changes nothing."""
    try:
        invoice = ctx.repo.invoice(tenant_id, invoice_id)
    except NotFound:
        return False
    now = ctx.clock.now()
    if not invoice.is_overdue(now):
        return False
    marked, event = invoice.mark_past_due(now)
    tx = ctx.repo.transaction()
    ctx.repo.save_invoice(tx, marked)
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    ctx.repo.commit(tx)
    return True
