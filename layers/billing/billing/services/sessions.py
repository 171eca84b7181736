"""Short-lived signed links to the pages a bearer opens without an API key: the customer portal (one customer's
bills) and the finance dashboard (a tenant's reports). One rule for every kind of page, here.

A link is ``<base><prefix><tenant>.<session>.<secret>``: the secret is 192 random bits of which the table keeps only a
SHA-256 digest, beside the session's own fields and the instant it stops working (DynamoDB's TTL clears the item a
day later). A link wrong in any part (malformed, no such session, another secret) is the same ``NotFound``: nothing
tells which part was wrong. A right link past its time is ``SessionExpired``, so the page can say "ask for a new one".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billing.adapters.dynamodb import Transaction
from billing.domain.errors import NotFound
from billing.domain.ids import new_id, new_secret
from billing.services.unit import Context

_ID = r"[A-Za-z0-9_]{1,64}"
_TOKEN = re.compile(rf"(?P<tenant>{_ID})\.(?P<session>{_ID})\.(?P<secret>[A-Za-z0-9_-]{{16,128}})\Z")
TTL_GRACE = timedelta(days=1)  # the item outlives its link by a day, then DynamoDB's TTL removes it


@dataclass(frozen=True)
class Kind:
    """A kind of page session: its items are ``<name>_session`` (keys.page_session), its ids ``<id_prefix>_…``."""

    name: str
    id_prefix: str
    path_prefix: str  # the page's path, before the token: "/portal/"
    lifetime: timedelta


class SessionExpired(NotFound):
    code = "session_expired"


@dataclass(frozen=True)
class Issued:
    session_id: str
    url: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Opened:
    tenant_id: str
    session_id: str
    record: dict[str, Any]  # the fields the kind stored with the session
    expires_at: datetime


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(ctx: Context, tx: Transaction, kind: Kind, tenant_id: str, base_url: str, fields: dict[str, Any]) -> Issued:
    """A new session of ``kind`` with ``fields``, put in ``tx`` (the caller commits): its link and its times."""
    now = ctx.clock.now()
    session_id, secret = new_id(kind.id_prefix, now), new_secret()
    expires = now + kind.lifetime
    record = {
        **fields,
        "secret_sha256": digest(secret),
        "created_at": now.isoformat(),
        "valid_until": expires.isoformat(),
        "expires_at": int((expires + TTL_GRACE).timestamp()),
    }
    ctx.repo.add_page_session(tx, kind.name, tenant_id, session_id, record)
    url = f"{base_url.rstrip('/')}{kind.path_prefix}{tenant_id}.{session_id}.{secret}"
    return Issued(session_id=session_id, url=url, created_at=now, expires_at=expires)


def open_session(ctx: Context, kind: Kind, token: str, expired_detail: str) -> Opened:
    """The session of ``kind`` a link's token opens; ``NotFound`` for a token wrong in any part, ``SessionExpired``
    (with the session's ``return_url`` and ``locale``, if it has them) for a right one whose time is over."""
    found = _TOKEN.match(token or "")
    record = ctx.repo.page_session(kind.name, found["tenant"], found["session"]) if found else None
    secret_digest = digest(found["secret"]) if found else ""
    if found is None or record is None or not hmac.compare_digest(record["secret_sha256"], secret_digest):
        raise NotFound("no_such_page", "no such page")
    valid_until = datetime.fromisoformat(record["valid_until"])
    if ctx.clock.now() >= valid_until:
        raise SessionExpired(detail=expired_detail, return_url=record.get("return_url"), locale=record.get("locale"))
    return Opened(tenant_id=found["tenant"], session_id=found["session"], record=record, expires_at=valid_until)
