"""``/portal/{token}``: the customer portal, server-rendered in the customer's language (or the one they switch to):
their invoices and credit notes with PDFs, paying what is open (the hosted page's flow), the saved card and replacing
it, an active payment plan, their subscriptions. Readable without JavaScript; Stripe.js only on the card page.

``POST /v1/customers/{id}/portal_sessions`` (billing.api.routes) makes the link; see billing.services.portal for
what a link opens. Every wrong link, and every id of another customer's document, is the same 404 page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.actor import set_actor
from billing.domain.errors import NotFound
from billing.i18n import BABEL_LOCALES, language
from billing.services import hosted_page, payments, portal, settings
from billing.services.portal import OpenSession
from billing.services.sessions import SessionExpired
from billing.web.pages import accept_language, message_page, page, pdf_answer

logger = Logger(child=True)
router = APIGatewayHttpRouter()
TENANT_ID = re.compile(r"[A-Za-z0-9_]{1,64}\Z")


def _query(name: str) -> str | None:
    return (router.current_event.query_string_parameters or {}).get(name)


def _session(token: str) -> OpenSession | Response[str]:
    """The open session, or the page that says why there is none."""
    try:
        session = portal.open_session(bootstrap.deps().context, token)
    except SessionExpired as expired:
        lang = accept_language(router.current_event.headers or {})
        return message_page(410, lang, return_url=expired.extra.get("return_url"))
    except NotFound:
        return _not_found()
    set_actor("customer", session.customer_id)  # what the portal changes, its signed-in customer does
    return session


def _not_found() -> Response[str]:
    return message_page(404, accept_language(router.current_event.headers or {}), not_found=True)


def _lang(session: OpenSession) -> str:
    asked = _query("lang")
    return asked if asked in BABEL_LOCALES else language(session.locale)


@router.get("/portal/<token>", include_in_schema=False)
def overview(token: str) -> Response[str]:
    session = _session(token)
    if isinstance(session, Response):
        return session
    logger.append_keys(tenant_id=session.tenant_id, customer_id=session.customer_id)
    deps = bootstrap.deps()
    year_asked = _query("year")
    year = int(year_asked) if year_asked and year_asked.isdigit() and len(year_asked) == 4 else None
    view = portal.overview(deps.context, _stripe_or_none(), session, year)
    pay_paths = {i.id: hosted_page.pay_link(deps.context, session.tenant_id, i.id) for i in view.invoices if i.payable}
    return page(
        200,
        "portal.html",
        _lang(session),
        view=view,
        session=session,
        token=token,
        year=year,
        pay_paths=pay_paths,
        languages=list(BABEL_LOCALES),
    )


def _stripe_or_none() -> Any:
    """Stripe, for the card's details; the portal shows the rest without it."""
    try:
        return bootstrap.deps().stripe
    except Exception:  # no key in SSM, SSM down: the card section says it cannot show the card
        logger.exception("Stripe is not available to the portal")
        return None


@router.get("/portal/<token>/card", include_in_schema=False)
def card(token: str) -> Response[str]:
    session = _session(token)
    if isinstance(session, Response):
        return session
    deps = bootstrap.deps()
    lang = _lang(session)
    publishable_key = deps.env.get("STRIPE_PUBLISHABLE_KEY")
    setup = None
    if publishable_key:
        try:
            setup = payments.create_setup_intent(deps.context, deps.stripe, session.tenant_id, session.customer_id)
        except Exception:
            logger.exception("no SetupIntent for the portal's card page")
    from billing.i18n import messages

    t = messages(lang)["portal"]
    config = (
        {
            "publishableKey": publishable_key,
            "clientSecret": setup.client_secret,
            "locale": lang,
            "messages": {
                "processing": t["card_processing"],
                "succeeded": t["card_saved"],
                "failed": t["card_failed"],
                "unavailable": t["card_js_unavailable"],
            },
        }
        if setup
        else None
    )
    tenant = deps.context.repo.tenant(session.tenant_id)
    return page(200, "portal_card.html", lang, stripe_js=bool(setup), token=token, tenant=tenant, card_config=config)


@router.get("/portal/<token>/invoices/<invoice_id>/pdf", include_in_schema=False)
def invoice_pdf(token: str, invoice_id: str) -> Response[str]:
    session = _session(token)
    if isinstance(session, Response):
        return session
    deps = bootstrap.deps()
    try:
        invoice = portal.invoice_of(deps.context, session, invoice_id)
    except NotFound:
        return _not_found()
    return pdf_answer(invoice.pdf_key, f"{invoice.number}.pdf", _lang(session))


@router.get("/portal/<token>/credit_notes/<credit_note_id>/pdf", include_in_schema=False)
def credit_note_pdf(token: str, credit_note_id: str) -> Response[str]:
    session = _session(token)
    if isinstance(session, Response):
        return session
    deps = bootstrap.deps()
    try:
        note = portal.credit_note_of(deps.context, session, credit_note_id)
    except NotFound:
        return _not_found()
    return pdf_answer(note.pdf_key, f"{note.number}.pdf", _lang(session))


# --- signing in by e-mail (the "view all your invoices" link of every e-mail) -----------------------------------
def _form() -> dict[str, str]:
    event = router.current_event
    raw = event.decoded_body or ""
    return {k: v[0] for k, v in parse_qs(raw, max_num_fields=10).items()}


@router.get("/portal/<tenant_id>/sign-in", include_in_schema=False)
def sign_in_form(tenant_id: str) -> Response[str]:
    ctx = bootstrap.deps().context
    tenant = ctx.repo.tenant(tenant_id) if TENANT_ID.match(tenant_id) else None
    lang = _query("lang") if _query("lang") in BABEL_LOCALES else accept_language(router.current_event.headers or {})
    if tenant is None:
        return message_page(404, lang, not_found=True)
    name, _ = settings.sender(ctx, tenant)
    return page(200, "portal_sign_in.html", lang, tenant_name=name, state="ask", email="")


@router.post("/portal/<tenant_id>/sign-in", include_in_schema=False)
def sign_in(tenant_id: str) -> Response[str]:
    deps = bootstrap.deps()
    form = _form()
    lang = form.get("lang") if form.get("lang") in BABEL_LOCALES else "en"
    tenant = deps.context.repo.tenant(tenant_id) if TENANT_ID.match(tenant_id) else None
    if tenant is None:
        return message_page(404, lang, not_found=True)
    address = form.get("email", "").strip()[:254]
    name, _ = settings.sender(deps.context, tenant)
    if not portal.request_sign_in(deps.context, tenant.id, address, lang):
        return page(422, "portal_sign_in.html", lang, tenant_name=name, state="bad_email", email=address)
    return page(200, "portal_sign_in.html", lang, tenant_name=name, state="sent", email=address)
