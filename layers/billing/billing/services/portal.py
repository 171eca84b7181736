"""The customer portal: a short-lived, single-customer session (like Stripe's billing portal session) that a
storefront opens for its signed-in customer, and what the portal shows in it.

A session's link is ``/portal/<tenant>.<session>.<secret>``; only a digest of the secret is stored. A link that is
wrong in any part is the same "no such page"; one whose session is over says so and asks for a new one. Everything
the portal shows is read for the session's customer only: an invoice or credit note of another customer is "no
such page" too, whatever id a tampered URL names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field

from billing.adapters import keys
from billing.adapters.repository import SignInSentAlready
from billing.domain.base_model import BaseModel
from billing.domain.dunning import PaymentPlan
from billing.domain.errors import NotFound
from billing.domain.models import SUPPORTED_LOCALES, CreditNote, Customer, DomainEvent, Invoice, Tenant
from billing.domain.profile import SellerProfile
from billing.domain.subscriptions import Subscription
from billing.i18n import language
from billing.services import sessions, settings
from billing.services.portal_links import PATH_PREFIX as PATH_PREFIX
from billing.services.portal_links import sign_in_url as sign_in_url
from billing.services.unit import SHOWN_ONCE, Claim, Context, remember, replayable

SESSION_LIFETIME = timedelta(hours=1)
KIND = sessions.Kind("portal", "bps", PATH_PREFIX, SESSION_LIFETIME)  # the link rule: billing.services.sessions
MAX_INVOICES = 500  # the newest ones: years of monthly bills


class CreatePortalSession(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    return_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="where the portal's back link goes (the storefront's account page)",
    )
    locale: Literal[SUPPORTED_LOCALES] | None = Field(  # type: ignore[valid-type]
        default=None, description="the portal's language; default: the customer's"
    )


class PortalSession(BaseModel):
    object: Literal["portal_session"] = "portal_session"
    id: str
    customer_id: str
    url: str | None = Field(
        description="open it for the signed-in customer; it works until expires_at; null in an Idempotency-Key "
        "replay (the link is never stored)",
        json_schema_extra={SHOWN_ONCE: True},
    )
    return_url: str | None
    locale: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OpenSession:
    tenant_id: str
    session_id: str
    customer_id: str
    locale: str
    return_url: str | None
    expires_at: datetime


def create_session(
    ctx: Context, tenant_id: str, customer_id: str, request: CreatePortalSession, base_url: str, claim: Claim | None
) -> PortalSession:
    customer = ctx.repo.customer(tenant_id, customer_id)
    locale = request.locale or customer.locale
    fields = {"customer_id": customer.id, "locale": locale, "return_url": request.return_url}
    tx = ctx.repo.transaction()
    issued = sessions.issue(ctx, tx, KIND, tenant_id, base_url, fields)
    answer = PortalSession(
        id=issued.session_id,
        customer_id=customer.id,
        url=issued.url,
        return_url=request.return_url,
        locale=locale,
        created_at=issued.created_at,
        expires_at=issued.expires_at,
    )
    remember(ctx, tx, tenant_id, claim, replayable(answer))
    ctx.repo.commit(tx)
    return answer


def open_session(ctx: Context, token: str) -> OpenSession:
    """The session a link opens; ``NotFound`` for a link wrong in any part, ``SessionExpired`` for one that was
    right but whose hour is over."""
    opened = sessions.open_session(ctx, KIND, token, "this portal link has expired")
    return OpenSession(
        tenant_id=opened.tenant_id,
        session_id=opened.session_id,
        customer_id=opened.record["customer_id"],
        locale=opened.record["locale"],
        return_url=opened.record.get("return_url"),
        expires_at=opened.expires_at,
    )


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass
class Overview:
    tenant: Tenant
    seller: SellerProfile
    customer: Customer
    invoices: list[Invoice]
    years: list[int]
    credit_notes: dict[str, list[CreditNote]]  # by invoice id
    plans: list[tuple[Invoice, PaymentPlan]]
    subscriptions: list[Subscription]
    card: Card | None
    card_unavailable: bool = False


def overview(ctx: Context, gateway: Any, session: OpenSession, year: int | None) -> Overview:
    """Everything the portal's page shows the session's customer, ``year`` filtering the bills."""
    tenant = ctx.repo.tenant(session.tenant_id)
    if tenant is None:
        raise NotFound("no_such_page", "no such page")
    customer = ctx.repo.customer(session.tenant_id, session.customer_id)
    issued = [i for i in _invoices(ctx, session) if i.issued_at is not None]
    years = sorted({i.issued_at.year for i in issued if i.issued_at}, reverse=True)
    shown = [i for i in issued if year is None or (i.issued_at and i.issued_at.year == year)]
    corrected = [i for i in shown if i.amount_refunded or i.amount_credited or i.amount_credited_to_balance]
    notes = {i.id: ctx.repo.credit_notes(session.tenant_id, i.id) for i in corrected}
    plans = [(i, i.dunning.plan) for i in issued if i.dunning.plan and i.dunning.plan.status == "active"]
    subscriptions = ctx.repo.customer_subscriptions(session.tenant_id, customer.id)
    card, unavailable = _card(gateway, customer)
    return Overview(
        tenant=tenant,
        seller=settings.profile(ctx, session.tenant_id),
        customer=customer,
        invoices=shown,
        years=years,
        credit_notes=notes,
        plans=plans,
        subscriptions=subscriptions,
        card=card,
        card_unavailable=unavailable,
    )


def _invoices(ctx: Context, session: OpenSession) -> list[Invoice]:
    out: list[Invoice] = []
    cursor = None
    while len(out) < MAX_INVOICES:
        page, cursor = ctx.repo.invoices(session.tenant_id, session.customer_id, None, 100, cursor)
        out.extend(page)
        if cursor is None:
            break
    return out[:MAX_INVOICES]


def _card(gateway: Any, customer: Customer) -> tuple[Card | None, bool]:
    """The customer's saved card as Stripe has it; (None, True) when Stripe cannot say now."""
    if not customer.default_payment_method:
        return None, False
    try:
        method = gateway.payment_method(customer.default_payment_method)
    except Exception:  # the rest of the portal is worth showing when Stripe is down
        return None, True
    card = method.get("card") or {}
    return Card(
        brand=str(card.get("brand") or "card"),
        last4=str(card.get("last4") or "????"),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
    ), False


