"""Stripe webhooks, stage one: verify, record once, enqueue. Processing happens off the queue.

The signature is checked on the exact raw body against every secret accepted during a rotation, with Stripe's
300-second tolerance both ways: a delivery signed too long ago, or claiming a time too far ahead, is stale.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import stripe

from billing.domain.errors import DomainError
from billing.services.unit import Context

TOLERANCE = 300
MAX_ID = 255  # Stripe's ids are far shorter; anything longer is not Stripe's
# What processing reads of an event's object (each is read again from Stripe): all that is checked and kept of it.
OBJECT_IDS = ("id", "object", "payment_intent", "charge")
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
    if not stamps or not re.fullmatch(r"[0-9]{1,12}", stamps[0]):  # ASCII digits only: int() refuses "²"
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
        if not _is_event(event):
            raise InvalidWebhook("malformed_event", "the body is not a Stripe event")
        return event
    raise InvalidWebhook(detail="no accepted secret signed this payload")


def _short_id(value: Any, optional: bool = False) -> bool:
    return (optional and value is None) or (isinstance(value, str) and 0 < len(value) <= MAX_ID)


def _is_event(event: Any) -> bool:
    """The shape processing relies on: an event with an id and a type, whose ``data.object`` is an object with an
    id and, where it names them, the ids of its PaymentIntent and charge."""
    if not isinstance(event, dict) or not _short_id(event.get("id")) or not _short_id(event.get("type")):
        return False
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return False
    return all(_short_id(obj.get(k), optional=True) for k in OBJECT_IDS)


def kept(event: dict[str, Any]) -> dict[str, Any]:
    """What is recorded of an event: what processing needs, all of it read again from Stripe, and nothing else. The
    body may be large and holds personal data (emails, names, addresses), which is not ours to keep."""
    obj = event["data"]["object"]
    return {
        "id": event["id"],
        "type": event["type"],
        "created": event.get("created") if isinstance(event.get("created"), int) else None,
        "data": {"object": {k: obj.get(k) for k in OBJECT_IDS}},
    }


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


def receive(ctx: Context, event: dict[str, Any]) -> Received:
    """Record the delivery once (dedupe by event id) and say whether to enqueue it: a new event, or one recorded
    before but never processed (its first enqueue may have been lost), is enqueued; a processed one is not."""
    tenant_id = tenant_of(event)
    if tenant_id is None:
        return Received(event["id"], event["type"], None, enqueue=False)
    if ctx.repo.record_stripe_event(
        tenant_id, event["id"], event["type"], json.dumps(kept(event)), ctx.clock.now().isoformat()
    ):
        return Received(event["id"], event["type"], tenant_id, enqueue=True)
    recorded = ctx.repo.stripe_event(tenant_id, event["id"]) or {}
    return Received(event["id"], event["type"], tenant_id, enqueue=recorded.get("status") not in FINISHED)
