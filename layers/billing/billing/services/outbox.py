"""The outbox relay: domain events committed with their state change are handed to the queues that act on them,
and every public one (billing.outbound.catalog) is put on the stack's event bus (docs/events.md).

What the relay gave up on (its stream batches in ``OutboxRelayDLQ``) is replayed from the table, where every event
stays: ``replay`` hands the events of a window to the queues again (their consumers are idempotent: an event
handled once is handled once more as nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing.domain import numbering
from billing.domain.events import DomainEvent
from billing.domain.ids import derived_id
from billing.outbound import catalog
from billing.outbound.envelope import envelope
from billing.services import document_events

if TYPE_CHECKING:
    from billing.services.unit import Context  # replay's type only: the relay's INIT skips the unit of work

# Which events each queue wants. An event no queue wants is recorded (audit) and goes no further.
ROUTES: dict[str, frozenset[str]] = {
    # the events the notifier emails about (billing.services.notifications; a test keeps the two in step)
    "NOTIFICATIONS_QUEUE_URL": frozenset(
        {
            "invoice.finalized",
            "invoice.dunning_step",
            "invoice.payment_succeeded",
            "credit_note.issued",
            "portal.sign_in_requested",
            "collection_case.opened",  # to the tenant's finance contact (notifications.TENANT_KINDS)
            "webhook_endpoint.disabled",  # likewise
        }
    ),
    # the collector: charges a finalized invoice; cancels a voided one's open PaymentIntents
    "COLLECTIONS_QUEUE_URL": frozenset({"invoice.finalized", "invoice.voided"}),
    "DOCUMENTS_QUEUE_URL": document_events.EVENTS,  # the events whose document is rendered to PDF
    # every public event, for the tenant's webhook endpoints (billing.services.webhook_delivery filters by each
    # endpoint's types)
    "WEBHOOK_EVENTS_QUEUE_URL": frozenset(name for name in catalog.TYPES if catalog.is_public(name)),
    # a billing run's drafts, to their series' one numbering writer (a FIFO queue: FIFO_GROUPS)
    "NUMBERING_QUEUE_URL": frozenset({numbering.DRAFTED}),
}

# The FIFO queues' message group of an event (one consumer at a time per group, in order); its deduplication id is
# the message's id, so a relay that sends it again within five minutes sends it once.
FIFO_GROUPS: dict[str, Callable[[DomainEvent], str]] = {
    "NUMBERING_QUEUE_URL": lambda event: numbering.writer_group(event.tenant_id, event.data.get("series", "default"))
}
# The drafts one numbering message names at most when a stream batch's drafted events of a series travel together
# (≈ 30 KB of ids, far under SQS's 256 KB): a writer's batch is at most 10 messages, and this is what fills it.
DRAFTS_TOGETHER = 1000


def route(event: DomainEvent) -> list[str]:
    """The environment names of the queues that take ``event``."""
    return [queue for queue, types in ROUTES.items() if event.type in types]


def relay(events: list[DomainEvent], env: dict[str, str], publisher: Any, fifo: bool | None = None) -> int:
    """Send ``events`` to the queues that take them (``fifo``: only to the FIFO queues, True, or only to the others,
    False); how many messages were sent."""
    by_queue: dict[str, list[DomainEvent]] = {}
    for event in events:
        for queue in route(event):
            if fifo is None or fifo == (queue in FIFO_GROUPS):
                by_queue.setdefault(queue, []).append(event)
    sent = 0
    for queue, queued in by_queue.items():
        if queue in FIFO_GROUPS:
            groups: dict[str, list[DomainEvent]] = {}
            for event in queued:
                groups.setdefault(FIFO_GROUPS[queue](event), []).append(event)
            messages = [(group, m) for group, grouped in groups.items() for m in drafted_together(grouped)]
            fifo = [(group, m.id) for group, m in messages]
            publisher.send(env[queue], [m.model_dump(mode="json") for _, m in messages], fifo=fifo)
            sent += len(messages)
        else:
            publisher.send(env[queue], [event.model_dump(mode="json") for event in queued])
            sent += len(queued)
    return sent


def drafted_together(events: list[DomainEvent]) -> list[DomainEvent]:
    """One series' drafted events, in order, as few events naming their drafts together (DRAFTS_TOGETHER at most
    to one). A merged one's id is derived from the ids it merges: the same batch relayed again is the same message
    (deduplicated by the queue), a batch cut otherwise (a bisected retry) makes other messages, whose drafts
    numbered already the writer skips."""
    runs: list[list[DomainEvent]] = []
    size = 0  # the drafts the last run names
    for event in events:
        count = len(event.data["invoice_ids"])
        if not runs or size + count > DRAFTS_TOGETHER:
            runs.append([])
            size = 0
        runs[-1].append(event)
        size += count
    return [run[0] if len(run) == 1 else _merged(run) for run in runs]


def _merged(run: list[DomainEvent]) -> DomainEvent:
    first = run[0]
    ids = [i for e in run for i in e.data["invoice_ids"]]
    seed = ",".join(e.id for e in run)
    return first.model_copy(
        update={"id": derived_id("evt", first.occurred_at, seed), "data": {**first.data, "invoice_ids": ids}}
    )


# The ``Source`` of every entry the relay puts on the event bus (docs/events.md); its ``DetailType`` is the type.
EVENT_SOURCE = "billing"


def bus_entry(event: DomainEvent) -> dict[str, Any]:
    """The event as an EventBridge entry: the public envelope as its detail."""
    return {
        "Source": EVENT_SOURCE,
        "DetailType": event.type,
        "Detail": json.dumps(envelope(event), default=str, separators=(",", ":")),
        "Time": event.occurred_at,
        "Resources": [f"urn:billing:{event.tenant_id}:{event.aggregate}:{event.aggregate_id}"],
    }


def publish(events: list[DomainEvent], bus: Any | None) -> int:
    """Put the public ones of ``events`` on the event bus (none configured: nothing); raises when the bus refused
    some even after retries, so the caller's batch is retried whole (consumers dedupe on the event id)."""
    public = [bus_entry(event) for event in events if catalog.is_public(event.type)]
    return bus.put(public) if bus is not None and public else 0


# Lambda's failure record names a batch by its records' arrival in the stream, to the second; an event's time is
# taken when its write began: a margin on each side covers the difference.
MARGIN = timedelta(minutes=2)


def failed_batch_window(failure: dict[str, Any]) -> tuple[datetime, datetime]:
    """The time window of the events in a failed stream batch, from Lambda's on-failure record."""
    info = failure["DDBStreamBatchInfo"]
    first = datetime.fromisoformat(info["approximateArrivalOfFirstRecord"])
    last = datetime.fromisoformat(info["approximateArrivalOfLastRecord"])
    return first - MARGIN, last + MARGIN


def replay(
    ctx: Context, since: datetime, until: datetime, env: dict[str, str], publisher: Any, bus: Any | None = None
) -> dict[str, int]:
    """Relay again every event that occurred between ``since`` and ``until`` (to the queues, and to the bus)."""
    events = list(ctx.repo.events_between(since, until))
    published = publish(events, bus)
    return {"events": len(events), "messages": relay(events, env, publisher), "published": published}
