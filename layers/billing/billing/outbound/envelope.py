"""The public shape of a domain event: what the stack's EventBridge bus and tenant webhook endpoints receive.

A thin event (as Stripe's v2 events are): what happened, to which object and at which version of it, who did it,
and the event's own data; a consumer that needs the whole object reads it from the API. Ordering is not promised:
``object.version`` lets a consumer drop an event older than what it already holds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field

from billing.actor import ACTOR_TYPES
from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent

SCHEMA_VERSION = 1


def envelope(event: DomainEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "schema_version": SCHEMA_VERSION,
        "created": event.occurred_at.isoformat(),
        "tenant_id": event.tenant_id,
        "object": {"type": event.aggregate, "id": event.aggregate_id, "version": event.object_version},
        "actor": event.actor,
        "data": event.data,
    }


def webhook_body(event: DomainEvent) -> str:
    """The exact body every attempt of a webhook delivery of ``event`` sends (kept with the delivery)."""
    return json.dumps(envelope(event), separators=(",", ":"), sort_keys=True)


# The envelope as a model: the API's answer (GET /v1/events) and the base of each type's JSON Schema
# (billing.outbound.schemas types its data).
class EventObject(BaseModel):
    type: str = Field(description="the kind of object the event is about")
    id: str
    version: int | None = Field(
        description="the object's version after the change; null when the event changed no versioned object (a "
        "payment attempt against an unchanged invoice, a seller profile). Drop an event older than what you hold."
    )


class Actor(BaseModel):
    # a string with the kinds as the schema's enum: the API still lists an event of a kind added later
    type: str = Field(
        description="api_key: a storefront or finance call with that key; customer: the customer on the portal or "
        "the hosted invoice page; job: a scheduled or queued function; stripe_event: a Stripe event applied; "
        "admin_command: an operator's command (infra/admin.py)",
        json_schema_extra={"enum": list(ACTOR_TYPES)},
    )
    id: str = Field(description="the key's id (key_…), customer id, function name, Stripe event id (evt_…) or command")


class Envelope(BaseModel):
    """A domain event as it goes out (billing.outbound.envelope) and as GET /v1/events lists it."""

    id: str = Field(description="the event's id: deliveries repeat (at least once); dedupe on it")
    type: str
    schema_version: int = Field(description="the version of the type's schema")
    created: datetime
    tenant_id: str
    object: EventObject
    actor: Actor | None = Field(description="who made the change (null: written before actors were recorded)")
    data: dict[str, Any]
