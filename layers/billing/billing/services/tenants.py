"""Tenants and their API keys. A key is shown once, when it is made; only its SHA-256 is stored.

A key reads ``bk_<tenant id>.<secret>``: the tenant id routes the lookup to the tenant's own partition, and the
256-bit secret makes a slow hash pointless (nothing to brute-force), so SHA-256 is the right digest.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain import numbering
from billing.domain.errors import Unauthorized
from billing.domain.ids import new_id
from billing.domain.models import DomainEvent, Tenant
from billing.services.unit import Context

KEY_PREFIX = "bk_"
MAX_TENANT_ID = 64  # tenant ids are ``ten_`` + a 26-character ULID


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(
    ctx: Context, name: str, invoice_number_format: str = numbering.DEFAULT_FORMAT, reply_to: str | None = None
) -> tuple[Tenant, str]:
    now = ctx.clock.now()
    tenant = Tenant(
        id=new_id("ten", now).lower(),
        name=name,
        invoice_number_format=numbering.validate_format(invoice_number_format),
        created_at=now,
        reply_to=reply_to,
    )
    api_key = issue_key_text(tenant.id)
    tx = ctx.repo.transaction()
    tenant = ctx.repo.save_tenant(tx, tenant)
    _add_key(ctx, tx, tenant.id, api_key, now)
    ctx.repo.commit(tx)
    return tenant, api_key


def add_api_key(ctx: Context, tenant_id: str) -> str:
    api_key = issue_key_text(tenant_id)
    tx = ctx.repo.transaction()
    _add_key(ctx, tx, tenant_id, api_key, ctx.clock.now())
    ctx.repo.commit(tx)
    return api_key


def key_id(key_hash: str) -> str:
    """An API key's public name: stable, and no secret (a prefix of the stored hash of a 256-bit secret)."""
    return f"key_{key_hash[:16]}"


def _add_key(ctx: Context, tx: Transaction, tenant_id: str, api_key: str, now: datetime) -> None:
    """Store the key's hash and say so on the audit trail (``api_key.created``: its id, never the key)."""
    digest = hash_key(api_key)
    ctx.repo.add_api_key(tx, tenant_id, digest, now)
    event = DomainEvent.new("api_key.created", tenant_id, "api_key", key_id(digest), now, key_id=key_id(digest))
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)


def issue_key_text(tenant_id: str) -> str:
    return f"{KEY_PREFIX}{tenant_id}.{secrets.token_urlsafe(32)}"


def authenticate(ctx: Context, authorization: str | None) -> str:
    """The tenant id a ``Bearer`` API key belongs to; anything else is refused. The lookup is by the key's hash
    in the tenant's partition, so no secret is ever compared byte by byte. (``authenticated_key`` also names the
    key.)"""
    return authenticated_key(ctx, authorization)[0]


Reads = Callable[[str, dict[str, Any] | None], tuple[list[dict[str, str]], list[dict[str, Any]]]]


def key_usable(item: dict[str, Any] | None, now: datetime) -> bool:
    """Whether an API key item lets its holder in at ``now``: it exists, is not revoked (``revoked``, or
    ``revoked_at`` at or before now) and has not expired (``expires_at`` at or before now; both ISO 8601)."""
    if not item or item.get("revoked"):
        return False
    ends = (item.get("revoked_at"), item.get("expires_at"))
    return not any(at and datetime.fromisoformat(at) <= now for at in ends)


def authenticated_key(ctx: Context, authorization: str | None, reads: Reads | None = None) -> tuple[str, str]:
    """The tenant id and the key id (``key_id``) of a valid ``Bearer`` API key; anything else is refused.

    The tenant id is in the key's text, so what the request will read is known before the key is checked:
    ``reads(tenant_id, tenant item or None)`` names it (keys and Query requests, billing.api.reads), and it is read
    ahead with the key and the tenant in one round trip (``Repository.read_ahead``). A key and its tenant in the
    container's cache (``billing.adapters.key_cache``, ``KEY_CACHE_TTL``) are not read again; revocation and expiry
    are checked on every request against the key item at hand, at the context's clock, so a key revoked elsewhere
    stops working within the TTL and one that expires stops at once. Not cached, the route's Queries (a tax book
    can be a megabyte) are made only once the key has proved good: one more round trip, once per TTL."""
    scheme, _, api_key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not api_key.startswith(KEY_PREFIX):
        raise Unauthorized("missing_api_key", "send Authorization: Bearer <API key>")
    tenant_id, _, secret = api_key.strip()[len(KEY_PREFIX) :].partition(".")
    if not tenant_id or not secret or len(tenant_id) > MAX_TENANT_ID:  # a longer one cannot be a key of ours
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    digest, now, cache = hash_key(api_key.strip()), ctx.clock.now(), ctx.repo.key_cache
    key, tenant = keys.api_key(tenant_id, digest), keys.tenant(tenant_id)
    cached = cache.get(key["pk"], now)
    wanted, queries = reads(tenant_id, cached.tenant_item if cached else None) if reads else ([], [])
    if cached is not None:
        known = {(key["pk"], key["sk"]): cached.key_item, (tenant["pk"], tenant["sk"]): cached.tenant_item}
        ctx.repo.read_ahead(wanted, queries, known=known)
        key_item = cached.key_item
    else:  # the route's Queries wait for the key: a request with a wrong key costs one bounded BatchGetItem
        found = ctx.repo.read_ahead([key, tenant, *wanted])
        key_item = found[(key["pk"], key["sk"])]
        if key_usable(key_item, now):
            cache.put(key["pk"], now, key_item, found[(tenant["pk"], tenant["sk"])])
            if queries:
                ctx.repo.read_ahead([], queries)
    if not key_usable(key_item, now):
        raise Unauthorized("invalid_api_key", "the API key is not valid")
    return tenant_id, key_id(digest)
