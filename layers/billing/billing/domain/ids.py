"""Object ids: a type prefix and a ULID (48-bit millisecond time + 80 random bits, Crockford base32).

Ids sort by creation time, so a listing keyed by id is a listing by age, and they are unguessable. A derived id
(``derived_id``) has the same shape with its 80 bits taken from a hash of what it names: the same thing always
gets the same id (an event that can be written again must be the same event).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from datetime import datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, now: datetime) -> str:
    return _ulid(prefix, now, os.urandom(10))


_ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
_CUSTOMER = re.compile(rf"cus_({_ULID})")
_ORDER_OF_CUSTOMER = re.compile(rf"ord_{_ULID}_({_ULID})")


def order_id(now: datetime, customer_id: str) -> str:
    """A new order's id: ``ord_<ULID>_<its customer's ULID>`` (57 characters), so that a request naming the order
    knows its customer from the id alone (``customer_of_order``: an approval reads the order and its customer in
    one round trip). A customer id of another shape makes a plain ``ord_<ULID>``. Still sorted by creation time,
    still unguessable; the customer's id is the tenant's to see, as the order's ``customer_id`` is."""
    plain = new_id("ord", now)
    owner = _CUSTOMER.fullmatch(customer_id)
    return f"{plain}_{owner.group(1)}" if owner else plain


def customer_of_order(order_id: str) -> str | None:
    """The customer id an order id carries (``order_id``), or None (an older or another id): a hint to read
    ahead with, never trusted: the order item itself names its customer."""
    carried = _ORDER_OF_CUSTOMER.fullmatch(order_id)
    return f"cus_{carried.group(1)}" if carried else None


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
