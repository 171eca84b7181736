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
    """System time plus an offset kept in a JSON file ``{"offset_seconds": N}``; a missing file means no offset.

    The offset is read again only when the file changed (its inode, size and modification time): a replayed month
    asks the time thousands of times, and opening the file each time cost more than the work it timed."""

    _read: dict[Path, tuple[tuple[int, int, int], timedelta]] = {}  # per process, shared by every instance

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def offset(self) -> timedelta:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return timedelta(0)
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._read.get(self.path)
        if cached and cached[0] == version:
            return cached[1]
        offset = timedelta(seconds=float(json.loads(self.path.read_text())["offset_seconds"]))
        self._read[self.path] = (version, offset)
        return offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def advance(self, by: timedelta) -> datetime:
        return self._write(self.offset() + by)

    def set(self, instant: datetime) -> datetime:
        """Make it ``instant`` now (the local stack's ``--start``); the clock runs on from there."""
        if instant.tzinfo is None:
            raise ValueError("give the instant with its UTC offset")
        return self._write(instant - datetime.now(UTC))

    def _write(self, offset: timedelta) -> datetime:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset_seconds": offset.total_seconds()}))
        tmp.replace(self.path)
        stat = os.stat(self.path)
        self._read[self.path] = ((stat.st_ino, stat.st_size, stat.st_mtime_ns), offset)
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
