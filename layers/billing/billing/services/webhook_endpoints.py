"""Tenant webhook endpoints: create, read, change, delete, roll the signing secret; an endpoint's deliveries, and
sending one again (retry) or a time window of them (replay). The sending itself is billing.services.webhook_delivery.

A signing secret is shown once, in the answer that made it (create, roll_secret); an Idempotency-Key replay of that
answer shows it again to the same key holder for the claim's 24 hours, as any replayed answer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from billing.adapters import keys
from billing.adapters.webhook_http import Resolver, checked_address
from billing.adapters.webhook_store import DeliveryExists, WebhookStore
from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, DomainError, ValidationFailed
from billing.domain.events import DomainEvent
from billing.domain.ids import new_id
from billing.domain.webhooks import (
    ALL_EVENTS,
    MAX_ENDPOINTS,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointSecret,
    WebhookDelivery,
    WebhookEndpoint,
    new_delivery,
    retried,
)
from billing.observability import business_event
from billing.outbound import catalog, signing, ssrf
from billing.outbound.envelope import webhook_body
from billing.services.unit import Claim, Context, remember, retrying

MAX_OVERLAP_HOURS = 7 * 24
# What one replay call does at most (the API function has 10 seconds): events read from the audit trail index, and
# deliveries made or sent again (a write and a message each). ``next_cursor`` goes on from there.
MAX_REPLAY_EVENTS = 10_000
MAX_REPLAY = 500
REPLAY_PAGE = 500  # events per Query


class UrlNotAllowed(DomainError):
    """A webhook URL the SSRF policy refuses (HTTP 400)."""

    code = "webhook_url_not_allowed"


@dataclass
class Webhooks:
    """What the webhook use cases need beyond a Context: the store, the queue that carries attempts, and the
    URL policy's settings."""

    store: WebhookStore
    publisher: Any  # billing.adapters.messaging.SqsPublisher
    queue_url: str
    allow_local: bool = False
    resolver: Resolver | None = None

    def check_url(self, url: str) -> None:
        try:
            if self.resolver is None:
                checked_address(url, self.allow_local)
            else:
                checked_address(url, self.allow_local, self.resolver)
        except ssrf.UrlRefused as refused:
            raise UrlNotAllowed(detail=str(refused)) from None

    def send_attempt(self, delivery: WebhookDelivery, delay_seconds: int = 0) -> None:
        """Queue the delivery's next attempt (``attempt`` and ``due`` name it: a message for another one is stale)."""
        self.publisher.send_later(self.queue_url, attempt_message(delivery), delay_seconds)


def attempt_message(delivery: WebhookDelivery) -> dict[str, Any]:
    due = delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None
    return {
        "kind": "webhook_attempt",
        "tenant_id": delivery.tenant_id,
        "endpoint_id": delivery.endpoint_id,
        "delivery_id": delivery.id,
        "attempt": delivery.attempt_count + 1,
        "due": due,
    }


# --- the API's shapes ----------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


EventTypes = list[str]


class CreateWebhookEndpoint(_Strict):
    url: str = Field(min_length=1, max_length=ssrf.MAX_URL_LENGTH, examples=["https://shop.example.com/webhooks"])
    enabled_events: EventTypes = Field(
        min_length=1, max_length=100, description="event types (docs/events.md), or `*` for every type"
    )
    description: str | None = Field(default=None, max_length=500)


class UpdateWebhookEndpoint(_Strict):
    url: str | None = Field(default=None, min_length=1, max_length=ssrf.MAX_URL_LENGTH)
    enabled_events: EventTypes | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="false: pause deliveries; true: resume (clears a disable)")


class RollSecret(_Strict):
    expires_in_hours: int = Field(
        default=24, ge=0, le=MAX_OVERLAP_HOURS, description="how long the current secret still signs (0: not at all)"
    )


class ReplayRequest(_Strict):
    from_: AwareDatetime = Field(alias="from", description="events that occurred at or after this instant")
    to: AwareDatetime = Field(description="... and at or before this one")
    cursor: str | None = Field(
        default=None, max_length=2000, description="a previous answer's `next_cursor` (the same window): go on"
    )


