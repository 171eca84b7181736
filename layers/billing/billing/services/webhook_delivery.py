"""Sending domain events to tenant webhook endpoints: the queue consumer's use cases.

An event from the outbox relay is fanned out: one delivery per enabled endpoint of its tenant that takes its type
(one Query), each made once (its id derives from the endpoint and the event, so a redelivered message makes none),
and one attempt message each on the same queue. An attempt message names the attempt (its number and due time):
the consumer sends it then, records the outcome and, for a failure, queues the next attempt with the schedule's
delay (billing.outbound.retry). SQS delays a message at most 15 minutes: a message that arrives before its due time
is sent on again with what remains (at most 15 minutes each hop), so a wait of hours follows the clock exactly.

At least once: a crash between a request and its record sends it again (same ``webhook-id``: receivers dedupe).
Ordering is not promised; each payload carries ``object.version``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billing.adapters import keys
from billing.adapters.clock import SystemClock
from billing.adapters.webhook_http import WebhookSender
from billing.adapters.webhook_store import DeliveryExists
from billing.domain.errors import NotFound
from billing.domain.events import DomainEvent
from billing.domain.webhooks import WebhookDelivery, WebhookEndpoint, abandon, new_delivery, record_attempt
from billing.observability import business_event, logger
from billing.outbound import signing
from billing.outbound.envelope import webhook_body
from billing.services.unit import Context, retrying
from billing.services.webhook_endpoints import Webhooks

# A message of an attempt already recorded that comes back later than this is SQS redelivering it after a crash
# (its visibility timeout is minutes), not a duplicate sent beside it.
REQUEUE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class AttemptMessage:
    tenant_id: str
    endpoint_id: str
    delivery_id: str
    attempt: int
    due: datetime | None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> AttemptMessage:
        due = datetime.fromisoformat(body["due"]) if body.get("due") else None
        return cls(body["tenant_id"], body["endpoint_id"], body["delivery_id"], int(body["attempt"]), due)


def handle(ctx: Context, hooks: Webhooks, sender: WebhookSender, body: str) -> str:
    """One message of the webhook queue: a domain event to fan out, or an attempt to make. What it came to."""
    data = json.loads(body)
    if data.get("kind") == "webhook_attempt":
        return attempt(ctx, hooks, sender, AttemptMessage.parse(data))
    return str(fan_out(ctx, hooks, DomainEvent.model_validate(data)))


def fan_out(ctx: Context, hooks: Webhooks, event: DomainEvent) -> int:
    """Make the event's deliveries and queue their first attempts; how many were queued."""
    endpoints, _ = hooks.store.endpoints(event.tenant_id, 100)
    taking = [e for e in endpoints if e.takes(event.type)]
    if not taking:
        return 0
    payload = webhook_body(event)
    now = ctx.clock.now()
    queued = 0
    for endpoint in taking:
        delivery = new_delivery(endpoint.id, event, now)
        try:
            hooks.store.add_delivery(delivery, payload)
        except DeliveryExists:
            delivery = hooks.store.delivery(event.tenant_id, endpoint.id, delivery.id)
            if delivery.status != "pending" or delivery.attempt_count:
                continue  # made and attempted before: its own attempt messages carry it on
        hooks.send_attempt(delivery)
        queued += 1
    return queued


def sign_time() -> datetime:
    """The ``webhook-timestamp`` of a request: the real time it leaves, as an AWS SigV4 signature's is, because
    the receiver checks it against its own clock (5 minutes' tolerance). In the cloud that is the stack's clock;
    on the local stack, whose clock is moved days ahead, any other choice would fail every receiver's check."""
    return SystemClock().now()


