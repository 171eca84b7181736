"""The container's rate limiter: one ``Meter`` per key (billing.domain.rate_limits), the shared windows in the table.

Kinds of key, each with its own limit (``LIMITS``' defaults; the environment's ``<KIND>_RATE_LIMIT``, e.g.
``TENANT_RATE_LIMIT=100/200``, sets another):

- ``tenant``: a tenant's API calls, whatever its keys and source addresses (after the key is checked: a request with
  a wrong key counts against nobody's limit);
- ``source``: a source address's requests to the public pages (``/pay/…``, ``/portal/…``, ``/dashboard/…``) and its
  Stripe webhook requests that fail verification;
- ``link``: one pay link's views, from wherever they come (a forwarded link hammered from many addresses).

A source address or a link is kept only as a digest in its window's key (no address in the table). A window the
table cannot be written to does not refuse the request (the limiter fails open: a throttled table must not take
the API down with it); the error is logged.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters import keys
from billing.domain.rate_limits import Decision, Flush, Limit, Meter

logger = Logger(child=True)

LIMITS = {
    "tenant": Limit(rate=100, burst=200),  # a storefront's back end: 6,000 calls a minute, 200 in a second
    "source": Limit(rate=5, burst=30),  # a person's browser: a page and its scripts, reloads, the sign-in form
    "link": Limit(rate=1, burst=10),  # one invoice's pay page: 60 views a minute
}
MAX_METERS = 10_000  # past this the oldest goes (its container forgets a key's counts it has not added)
WINDOW_TTL = 3_600  # a window's item is removed by TTL an hour after its minute ends


def limits_from(env: Mapping[str, str]) -> dict[str, Limit]:
    """``LIMITS``, with each kind the environment names (``TENANT_RATE_LIMIT=<rate>/<burst>``) replaced."""
    return {
        kind: Limit.parse(env[name]) if (name := f"{kind.upper()}_RATE_LIMIT") in env else limit
        for kind, limit in LIMITS.items()
    }


def scope(kind: str, name: str) -> str:
    if kind == "tenant":
        return f"T#{name}"
    return f"SRC#{kind}#{hashlib.sha256(name.encode()).hexdigest()[:32]}"


class RateLimiter:
    def __init__(self, store: Any, limits: Mapping[str, Limit]) -> None:
        self.store = store
        self.limits = dict(limits)
        self.meters: dict[tuple[str, str], Meter] = {}
        self.lock = threading.Lock()  # the local runtime serves requests on threads

    def admit(self, kind: str, name: str, now: datetime, own: str | None = None) -> Decision:
        """Whether a request of ``name`` (a tenant id, an address, a link) at ``now`` is let in; ``own``: the
        key's own limit (``<rate>/<burst>``: a tenant's, set by an operator) in place of its kind's."""
        at, limit = now.timestamp(), Limit.parse(own) if own else self.limits[kind]
        with self.lock:
            meter = self.meters.get((kind, name))
            if meter is None:
                if len(self.meters) >= MAX_METERS:
                    self.meters.pop(next(iter(self.meters)))
                meter = self.meters[kind, name] = Meter(limit)
            meter.limit = limit  # a limit changed since (within the key cache's seconds)
            decision = meter.admit(at)
        if decision.flush is not None:
            self._add(kind, name, meter, decision.flush)
        return decision

    def blocked_for(self, kind: str, name: str, now: datetime) -> int:
        """How many seconds ``name`` is refused for at ``now`` (0: it is not), counting nothing."""
        with self.lock:
            meter = self.meters.get((kind, name))
            return meter.blocked_for(now.timestamp()) if meter else 0

    def _add(self, kind: str, name: str, meter: Meter, flush: Flush) -> None:
        second = f"s{flush.second % 60}"
        try:
            totals = self.store.add_counts(
                keys.rate_window(scope(kind, name), flush.minute),
                {"requests": flush.requests, second: flush.in_second},
                (flush.minute + 1) * 60 + WINDOW_TTL,
            )
        except Exception:  # noqa: BLE001 - fail open: a window not written must not refuse the request
            logger.exception("rate limit window not written", extra={"limit_kind": kind})
            return
        with self.lock:
            meter.heard(flush, totals["requests"], totals[second])
