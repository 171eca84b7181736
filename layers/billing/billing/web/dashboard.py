"""``/dashboard/{token}``: the finance dashboard, server-rendered in the session's language (or the one switched to):
receivables aging, MRR with its movements, invoiced and collected per month, the dunning funnel and the top overdue
customers, for the months asked (the last twelve by default), each panel with its CSV.

The tables are on the page; the charts are drawn in the browser by Chart.js (pinned in infra/web, served from
``/dashboard/static/``, never a CDN) from the same report answers, embedded in the page as JSON: the tables and the
charts come from one reading of the facts (in AWS each reading fetches the tenant's export), so they cannot
disagree and the page costs one request. The answers are also served alone, as the API gives them, at
``/dashboard/{token}/reports/{name}.json`` and, as CSV, at ``.csv`` (the session is the credential).

``POST /v1/dashboard_sessions`` (billing.api.routes) makes the link; billing.services.dashboard says for how long.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.api.problems import from_domain
from billing.domain.errors import DomainError, NotFound, ValidationFailed
from billing.domain.money import minor_unit_exponent
from billing.i18n import BABEL_LOCALES, language
from billing.reports.catalog import percent
from billing.services import dashboard, reports
from billing.services.dashboard import OpenDashboard
from billing.services.sessions import SessionExpired
from billing.web.pages import accept_language, message_page, page

logger = Logger(child=True)
router = APIGatewayHttpRouter()

STATIC_DIR = Path(__file__).resolve().parent / "static"
# What /dashboard/static/ serves: our own script, and Chart.js as `make install` copies it from the pinned npm package
STATIC_FILES = {
    "dashboard.js": STATIC_DIR / "dashboard.js",
    "chart.umd.min.js": STATIC_DIR / "vendor" / "chart.umd.min.js",
}
PAGE_REPORTS = ("aging", "mrr", "revenue", "collections")  # what the page shows; the statement is per customer
TOP_OVERDUE = 10  # customers per currency in the top overdue list
QUESTION = ("from", "to", "currency")  # the page's and the report files' query parameters (besides lang, section)


def _query() -> dict[str, str]:
    return router.current_event.query_string_parameters or {}


def _session(token: str) -> OpenDashboard | Response[str]:
    """The open session, or the page that says why there is none."""
    lang = _query().get("lang") or accept_language(router.current_event.headers or {})
    try:
        return dashboard.open_session(bootstrap.deps().context, token)
    except SessionExpired as expired:  # in the language the link was asked in
        return message_page(
            410, language(_query().get("lang") or expired.extra.get("locale") or lang), dashboard_expired=True
        )
    except NotFound:
        return message_page(404, language(lang), not_found=True)


def _lang(session: OpenDashboard) -> str:
    asked = _query().get("lang")
    return asked if asked in BABEL_LOCALES else language(session.locale)


def _answers(session: OpenDashboard, asked: dict[str, str], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The reports ``names`` for the question ``asked`` (from, to, currency; ValidationFailed when it makes no
    sense), from one opening of the facts (in AWS an opening fetches the tenant's export)."""
    ctx = bootstrap.deps().context
    questions = {
        name: reports.window(
            ctx,
            session.tenant_id,
            name,
            from_=asked.get("from") or None,
            to=asked.get("to") or None,
            currency=asked.get("currency") or None,
        )
        for name in names
    }
    opened = bootstrap.deps().facts.open(session.tenant_id)
    return {name: reports.run(opened, name, question) for name, question in questions.items()}


@router.get("/dashboard/<token>", include_in_schema=False)
def overview(token: str) -> Response[str]:
    session = _session(token)
    if isinstance(session, Response):
        return session
    logger.append_keys(tenant_id=session.tenant_id)
    lang = _lang(session)
    asked = {k: v.strip() for k, v in _query().items() if k in QUESTION}
    try:
        answers = _answers(session, asked, PAGE_REPORTS)
    except ValidationFailed as refused:
        frame = _frame(session, token, asked, lang, [])
        return page(422, "dashboard.html", lang, view=None, error=refused.code, **frame)
    except DomainError:
        raise
    except Exception:  # the facts cannot be read (no export bucket, S3 down): say so, not a 500
        logger.exception("the dashboard's reports could not be read")
        return message_page(503, lang, reports_unavailable=True)
    view = _view(answers)
    frame = _frame(session, token, asked, lang, view["currencies"])
    return page(200, "dashboard.html", lang, view=view, error=None, **frame)


def _frame(
    session: OpenDashboard, token: str, asked: dict[str, str], lang: str, currencies: list[str]
) -> dict[str, Any]:
    """What the page shows around the reports: the tenant, the form, the languages, the scripts."""
    tenant = bootstrap.deps().context.repo.tenant(session.tenant_id)
    chosen = asked.get("currency", "").lower()
    return {
        "currency_options": sorted(set(currencies) | ({chosen} if chosen.isalpha() and len(chosen) == 3 else set())),
        "tenant_name": tenant.name if tenant else "",
        "token": token,
        "asked": asked,
        "languages": list(BABEL_LOCALES),
        "chart_js": f"/dashboard/static/chart.umd.min.js?v={_version('chart.umd.min.js')}",
        "dashboard_js": f"/dashboard/static/dashboard.js?v={_version('dashboard.js')}",
        "session_expires_at": session.expires_at,
    }


