"""``GET /pay/{token}``: the hosted invoice page, server-rendered HTML in the customer's language, with a card form
(Stripe.js) while there is something to pay. Public (the token is the credential) and outside the OpenAPI document.

Every answer carries a Content-Security-Policy that allows this origin, the Stripe.js origin and one nonce per
answer (for the page's own style and script), plus ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``
(the link is a bearer link: it must not leak to Stripe.js or anywhere else in a Referer) and
``X-Robots-Tag: noindex``. A wrong, garbled or foreign token is the same 404 page, whatever part was wrong.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.domain.errors import NotFound
from billing.domain.models import Invoice, Tenant
from billing.services import hosted_page
from billing.services.hosted_page import Checkout

logger = Logger(child=True)
router = APIGatewayHttpRouter()

if TYPE_CHECKING:
    from jinja2 import Environment

# Jinja2 and Babel (≈120 ms of imports) load on the first /pay/… request, not in every API cold start.
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
def _environment(lang: str) -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from billing.i18n import format_date, format_money, format_number

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
    env.filters["number"] = lambda value: format_number(value, lang)
    return env


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(nonce: str, stripe_js_url: str) -> dict[str, str]:
    stripe = _origin(stripe_js_url)
    hosted = stripe == "https://js.stripe.com"
    script = f"{stripe} {STRIPE_HOSTED['script']}" if hosted else stripe
    connect = f"{stripe} {STRIPE_HOSTED['connect']}" if hosted else stripe
    frame = f"{stripe} {STRIPE_HOSTED['frame']}" if hosted else stripe
    policy = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' {script}",
        f"style-src 'self' 'nonce-{nonce}'",
        f"connect-src 'self' {connect}",
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


def render_page(
    lang: str,
    nonce: str,
    stripe_js_url: str,
    tenant: Tenant | None = None,
    invoice: Invoice | None = None,
    checkout: Checkout | None = None,
    publishable_key: str | None = None,
) -> str:
    from billing.i18n import messages

    t = messages(lang)
    ready = bool(checkout and checkout.status == "ready" and checkout.client_secret and publishable_key)
    pay_config = (
        {
            "publishableKey": publishable_key,
            "clientSecret": checkout.client_secret,
            "locale": lang,
            "messages": t["pay"]["js"],
        }
        if ready and checkout
        else None
    )
    return (
        _environment(lang)
        .get_template("hosted_invoice.html")
        .render(
            t=t,
            html_lang=t["html_lang"],
            nonce=nonce,
            stripe_js_url=stripe_js_url,
            tenant=tenant,
            invoice=invoice,
            checkout=checkout,
            checkout_ready=ready,
            checkout_status=checkout.status if checkout else "unavailable",
            pay_config=pay_config,
        )
    )


def _accept_language(headers: dict[str, str]) -> str:
    from billing.i18n import language

    value = next((v for k, v in headers.items() if k.lower() == "accept-language"), "")
    return language(value.split(",", 1)[0].split(";", 1)[0])


@router.get("/pay/<token>", include_in_schema=False)
def hosted_invoice(token: str) -> Response[str]:
    deps = bootstrap.deps()
    stripe_js_url = deps.env.get("STRIPE_JS_URL") or DEFAULT_STRIPE_JS_URL
    nonce = secrets.token_urlsafe(18)
    headers = security_headers(nonce, stripe_js_url)
    ctx = deps.context
    try:
        tenant, invoice = hosted_page.find(ctx, token)
    except NotFound:
        lang = _accept_language(router.current_event.headers or {})
        return Response(404, HTML, render_page(lang, nonce, stripe_js_url), headers)
    logger.append_keys(tenant_id=tenant.id, invoice_id=invoice.id)
    checkout: Checkout | None = None
    publishable_key = deps.env.get("STRIPE_PUBLISHABLE_KEY")
    if invoice.payable:
        if not publishable_key:
            logger.error("STRIPE_PUBLISHABLE_KEY is not set: the hosted page cannot take payments")
            checkout = Checkout(None, invoice.amount_due, invoice.currency, "unavailable")
        else:
            try:
                invoice, checkout = hosted_page.checkout(ctx, deps.stripe, invoice)
            except Exception:  # the invoice is still worth showing when Stripe (or SSM) is down
                logger.exception("no PaymentIntent for the hosted invoice page")
                checkout = Checkout(None, invoice.amount_due, invoice.currency, "unavailable")
    from billing.i18n import language

    lang = language(invoice.customer_locale)
    body = render_page(lang, nonce, stripe_js_url, tenant, invoice, checkout, publishable_key)
    return Response(200, HTML, body, headers)
