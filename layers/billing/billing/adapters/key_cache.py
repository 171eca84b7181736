"""The container's cache of API keys and their tenants: a warm container authenticates a request with no read.

An entry lives ``KEY_CACHE_TTL`` on the clock it is handed (the deps' clock: tests and the local stack move it), so a
key revoked or a tenant changed elsewhere is seen by every container within that time; a key's ``key_expires_at`` (and a
``revoked_at`` set ahead) is checked on every request against the cached item
(``billing.services.tenants.key_usable``), and a write of this container to the key or the tenant drops the entry at
once. Only usable keys are cached: a refused key is read again on its next request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

KEY_CACHE_TTL = timedelta(seconds=5)  # how long a key revoked elsewhere may still let a request in
MAX_ENTRIES = 1_000  # a container serves few keys; past this the oldest entry goes


@dataclass
class Entry:
    fetched_at: datetime
    key_item: dict[str, Any]
    tenant_item: dict[str, Any] | None


@dataclass
class KeyCache:
    ttl: timedelta = KEY_CACHE_TTL
    entries: dict[str, Entry] = field(default_factory=dict)  # by the key item's pk
    lock: threading.Lock = field(default_factory=threading.Lock)  # the local runtime serves requests on threads

    def get(self, key_pk: str, now: datetime) -> Entry | None:
        with self.lock:
            entry = self.entries.get(key_pk)
            if entry is not None and not entry.fetched_at <= now < entry.fetched_at + self.ttl:  # stale, or clock back
                del self.entries[key_pk]
                return None
            return entry

    def put(self, key_pk: str, now: datetime, key_item: dict[str, Any], tenant_item: dict[str, Any] | None) -> None:
        with self.lock:
            if key_pk not in self.entries and len(self.entries) >= MAX_ENTRIES:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key_pk] = Entry(now, key_item, tenant_item)

    def written(self, pks: set[str]) -> None:
        """This container wrote items at ``pks``: entries of those keys, or of those tenants, go."""
        with self.lock:
            for key_pk, entry in list(self.entries.items()):
                if key_pk in pks or (entry.tenant_item and entry.tenant_item["pk"] in pks):
                    del self.entries[key_pk]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
