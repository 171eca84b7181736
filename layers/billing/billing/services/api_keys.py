"""A tenant's API keys: made (the secret shown once, only its SHA-256 kept), listed, revoked, rolled.

Every change is one transaction with its audit event (``api_key.created``, ``api_key.revoked``, ``api_key.rolled``:
the key's id, never its secret). A revoked or expired key stops working on every container within the key cache's
TTL (billing.adapters.key_cache: the door checks ``revoked_at``/``expires_at`` of the item it holds on every request;
a container that made the change drops its entry at once).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain.api_keys import MAX_ROLL_OVERLAP, SCOPES, ApiKey, NewApiKey, Scope
from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent
from billing.services.unit import SHOWN_ONCE, Claim, Context, remember, replayable, retrying

KEY_PREFIX = "bk_"
LAST_USED_EVERY = timedelta(hours=1)  # a key's last_used_at is written at most this often (to the hour, not per call)


class ApiKeyResource(BaseModel):
    object: Literal["api_key"] = "api_key"
    id: str
    name: str
    scopes: list[Scope]
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rolled_to: str | None
    last_used_at: datetime | None = Field(description="When it was last used, to the hour")


class IssuedApiKey(ApiKeyResource):
    secret: str | None = Field(
        description="The key itself, in this answer only (only its SHA-256 is kept); null in an Idempotency-Key "
        "replay of the request that made it.",
        json_schema_extra={SHOWN_ONCE: True},
    )


class RolledApiKey(BaseModel):
    object: Literal["api_key_roll"] = "api_key_roll"
    rolled: ApiKeyResource
    new: IssuedApiKey


class RollApiKey(BaseModel):
    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=int(MAX_ROLL_OVERLAP.total_seconds()),
        description="How long the old key keeps working beside the new one (default a day, at most 7 days).",
    )


def resource(key: ApiKey, now: datetime) -> ApiKeyResource:
    fields = key.model_dump(include={"id", "name", "scopes", "created_at", "expires_at", "revoked_at", "rolled_to"})
    return ApiKeyResource(**fields, last_used_at=key.last_used_at, status=key.status(now))


def _issued(key: ApiKey, secret: str, now: datetime) -> IssuedApiKey:
    return IssuedApiKey(**dict(resource(key, now)), secret=secret)


def _commit(ctx: Context, tx: Transaction, tenant_id: str, claim: Claim | None, answer: BaseModel) -> None:
    """Commit ``tx`` with the answer an Idempotency-Key replay gives: its secret blanked (``unit.replayable``)."""
    remember(ctx, tx, tenant_id, claim, replayable(answer))
    ctx.repo.commit(tx)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_id(key_hash: str) -> str:
    """An API key's public name: stable, and no secret (a prefix of the stored hash of a 256-bit secret)."""
    return f"key_{key_hash[:16]}"


def issue(ctx: Context, tx: Transaction, tenant_id: str, new: NewApiKey, now: datetime) -> tuple[ApiKey, str]:
    """A new key inside ``tx`` (with its ``api_key.created`` event), and its secret text: ``bk_<tenant>.<secret>``."""
    secret = f"{KEY_PREFIX}{tenant_id}.{secrets.token_urlsafe(32)}"
    digest = hash_key(secret)
    key = ApiKey(
        id=key_id(digest),
        tenant_id=tenant_id,
        key_hash=digest,
        name=new.name,
        scopes=new.scopes,
        created_at=now,
        expires_at=new.expires_at,
    )
    saved = ctx.repo.save_api_key(tx, key)
    event = DomainEvent.new(
        "api_key.created", tenant_id, "api_key", key.id, now, key_id=key.id, name=key.name, scopes=key.scopes
    )
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)  # a key's events are the tenant's (data-model.md)
    return saved, secret


def full_access(name: str) -> NewApiKey:
    """A key with every scope: a tenant's first key, and the admin command's."""
    return NewApiKey(name=name, scopes=list(SCOPES))


def create_api_key(ctx: Context, tenant_id: str, new: NewApiKey, claim: Claim | None = None) -> IssuedApiKey:
    now = ctx.clock.now()
    tx = ctx.repo.transaction()
    key, secret = issue(ctx, tx, tenant_id, new.checked(now), now)
    answer = _issued(key, secret, now)
    _commit(ctx, tx, tenant_id, claim, answer)
    return answer


def list_api_keys(
    ctx: Context, tenant_id: str, limit: int, cursor: str | None
) -> tuple[list[ApiKeyResource], str | None]:
    found, next_cursor = ctx.repo.api_keys(tenant_id, limit, cursor)
    now = ctx.clock.now()
    return [resource(k, now) for k in found], next_cursor


def get_api_key(ctx: Context, tenant_id: str, api_key_id: str) -> ApiKeyResource:
    return resource(ctx.repo.api_key(tenant_id, api_key_id), ctx.clock.now())


@retrying()
def revoke_api_key(ctx: Context, tenant_id: str, api_key_id: str, claim: Claim | None = None) -> ApiKeyResource:
    now = ctx.clock.now()
    revoked, event = ctx.repo.api_key(tenant_id, api_key_id).revoke(now)
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_api_key(tx, revoked)
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    answer = resource(saved, now)
    _commit(ctx, tx, tenant_id, claim, answer)
    return answer


@retrying()
def roll_api_key(
    ctx: Context, tenant_id: str, api_key_id: str, cmd: RollApiKey, claim: Claim | None = None
) -> RolledApiKey:
    """A new key with the old one's name, scopes and expiry; the old one stays valid ``cmd.overlap_seconds`` more,
    then dies."""
    now = ctx.clock.now()
    old = ctx.repo.api_key(tenant_id, api_key_id)
    tx = ctx.repo.transaction()
    new, secret = issue(ctx, tx, tenant_id, NewApiKey(name=old.name, scopes=old.scopes, expires_at=old.expires_at), now)
    rolled, event = old.rolled(now, timedelta(seconds=cmd.overlap_seconds), new.id)
    saved = ctx.repo.save_api_key(tx, rolled)
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)
    answer = RolledApiKey(rolled=resource(saved, now), new=_issued(new, secret, now))
    _commit(ctx, tx, tenant_id, claim, answer)
    return answer
