"""Request rate limits: how many requests one key (a tenant, a source address, a pay link) may make.

A limit has two parts: ``burst``, the most requests in any one second, and ``rate``, the sustained requests per
second, counted over the minute (at most ``60 × rate`` in a minute). Both are counted in a shared window per key and
minute (a DynamoDB item, billing.adapters.rate_limiter), which every container adds to; to add no round trip to most
requests, a container counts its own requests and adds them ``flush_every`` at a time (a tenth of the burst), and
learns the shared totals in the same write. The price is a tolerance: in a window, each container may let in up to
``flush_every`` requests more than the limit before it has heard the total (docs/security.md, "Rate limits").

A ``Meter`` is one key's count in one container; it decides, purely, whether a request at an instant is admitted,
and says when to add its count to the shared window. It is not thread-safe: its owner locks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    rate: int  # requests per second, sustained over a minute
    burst: int  # requests in any one second

    def __post_init__(self) -> None:
        if self.rate < 1 or self.burst < 1:
            raise ValueError(f"a rate limit needs a rate and a burst of at least 1, not {self.rate}/{self.burst}")

    @property
    def per_minute(self) -> int:
        return self.rate * 60

    @property
    def flush_every(self) -> int:
        """How many requests a container counts before it adds them to the shared window."""
        return max(1, self.burst // 10)

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"100/200"``: a rate of 100 a second and a burst of 200."""
        rate, _, burst = text.partition("/")
        try:
            return cls(int(rate), int(burst or rate))
        except ValueError as error:
            raise ValueError(f"a rate limit reads <rate>/<burst>, e.g. 100/200, not {text!r}") from error


@dataclass(frozen=True)
class Flush:
    """Counts to add to the shared window of ``minute``: ``requests`` in the minute, ``in_second`` of them in
    ``second`` (both epoch numbers)."""

    minute: int
    second: int
    requests: int
    in_second: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    retry_after: int = 0  # whole seconds, when refused
    flush: Flush | None = None  # what the owner must add to the shared window now


@dataclass
class Meter:
    limit: Limit
    minute: int = -1
    second: int = -1
    minute_total: int = 0  # the shared window's totals, as last heard (every container's requests)
    second_total: int = 0
    pending: int = 0  # this container's requests of the minute not yet added
    pending_in_second: int = 0  # of them, those of the current second
    blocked_until: float = field(default=-math.inf)

    def admit(self, at: float) -> Decision:
        """Whether a request at ``at`` (epoch seconds) is let in; a refusal says how long to wait."""
        self._roll(at)
        if at < self.blocked_until:
            return Decision(False, _wait(self.blocked_until - at))
        if self.second_total + self.pending_in_second >= self.limit.burst:
            return self._block(self.second + 1, at)
        if self.minute_total + self.pending >= self.limit.per_minute:
            return self._block((self.minute + 1) * 60, at)
        self.pending += 1
        self.pending_in_second += 1
        if self.pending < self.limit.flush_every:
            return Decision(True)
        flush = Flush(self.minute, self.second, self.pending, self.pending_in_second)
        self.pending = self.pending_in_second = 0
        return Decision(True, flush=flush)

    def blocked_for(self, at: float) -> int:
        """How long this key is refused at ``at`` (0: not refused), by what it has heard: a check that counts
        nothing (a Stripe webhook is counted only once its signature has failed)."""
        return _wait(self.blocked_until - at) if at < self.blocked_until else 0

    def heard(self, flush: Flush, minute_total: int, second_total: int) -> None:
        """The shared window's totals, as the write of ``flush`` answered them."""
        if flush.minute != self.minute:
            return  # a minute that has ended
        self.minute_total = max(self.minute_total, minute_total)  # requests counted since are still pending
        if flush.second == self.second:
            self.second_total = max(self.second_total, second_total)

    def _roll(self, at: float) -> None:
        second = math.floor(at)
        if second // 60 != self.minute:  # a new minute: counts not yet added are dropped (fewer than flush_every)
            self.minute, self.minute_total, self.pending = second // 60, 0, 0
        if second != self.second:
            self.second, self.second_total, self.pending_in_second = second, 0, 0

    def _block(self, until: float, at: float) -> Decision:
        self.blocked_until = until
        return Decision(False, _wait(until - at))


def _wait(seconds: float) -> int:
    return max(1, math.ceil(seconds))
