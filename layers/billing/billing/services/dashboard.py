"""The finance dashboard's sessions: a tenant's finance team opens its reports in a browser through a short-lived
link that an API key asks for (``POST /v1/dashboard_sessions``); the key itself never goes into a URL.

A link works for 30 minutes (the portal's work for an hour): it opens every customer's receivables and the tenant's
revenue, more than one customer's bills, and is a bearer link that can end up in a browser's history or a shared
screen; half an hour is a sitting's reading and downloading, and a new link is one API call away. The link rule
(token, digest, expiry) is billing.services.sessions'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, Field

from billing.domain.base_model import BaseModel
from billing.domain.models import SUPPORTED_LOCALES
from billing.services import sessions
from billing.services.unit import SHOWN_ONCE, Claim, Context, remember, replayable

SESSION_LIFETIME = timedelta(minutes=30)
PATH_PREFIX = "/dashboard/"
KIND = sessions.Kind("dashboard", "bds", PATH_PREFIX, SESSION_LIFETIME)
DEFAULT_LOCALE = "en"


class CreateDashboardSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Literal[SUPPORTED_LOCALES] | None = Field(  # type: ignore[valid-type]
        default=None, description="the dashboard's language (en, zh or ru; default en); the page can switch it"
    )


class DashboardSession(BaseModel):
    object: Literal["dashboard_session"] = "dashboard_session"
    id: str
    url: str | None = Field(
        description="open it in a browser; it works until expires_at (30 minutes), then ask again; null in an "
        "Idempotency-Key replay (the link is never stored)",
        json_schema_extra={SHOWN_ONCE: True},
    )
    locale: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OpenDashboard:
    tenant_id: str
    session_id: str
    locale: str
    expires_at: datetime


def create_session(
    ctx: Context, tenant_id: str, request: CreateDashboardSession, base_url: str, claim: Claim | None
) -> DashboardSession:
    locale = request.locale or DEFAULT_LOCALE
    tx = ctx.repo.transaction()
    issued = sessions.issue(ctx, tx, KIND, tenant_id, base_url, {"locale": locale})
    answer = DashboardSession(
        id=issued.session_id,
        url=issued.url,
        locale=locale,
        created_at=issued.created_at,
        expires_at=issued.expires_at,
    )
    remember(ctx, tx, tenant_id, claim, replayable(answer))
    ctx.repo.commit(tx)
    return answer


def open_session(ctx: Context, token: str) -> OpenDashboard:
    """The session a dashboard link opens; ``NotFound`` for a link wrong in any part, ``SessionExpired`` after its
    30 minutes."""
    opened = sessions.open_session(ctx, KIND, token, "this dashboard link has expired")
    return OpenDashboard(
        tenant_id=opened.tenant_id,
        session_id=opened.session_id,
        locale=opened.record["locale"],
        expires_at=opened.expires_at,
    )