def invoice_of(ctx: Context, session: OpenSession, invoice_id: str) -> Invoice:
    """One of the session's customer's issued invoices; "no such page" for anything else."""
    try:
        invoice = ctx.repo.invoice(session.tenant_id, invoice_id)
    except NotFound:
        invoice = None
    if invoice is None or invoice.customer_id != session.customer_id or invoice.issued_at is None:
        raise NotFound("no_such_page", "no such page")
    return invoice


def credit_note_of(ctx: Context, session: OpenSession, note_id: str) -> CreditNote:
    try:
        note = ctx.repo.credit_note_by_id(session.tenant_id, note_id)
    except NotFound:
        note = None
    if note is None or note.customer_id != session.customer_id:
        raise NotFound("no_such_page", "no such page")
    return note


# --- signing in by e-mail ----------------------------------------------------------------------------------------
SIGN_IN_WINDOW_MINUTES = 5  # at most one sign-in e-mail per customer per five minutes, however often it is asked
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def request_sign_in(ctx: Context, tenant_id: str, address: str, locale: str) -> bool:
    """Someone asks for a link to the portal of ``address``: recorded as an event (the notifier looks the address
    up and mails its customer a link). The same answer, and the same work here, whether the address is known or
    not: nothing tells who is a customer. False for something that is no e-mail address."""
    address = address.strip()
    if not EMAIL.match(address) or len(address) > 254:
        return False
    if ctx.repo.tenant(tenant_id) is None:
        return True  # no such tenant: the same answer
    now = ctx.clock.now()
    tx = ctx.repo.transaction()
    event = DomainEvent.new(
        "portal.sign_in_requested", tenant_id, "tenant", tenant_id, now, email=address, locale=language(locale)
    )
    ctx.repo.add_event(tx, keys.tenant(tenant_id), event)  # expires after retention.SIGN_IN_REQUEST
    ctx.repo.note_sign_in_request(tx, event, address)  # where an erasure of the address finds it
    ctx.repo.commit(tx)
    return True


def send_sign_in(ctx: Context, mailer: Any, event: DomainEvent, base_url: str | None) -> list[str]:
    """Mail a portal link to each customer of the tenant with the requested address (none: nothing is sent);
    the SES message ids. Each customer gets at most one per window; a suppressed address gets none."""
    from billing.notifications.render import render_email

    tenant = ctx.repo.tenant(event.tenant_id)
    address = str(event.data["email"])
    if tenant is None or not base_url or ctx.repo.suppression(event.tenant_id, address):
        return []
    seller_name, reply_to = settings.sender(ctx, tenant)
    sent = []
    window = event.occurred_at.replace(
        minute=event.occurred_at.minute - event.occurred_at.minute % SIGN_IN_WINDOW_MINUTES, second=0, microsecond=0
    )
    for customer in ctx.repo.customers_by_email(event.tenant_id, address):
        tx = ctx.repo.transaction()
        expires = int((window + timedelta(days=1)).timestamp())
        ctx.repo.mark_sign_in_sent(tx, event.tenant_id, customer.id, window.isoformat(), expires)
        try:
            ctx.repo.commit(tx)
        except SignInSentAlready:
            continue  # one went out in this window already (or this event was delivered twice)
        session = create_session(ctx, event.tenant_id, customer.id, CreatePortalSession(), base_url, None)
        lang = str(event.data.get("locale") or customer.locale)
        context = {"tenant_name": seller_name, "customer_name": customer.name, "sign_in_url": session.url}
        email = render_email("portal_sign_in", lang, context)
        tags = {"tenant_id": tenant.id, "customer_id": customer.id, "kind": "portal_sign_in"}
        sent.append(
            mailer.send(customer.email, email.subject, email.text, email.html, seller_name, reply_to, tags=tags)
        )
    return sent
