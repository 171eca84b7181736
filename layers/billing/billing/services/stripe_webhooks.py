"""Stripe webhooks, stage one: verify, record once, enqueue. Processing happens off the queue.

The signature is checked on the exact raw body against every secret accepted during a rotation, with Stripe's
300-second tolerance both ways: a delivery signed too long ago, or claiming a time too far ahead, is stale.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import stripe

from billing.domain.errors import DomainError
from billing.services.unit import Context

TOLERANCE = 300
FINISHED = ("processed", "ignored")  # a redelivery of these enqueues nothing


class InvalidWebhook(DomainError):
    code = "invalid_signature"


@dataclass(frozen=True)
class Received:
    event_id: str
    event_type: str
    tenant_id: str | None
    enqueue: bool


def verify(payload: bytes, signature: str | None, secrets: list[str], now: float | None = None) -> dict[str, Any]:
    """The event, if ``signature`` is a valid Stripe-Signature of ``payload`` by one of ``secrets``."""
    if not signature:
        raise InvalidWebhook(detail="no Stripe-Signature header")
    now = time.time() if now is None else now
    stamps = [p[2:] for p in signature.split(",") if p.startswith("t=")]
    if not stamps or not stamps[0].isdigit():
        raise InvalidWebhook(detail="the Stripe-Signature header has no timestamp")
    if int(stamps[0]) > now + TOLERANCE:
        raise InvalidWebhook("stale_signature", "the signature's timestamp is in the future")
    try:
        text = payload.decode()
    except UnicodeDecodeError as error:
        raise InvalidWebhook("malformed_event", "the body is not UTF-8") from error
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE)
        except stripe.SignatureVerificationError as error:
            if "outside the tolerance zone" in str(error):
                raise InvalidWebhook("stale_signature", "the signature's timestamp is too old") from error
            continue
        try:
            event = json.loads(payload)
        except ValueError as error:
            raise InvalidWebhook("malformed_event", "the body is not JSON") from error
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
            raise InvalidWebhook("malformed_event", "the body is not a Stripe event")
        return event
    raise InvalidWebhook(detail="no accepted secret signed this payload")


PLATFORM = "_platform"


def tenant_of(event: dict[str, Any]) -> str | None:
    """Every Stripe object we create carries our tenant id in its metadata. Charges, refunds and disputes are made
    by Stripe from our PaymentIntents and may not carry it: they are recorded under the platform and routed by
    their PaymentIntent when processed. Anything else is not ours."""
    obj = (event.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    tenant = metadata.get("tenant_id") if isinstance(metadata, dict) else None
    if isinstance(tenant, str) and tenant:
        return tenant
    return PLATFORM if isinstance(obj.get("payment_intent"), str) else None


def receive(ctx: Context, event: dict[str, Any], payload: bytes) -> Received:
    """Record the delivery once (dedupe by event id) and say whether to enqueue it: a new event, or one recorded
    before but never processed (its first enqueue may have been lost), is enqueued; a processed one is not."""
    tenant_id = tenant_of(event)
    if tenant_id is None:
        return Received(event["id"], event["type"], None, enqueue=False)
    if ctx.repo.record_stripe_event(
        tenant_id, event["id"], event["type"], payload.decode(), ctx.clock.now().isoformat()
    ):
        return Received(event["id"], event["type"], tenant_id, enqueue=True)
    recorded = ctx.repo.stripe_event(tenant_id, event["id"]) or {}
    return Received(event["id"], event["type"], tenant_id, enqueue=recorded.get("status") not in FINISHED)
