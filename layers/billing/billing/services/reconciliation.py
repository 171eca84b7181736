"""Reconciliation: compare Stripe's recent PaymentIntents with our payments and repair what a lost webhook left
behind, by the same rule a webhook is applied with. Runs on a schedule; reports what it fixed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.domain.payments import status_of
from billing.observability import logger
from billing.services import payments
from billing.services.unit import Context

LOOKBACK = timedelta(hours=26)  # more than a day: a run that failed is covered by the next ones


def reconcile(ctx: Context, gateway: Any, scheduled_time: datetime) -> dict[str, Any] | None:
    """Check the PaymentIntents created in the look-back window; ``None`` if this scheduled time already ran."""
    run = ("stripe-reconciliation", scheduled_time.isoformat())
    if ctx.repo.schedule_run_done(*run):
        return None
    checked, repaired = 0, []
    for intent in gateway.recent_payment_intents(int((scheduled_time - LOOKBACK).timestamp())):
        metadata = intent.get("metadata") or {}
        tenant_id, invoice_id, pay_id = (metadata.get(k) for k in ("tenant_id", "invoice_id", "payment_id"))
        if not (tenant_id and invoice_id and pay_id):
            continue  # not one of ours
        checked += 1
        ours = ctx.repo.payment(tenant_id, invoice_id, pay_id)
        if ours is not None and not ours.moves_to(status_of(intent)):
            continue
        try:
            fixed = payments.apply_payment_intent(ctx, tenant_id, invoice_id, pay_id, intent)
        except payments.InvoiceNotVisibleYet:
            continue
        repaired.append(
            {
                "tenant_id": tenant_id,
                "invoice_id": invoice_id,
                "payment_id": pay_id,
                "payment_intent": intent.get("id"),
                "from": ours.status if ours else None,
                "to": fixed.status,
            }
        )
    report = {"checked": checked, "repaired": len(repaired)}
    if repaired:
        logger.warning("reconciliation repaired payments", extra={"repaired": repaired})
    ctx.repo.record_schedule_run(*run, finished_at=ctx.clock.now().isoformat(), **report)
    return {**report, "repairs": repaired}
