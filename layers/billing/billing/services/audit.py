"""The audit trail: a tenant's domain events as they were written (who, what, when, and before/after for changes),
newest first. Read only: nothing edits or deletes an event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.domain.errors import ValidationFailed
from billing.outbound import catalog
from billing.outbound.envelope import envelope
from billing.services.unit import Context


def events(
    ctx: Context,
    tenant_id: str,
    event_type: str | None,
    object_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tenant's events (as envelopes), newest first, and the cursor of the next page (None: the
    last). One Query per page: a type filter may leave a page short of ``limit`` while more follow."""
    if event_type is not None and event_type not in catalog.TYPES:
        raise ValidationFailed("unknown_event_type", f"no event type {event_type} (docs/events.md lists them)")
    first, last = _utc("from", since), _utc("to", until)
    if first is not None and last is not None and first > last:
        raise ValidationFailed("invalid_range", "`from` is after `to`")
    found, next_cursor = ctx.repo.event_page(tenant_id, object_id, event_type, first, last, limit, cursor)
    return [envelope(event) for event in found], next_cursor


def _utc(name: str, text: str | None) -> datetime | None:
    """``text`` (ISO 8601, with its offset) as a UTC instant."""
    if text is None:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("invalid_instant", f"`{name}` is no ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise ValidationFailed("invalid_instant", f"give `{name}` with its UTC offset, e.g. 2026-11-01T00:00:00Z")
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past the last instant there is
        raise ValidationFailed("invalid_instant", f"`{name}` is out of range") from None