def _view(answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the page shows, from the report answers: per currency, the aging totals, the top overdue customers, the
    last month's MRR, what was invoiced and collected, and the dunning funnel over the months asked."""
    aging, mrr, revenue, collections = (answers[n] for n in PAGE_REPORTS)
    currencies = sorted(
        {r["currency"] for r in aging["totals"]}
        | {r["currency"] for r in mrr["months"]}
        | {r["currency"] for r in revenue["months"]}
        | {r["currency"] for r in collections["months"]}
    )
    overdue: dict[str, list[dict[str, Any]]] = {}
    for row in aging["customers"]:
        late = row["total"] - row["not_due"]
        if late > 0:
            overdue.setdefault(row["currency"], []).append({**row, "overdue": late})
    top = {
        c: sorted(rows, key=lambda r: (-r["overdue"], r["customer_id"]))[:TOP_OVERDUE] for c, rows in overdue.items()
    }
    mrr_now = {}
    for row in mrr["months"]:
        mrr_now[row["currency"]] = row  # the rows run month by month: the last one stays
    funnel: dict[str, dict[str, int]] = {}
    flows: dict[str, dict[str, Any]] = {}
    for row in collections["months"]:
        f = funnel.setdefault(row["currency"], dict.fromkeys(_FUNNEL, 0))
        for key in _FUNNEL:
            f[key] += row[key]
    for row in revenue["months"]:
        f = flows.setdefault(row["currency"], {"invoiced": 0, "collected": 0})
        f["invoiced"] += row["invoiced"]
        f["collected"] += row["collected"]
    for f in flows.values():
        f["rate"] = percent(f["collected"], f["invoiced"])
    first = answers["aging"]
    through = first["data_through"]
    return {
        "answers": answers,
        "currencies": currencies,
        "from": first["from"],
        "to": first["to"],
        "start_date": date.fromisoformat(first["from"]),
        "end_date": date.fromisoformat(first["to"]),
        "last_month": date.fromisoformat(first["to"]).replace(day=1),
        "as_of": first["as_of"],
        "as_of_date": date.fromisoformat(first["as_of"]),
        "data_through": through,
        "data_through_at": _utc(datetime.fromisoformat(through)) if through else None,
        "aging_totals": aging["totals"],
        "top_overdue": top,
        "mrr_now": mrr_now,
        "flows": flows,
        "funnel": funnel,
        "exponents": {c: minor_unit_exponent(c) for c in currencies},
    }


def _utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


_FUNNEL = (
    "entered_dunning",
    "entered_dunning_amount",
    "recovered",
    "recovered_amount",
    "written_off",
    "written_off_amount",
)


@router.get("/dashboard/<token>/reports/<file_name>", include_in_schema=False)
def report_file(token: str, file_name: str) -> Response[str]:
    """One report as the API answers it (``<name>.json``), or one section of it as CSV (``<name>.csv``)."""
    session = _session(token)
    if isinstance(session, Response):
        return session
    name, _, kind = file_name.rpartition(".")
    if kind not in ("json", "csv") or name not in PAGE_REPORTS:
        return message_page(404, _lang(session), not_found=True)
    asked = {k: v.strip() for k, v in _query().items() if k in QUESTION}
    section = _query().get("section") or None
    try:
        answer = _answers(session, asked, (name,))[name]
        body = reports.as_csv(answer, section) if kind == "csv" else ""
        filename = reports.csv_file_name(answer, section)  # an unknown section is refused for JSON too
    except DomainError as refused:
        return from_domain(refused)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
    if kind == "json":
        return Response(200, "application/json", json.dumps(answer), headers)
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(200, "text/csv; charset=utf-8", body, headers)


@router.get("/dashboard/static/<file_name>", include_in_schema=False, compress=True)
def static_file(file_name: str) -> Response[str]:
    """The dashboard's scripts, cached for a year: the page names each with its content's digest (``?v=``)."""
    path = STATIC_FILES.get(file_name)
    if path is None or not path.is_file():
        if path is not None:
            logger.error("missing static file: run `make install`", path=str(path))
        return Response(404, "text/plain; charset=utf-8", "no such file", {"Cache-Control": "no-store"})
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    return Response(200, "text/javascript; charset=utf-8", _read(file_name), headers)


@cache
def _read(file_name: str) -> str:
    return STATIC_FILES[file_name].read_text(encoding="utf-8")


@cache
def _version(file_name: str) -> str:
    """The first 12 hex digits of the file's SHA-256 ("missing" when `make install` has not copied it)."""
    path = STATIC_FILES[file_name]
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"
