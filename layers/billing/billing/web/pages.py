"""What every page shares: the template environment (one layout, the catalogue's texts, the Babel filters) and the
security headers of every answer.

Every answer carries a Content-Security-Policy that allows this origin and one nonce per answer (for the page's own
style and script), and the Stripe.js origin on the pages that load Stripe.js only, plus ``Cache-Control: no-store``,
``Referrer-Policy: no-referrer`` (the links are bearer links: they must not leak to Stripe.js or anywhere else in a
Referer) and ``X-Robots-Tag: noindex``.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from jinja2 import Environment

# Jinja2 and Babel (≈120 ms of imports) load on the first page request, not in every API cold start.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"
HTML = "text/html; charset=utf-8"
# What Stripe documents for Stripe.js besides its own origin: its API, its 3-D Secure frames and its sub-origins.
STRIPE_HOSTED = {
    "script": "https://*.js.stripe.com",
    "connect": "https://api.stripe.com",
    "frame": "https://*.js.stripe.com https://hooks.stripe.com",
}


@cache
def environment(lang: str) -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from billing.i18n import (
        discounts,
        format_date,
        format_money,
        format_month,
        format_number,
        format_percent,
        messages,
        taxes,
    )

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["money"] = lambda amount, currency: format_money(amount, currency, lang)
    env.filters["date"] = lambda value: format_date(value, lang)
    env.filters["month"] = lambda value: format_month(value, lang)
    env.filters["percent"] = lambda value: format_percent(value, lang)
    env.filters["number"] = lambda value: format_number(value, lang)
    env.globals["t"] = messages(lang)
    env.globals["lang"] = lang
    env.globals["taxes"] = lambda invoice: taxes.texts(invoice, lang)  # an invoice's tax texts (billing.i18n.taxes)
    env.globals["discounts"] = lambda invoice: discounts.rows(invoice, lang)  # its discount lines, named
    return env


def render(template: str, lang: str, **context: Any) -> str:
    return environment(lang).get_template(template).render(**context)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(nonce: str, stripe_js_url: str | None) -> dict[str, str]:
    """The headers of every page; ``stripe_js_url`` None for a page that loads no Stripe.js (the portal's overview,
    the dashboard): its policy names no origin but this one."""
    script = connect = ""
    frame = "'none'"
    if stripe_js_url is not None:
        stripe = _origin(stripe_js_url)
        hosted = stripe == "https://js.stripe.com"
        script = f" {stripe} {STRIPE_HOSTED['script']}" if hosted else f" {stripe}"
        connect = f" {stripe} {STRIPE_HOSTED['connect']}" if hosted else f" {stripe}"
        frame = f"{stripe} {STRIPE_HOSTED['frame']}" if hosted else stripe
    policy = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'{script}",
        f"style-src 'self' 'nonce-{nonce}'",
        f"connect-src 'self'{connect}",
        f"frame-src {frame}",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return {
        "Content-Security-Policy": "; ".join(policy),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def accept_language(headers: dict[str, str]) -> str:
    """The supported language the browser asks for first (English otherwise)."""
    from billing.i18n import language

    value = next((v for k, v in headers.items() if k.lower() == "accept-language"), "")
    return language(value.split(",", 1)[0].split(";", 1)[0])


def page(status: int, template: str, lang: str, *, stripe_js: bool = False, **context: Any) -> Any:
    """An answer of ``template`` in ``lang``, with this answer's nonce and the security headers."""
    from aws_lambda_powertools.event_handler import Response

    from billing import bootstrap

    stripe_js_url = (bootstrap.deps().env.get("STRIPE_JS_URL") or DEFAULT_STRIPE_JS_URL) if stripe_js else None
    nonce = new_nonce()
    body = render(template, lang, nonce=nonce, stripe_js_url=stripe_js_url, **context)
    return Response(status, HTML, body, security_headers(nonce, stripe_js_url))


def message_page(status: int, lang: str, **what: Any) -> Any:
    """A page that only says something: ``not_found``, ``pdf_pending`` or (neither) an expired portal link."""
    return page(status, "message.html", lang, **what)


def pdf_answer(pdf_key: str | None, filename: str, lang: str) -> Any:
    """A redirect to a short-lived link to the PDF at ``pdf_key``, or a page asking to come back while it renders."""
    from aws_lambda_powertools.event_handler import Response

    from billing import bootstrap
    from billing.services.documents import RETRY_AFTER_SECONDS

    if not pdf_key:
        answer = message_page(503, lang, pdf_pending=True)
        answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return answer
    url = bootstrap.deps().documents.link(pdf_key, filename)
    return Response(
        302, "text/plain", "", {"Location": url, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )
