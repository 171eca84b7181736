"""Stripe webhooks, stage two: apply a recorded event, idempotently and in any order.

Handlers are registered by event type. Each reads the object's current state from Stripe (the event may be old)
and applies it by comparing states. An unknown type is acknowledged and ignored with a log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from billing.observability import logger
from billing.services import payments, refunds
from billing.services.unit import Context

Handler = Callable[[Context, Any, str, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def on(*types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in types:
            HANDLERS[event_type] = handler
        return handler

    return register


@on(
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.canceled",
)
def _payment_intent(ctx: Context, gateway: Any, tenant_id: str, obj: dict[str, Any]) -> None:
    found = payments.ours(gateway, obj.get("id"))
    if found is None:
        logger.info("payment intent without an invoice: not ours to apply", extra={"payment_intent": obj.get("id")})
        return
    tenant_id, invoice_id, pay_id, intent = found
    payments.apply_payment_intent(ctx, tenant_id, invoice_id, pay_id, intent)
    payments.close_if_settled(ctx, gateway, tenant_id, invoice_id)


@on("charge.refunded", "charge.refund.updated")
def _refunded(ctx: Context, gateway: Any, tenant_id: str, obj: dict[str, Any]) -> None:
    found = payments.ours(gateway, obj.get("payment_intent"))
    if found is None:
        return
    tenant_id, invoice_id, pay_id, _ = found
    charge_id = obj.get("id") if obj.get("object") == "charge" else obj.get("charge")  # a refund names its charge
    if not charge_id:
        return
    charge = gateway.charge(charge_id)
    refunds.refunded_in_stripe(
        ctx, gateway, tenant_id, invoice_id, pay_id, (charge.get("refunds") or {}).get("data") or []
    )


@on(
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
def _dispute(ctx: Context, gateway: Any, tenant_id: str, obj: dict[str, Any]) -> None:
    found = payments.ours(gateway, obj.get("payment_intent"))
    if found is None:
        return
    tenant_id, invoice_id, pay_id, _ = found
    dispute = gateway.dispute(obj["id"])
    payments.record_dispute(ctx, tenant_id, invoice_id, pay_id, dispute)


@on("setup_intent.succeeded")
def _setup_intent(ctx: Context, gateway: Any, tenant_id: str, obj: dict[str, Any]) -> None:
    payments.save_payment_method(ctx, gateway, tenant_id, obj["id"])


def process(ctx: Context, gateway: Any, tenant_id: str, event_id: str) -> str:
    """Apply a recorded event once; answers what happened (applied, ignored, duplicate)."""
    recorded = ctx.repo.stripe_event(tenant_id, event_id)
    if recorded is None:
        raise LookupError(f"Stripe event {event_id} was never recorded")
    if recorded.get("status") in ("processed", "ignored"):
        return "duplicate"
    event = json.loads(recorded["payload"])
    handler = HANDLERS.get(event["type"])
    if handler is None:
        logger.info("Stripe event type not handled; acknowledged", extra={"event_type": event["type"]})
        outcome = "ignored"
    else:
        handler(ctx, gateway, tenant_id, event["data"]["object"])
        outcome = "processed"
    ctx.repo.mark_stripe_event(tenant_id, event_id, outcome, ctx.clock.now().isoformat())
    return outcome
