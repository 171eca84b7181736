"""The hosted invoice page: an unguessable link per invoice, and what the page shows and takes payment with.

The link is ``/pay/<tenant id>.<invoice id>.<secret>``, the secret being 192 random bits
(``secrets.token_urlsafe(24)``) made when the invoice is finalized (or, for an invoice finalized before that rule,
the first time the link is asked for); the API gives it as the invoice's ``hosted_invoice_url``, as Stripe does.
The tenant and invoice ids route the lookup to one GetItem; the secret is then compared in constant time. Anything
wrong is the same "not found", so a caller learns nothing about which part was wrong.

Choice: the secret is kept on the invoice as is (``Invoice.pay_token``), not as a digest. The link is a bearer link,
like Stripe's ``hosted_invoice_url`` (which Stripe also keeps and shows the merchant): every email about the invoice
(issued, reminder, receipt of a part payment) must be able to repeat it, so it has to be recoverable. Storing only
``sha256(secret)`` would make it a link shown once. The secret is 192 bits, so a digest would add nothing against
guessing; what it would protect against is someone reading the table, who could read the invoice itself anyway.
The tenant sees the token in the API's invoice (it is the merchant's own customer link).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing.domain.errors import NotFound
from billing.domain.ids import new_secret
from billing.services.unit import Context, retrying

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Invoice, Tenant

PATH_PREFIX = "/pay/"
_ID = r"[A-Za-z0-9_]{1,64}"
_TOKEN = re.compile(rf"(?P<tenant>{_ID})\.(?P<invoice>{_ID})\.(?P<secret>[A-Za-z0-9_-]{{16,128}})\Z")


def token_of(invoice: Invoice) -> str:
    assert invoice.pay_token, "the invoice has no pay token yet: use pay_link"
    return f"{invoice.tenant_id}.{invoice.id}.{invoice.pay_token}"


@retrying()
def pay_link(ctx: Context, tenant_id: str, invoice_id: str) -> str:
    """The path of the invoice's hosted page (``/pay/<token>``), making its secret on the first call. Concurrent
    first calls agree: the save is conditional on the version read, and the loser re-reads the winner's secret."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    if not invoice.pay_token:
        tx = ctx.repo.transaction()
        invoice = ctx.repo.save_invoice(tx, invoice.model_copy(update={"pay_token": new_secret()}))
        ctx.repo.commit(tx)
    return PATH_PREFIX + token_of(invoice)


def pay_url(invoice: Invoice, ctx: Context | None = None, base_url: str | None = None) -> str | None:
    """The absolute link for an email about ``invoice``: only while there is something to pay, and only where the
    public base URL is known (``PUBLIC_BASE_URL``). ``ctx`` and ``base_url`` default to the function's own: the
    email context is built without them."""
    if not invoice.payable:
        return None
    if base_url is None:
        base_url = _deps().env.get("PUBLIC_BASE_URL")
    if not base_url:
        return None
    if invoice.pay_token:
        return hosted_url(invoice, base_url)
    # an invoice finalized before links were made at finalization: its link is made now
    return base_url.rstrip("/") + pay_link(ctx or _deps().context, invoice.tenant_id, invoice.id)


def hosted_url(invoice: Invoice, base_url: str | None) -> str | None:
    """The invoice's hosted page, whatever its state (the page says paid, void or due), where its link exists and
    the public base URL is known; the API's ``hosted_invoice_url``."""
    if not invoice.pay_token or not base_url:
        return None
    return base_url.rstrip("/") + PATH_PREFIX + token_of(invoice)


def public_base_url() -> str | None:
    """Where the pages are reached from outside (``PUBLIC_BASE_URL``), for links in e-mails and PDFs."""
    return _deps().env.get("PUBLIC_BASE_URL") or None


def pdf_url(invoice: Invoice, base_url: str | None) -> str | None:
    """The invoice's PDF for whoever holds its link (``/pay/<token>/pdf``), from issue on."""
    url = hosted_url(invoice, base_url)
    return f"{url}/pdf" if url else None


