"""What a change changed: ``{field: {"before": …, "after": …}}`` over an object's top-level fields, as the audit
trail shows it (an event's ``data.changes``)."""

from __future__ import annotations

from typing import Any


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose value differs between ``before`` (None: nothing before) and ``after`` (JSON values)."""
    before = before or {}
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
