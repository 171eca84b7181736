"""The outbox relay: domain events committed with their state change are handed to the queues that act on them."""

from __future__ import annotations

from typing import Any

from billing.domain.models import DomainEvent

# Which events each queue wants. An event no queue wants is recorded (audit) and goes no further.
ROUTES: dict[str, frozenset[str]] = {
    # the events the notifier emails about (billing.services.notifications; a test keeps the two in step)
    "NOTIFICATIONS_QUEUE_URL": frozenset(
        {"invoice.finalized", "invoice.dunning_step", "invoice.payment_succeeded", "credit_note.issued"}
    ),
    "COLLECTIONS_QUEUE_URL": frozenset({"invoice.finalized"}),
}


def route(event: DomainEvent) -> list[str]:
    """The environment names of the queues that take ``event``."""
    return [queue for queue, types in ROUTES.items() if event.type in types]


def relay(events: list[DomainEvent], env: dict[str, str], publisher: Any) -> int:
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        for queue in route(event):
            by_queue.setdefault(env[queue], []).append(event.model_dump(mode="json"))
    for url, messages in by_queue.items():
        publisher.send(url, messages)
    return sum(len(m) for m in by_queue.values())
