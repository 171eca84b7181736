"""Object ids: a type prefix and a ULID (48-bit millisecond time + 80 random bits, Crockford base32).

Ids sort by creation time, so a listing keyed by id is a listing by age, and they are unguessable. A derived id
(``derived_id``) has the same shape with its 80 bits taken from a hash of what it names: the same thing always
gets the same id (an event that can be written again must be the same event).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, now: datetime) -> str:
    return _ulid(prefix, now, os.urandom(10))


def derived_id(prefix: str, now: datetime, seed: str) -> str:
    """The id of ``seed`` at ``now``: always the same for the same two."""
    return _ulid(prefix, now, hashlib.sha256(seed.encode()).digest()[:10])


def _ulid(prefix: str, now: datetime, tail: bytes) -> str:
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(tail, "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def new_secret() -> str:
    """192 random bits, URL-safe: the secret of an invoice's hosted page link (billing.services.hosted_page)."""
    return secrets.token_urlsafe(24)