class WebhookEndpointResource(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    description: str | None
    enabled_events: list[str]
    enabled: bool
    disabled_reason: Literal["tenant", "gone", "failing"] | None
    disabled_at: datetime | None
    failing_since: datetime | None
    secret_rotation_ends_at: datetime | None = Field(description="until when a replaced secret still signs")
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookEndpointWithSecret(WebhookEndpointResource):
    secret: str = Field(description="the signing secret (`whsec_…`): shown in this answer only")


class DeletedWebhookEndpoint(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: Literal[True] = True


class WebhookDeliveryResource(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    event_created: datetime
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_response_code: int | None
    attempts: list[DeliveryAttempt]
    created_at: datetime
    updated_at: datetime


class ReplayAnswer(BaseModel):
    object: Literal["webhook_replay"] = "webhook_replay"
    endpoint_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    events_read: int = Field(description="events of the window read (of every type) by this call")
    queued: int = Field(description="deliveries made now: events the endpoint never had (before it, or its types)")
    replayed: int = Field(description="deliveries it had, sent again (one more attempt each)")
    skipped_in_flight: int = Field(description="deliveries of the window already waiting for an attempt")
    has_more: bool = Field(description="the window holds more events: call again with `next_cursor`")
    next_cursor: str | None

    model_config = ConfigDict(populate_by_name=True)


def resource(endpoint: WebhookEndpoint, now: datetime) -> WebhookEndpointResource:
    ends = [s.expires_at for s in endpoint.secrets if s.expires_at is not None and s.expires_at > now]
    return WebhookEndpointResource(
        **endpoint.model_dump(exclude={"secrets", "deleted", "tenant_id"}),
        secret_rotation_ends_at=max(ends) if ends else None,
    )


def delivery_resource(delivery: WebhookDelivery) -> WebhookDeliveryResource:
    return WebhookDeliveryResource(**delivery.model_dump(exclude={"tenant_id", "final_attempt", "version"}))


# --- endpoints -----------------------------------------------------------------------------------------------
def _event_types(types: list[str]) -> list[str]:
    unknown = sorted({t for t in types if t != ALL_EVENTS and t not in catalog.TYPES})
    if unknown:
        raise ValidationFailed(
            "unknown_event_type", f"no event type {', '.join(unknown)} (docs/events.md lists them; `*` takes all)"
        )
    return sorted(set(types))


def _event(type_: str, endpoint: WebhookEndpoint, now: datetime, **data: Any) -> DomainEvent:
    event = DomainEvent.new(type_, endpoint.tenant_id, "webhook_endpoint", endpoint.id, now, **data)
    return event.model_copy(update={"object_version": endpoint.version})


def create_endpoint(
    ctx: Context, hooks: Webhooks, tenant_id: str, body: CreateWebhookEndpoint, claim: Claim | None = None
) -> WebhookEndpointWithSecret:
    types = _event_types(body.enabled_events)
    hooks.check_url(body.url)
    existing, _ = hooks.store.endpoints(tenant_id, MAX_ENDPOINTS + 1)
    if len(existing) >= MAX_ENDPOINTS:
        raise Conflict("webhook_endpoint_limit", f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")
    now = ctx.clock.now()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we", now),
        tenant_id=tenant_id,
        url=body.url,
        description=body.description,
        enabled_events=types,
        secrets=[EndpointSecret(secret=secret, created_at=now)],
        created_at=now,
        updated_at=now,
    )
    tx = ctx.repo.transaction()
    saved = hooks.store.save_endpoint(tx, endpoint)
    key = keys.webhook_endpoint(tenant_id, endpoint.id)
    ctx.repo.add_event(
        tx, key, _event("webhook_endpoint.created", saved, now, url=saved.url, enabled_events=saved.enabled_events)
    )
    answer = WebhookEndpointWithSecret(**resource(saved, now).model_dump(), secret=secret)
    remember(ctx, tx, tenant_id, claim, answer.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("WebhookEndpointCreated")
    return answer


def get_endpoint(ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str) -> WebhookEndpointResource:
    return resource(hooks.store.endpoint(tenant_id, endpoint_id, consistent=False), ctx.clock.now())


def list_endpoints(
    ctx: Context, hooks: Webhooks, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[WebhookEndpointResource], str | None]:
    found, next_cursor = hooks.store.endpoints(tenant_id, limit, cursor)
    now = ctx.clock.now()
    return [resource(e, now) for e in found], next_cursor


@retrying()
def update_endpoint(
    ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, body: UpdateWebhookEndpoint
) -> WebhookEndpointResource:
    endpoint = hooks.store.endpoint(tenant_id, endpoint_id)
    now = ctx.clock.now()
    update: dict[str, Any] = {}
    if body.url is not None and body.url != endpoint.url:
        hooks.check_url(body.url)
        update["url"] = body.url
    if body.enabled_events is not None:
        update["enabled_events"] = _event_types(body.enabled_events)
    if "description" in body.model_fields_set:
        update["description"] = body.description
    if body.enabled is True and not endpoint.enabled:
        update |= {"enabled": True, "disabled_reason": None, "disabled_at": None, "failing_since": None}
    if body.enabled is False and endpoint.enabled:
        update |= {"enabled": False, "disabled_reason": "tenant", "disabled_at": now}
    changes = {
        name: {"before": getattr(endpoint, name), "after": value}
        for name, value in update.items()
        if getattr(endpoint, name) != value
    }
    if not changes:
        return resource(endpoint, now)
    changed = endpoint.model_copy(update={**update, "updated_at": now})
    tx = ctx.repo.transaction()
    saved = hooks.store.save_endpoint(tx, changed)
    data = {"changes": _jsonable(changes)}
    ctx.repo.add_event(
        tx, keys.webhook_endpoint(tenant_id, endpoint_id), _event("webhook_endpoint.updated", saved, now, **data)
    )
    ctx.repo.commit(tx)
    return resource(saved, now)


def _jsonable(changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: {side: value.isoformat() if isinstance(value, datetime) else value for side, value in change.items()}
        for name, change in changes.items()
    }


@retrying()
def delete_endpoint(ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str) -> DeletedWebhookEndpoint:
    """Delete an endpoint: nothing more is sent to it (a retry waiting is given up); its deliveries stay readable
    to an operator, not through the API."""
    endpoint = hooks.store.endpoint(tenant_id, endpoint_id)
    now = ctx.clock.now()
    gone = endpoint.model_copy(update={"deleted": True, "enabled": False, "updated_at": now})
    tx = ctx.repo.transaction()
    saved = hooks.store.save_endpoint(tx, gone)
    ctx.repo.add_event(
        tx,
        keys.webhook_endpoint(tenant_id, endpoint_id),
        _event("webhook_endpoint.deleted", saved, now, url=endpoint.url),
    )
    ctx.repo.commit(tx)
    return DeletedWebhookEndpoint(id=endpoint_id)


@retrying()
def roll_secret(
    ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, body: RollSecret, claim: Claim | None = None
) -> WebhookEndpointWithSecret:
    """A new signing secret; the current one keeps signing beside it for ``expires_in_hours`` (both signatures on
    every request meanwhile), so a receiver can switch without losing a delivery."""
    endpoint = hooks.store.endpoint(tenant_id, endpoint_id)
    now = ctx.clock.now()
    ends = now + timedelta(hours=body.expires_in_hours)
    kept = [
        s.model_copy(update={"expires_at": min(s.expires_at or ends, ends)})
        for s in endpoint.secrets
        if (s.expires_at is None or s.expires_at > now) and body.expires_in_hours > 0
    ]
    secret = signing.new_secret()
    rolled = endpoint.model_copy(
        update={"secrets": [EndpointSecret(secret=secret, created_at=now), *kept], "updated_at": now}
    )
    tx = ctx.repo.transaction()
    saved = hooks.store.save_endpoint(tx, rolled)
    event = _event("webhook_endpoint.secret_rolled", saved, now, previous_secret_expires_at=ends.isoformat())
    ctx.repo.add_event(tx, keys.webhook_endpoint(tenant_id, endpoint_id), event)
    answer = WebhookEndpointWithSecret(**resource(saved, now).model_dump(), secret=secret)
    remember(ctx, tx, tenant_id, claim, answer.model_dump(mode="json"))
    ctx.repo.commit(tx)
    return answer


# --- deliveries ----------------------------------------------------------------------------------------------
def list_deliveries(
    ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, status: str | None, limit: int, cursor: str | None
) -> tuple[list[WebhookDeliveryResource], str | None]:
    hooks.store.endpoint(tenant_id, endpoint_id, consistent=False)  # 404 for an unknown endpoint
    found, next_cursor = hooks.store.deliveries(tenant_id, endpoint_id, status, limit, cursor)
    return [delivery_resource(d) for d in found], next_cursor


def _takes_deliveries(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict("webhook_endpoint_disabled", "enable the endpoint first (PATCH it with enabled: true)")


@retrying()
def _retry_one(ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    delivery, payload = hooks.store.delivery_and_payload(tenant_id, endpoint_id, delivery_id)
    again = retried(delivery, ctx.clock.now())
    tx = ctx.repo.transaction()
    saved = hooks.store.save_delivery(tx, again, payload)
    ctx.repo.commit(tx)
    return saved


def retry_delivery(
    ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, delivery_id: str, claim: Claim | None = None
) -> WebhookDeliveryResource:
    """Send a delivery again, now (one attempt; a delivery still on its schedule keeps the rest of it)."""
    _takes_deliveries(hooks.store.endpoint(tenant_id, endpoint_id))
    saved = _retry_one(ctx, hooks, tenant_id, endpoint_id, delivery_id)
    hooks.send_attempt(saved)
    return delivery_resource(saved)


def replay(
    ctx: Context, hooks: Webhooks, tenant_id: str, endpoint_id: str, body: ReplayRequest, claim: Claim | None = None
) -> ReplayAnswer:
    """Deliver again, to this endpoint, the tenant's public events of the types it takes that occurred in [from, to]:
    one page at a time of the audit trail index (gsi3 ``T#<tenant>#EVT#<shard>``, every shard), oldest first.

    An event the endpoint never had (it came before the endpoint, or before its types took it) gets its delivery
    now, the one the relay would have made (its id derives from the endpoint and the event); one it had is sent
    again through the retry path (``retried``: one more attempt), so replaying twice never makes a second delivery
    item. A delivery waiting for an attempt is left to it (``skipped_in_flight``). Bounded per call: at most
    ``MAX_REPLAY_EVENTS`` events read and ``MAX_REPLAY`` deliveries sent; ``next_cursor`` (same body, plus the
    cursor) goes on from there. Events written before the index existed are not on it, so not replayed."""
    if body.to < body.from_:
        raise ValidationFailed("invalid_window", "`to` is before `from`")
    endpoint = hooks.store.endpoint(tenant_id, endpoint_id)
    _takes_deliveries(endpoint)
    now = ctx.clock.now()
    queued = replayed = skipped = read = 0
    cursor = body.cursor
    while True:
        # a page never holds more events than may still be sent: each page is done whole, so the cursor is exact
        size = min(REPLAY_PAGE, MAX_REPLAY_EVENTS - read, MAX_REPLAY - queued - replayed)
        events, cursor = ctx.repo.events_in_window(tenant_id, body.from_, body.to, size, cursor)
        read += len(events)
        for event in events:
            if not (catalog.is_public(event.type) and endpoint.takes(event.type)):
                continue
            delivery = new_delivery(endpoint.id, event, now)
            try:
                hooks.store.add_delivery(delivery, webhook_body(event))
            except DeliveryExists:
                made = hooks.store.delivery(tenant_id, endpoint_id, delivery.id)
                if made.status == "pending":
                    skipped += 1
                    continue
                hooks.send_attempt(_retry_one(ctx, hooks, tenant_id, endpoint_id, made.id))
                replayed += 1
                continue
            hooks.send_attempt(delivery)
            queued += 1
        if cursor is None or read >= MAX_REPLAY_EVENTS or queued + replayed >= MAX_REPLAY:
            break
    business_event("WebhookReplay")
    return ReplayAnswer(
        endpoint_id=endpoint_id,
        from_=body.from_,
        to=body.to,
        events_read=read,
        queued=queued,
        replayed=replayed,
        skipped_in_flight=skipped,
        has_more=cursor is not None,
        next_cursor=cursor,
    )