def _deps() -> Any:
    from billing import bootstrap  # the composition root, imported late: it is built from this very layer

    return bootstrap.deps()


def find(ctx: Context, token: str) -> tuple[Tenant, Invoice]:
    """The invoice a token opens, with its tenant; ``NotFound`` for anything else, whichever part is wrong."""
    found = _TOKEN.match(token or "")
    invoice = None
    if found:
        try:
            invoice = ctx.repo.invoice(found["tenant"], found["invoice"])
        except NotFound:
            invoice = None
    # compare_digest takes as long whatever the secret's content; only its length (no secret) can show
    if found is None or invoice is None or not invoice.pay_token:
        raise NotFound("no_such_page", "no such page")
    if not hmac.compare_digest(invoice.pay_token.encode(), found["secret"].encode()):
        raise NotFound("no_such_page", "no such page")
    tenant = ctx.repo.tenant(invoice.tenant_id)
    if tenant is None:
        raise NotFound("no_such_page", "no such page")
    return tenant, invoice


@dataclass(frozen=True)
class Checkout:
    """What Stripe.js needs to take the payment on the page, or why it cannot now."""

    client_secret: str | None
    amount: int
    currency: str
    status: str  # ready | processing | unavailable


def checkout(ctx: Context, gateway: Any, invoice: Invoice) -> tuple[Invoice, Checkout]:
    """The PaymentIntent for the invoice's amount due (created once per amount due). If Stripe already has the
    money (a payment whose webhook has not arrived yet: the customer reloaded right after paying), the invoice is
    brought up to date now, by the same rule a webhook applies, so the page never offers to pay twice.

    A card form for the same version of the invoice is kept ``CHECKOUT_CACHE`` in the container: a page reloaded
    (or hammered, within its rate limits) asks Stripe nothing more in that time. Kept, a form paid meanwhile would
    be offered once more, to be refused by Stripe (the PaymentIntent has succeeded: no second charge); a webhook
    that records the payment changes the version, and so the form."""
    now, key = ctx.clock.now(), (invoice.tenant_id, invoice.id, invoice.version)
    kept = _checkouts.get(key)
    if kept is not None and kept[0] <= now < kept[0] + CHECKOUT_CACHE:
        return invoice, kept[1]
    invoice, made = _checkout(ctx, gateway, invoice)
    if made.status == "ready":
        if len(_checkouts) >= MAX_CHECKOUTS:
            _checkouts.pop(next(iter(_checkouts)), None)
        _checkouts[key] = (now, made)
    return invoice, made


CHECKOUT_CACHE = timedelta(seconds=5)  # less than anyone takes to type a card in and pay
MAX_CHECKOUTS = 1_000
_checkouts: dict[tuple[str, str, int], tuple[datetime, Checkout]] = {}  # per container, by invoice and version


def _checkout(ctx: Context, gateway: Any, invoice: Invoice) -> tuple[Invoice, Checkout]:
    # payments (and the subscriptions it follows) only where the page takes a payment: the document renderer
    # imports this module for ``hosted_url`` alone (docs/benchmarks.md, section 1)
    from billing.services import payments

    answer = payments.payment_intent_for(ctx, gateway, invoice.tenant_id, invoice.id)
    intent = gateway.payment_intent(answer.id)
    status = intent.get("status")
    if status == "canceled":  # canceled at Stripe (by hand): nothing to confirm until the amount due changes
        return invoice, Checkout(None, answer.amount, answer.currency, "unavailable")
    if status in ("succeeded", "processing", "requires_capture"):
        payments.apply_payment_intent(ctx, invoice.tenant_id, invoice.id, answer.payment_id, intent)
        current = ctx.repo.invoice(invoice.tenant_id, invoice.id)
        return current, Checkout(None, answer.amount, answer.currency, "processing")
    return invoice, Checkout(answer.client_secret, answer.amount, answer.currency, "ready")
