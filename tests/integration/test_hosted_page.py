"""The hosted invoice page (GET /pay/{token}) through the API handler on moto, with a fake Stripe gateway.

What a customer's browser gets: the invoice in the customer's language with Babel-formatted amounts and dates, a
Stripe.js card form while there is something to pay, the paid and void states, one 404 for every wrong link, the
security headers, and hostile names escaped. The link itself: made once, kept, and put in the emails.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import date
from typing import Any

import pytest

from billing.bootstrap import Deps
from billing.domain.models import DomainEvent
from billing.i18n import format_date, format_money
from billing.services import hosted_page, notifications, tenants
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event

STRIPE_JS = "https://js.stripe.com/v3/"
PK = "pk_test_hosted"
BASE = "https://pay.example.com"


class FakeStripe:
    """The two calls the page makes: create a PaymentIntent (once per idempotency key, as Stripe does) and read one.
    ``fail`` makes every call raise, as Stripe does when it is unreachable."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail = False

    def create_payment_intent(self, payment: Any, stripe_customer_id: str | None) -> dict[str, Any]:
        self.calls.append("create_payment_intent")
        if self.fail:
            raise ConnectionError("stripe is unreachable")
        if payment.id not in self.by_key:
            pi = f"pi_{uuid.uuid4().hex[:24]}"
            self.intents[pi] = {
                "id": pi,
                "object": "payment_intent",
                "client_secret": f"{pi}_secret_{uuid.uuid4().hex[:16]}",
                "amount": payment.amount,
                "currency": payment.currency,
                "status": "requires_payment_method",
                "metadata": {
                    "tenant_id": payment.tenant_id,
                    "invoice_id": payment.invoice_id,
                    "payment_id": payment.id,
                },
            }
            self.by_key[payment.id] = pi
        return dict(self.intents[self.by_key[payment.id]])

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        self.calls.append("payment_intent")
        if self.fail:
            raise ConnectionError("stripe is unreachable")
        return dict(self.intents[payment_intent_id])

    def cancel_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        self.calls.append("cancel_payment_intent")
        intent = self.intents[payment_intent_id]
        if intent["status"] in ("requires_payment_method", "requires_confirmation", "requires_action"):
            intent["status"] = "canceled"
        return dict(intent)

    def pay(self, payment_intent_id: str) -> None:
        """What Stripe.js does when the customer confirms a good card."""
        intent = self.intents[payment_intent_id]
        intent.update(status="succeeded", amount_received=intent["amount"])


@pytest.fixture
def gateway(deps: Deps) -> FakeStripe:
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake  # cached_property slot, like the clock
    deps.env.update(STRIPE_JS_URL=STRIPE_JS, STRIPE_PUBLISHABLE_KEY=PK, PUBLIC_BASE_URL=BASE)
    return fake


def call(method: str, path: str, key: str | None = None, body: Any = None, headers: dict[str, str] | None = None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], answer.get("body") or "", {k.lower(): v for k, v in answer["headers"].items()}


def api(method: str, path: str, key: str, body: Any = None) -> dict[str, Any]:
    status, text, _ = call(method, path, key, body)
    assert status in (200, 201), text
    return json.loads(text)


def invoice_for(key: str, locale: str = "en", currency: str = "usd", name: str = "Ana Lima", **order: Any):
    customer = api(
        "POST",
        "/v1/customers",
        key,
        {"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": name, "locale": locale, "currency": currency},
    )
    body = {
        "customer_id": customer["id"],
        "currency": currency,
        "collection_method": "send_invoice",
        "days_until_due": 14,
        "lines": [
            {"description": "Pro plan", "quantity": 2, "unit_amount": 123450, "tax_rate_percent": "8.25"},
            {"description": "Extra seats", "quantity": 3, "unit_amount": 1200},
        ],
        **order,
    }
    placed = api("POST", "/v1/orders", key, body)
    return api("GET", f"/v1/invoices/{placed['invoice_id']}", key)


def link(deps: Deps, invoice: dict[str, Any]) -> str:
    return hosted_page.pay_link(deps.context, invoice["tenant_id"], invoice["id"])


