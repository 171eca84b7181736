"""Object ids: a type prefix and a ULID (48-bit millisecond time + 80 random bits, Crockford base32).

Ids sort by creation time, so a listing keyed by id is a listing by age, and they are unguessable.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, now: datetime) -> str:
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def new_secret() -> str:
    """192 random bits, URL-safe: the secret of an invoice's hosted page link (billing.services.hosted_page)."""
    return secrets.token_urlsafe(24)
