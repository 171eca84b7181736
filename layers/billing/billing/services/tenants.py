"""Tenants and their API keys. A key is shown once, when it is made; only its SHA-256 is stored.

A key reads ``bk_<tenant id>.<secret>``: the tenant id routes the lookup to the tenant's own partition, and the
256-bit secret makes a slow hash pointless (nothing to brute-force), so SHA-256 is the right digest.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing.adapters import keys
from billing.domain import numbering
from billing.domain.api_keys import SCOPES
from billing.domain.errors import Unauthorized
from billing.domain.ids import new_id
from billing.domain.models import Tenant
from billing.services import api_keys
from billing.services.api_keys import KEY_PREFIX, hash_key, key_id
from billing.services.unit import Context

__all__ = ["KEY_PREFIX", "hash_key", "key_id"]  # where the tests and the admin command have always found them

MAX_TENANT_ID = 64  # tenant ids are ``ten_`` + a 26-character ULID


def create_tenant(
    ctx: Context, name: str, invoice_number_format: str = numbering.DEFAULT_FORMAT, reply_to: str | None = None
) -> tuple[Tenant, str]:
    """A tenant and its first API key (every scope), whose secret is returned once."""
    now = ctx.clock.now()
    tenant = Tenant(
        id=new_id("ten", now).lower(),
        name=name,
        invoice_number_format=numbering.validate_format(invoice_number_format),
        created_at=now,
        reply_to=reply_to,
    )
    tx = ctx.repo.transaction()
    tenant = ctx.repo.save_tenant(tx, tenant)
    _, secret = api_keys.issue(ctx, tx, tenant.id, api_keys.full_access("First key"), now)
    ctx.repo.commit(tx)
    return tenant, secret


def add_api_key(ctx: Context, tenant_id: str) -> str:
    """Another key with every scope (the admin command's: the way back in when no admin key is at hand)."""
    now, tx = ctx.clock.now(), ctx.repo.transaction()
    _, secret = api_keys.issue(ctx, tx, tenant_id, api_keys.full_access("Admin command key"), now)
    ctx.repo.commit(tx)
    return secret


def authenticate(ctx: Context, authorization: str | None) -> str:
    """The tenant id a ``Bearer`` API key belongs to; anything else is refused. The lookup is by the key's hash
    in the tenant's partition, so no secret is ever compared byte by byte. (``authenticated_key`` also names the
    key.)"""
    return authenticated_key(ctx, authorization).tenant_id


Reads = Callable[[str, dict[str, Any] | None], tuple[list[dict[str, str]], list[dict[str, Any]]]]


@dataclass(frozen=True)
class Caller:
    """Who a request's API key says is calling: the tenant, the key (its id: who acts), what it may do."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    rate_limit: str | None = None  # the tenant's own (``Tenant.rate_limit``); None: the stack's


def key_usable(item: dict[str, Any] | None, now: datetime, digest: str | None = None) -> bool:
    """Whether an API key item lets its holder in at ``now``: it exists, holds the hash ``digest`` of the secret
    presented (compared in constant time), is not revoked (``revoked``, or ``revoked_at`` at or before now) and has
    not expired (``key_expires_at`` at or before now; both ISO 8601: not the table's numeric TTL ``expires_at``,
    so a key past its expiry stays listed)."""
    if not item or item.get("revoked"):
        return False
    if digest is not None and not hmac.compare_digest(str(item.get("key_hash", "")), digest):
        return False
    ends = (item.get("revoked_at"), item.get("key_expires_at"))
    return not any(at and datetime.fromisoformat(at) <= now for at in ends)


def authenticated_key(ctx: Context, authorization: str | None, reads: Reads | None = None) -> Caller:
    """The tenant, the key id (``key_id``) and the scopes of a valid ``Bearer`` API key; anything else is refused.

    The tenant id is in the key's text and the key's id is a prefix of its hash, so what the request will read is
    known before the key is checked: ``reads(tenant_id, tenant item or None)`` names it (keys and Query requests,
    billing.api.reads), and it is read ahead with the key and the tenant in one round trip
    (``Repository.read_ahead``). A key and its tenant in the container's cache (``billing.adapters.key_cache``,
    ``KEY_CACHE_TTL``) are not read again; revocation and expiry are checked on every request against the key item
    at hand, at the context's clock, so a key revoked elsewhere stops working within the TTL and one that expires
    stops at once. Not cached, the route's Queries (a tax book can be a megabyte) are made only once the key has
    proved good: one more round trip, once per TTL; and the key's ``last_used_at`` is written if it is older than
    ``LAST_USED_EVERY`` (one more, once an hour per key). A key made before scopes has all of them."""
    scheme, _, api_key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not api_key.startswith(KEY_PREFIX):
        raise Unauthorized("missing_api_key", "send Authorization: Bearer <API key>")
    tenant_id, _, secret = api_key.strip()[len(KEY_PREFIX) :].partition(".")
    if not tenant_id or not secret or len(tenant_id) > MAX_TENANT_ID:  # a longer one cannot be a key of ours
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    digest, now, cache = hash_key(api_key.strip()), ctx.clock.now(), ctx.repo.key_cache
    key, tenant = keys.api_key(tenant_id, key_id(digest)), keys.tenant(tenant_id)
    cached = cache.get(key["pk"], now)
    if cached is not None and not key_usable(cached.key_item, now, digest):
        cached = None  # another secret with the same id prefix, or a key that ended: read the item
    wanted, queries = reads(tenant_id, cached.tenant_item if cached else None) if reads else ([], [])
    if cached is not None:
        known = {(key["pk"], key["sk"]): cached.key_item, (tenant["pk"], tenant["sk"]): cached.tenant_item}
        ctx.repo.read_ahead(wanted, queries, known=known)
        key_item, tenant_item = cached.key_item, cached.tenant_item
    else:  # the route's Queries wait for the key: a request with a wrong key costs one bounded BatchGetItem
        found = ctx.repo.read_ahead([key, tenant, *wanted])
        key_item, tenant_item = found[(key["pk"], key["sk"])], found[(tenant["pk"], tenant["sk"])]
        if key_usable(key_item, now, digest):
            cache.put(key["pk"], now, key_item, tenant_item)
            if queries:
                ctx.repo.read_ahead([], queries)
            since = now - api_keys.LAST_USED_EVERY
            if key_item is not None and str(key_item.get("last_used_at", "")) < since.isoformat():
                ctx.repo.mark_api_key_used(key, now, since)
    if not key_usable(key_item, now, digest):
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    assert key_item is not None
    scopes = frozenset(key_item.get("scopes") or SCOPES)
    return Caller(tenant_id, key_id(digest), scopes, (tenant_item or {}).get("rate_limit"))
