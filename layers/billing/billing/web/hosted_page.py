"""``GET /pay/{token}``: the hosted invoice page, server-rendered HTML in the customer's language, with a card form
(Stripe.js) while there is something to pay. Public (the token is the credential) and outside the OpenAPI document.
A wrong, garbled or foreign token is the same 404 page, whatever part was wrong. Headers: ``billing.web.pages``.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.actor import set_actor
from billing.domain.errors import NotFound
from billing.domain.models import Invoice, Tenant
from billing.i18n import language
from billing.services import hosted_page
from billing.services.hosted_page import Checkout
from billing.web.pages import (
    DEFAULT_STRIPE_JS_URL,
    HTML,
    accept_language,
    message_page,
    new_nonce,
    pdf_answer,
    render,
    security_headers,
)

logger = Logger(child=True)
router = APIGatewayHttpRouter()


def render_page(
    lang: str,
    nonce: str,
    stripe_js_url: str,
    tenant: Tenant,
    invoice: Invoice,
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
    return render(
        "hosted_invoice.html",
        lang,
        nonce=nonce,
        stripe_js_url=stripe_js_url,
        tenant=tenant,
        invoice=invoice,
        checkout=checkout,
        checkout_ready=ready,
        checkout_status=checkout.status if checkout else "unavailable",
        pay_config=pay_config,
        pdf_path=f"{hosted_page.PATH_PREFIX}{hosted_page.token_of(invoice)}/pdf" if invoice.pay_token else None,
    )


@router.get("/pay/<token>", include_in_schema=False)
def hosted_invoice(token: str) -> Response[str]:
    deps = bootstrap.deps()
    stripe_js_url = deps.env.get("STRIPE_JS_URL") or DEFAULT_STRIPE_JS_URL
    nonce = new_nonce()
    headers = security_headers(nonce, stripe_js_url)
    ctx = deps.context
    try:
        tenant, invoice = hosted_page.find(ctx, token)
    except NotFound:
        return message_page(404, accept_language(router.current_event.headers or {}), not_found=True)
    logger.append_keys(tenant_id=tenant.id, invoice_id=invoice.id)
    set_actor("customer", invoice.customer_id)  # the page's link is the invoice's customer's
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
    lang = language(invoice.customer_locale)
    body = render_page(lang, nonce, stripe_js_url, tenant, invoice, checkout, publishable_key)
    return Response(200, HTML, body, headers)


@router.get("/pay/<token>/pdf", include_in_schema=False)
def hosted_invoice_pdf(token: str) -> Response[str]:
    """The invoice's PDF for whoever holds its link (the link in every invoice email)."""
    deps = bootstrap.deps()
    try:
        _, invoice = hosted_page.find(deps.context, token)
    except NotFound:
        return message_page(404, accept_language(router.current_event.headers or {}), not_found=True)
    return pdf_answer(invoice.pdf_key, f"{invoice.number}.pdf", language(invoice.customer_locale))
