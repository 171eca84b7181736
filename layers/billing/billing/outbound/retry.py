"""When a failed webhook delivery is tried again: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h and eight
times 10 h (14 attempts over about three and a half days), each wait ±10 %, so that an endpoint's outage does not
come back as one burst. A pure function of the attempt number and a random source seeded by the delivery's id and
the attempt: the same delivery always waits the same, and a test can state every wait's bounds."""

from __future__ import annotations

import random
from datetime import timedelta

# seconds to wait after attempt n fails (n = 1 .. 13) before attempt n + 1
DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000) + (36000,) * 8
ATTEMPTS = 1 + len(DELAYS)  # the first, immediate, and the retries
JITTER = 0.1


def rng_for(delivery_id: str, attempt: int) -> random.Random:
    return random.Random(f"{delivery_id}#{attempt}")


def delay_after(attempt: int, rng: random.Random) -> timedelta | None:
    """How long after failed attempt ``attempt`` (1-based) the next one is due; None once the schedule is done."""
    if not 1 <= attempt <= len(DELAYS):
        return None
    base = DELAYS[attempt - 1]
    return timedelta(milliseconds=round(base * 1000 * (1 + rng.uniform(-JITTER, JITTER))))


def bounds_after(attempt: int) -> tuple[timedelta, timedelta]:
    """The shortest and longest wait after failed attempt ``attempt``."""
    base = DELAYS[attempt - 1]
    return timedelta(seconds=base * (1 - JITTER)), timedelta(seconds=base * (1 + JITTER))