def attempt(ctx: Context, hooks: Webhooks, sender: WebhookSender, message: AttemptMessage) -> str:
    try:
        delivery, payload = hooks.store.delivery_and_payload(
            message.tenant_id, message.endpoint_id, message.delivery_id
        )
    except NotFound:
        return "stale"
    now = ctx.clock.now()
    if delivery.status not in ("pending", "failed"):
        return "stale"
    redelivered = message.attempt == delivery.attempt_count and now - delivery.updated_at >= REQUEUE_AFTER
    if redelivered and delivery.status == "failed" and delivery.next_attempt_at:
        # this attempt was recorded a while ago and its message came back: the crash that kept it from being
        # deleted may have lost the next attempt's message too, so send that (a duplicate of it goes stale)
        hooks.send_attempt(delivery, _seconds_until(delivery.next_attempt_at, now))
        return "requeued"
    if message.attempt != delivery.attempt_count + 1 or message.due != delivery.next_attempt_at:
        return "stale"  # superseded (a retry asked for, or a duplicate)
    if delivery.next_attempt_at and delivery.next_attempt_at > now:
        hooks.send_attempt(delivery, _seconds_until(delivery.next_attempt_at, now))
        return "waiting"
    endpoint = hooks.store.endpoint_or_none(message.tenant_id, message.endpoint_id)
    if endpoint is None or endpoint.deleted or not endpoint.enabled:
        _give_up(ctx, hooks, message)
        return "given_up"
    headers = signing.headers(delivery.event_id, sign_time(), payload, endpoint.signing_secrets(now))
    outcome = sender.post(endpoint.url, payload, headers)
    saved = _record(ctx, hooks, message, outcome, now)
    if saved is None:
        return "stale"
    logger.info(
        "webhook attempt",
        extra={
            "delivery_id": saved.id,
            "endpoint_id": saved.endpoint_id,
            "attempt": saved.attempt_count,
            "response_code": outcome.response_code,
            "error": outcome.error,
            "status": saved.status,
        },
    )
    business_event(f"WebhookAttempt.{saved.status}")
    if saved.status == "failed" and saved.next_attempt_at:
        hooks.send_attempt(saved, _seconds_until(saved.next_attempt_at, ctx.clock.now()))
    return saved.status


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(0, math.ceil((when - now).total_seconds()))


@retrying()
def _record(
    ctx: Context, hooks: Webhooks, message: AttemptMessage, outcome: Any, at: datetime
) -> WebhookDelivery | None:
    """Write the attempt's outcome on the delivery, and what it does to the endpoint, in one transaction."""
    delivery, payload = hooks.store.delivery_and_payload(message.tenant_id, message.endpoint_id, message.delivery_id)
    if delivery.attempt_count + 1 != message.attempt or delivery.status not in ("pending", "failed"):
        return None  # another consumer recorded this attempt first
    endpoint = hooks.store.endpoint_or_none(message.tenant_id, message.endpoint_id)
    after, changed = record_attempt(delivery, endpoint, outcome, at)
    tx = ctx.repo.transaction()
    saved = hooks.store.save_delivery(tx, after, payload)
    if changed is not None and endpoint is not None:
        endpoint_saved = hooks.store.save_endpoint(tx, changed)
        if endpoint.enabled and not changed.enabled:
            _disabled_event(ctx, tx, endpoint, endpoint_saved, delivery, outcome, at)
    ctx.repo.commit(tx)
    return saved


def _disabled_event(
    ctx: Context,
    tx: Any,
    before: WebhookEndpoint,
    after: WebhookEndpoint,
    delivery: WebhookDelivery,
    outcome: Any,
    at: datetime,
) -> None:
    event = DomainEvent.new(
        "webhook_endpoint.disabled",
        after.tenant_id,
        "webhook_endpoint",
        after.id,
        at,
        reason=after.disabled_reason,
        url=after.url,
        failing_since=after.failing_since.isoformat() if after.failing_since else None,
        last_delivery_id=delivery.id,
        last_response_code=outcome.response_code,
        last_error=outcome.error,
        changes={"enabled": {"before": True, "after": False}},
    ).model_copy(update={"object_version": after.version})
    ctx.repo.add_event(tx, keys.webhook_endpoint(after.tenant_id, after.id), event)
    business_event("WebhookEndpointDisabled")


@retrying()
def _give_up(ctx: Context, hooks: Webhooks, message: AttemptMessage) -> None:
    delivery, payload = hooks.store.delivery_and_payload(message.tenant_id, message.endpoint_id, message.delivery_id)
    if delivery.status not in ("pending", "failed"):
        return
    tx = ctx.repo.transaction()
    hooks.store.save_delivery(tx, abandon(delivery, ctx.clock.now()), payload)
    ctx.repo.commit(tx)
