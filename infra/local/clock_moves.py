"""Where a move of the local clock asks it to go (``POST /_local/clock/advance``), read from the request body.

A body names exactly one of:

- a duration: any of ``days``, ``hours``, ``minutes``, ``seconds`` (numbers, added up), e.g. ``{"days": 30}``;
- an instant: ``{"to": "2027-01-01T00:00:00Z"}`` (ISO 8601 with its offset);
- a schedule's next fire: ``{"to_next": "dunning-sweep", "after": "2026-12-17T00:00:00Z"}``, the first fire time
  of that schedule later than ``after`` (default: now). If that fire time has passed, it has fired: nothing to do.

Pure: the caller passes the stack's time and a way to ask for a schedule's next fire time. ``summary`` is what the
move answers: per schedule, how many times it fired, the first and last scheduled time, and the sum of each number
its runs answered (``fanned_out``, ``checked``, ``repaired``), rather than a line per fire (a month is a thousand).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

UNITS = ("days", "hours", "minutes", "seconds")


class BadMove(ValueError):
    """A move the clock cannot make; ``code`` is the problem's stable code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def instant(text: Any, field: str) -> datetime:
    if not isinstance(text, str):
        raise BadMove("invalid_instant", f"{field}: give an ISO 8601 instant, e.g. 2027-01-01T00:00:00Z")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadMove("invalid_instant", f"{field}: {text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise BadMove("invalid_instant", f"{field}: give the instant with its UTC offset, e.g. {text}Z")
    return value


def target_of(
    spec: Any, now: datetime, next_fire: Callable[[str, datetime], datetime], max_days: int
) -> datetime | None:
    """The instant the clock should move to, or ``None`` when it is already there. Raises ``BadMove``."""
    if not isinstance(spec, dict):
        raise BadMove("invalid_advance", 'give a JSON object, e.g. {"days": 30}, {"to": "…"} or {"to_next": "…"}')
    unknown = set(spec) - {*UNITS, "to", "to_next", "after"}
    if unknown:
        raise BadMove("invalid_advance", f"unknown field(s): {', '.join(sorted(unknown))}")
    kinds = [
        kind
        for kind, given in (("duration", set(UNITS) & set(spec)), ("to", "to" in spec), ("to_next", "to_next" in spec))
        if given
    ]
    if len(kinds) != 1:
        raise BadMove("invalid_advance", "give exactly one of: a duration (days/hours/minutes/seconds), to, to_next")
    if "after" in spec and kinds != ["to_next"]:
        raise BadMove("invalid_advance", "after goes with to_next")
    limit = now + timedelta(days=max_days)
    if kinds == ["duration"]:
        target = now + _duration(spec)
    elif kinds == ["to"]:
        target = instant(spec["to"], "to")
    else:
        name = spec["to_next"]
        after = instant(spec["after"], "after") if "after" in spec else now
        try:
            fire = next_fire(name, after)
        except KeyError:
            raise BadMove("unknown_schedule", f"no schedule named {name!r}; GET /_local/clock lists them") from None
        except ValueError as error:
            raise BadMove("invalid_advance", str(error)) from None
        if fire <= now:
            return None  # it has fired already
        target = fire
    if target <= now:
        raise BadMove("instant_in_past", f"the stack's clock is at {now.isoformat()}: it only moves forward")
    if target > limit:
        raise BadMove("too_far", f"one move goes at most {max_days} days ahead")
    return target


def _duration(spec: dict[str, Any]) -> timedelta:
    total = timedelta(0)
    for unit in UNITS:
        if unit not in spec:
            continue
        value = spec[unit]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadMove("invalid_duration", f"{unit}: give a number of {unit}, 0 or more")
        try:
            total += timedelta(**{unit: value})
        except OverflowError:
            raise BadMove("too_far", f"{unit}: {value} is too far") from None
    if total <= timedelta(0):
        raise BadMove("invalid_duration", "move the clock forward by more than 0")
    return total


def summary(fired: list[dict[str, Any]]) -> dict[str, Any]:
    """What a move did, per schedule, from the runtime's list of fires (in order)."""
    schedules: dict[str, dict[str, Any]] = {}
    for fire in fired:
        entry = schedules.setdefault(fire["schedule"], {"fires": 0, "first": fire["scheduled_time"], "totals": {}})
        entry["fires"] += 1
        entry["last"] = fire["scheduled_time"]
        for name, value in (fire["result"] if isinstance(fire["result"], dict) else {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                entry["totals"][name] = entry["totals"].get(name, 0) + value
    return {"fires": len(fired), "schedules": schedules}
