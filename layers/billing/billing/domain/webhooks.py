"""Tenant webhook endpoints and their deliveries: the aggregates, and the rules that need no I/O (which secrets
sign, which events an endpoint takes, what an attempt's outcome does to a delivery and to its endpoint)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent
from billing.domain.state_machine import WEBHOOK_DELIVERY
from billing.outbound import retry

ALL_EVENTS = "*"
MAX_ENDPOINTS = 16  # per tenant, as Stripe allows
DISABLE_AFTER = timedelta(days=3)  # an endpoint every attempt to which has failed for this long is disabled
EXCERPT_CHARS = 256  # what is kept of a response body
MAX_ATTEMPTS_KEPT = 20  # a delivery keeps its last attempts (14 scheduled, and retries asked for)

DeliveryStatus = Literal["pending", "succeeded", "failed", "given_up"]


class EndpointSecret(BaseModel):
    secret: str
    created_at: datetime
    expires_at: datetime | None = None  # set when a newer secret replaced it: it signs too until then


class WebhookEndpoint(BaseModel):
    id: str
    tenant_id: str
    url: str
    description: str | None = None
    enabled_events: list[str]
    enabled: bool = True
    disabled_reason: Literal["tenant", "gone", "failing"] | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None  # the first failed attempt since the last success
    secrets: list[EndpointSecret]
    deleted: bool = False
    created_at: datetime
    updated_at: datetime
    version: int = 0

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a request sent at ``now``: the newest, and those replaced less than their overlap
        window ago."""
        return [s.secret for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def takes(self, event_type: str) -> bool:
        return (
            self.enabled
            and not self.deleted
            and (ALL_EVENTS in self.enabled_events or event_type in self.enabled_events)
        )


class DeliveryAttempt(BaseModel):
    number: int
    at: datetime
    response_code: int | None = None
    latency_ms: int
    error: str | None = None
    body_excerpt: str | None = Field(default=None, max_length=EXCERPT_CHARS)


class WebhookDelivery(BaseModel):
    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    event_created: datetime
    status: DeliveryStatus = "pending"
    attempt_count: int = 0
    final_attempt: int = retry.ATTEMPTS  # the attempt after which a failure gives up
    next_attempt_at: datetime | None = None
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    last_response_code: int | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0


def delivery_id(endpoint_id: str, event_id: str, event_created: datetime) -> str:
    """One delivery per (endpoint, event), whoever makes it: a redelivered message finds the one made before. The
    event's time first, so that an endpoint's deliveries sort by their event's age."""
    digest = hashlib.sha256(f"{endpoint_id}\n{event_id}".encode()).hexdigest()[:20]
    return f"whd_{event_created:%Y%m%d%H%M%S}{digest}"


def new_delivery(endpoint_id: str, event: DomainEvent, now: datetime) -> WebhookDelivery:
    """The delivery of ``event`` to the endpoint, its first attempt due now (the relay's fan-out and a replay make
    the same one: its id derives from both)."""
    return WebhookDelivery(
        id=delivery_id(endpoint_id, event.id, event.occurred_at),
        tenant_id=event.tenant_id,
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.type,
        event_created=event.occurred_at,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


class Outcome(BaseModel):
    """What one HTTP attempt came to."""

    response_code: int | None = None
    latency_ms: int = 0
    error: str | None = None
    body_excerpt: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300

    @property
    def gone(self) -> bool:
        return self.response_code == 410


def record_attempt(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint | None, outcome: Outcome, at: datetime
) -> tuple[WebhookDelivery, WebhookEndpoint | None]:
    """The delivery and endpoint after attempt ``delivery.attempt_count + 1`` came to ``outcome`` at ``at``; the
    endpoint is None when it does not change. A failure schedules the next attempt while the schedule (or a retry's
    single attempt) allows and the endpoint takes deliveries; a 410 disables the endpoint at once, and an endpoint
    failing for ``DISABLE_AFTER`` is disabled."""
    number = delivery.attempt_count + 1
    attempt = DeliveryAttempt(number=number, at=at, **outcome.model_dump())
    changed: WebhookEndpoint | None = None
    if endpoint is not None and not endpoint.deleted:
        if outcome.succeeded:
            if endpoint.failing_since is not None:
                changed = endpoint.model_copy(update={"failing_since": None})
        elif outcome.response_code is not None or outcome.error:
            since = endpoint.failing_since or at
            update: dict[str, object] = {"failing_since": since}
            if endpoint.enabled and (outcome.gone or at - since >= DISABLE_AFTER):
                update |= {
                    "enabled": False,
                    "disabled_reason": "gone" if outcome.gone else "failing",
                    "disabled_at": at,
                }
            if update != {"failing_since": endpoint.failing_since}:
                changed = endpoint.model_copy(update={**update, "updated_at": at})
    takes_more = (changed or endpoint) is not None and (changed or endpoint).enabled and not outcome.gone
    next_at: datetime | None = None
    if outcome.succeeded:
        action = "succeed"
    elif (
        number < delivery.final_attempt
        and takes_more
        and (wait := retry.delay_after(number, retry.rng_for(delivery.id, number)))
    ):
        action, next_at = "fail", at + wait
    else:
        action = "give_up"
    status = WEBHOOK_DELIVERY.next_state(delivery.status, action)
    attempts = [*delivery.attempts, attempt][-MAX_ATTEMPTS_KEPT:]
    after = delivery.model_copy(
        update={
            "status": status,
            "attempt_count": number,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "last_response_code": outcome.response_code,
            "updated_at": at,
        }
    )
    return after, changed


def abandon(delivery: WebhookDelivery, at: datetime) -> WebhookDelivery:
    """Give a delivery up without an attempt: its endpoint was disabled or deleted while a retry waited."""
    status = WEBHOOK_DELIVERY.next_state(delivery.status, "give_up")
    return delivery.model_copy(update={"status": status, "next_attempt_at": None, "updated_at": at})


def retried(delivery: WebhookDelivery, at: datetime) -> WebhookDelivery:
    """A delivery the tenant asked to send again (or a replay): one more attempt, now. A delivery still on its
    schedule keeps the rest of it."""
    status = WEBHOOK_DELIVERY.next_state(delivery.status, "retry")
    final = (
        max(delivery.final_attempt, delivery.attempt_count + 1)
        if delivery.status in ("pending", "failed")  # on its schedule: it keeps the rest of it
        else delivery.attempt_count + 1
    )
    return delivery.model_copy(
        update={"status": status, "next_attempt_at": at, "final_attempt": final, "updated_at": at}
    )
