"""Event pattern matching (the subset Lambda event filters and EventBridge rules use here): a pattern is nested
objects whose leaves are lists of allowed values, each a literal or ``{"prefix": …}``, ``{"exists": bool}``."""

from __future__ import annotations

from typing import Any

_MISSING = object()


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, allowed in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(allowed, dict):
            if value is _MISSING or not matches(allowed, value):
                return False
        elif not any(_leaf(rule, value) for rule in allowed):
            return False
    return True


def _leaf(rule: Any, value: Any) -> bool:
    if isinstance(value, list):  # an array in the event matches when any of its elements does
        return any(_leaf(rule, v) for v in value)
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if "exists" in rule:
            return (value is not _MISSING) == bool(rule["exists"])
        raise ValueError(f"the local runtime does not implement the filter operator {rule!r}")
    if value is _MISSING or isinstance(rule, bool) != isinstance(value, bool):
        return False  # JSON true is not 1
    return value == rule
