"""EventBridge Scheduler expressions (``rate(...)``, ``cron(...)``, UTC) and the fire times in a window.

Moto stores schedules but never fires them; the local runtime asks this module which fire times fall between
the old and the new time of its clock, and invokes the target with each one's scheduled time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows; ``None`` means any (``*`` or ``?``)."""
    if text in ("*", "?"):
        return None
    allowed: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-")
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        allowed.update(range(start, end + 1, step))
    return allowed


def _value(text: str, names: dict[str, int] | None) -> int:
    return names[text.upper()] if names and text.upper() in names else int(text)


class Schedule:
    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        if rate := _RATE.match(self.expression):
            amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
            if amount < 1:
                raise ValueError(f"a rate must be at least 1 {unit}: {expression!r}")
            self.every = timedelta(**{f"{unit}s": amount})
            self.cron = None
        elif cron := _CRON.match(self.expression):
            minute, hour, dom, month, dow, year = cron.group(1).split()
            self.every = None
            self.cron = (
                _field(minute, 0, 59),
                _field(hour, 0, 23),
                _field(dom, 1, 31),
                _field(month, 1, 12, _MONTHS),
                _field(dow, 1, 7, _DAYS),
                _field(year, 1970, 2199),
            )
        else:
            raise ValueError(f"unsupported schedule expression {expression!r}")

    def _matches(self, t: datetime) -> bool:
        assert self.cron is not None
        minute, hour, dom, month, dow, year = self.cron
        cron_dow = (t.isoweekday() % 7) + 1  # cron: SUN=1 … SAT=7
        return all(
            allowed is None or value in allowed
            for allowed, value in [
                (minute, t.minute),
                (hour, t.hour),
                (dom, t.day),
                (month, t.month),
                (dow, cron_dow),
                (year, t.year),
            ]
        )

    def fire_times(self, after: datetime, until: datetime, anchor: datetime) -> Iterator[datetime]:
        """Fire times ``t`` with ``after < t <= until``; a rate counts from ``anchor`` (when it was created)."""
        if self.every is not None:
            n = max(0, int((after - anchor) / self.every))
            t = anchor + n * self.every
            while t <= until:
                if t > after:
                    yield t
                t += self.every
            return
        t = (after + timedelta(minutes=1)).replace(second=0, microsecond=0)
        while t <= until:
            if self._matches(t):
                yield t
            t += timedelta(minutes=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
