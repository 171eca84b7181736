"""The public shape of a domain event: what the stack's EventBridge bus and tenant webhook endpoints receive.

A thin event (as Stripe's v2 events are): what happened, to which object and at which version of it, who did it,
and the event's own data; a consumer that needs the whole object reads it from the API. Ordering is not promised:
``object.version`` lets a consumer drop an event older than what it already holds.
"""

from __future__ import annotations

from typing import Any

from billing.domain.models import DomainEvent

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
