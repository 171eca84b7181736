"""API keys: who may call the API, for what (scopes), until when. Pure: issuing the secret and storing its hash are
the service's (billing.services.api_keys) and the repository's.

A key is ``active`` until it is revoked (at once) or reaches its ``expires_at`` (set when it is made, or by a roll:
the old key stays valid for the overlap the roll chose, then dies). Scopes say what a key may do; every route needs
exactly one (billing.api.scopes). A key made before scopes existed has all of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.events import DomainEvent

Scope = Literal["read", "write", "payments", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "payments", "admin")
MAX_ROLL_OVERLAP = timedelta(days=7)  # how long a rolled key may stay valid beside its successor
MAX_LIFETIME = timedelta(days=3 * 366)  # an expiry further out than this is refused (a typo, not a plan)


class ApiKey(BaseModel):
    id: str  # ``key_`` + a prefix of the secret's SHA-256: public, and names the key in logs and the audit trail
    tenant_id: str
    key_hash: str  # SHA-256 of the secret (hex); the secret itself is never stored
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    rolled_to: str | None = None  # the key that replaced it (a roll)
    last_used_at: datetime | None = None  # to the hour (billing.services.api_keys.LAST_USED_EVERY)
    version: int = 0

    def status(self, now: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def revoke(self, now: datetime) -> tuple[ApiKey, DomainEvent]:
        """Revoked at once (a rolled key too: its overlap ends now)."""
        self._alive(now, "revoke")
        revoked = self.model_copy(update={"revoked_at": now})
        return revoked, self._event("api_key.revoked", now, revoked_at={"before": None, "after": now.isoformat()})

    def rolled(self, now: datetime, overlap: timedelta, successor_id: str) -> tuple[ApiKey, DomainEvent]:
        """Replaced by ``successor_id``: valid ``overlap`` more (never longer than it was going to be), then dead."""
        self._alive(now, "roll")
        if self.rolled_to is not None:
            raise Conflict("api_key_rolled", f"API key {self.id} was rolled already (to {self.rolled_to})")
        if not timedelta(0) <= overlap <= MAX_ROLL_OVERLAP:
            raise ValidationFailed("invalid_overlap", f"the overlap must be 0 to {MAX_ROLL_OVERLAP.days} days")
        ends = now + overlap if self.expires_at is None else min(self.expires_at, now + overlap)
        before = self.expires_at.isoformat() if self.expires_at else None
        rolled = self.model_copy(update={"expires_at": ends, "rolled_to": successor_id})
        changes = {
            "expires_at": {"before": before, "after": ends.isoformat()},
            "rolled_to": {"before": None, "after": successor_id},
        }
        return rolled, self._event("api_key.rolled", now, **changes)

    def _alive(self, now: datetime, action: str) -> None:
        if (status := self.status(now)) != "active":
            raise Conflict(f"api_key_{status}", f"API key {self.id} is {status}: it cannot be {action}ed")

    def _event(self, event_type: str, now: datetime, **changes: object) -> DomainEvent:
        return DomainEvent.new(event_type, self.tenant_id, "api_key", self.id, now, key_id=self.id, changes=changes)


class NewApiKey(BaseModel):
    """What a key is made with."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None

    def checked(self, now: datetime) -> NewApiKey:
        if self.expires_at is not None:
            if self.expires_at.tzinfo is None:
                raise ValidationFailed("invalid_expires_at", "expires_at needs a time zone (e.g. Z)")
            if not now < self.expires_at <= now + MAX_LIFETIME:
                raise ValidationFailed("invalid_expires_at", "expires_at must be in the future, within 3 years")
        return self.model_copy(update={"scopes": [s for s in SCOPES if s in self.scopes]})
