"""Clocks. Lambda uses the system clock; the local stack uses one it can move forward, shared through a file so
that the HTTP server, the queue pollers and the scheduler all see the same time."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetFileClock:
    """System time plus an offset kept in a JSON file ``{"offset_seconds": N}``; a missing file means no offset."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def offset(self) -> timedelta:
        try:
            return timedelta(seconds=float(json.loads(self.path.read_text())["offset_seconds"]))
        except FileNotFoundError:
            return timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def advance(self, by: timedelta) -> datetime:
        offset = self.offset() + by
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset_seconds": offset.total_seconds()}))
        tmp.replace(self.path)
        return datetime.now(UTC) + offset


class FixedClock:
    """A clock for tests: it says what it is told."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> datetime:
        self.at += by
        return self.at
