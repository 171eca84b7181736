"""Reconciliation: compare Stripe's recent PaymentIntents, refunds and disputes with ours and repair what a lost
webhook left behind, by the same rules a webhook is applied with. Runs on a schedule over the last 26 hours, and on
demand over any window (``python -m infra.admin reconcile --since …``); reports what it fixed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from billing.domain.payments import status_of
from billing.observability import logger
from billing.services.unit import Context

LOOKBACK = timedelta(hours=26)  # more than a day: a run that failed is covered by the next ones


def reconcile(ctx: Context, gateway: Any, scheduled_time: datetime) -> dict[str, Any] | None:
    """Check what Stripe created in the look-back window; ``None`` if this scheduled time already ran."""
    run = ("stripe-reconciliation", scheduled_time.isoformat())
    if ctx.repo.schedule_run_done(*run):
        return None
    found = reconcile_since(ctx, gateway, scheduled_time - LOOKBACK)
    report = {k: v for k, v in found.items() if k != "repairs"}
    ctx.repo.record_schedule_run(*run, finished_at=ctx.clock.now().isoformat(), **report)
    return found


def reconcile_since(ctx: Context, gateway: Any, since: datetime) -> dict[str, Any]:
    """Repair our payments, refunds and disputes from what Stripe created since ``since``."""
    start = int(since.timestamp())
    checked, repaired = 0, []
    for intent in gateway.recent_payment_intents(start):
        metadata = intent.get("metadata") or {}
        tenant_id, invoice_id, pay_id = (metadata.get(k) for k in ("tenant_id", "invoice_id", "payment_id"))
        if not (tenant_id and invoice_id and pay_id):
            continue  # not one of ours
        checked += 1
        ours = ctx.repo.payment(tenant_id, invoice_id, pay_id)
        if ours is not None and not ours.moves_to(status_of(intent)):
            continue
        from billing.services import payments  # the payment rules: for a repair (a run in step imports none)

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
    refunds_repaired = 0
    for made in gateway.recent_refunds(start):
        from billing.services import payments, refunds  # likewise: for a refund or dispute in the window

        if owner := payments.ours(gateway, made.get("payment_intent")):
            tenant_id, invoice_id, pay_id, _ = owner
            refunds_repaired += refunds.refunded_in_stripe(ctx, gateway, tenant_id, invoice_id, pay_id, [made])
    disputes_repaired = 0
    for dispute in gateway.recent_disputes(start):
        from billing.services import payments

        if owner := payments.ours(gateway, dispute.get("payment_intent")):
            tenant_id, invoice_id, pay_id, _ = owner
            disputes_repaired += payments.record_dispute(ctx, tenant_id, invoice_id, pay_id, dispute)
    report = {
        "checked": checked,
        "repaired": len(repaired),
        "refunds_repaired": refunds_repaired,
        "disputes_repaired": disputes_repaired,
    }
    if repaired or refunds_repaired or disputes_repaired:
        logger.warning("reconciliation repaired", extra={**report, "repairs": repaired})
    return {**report, "repairs": repaired}