def text_of(page: str) -> str:
    """The page's visible text, whitespace collapsed (Babel puts no-break spaces in ru amounts)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def spaced(value: str) -> str:
    return re.sub(r"\s+", " ", value)


# --- the page in three languages -----------------------------------------------------------------------------------
LABELS = {
    "en": ["Invoice", "Amount due", "Subtotal", "Discount", "Tax", "Total", "Amount paid", "Issued", "Due date"],
    "zh": ["发票", "应付金额", "小计", "折扣", "税费", "合计", "已付金额", "开票日期", "到期日"],
    "ru": ["Счёт", "К оплате", "Промежуточный итог", "Скидка", "Налог", "Итого", "Оплачено", "Срок оплаты"],
}
HTML_LANG = {"en": "en", "zh": "zh-CN", "ru": "ru"}
PAY_BUTTON = {"en": "Pay {}", "zh": "支付 {}", "ru": "Оплатить {}"}


@pytest.mark.parametrize(("locale", "currency"), [("en", "usd"), ("zh", "cny"), ("ru", "rub")])
def test_the_page_shows_the_invoice_in_the_customers_language_and_takes_a_card(deps, gateway, key, locale, currency):
    invoice = invoice_for(key, locale, currency, discount={"percent_off": "10"})
    status, page, headers = call("GET", link(deps, invoice))  # no API key: the token is the credential
    assert status == 200, page
    assert headers["content-type"].startswith("text/html")
    shown = text_of(page)
    money = {k: spaced(format_money(invoice[k], currency, locale)) for k in ("subtotal", "tax", "total", "amount_due")}
    assert invoice["number"] in shown and "Acme Cloud" in shown and "Ana Lima" in shown
    for label in LABELS[locale]:
        assert label in shown, label
    for name, amount in money.items():
        assert amount in shown, (name, amount)
    assert spaced(format_money(-invoice["discount"], currency, locale)) in shown
    assert spaced(format_money(0, currency, locale)) in shown  # amount paid
    assert spaced(format_money(123450, currency, locale)) in shown  # unit price
    assert spaced(format_money(246900, currency, locale)) in shown  # line amount
    assert spaced(format_date(date.fromisoformat(invoice["due_date"]), locale)) in shown
    assert PAY_BUTTON[locale].format(money["amount_due"]) in shown
    assert f'<html lang="{HTML_LANG[locale]}">' in page
    # Stripe.js and what it needs: the publishable key and the PaymentIntent's client secret, for the amount due
    assert f'<script src="{STRIPE_JS}"' in page
    [intent] = gateway.intents.values()
    assert intent["amount"] == invoice["amount_due"] and intent["currency"] == currency
    config = json.loads(re.search(r'<script type="application/json" id="pay-config">(.*?)</script>', page, re.S)[1])
    assert config["publishableKey"] == PK and config["clientSecret"] == intent["client_secret"]
    assert config["locale"] == locale
    assert "stripe.confirmCardPayment(config.clientSecret, {payment_method: {card: card}})" in page


def test_the_english_page_reads_as_a_customer_sees_it(deps, gateway, key):
    invoice = invoice_for(key, "en", "usd")
    shown = text_of(call("GET", link(deps, invoice))[1])
    assert "Subtotal $2,505.00" in shown and "Tax $203.69" in shown and "Total $2,708.69" in shown
    assert "Amount paid $0.00" in shown and "Amount due $2,708.69" in shown
    assert "Issued November 23, 2026" in shown and "Due date December 7, 2026" in shown
    assert "Pro plan 2 $1,234.50 Tax 8.25% $2,469.00" in shown and "Extra seats 3 $12.00 0% $36.00" in shown
    assert "Tax summary Tax 8.25% on $2,469.00: $203.69" in shown
    assert "Pay $2,708.69" in shown and "Open" in shown


def test_viewing_again_reuses_the_payment_intent(deps, gateway, key):
    invoice = invoice_for(key)
    path = link(deps, invoice)
    first, again = call("GET", path)[1], call("GET", path)[1]
    assert len(gateway.intents) == 1 and gateway.calls.count("create_payment_intent") == 1
    secret = next(iter(gateway.intents.values()))["client_secret"]
    assert secret in first and secret in again


def test_a_page_reloaded_within_seconds_asks_stripe_nothing_more(deps, gateway, key, clock):
    invoice = invoice_for(key)
    path = link(deps, invoice)
    call("GET", path)
    asked = len(gateway.calls)
    pages = [call("GET", path) for _ in range(5)]  # a hammered link (within its rate limits)
    assert len(gateway.calls) == asked and all(status == 200 and "pay-config" in page for status, page, _ in pages)
    clock.advance(hosted_page.CHECKOUT_CACHE)
    assert call("GET", path)[0] == 200 and len(gateway.calls) > asked  # then Stripe is asked again


# --- the link ------------------------------------------------------------------------------------------------------
def test_the_link_is_made_once_and_kept(deps, gateway, key, tenant_id):
    invoice = invoice_for(key)
    path = link(deps, invoice)
    assert path == link(deps, invoice)  # the same link every time: every email repeats it
    token = path.removeprefix("/pay/")
    tenant_part, invoice_part, secret = token.split(".")
    assert (tenant_part, invoice_part) == (tenant_id, invoice["id"]) and len(secret) == 32
    assert deps.context.repo.invoice(tenant_id, invoice["id"]).pay_token == secret


def without_link(deps, tenant_id, invoice):
    """The invoice as one finalized before links were made at finalization: no secret yet."""
    repo = deps.context.repo
    tx = repo.transaction()
    repo.save_invoice(tx, repo.invoice(tenant_id, invoice["id"]).model_copy(update={"pay_token": None}))
    repo.commit(tx)
    return invoice


def test_an_invoice_has_its_link_from_finalization_and_the_api_gives_it(deps, gateway, key, tenant_id):
    invoice = invoice_for(key)
    stored = deps.context.repo.invoice(tenant_id, invoice["id"])
    assert stored.pay_token and invoice["hosted_invoice_url"] == BASE + "/pay/" + hosted_page.token_of(stored)
    assert link(deps, invoice) == invoice["hosted_invoice_url"].removeprefix(BASE)  # the link asked for is that one
    assert call("GET", invoice["hosted_invoice_url"].removeprefix(BASE))[0] == 200


def test_concurrent_first_calls_agree_on_one_link(deps, gateway, key, tenant_id, monkeypatch):
    invoice = without_link(deps, tenant_id, invoice_for(key))
    repo = deps.context.repo
    stale = repo.invoice(tenant_id, invoice["id"])
    winner = link(deps, invoice)
    # a second caller read the invoice before the first one saved its secret: its versioned write loses, it
    # re-reads, and it answers the link the first one made
    reads = iter([stale])
    real = repo.invoice
    monkeypatch.setattr(repo, "invoice", lambda t, i: next(reads, None) or real(t, i))
    assert hosted_page.pay_link(deps.context, tenant_id, invoice["id"]) == winner
    assert next(reads, "used") == "used"  # the stale read was the one that lost
    monkeypatch.undo()
    assert repo.invoice(tenant_id, invoice["id"]).version == stale.version + 1  # one write: the winner's


def test_emails_carry_the_link_while_there_is_something_to_pay(deps, gateway, key, tenant_id):
    invoice = invoice_for(key)
    tenant = deps.context.repo.tenant(tenant_id)
    context = notifications.email_context(tenant, deps.context.repo.invoice(tenant_id, invoice["id"]))
    assert context["pay_url"] == BASE + link(deps, invoice)
    assert call("GET", context["pay_url"].removeprefix(BASE))[0] == 200
    api("POST", f"/v1/invoices/{invoice['id']}/void", key)
    voided = deps.context.repo.invoice(tenant_id, invoice["id"])
    assert notifications.email_context(tenant, voided)["pay_url"] is None


def test_the_invoice_issued_email_links_to_the_page(deps, gateway, key, tenant_id):
    invoice = invoice_for(key, "ru", "rub")
    sent: list[tuple[str, ...]] = []

    class Mailer:
        def send(self, to, subject, text, html_body, from_name, reply_to, tags=None):
            sent.append((to, text, html_body))
            return "msg-1"

    event = DomainEvent.new(
        "invoice.finalized", tenant_id, "invoice", invoice["id"], deps.clock.now(), number=invoice["number"]
    )
    assert notifications.notify(deps.context, Mailer(), event) == "msg-1"
    [(_, text, html_body)] = sent
    url = BASE + link(deps, invoice)
    assert f"Оплатить счёт: {url}" in text and f'href="{url}"' in html_body


def test_without_a_public_base_url_emails_have_no_link(deps, gateway, key, tenant_id):
    deps.env.pop("PUBLIC_BASE_URL")
    invoice = deps.context.repo.invoice(tenant_id, without_link(deps, tenant_id, invoice_for(key))["id"])
    assert hosted_page.pay_url(invoice) is None
    assert deps.context.repo.invoice(tenant_id, invoice.id).pay_token is None  # nothing made for nothing
    assert api("GET", f"/v1/invoices/{invoice.id}", key)["hosted_invoice_url"] is None


# --- wrong links ---------------------------------------------------------------------------------------------------
def test_every_wrong_link_is_the_same_404_page(deps, gateway, key, tenant_id):
    invoice = invoice_for(key)
    never_linked = invoice_for(key)
    token = link(deps, invoice).removeprefix("/pay/")
    t, i, secret = token.split(".")
    other_tenant, other_key = tenants.create_tenant(deps.context, "Other Co")
    theirs = link(deps, invoice_for(other_key)).removeprefix("/pay/")
    ot, oi, osecret = theirs.split(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    wrong = [
        f"{t}.{i}.{flipped}",  # one character off
        f"{t}.{i}.{secret[:-1]}",  # one character short
        f"{t}.{i}.{secret}x",
        f"{t}.{i}",
        f"{t}.{i}.",
        f"{t}..{secret}",
        f"{t}.{never_linked['id']}.{secret}",  # an invoice with no link yet
        f"{t}.in_NOPE.{secret}",
        f"ten_nope.{i}.{secret}",
        f"{ot}.{i}.{secret}",  # my invoice under another tenant's id
        f"{t}.{oi}.{osecret}",  # another tenant's invoice and secret under my tenant's id
        f"{t}.{oi}.{secret}",
        "garbage",
        "a.b.c.d",
        "%3Cscript%3E",
        "x" * 500,
    ]
    pages = []
    for bad in wrong:
        status, page, headers = call("GET", f"/pay/{bad}")
        assert status == 404, bad
        assert headers["content-type"].startswith("text/html")
        assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
        pages.append(re.sub(r"nonce=\"[^\"]+\"", "", page))
    assert len(set(pages)) == 1  # nothing tells which part was wrong
    assert "Page not found" in pages[0] and "<script" not in pages[0]
    assert call("GET", f"/pay/{theirs}")[0] == 200 and call("GET", f"/pay/{token}")[0] == 200
    assert other_tenant.id == ot


def test_the_404_page_speaks_the_browsers_language(deps, gateway):
    status, page, _ = call("GET", "/pay/nope", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert status == 404 and "Страница не найдена" in page


# --- states --------------------------------------------------------------------------------------------------------
def test_a_paid_invoice_says_thank_you_and_offers_no_form(deps, gateway, key, clock):
    invoice = invoice_for(key, "zh", "cny")
    path = link(deps, invoice)
    call("GET", path)
    [pi] = gateway.intents
    clock.advance(hosted_page.CHECKOUT_CACHE)  # typing a card in takes longer than the page's form is kept
    gateway.pay(pi)  # the customer paid with Stripe.js; the webhook has not arrived yet
    status, page, _ = call("GET", path)  # the reload after paying
    assert status == 200
    shown = text_of(page)
    assert "已支付，谢谢！" in shown and "已支付" in shown
    assert spaced(format_money(invoice["total"], "cny", "zh")) in shown
    assert "<script" not in page and "pay-form" not in page
    paid = api("GET", f"/v1/invoices/{invoice['id']}", key)  # the page applied Stripe's word, as a webhook would
    assert paid["status"] == "paid" and paid["amount_paid"] == invoice["total"] and paid["amount_due"] == 0
    assert len(gateway.intents) == 1


def test_an_invoice_paid_at_issue_needs_no_payment_intent(deps, gateway, key):
    invoice = invoice_for(key, lines=[{"description": "Free tier", "quantity": 1, "unit_amount": 0}])
    assert invoice["status"] == "paid"
    status, page, _ = call("GET", link(deps, invoice))
    assert status == 200 and "Paid — thank you!" in text_of(page)
    assert gateway.calls == [] and "<script" not in page


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [("en", "This invoice was voided."), ("zh", "本发票已作废。"), ("ru", "Этот счёт аннулирован.")],
)
def test_a_void_invoice_says_so(deps, gateway, key, locale, sentence):
    invoice = invoice_for(key, locale)
    path = link(deps, invoice)
    api("POST", f"/v1/invoices/{invoice['id']}/void", key)
    status, page, _ = call("GET", path)
    assert status == 200 and sentence in text_of(page)
    assert "<script" not in page and "pay-form" not in page
    assert gateway.calls == []


def test_when_stripe_is_down_the_invoice_still_shows(deps, gateway, key):
    invoice = invoice_for(key)
    gateway.fail = True
    status, page, _ = call("GET", link(deps, invoice))
    shown = text_of(page)
    assert status == 200 and invoice["number"] in shown and "$2,708.69" in shown
    assert "Paying online is not available right now." in shown and "<script" not in page


def test_without_a_publishable_key_there_is_no_form(deps, gateway, key):
    deps.env.pop("STRIPE_PUBLISHABLE_KEY")
    status, page, _ = call("GET", link(deps, invoice_for(key)))
    assert status == 200 and "Paying online is not available right now." in text_of(page)
    assert gateway.calls == [] and "<script" not in page


# --- headers and escaping ------------------------------------------------------------------------------------------
def test_security_headers(deps, gateway, key):
    status, page, headers = call("GET", link(deps, invoice_for(key)))
    assert status == 200
    csp = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"])[1]
    assert csp["default-src"] == "'self'"
    assert csp["script-src"].split() == [
        "'self'",
        f"'nonce-{nonce}'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
    ]
    assert csp["style-src"] == f"'self' 'nonce-{nonce}'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in headers["content-security-policy"]
    # every script and style on the page runs by that nonce (or comes from Stripe.js's origin), none inline otherwise
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", page):
        assert f'nonce="{nonce}"' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle=|\son[a-z]+=", page)
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-robots-tag"].startswith("noindex")
    assert headers["x-content-type-options"] == "nosniff"
    again = call("GET", link(deps, invoice_for(key)))[2]["content-security-policy"]
    assert again != headers["content-security-policy"]  # a new nonce for every answer


def test_the_csp_follows_the_stripe_js_origin(deps, gateway, key):
    deps.env["STRIPE_JS_URL"] = "http://127.0.0.1:8420/js.stripe.com/v3/"
    status, page, headers = call("GET", link(deps, invoice_for(key)))
    assert '<script src="http://127.0.0.1:8420/js.stripe.com/v3/"' in page
    csp = headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "http://127.0.0.1:8420;" in csp
    assert "stripe.com" not in csp


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_names_are_escaped(deps, gateway, key):
    invoice = invoice_for(
        key,
        name=HOSTILE,
        lines=[{"description": f"{HOSTILE} & {{{{ 7*7 }}}} {{}}", "quantity": 1, "unit_amount": 500}],
    )
    status, page, _ = call("GET", link(deps, invoice))
    assert status == 200
    assert HOSTILE not in page and "<img" not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    shown = text_of(page)
    assert HOSTILE in shown and "{{ 7*7 }} {}" in shown and "49" not in shown
    assert len(re.findall(r"<script\b", page)) == 3  # Stripe.js, the config (JSON) and the page's own


def test_a_hostile_tenant_name_is_escaped_too(deps, gateway):
    _, other_key = tenants.create_tenant(deps.context, HOSTILE)
    status, page, _ = call("GET", link(deps, invoice_for(other_key)))
    assert status == 200 and HOSTILE not in page and HOSTILE in text_of(page)


def test_the_page_is_documented_as_it_answers(deps, gateway, key):
    """The document describes the page (issue 10: a storefront builds its "Pay now" on it): no API key, the token's
    shape, HTML answers. A real link fits the documented pattern and answers the documented HTML."""
    status, body, _ = call("GET", "/openapi.json")
    operation = json.loads(body)["paths"]["/pay/{token}"]["get"]
    assert status == 200 and operation["security"] == []  # the token is the credential, not the API key
    assert set(operation["responses"]) == {"200", "404"}
    assert all(set(r["content"]) == {"text/html"} for r in operation["responses"].values())
    token = link(deps, invoice_for(key)).removeprefix("/pay/")
    assert re.fullmatch(operation["parameters"][0]["schema"]["pattern"], token)
    status, _, headers = call("GET", f"/pay/{token}")
    assert status == 200 and headers["content-type"].startswith("text/html")
