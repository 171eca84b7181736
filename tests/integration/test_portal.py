"""The customer portal without a browser: sessions (an hour, one customer), what the overview lists, PDFs through
the portal, and every tampered link or foreign id answered with the same 404 page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from billing.adapters import keys
from billing.services import documents, tenants
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.test_refunds_disputes_credit import FakeStripe, open_invoice, paid_invoice


class PortalStripe(FakeStripe):
    def payment_method(self, payment_method_id):
        return {"id": payment_method_id, "card": {"brand": "visa", "last4": "4242", "exp_month": 4, "exp_year": 2031}}


@pytest.fixture
def stripe_fake(deps):
    fake = PortalStripe()
    deps.__dict__["stripe"] = fake
    return fake


def api(method, path, key, body=None):
    answer = app.lambda_handler(http_event(method, path, key, body), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def page(path, query=None, headers=None):
    answer = app.lambda_handler(http_event("GET", path, None, None, headers, query), FakeLambdaContext())
    return answer["statusCode"], answer.get("headers") or {}, answer["body"]


def customer(key, name, locale="en"):
    body = {"email": f"{name.lower()}@example.com", "name": name, "locale": locale, "currency": "usd"}
    return api("POST", "/v1/customers", key, body)[1]["id"]


def session_path(key, customer_id, **body):
    status, session = api("POST", f"/v1/customers/{customer_id}/portal_sessions", key, body)
    assert status == 201, session
    return urlsplit(session["url"]).path, session


def test_a_session_opens_the_customers_own_bills_for_an_hour(deps, tenant, clock, stripe_fake):
    tenant_id, key = tenant
    ada, bob = customer(key, "Ada"), customer(key, "Bob")
    mine = open_invoice(key, ada, amount=1234)
    theirs = open_invoice(key, bob, amount=9999)
    path, session = session_path(key, ada, return_url="https://shop.example/account")
    assert session["locale"] == "en" and session["return_url"] == "https://shop.example/account"
    assert session["expires_at"] == (clock.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    status, headers, body = page(path)
    assert status == 200 and "script-src" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert mine["number"] in body and "$12.34" in body and theirs["number"] not in body
    assert f'href="/pay/{tenant_id}.{mine["id"]}.' in body  # pay what is open: the hosted page's flow
    assert "https://shop.example/account" in body

    clock.advance(timedelta(minutes=59, seconds=59))
    assert page(path)[0] == 200
    clock.advance(timedelta(seconds=1))
    status, _, body = page(path)
    assert status == 410 and "expired" in body and theirs["number"] not in body


def test_a_tampered_link_or_another_customers_document_is_the_same_404(deps, tenant, stripe_fake):
    tenant_id, key = tenant
    ada, bob = customer(key, "Ada"), customer(key, "Bob")
    theirs = open_invoice(key, bob)
    documents.render_for(
        deps.context,
        deps.documents,
        next(
            e for e in deps.context.repo.events(keys.invoice(tenant_id, theirs["id"])) if e.type == "invoice.finalized"
        ),
        None,
    )
    path, _ = session_path(key, ada)
    token = path.rsplit("/", 1)[1]
    t, s, secret = token.split(".")
    other_key = tenants.create_tenant(deps.context, "Other")[1]
    other_path, _ = session_path(other_key, customer(other_key, "Eve"))
    eve_tenant = other_path.rsplit("/", 1)[1].split(".")[0]
    tampered = [
        f"{t}.{s}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        f"{t}.{s}.",
        f"{eve_tenant}.{s}.{secret}",
        f"{t}.bps_NOTHING.{secret}",
        "garbage",
    ]
    for bad in tampered:
        status, _, body = page(f"/portal/{bad}")
        assert status == 404 and "Ada" not in body
    status, _, _ = page(f"{path}/invoices/{theirs['id']}/pdf")
    assert status == 404
    status, _, _ = page(f"{path}/invoices/in_NOTHING/pdf")
    assert status == 404


def test_pdfs_years_languages_and_the_saved_card(deps, tenant, clock, stripe_fake):
    tenant_id, key = tenant
    ada = customer(key, "Ada", locale="ru")
    invoice, *_ = paid_invoice(deps, key, stripe_fake, amount=5000, customer_id=ada)
    path, _ = session_path(key, ada)
    status, _, body = page(f"{path}/invoices/{invoice['id']}/pdf")
    assert status == 503  # being rendered: the page says so, with Retry-After
    event = next(
        e for e in deps.context.repo.events(keys.invoice(tenant_id, invoice["id"])) if e.type == "invoice.finalized"
    )
    documents.render_for(deps.context, deps.documents, event, None)
    status, headers, _ = page(f"{path}/invoices/{invoice['id']}/pdf")
    assert status == 302 and f"{tenant_id}/invoices/{invoice['id']}.pdf" in headers["Location"]

    status, _, body = page(path)
    assert status == 200 and 'lang="ru"' in body and "Счета" in body and "Оплачен" in body
    status, _, body = page(path, {"lang": "zh"})
    assert 'lang="zh-CN"' in body and "发票" in body
    status, _, body = page(path, {"lang": "xx", "year": "1999"})
    assert status == 200 and invoice["number"] not in body  # no bill in 1999; an unknown language is the customer's
    status, _, body = page(path, {"year": str(clock.now().year)})
    assert invoice["number"] in body

    customer_record = deps.context.repo.customer(tenant_id, ada)
    tx = deps.context.repo.transaction()
    deps.context.repo.save_customer(tx, customer_record.model_copy(update={"default_payment_method": "pm_1"}))
    deps.context.repo.commit(tx)
    body = page(path, {"lang": "en"})[2]
    assert "Visa ending in 4242" in body and "Expires 04/2031" in body and "Replace card" in body


# --- signing in by e-mail --------------------------------------------------------------------------------------
def form_post(path, fields):
    from urllib.parse import urlencode

    event = http_event("POST", path, None, None, {"content-type": "application/x-www-form-urlencoded"})
    event["body"] = urlencode(fields)
    answer = app.lambda_handler(event, FakeLambdaContext())
    return answer["statusCode"], answer["body"]


def sent_mail():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if hasattr(m, "subject")]


def deliver_sign_in_requests(deps, tenant_id):
    from billing.services import notifications

    events = [e for e in deps.context.repo.events(keys.tenant(tenant_id)) if e.type == "portal.sign_in_requested"]
    for event in events:
        notifications.notify(deps.context, deps.mailer, event)
    return events


def test_a_customer_asks_for_a_link_by_email_and_nothing_tells_who_is_a_customer(deps, tenant, clock, stripe_fake):
    tenant_id, key = tenant
    deps.env["PUBLIC_BASE_URL"] = "https://billing.example"
    ada = customer(key, "Ada", locale="ru")
    invoice = open_invoice(key, ada)
    status, _, body = page(f"/portal/{tenant_id}/sign-in", {"lang": "ru"})
    assert status == 200 and 'type="email"' in body and "Ваши счета от Acme Cloud" in body

    known = form_post(f"/portal/{tenant_id}/sign-in", {"email": "ADA@example.com ", "lang": "ru"})
    unknown = form_post(f"/portal/{tenant_id}/sign-in", {"email": "nobody@example.com", "lang": "ru"})
    assert known[0] == unknown[0] == 200

    def same(body, address):
        return re.sub(r'nonce="[^"]+"', "", body.replace(address, "X"))

    assert same(known[1], "ADA@example.com") == same(unknown[1], "nobody@example.com")

    assert len(deliver_sign_in_requests(deps, tenant_id)) == 2
    [mail] = sent_mail()
    assert mail.destinations["ToAddresses"] == ["ada@example.com"] and "Ссылка на ваши счета" in mail.subject
    link = next(w for w in mail.body.split('"') if w.startswith("https://billing.example/portal/"))
    status, _, portal_page = page(urlsplit(link).path)
    assert status == 200 and invoice["number"] in portal_page

    # asked again within five minutes (or the event delivered twice): no second e-mail
    form_post(f"/portal/{tenant_id}/sign-in", {"email": "ada@example.com", "lang": "ru"})
    deliver_sign_in_requests(deps, tenant_id)
    assert len(sent_mail()) == 1
    clock.advance(timedelta(minutes=5))
    form_post(f"/portal/{tenant_id}/sign-in", {"email": "ada@example.com", "lang": "en"})
    deliver_sign_in_requests(deps, tenant_id)
    assert len(sent_mail()) == 2 and sent_mail()[-1].subject.startswith("Your link to your invoices")


def test_a_sign_in_form_that_is_not_an_address_says_so_and_sends_nothing(deps, tenant):
    tenant_id, _ = tenant
    for bad in ("", "not-an-address", "a@b", "x" * 300 + "@example.com"):
        status, body = form_post(f"/portal/{tenant_id}/sign-in", {"email": bad, "lang": "en"})
        assert status == 422 and "Please enter a valid email address." in body
    assert deliver_sign_in_requests(deps, tenant_id) == []
    assert form_post("/portal/ten_NOTHING/sign-in", {"email": "a@example.com"})[0] == 404
    assert page("/portal/ten_NOTHING/sign-in")[0] == 404


def test_the_portal_shows_a_payment_plan_and_the_subscriptions_next_billing_date(deps, tenant, clock, stripe_fake):
    from tests.integration.test_subscriptions import FLAT, plan, subscribe

    tenant_id, key = tenant
    ada = customer(key, "Ada")
    invoice = open_invoice(key, ada, amount=3000)
    instalments = [{"due_on": "2026-12-01", "amount": 1000}, {"due_on": "2026-12-15", "amount": 2000}]
    status, agreed = api("POST", f"/v1/invoices/{invoice['id']}/payment_plan", key, {"instalments": instalments})
    assert status == 201, agreed
    sub = subscribe(key, ada, [{"plan_id": plan(key, FLAT)}])
    path, _ = session_path(key, ada)
    body = page(path)[2]
    assert f"Payment plan for invoice {invoice['number']}" in body
    assert "December 1, 2026" in body and "$10.00" in body and "December 15, 2026" in body and "$20.00" in body
    assert f'<span class="doc-title">{FLAT["name"]}</span>' in body and "Next billing date" in body
    assert sub["status"] in ("active", "trialing")
    other = customer(key, "Bob")
    subscribe(key, other, [{"plan_id": plan(key, {**FLAT, "name": "Bob's plan"})}])
    assert "Bob's plan" not in page(path)[2]
