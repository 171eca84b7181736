"""Issue 18, "Access and privacy", done when: an erased customer leaves no personal data in any item of the table
(a scan of the whole table, every attribute of every item, walked recursively) while its invoices still total as
before; refusals while money is owed or a dispute is open (force with an admin key only); a crash half-way and a
retry finish the job; the export holds everything. On moto, with localstripe for the Stripe customer."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
import stripe

from billing.adapters import keys
from billing.adapters.stripe_gateway import StripeGateway
from billing.domain import erasure
from billing.services import email_feedback, notifications, privacy
from billing.services.commands import EraseCustomer
from functions.api import app
from infra.local.stack import LOCALSTRIPE_PYTHON, STRIPE_KEY, free_port
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

ROOT = Path(__file__).resolve().parents[2]
EMAIL, NEW_EMAIL = "ana.lima@example.com", "ana.souza@mailbox.example"
NAME, NEW_NAME = "Ana Lima", "Ana Lima-Souza"
ADDRESS = {
    "line1": "Hauptstrasse 5",
    "line2": "Hinterhaus",
    "city": "Wolfsburg",
    "postal_code": "38440",
    "country": "DE",
}
TAX_ID = "DE136695976"
EXTERNAL_ID = "crm-contact-7781"
METADATA = {"crm_id": "C-1", "nickname": "Ana the Great"}  # crm_id is kept (keep_metadata), nickname erased
PERSONAL = [EMAIL, NEW_EMAIL, NAME, NEW_NAME, "Hauptstrasse 5", "Hinterhaus", "Wolfsburg", "38440", TAX_ID]
PERSONAL += [EXTERNAL_ID, "Ana the Great"]


# --- localstripe, for the Stripe customer ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not LOCALSTRIPE_PYTHON.exists():
        pytest.skip("localstripe is not installed (make install)")
    port, state = free_port(), tmp_path_factory.mktemp("localstripe")
    process = subprocess.Popen(
        [str(LOCALSTRIPE_PYTHON), str(ROOT / "infra/local/localstripe_main.py"), str(port), str(state / "s.pickle")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/v1/customers", timeout=1)  # noqa: S310 - loopback
            except urllib.error.HTTPError:
                break  # it answered (401 without a key): it is up
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def gateway(deps, localstripe: str) -> StripeGateway:
    real = StripeGateway(STRIPE_KEY, api_base=localstripe)
    deps.__dict__["stripe"] = real
    return real


# --- helpers -----------------------------------------------------------------------------------------------------
def call(method: str, path: str, key: str | None, body: Any = None, headers: dict[str, str] | None = None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def ok(method: str, path: str, key: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    status, answer = call(method, path, key, body, headers)
    assert status in (200, 201), (method, path, answer)
    return answer


def invoice_for(key: str, cus: str, amount: int, pay: bool) -> dict[str, Any]:
    order = {
        "customer_id": cus,
        "currency": "eur",
        "lines": [{"description": "Seats", "quantity": 2, "unit_amount": amount}],
        "collection_method": "send_invoice",
        "days_until_due": 14,
    }
    placed = ok("POST", "/v1/orders", key, order)
    invoice = ok("GET", f"/v1/invoices/{placed['invoice_id']}", key)
    if pay:
        wire = {
            "amount": invoice["amount_due"],
            "method": "bank_transfer",
            "reference": f"W-{invoice['id']}",
            "received_at": "2026-11-23T11:00:00Z",
        }
        ok("POST", f"/v1/invoices/{invoice['id']}/payments", key, wire)
    return ok("GET", f"/v1/invoices/{invoice['id']}", key)


def mail_everything(deps, tenant_id: str, invoice_ids: list[str]) -> int:
    """The notifier, for every event of the invoices: the e-mails they call for (logged on each invoice)."""
    sent = 0
    for invoice_id in invoice_ids:
        for event in deps.context.repo.events(keys.invoice(tenant_id, invoice_id)):
            sent += notifications.notify(deps.context, deps.mailer, event) is not None
    return sent


def customer_with_history(deps, gateway, tenant_id: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """A customer with everything a real one leaves behind: created with an Idempotency-Key (its answer kept),
    changed (a customer.updated with e-mail, name, address, tax id and metadata before and after), a Stripe
    customer, two paid invoices and a credit note, e-mails sent, a bounce on its old address, a portal sign-in."""
    body = {"email": EMAIL, "name": NAME, "locale": "en", "currency": "eur", "external_id": EXTERNAL_ID}
    body |= {"metadata": METADATA, "address": ADDRESS}
    cus = ok("POST", "/v1/customers", key, body, {"Idempotency-Key": "create-ana"})["id"]
    ok("POST", f"/v1/customers/{cus}/setup_intent", key, {}, {"Idempotency-Key": "card-ana"})  # Stripe customer
    first = invoice_for(key, cus, 5_000, pay=True)
    email_feedback.record(
        deps.context,
        email_feedback.Suppression(
            tenant_id, cus, first["id"], "ses-1", "bounce", "Permanent/General", deps.clock.now(), (EMAIL,)
        ),
    )
    patch = {"email": NEW_EMAIL, "name": NEW_NAME, "tax_ids": [{"type": "eu_vat", "value": TAX_ID}]}
    ok("PATCH", f"/v1/customers/{cus}", key, patch)
    second = invoice_for(key, cus, 7_000, pay=True)
    ok(
        "POST",
        f"/v1/invoices/{second['id']}/credit_notes",
        key,
        {"reason": "order_change", "amount": 1_000, "credit_to": "balance"},
    )
    deps.env["PUBLIC_BASE_URL"] = "https://billing.example"
    assert mail_everything(deps, tenant_id, [first["id"], second["id"]]) >= 2
    event = http_event(
        "POST", f"/portal/{tenant_id}/sign-in", None, None, {"content-type": "application/x-www-form-urlencoded"}
    )
    event["body"] = urlencode({"email": NEW_EMAIL, "lang": "en"})
    assert app.lambda_handler(event, FakeLambdaContext())["statusCode"] in (200, 303)
    invoices = [ok("GET", f"/v1/invoices/{i['id']}", key) for i in (first, second)]
    return cus, invoices


def strings(value: Any) -> Iterator[str]:
    """Every string in a raw DynamoDB item (attribute values, at any depth: maps, lists, sets)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from strings(v)


def table_items() -> list[dict[str, Any]]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def personal_left(values: list[str] = PERSONAL) -> list[tuple[str, str, str]]:
    """(value, pk, sk) of every personal value found anywhere in the table (case-insensitive)."""
    found = []
    for item in table_items():
        text = "\n".join(strings(item)).lower()
        found += [(v, item["pk"]["S"], item["sk"]["S"]) for v in values if v.lower() in text]
    return found


TOTALS = ("number", "subtotal", "discount", "tax", "total", "amount_paid", "amount_due", "amount_refunded")
TOTALS += ("amount_credited", "amount_credited_to_balance", "tax_summary", "lines", "issued_at", "due_date")
TOTALS += ("status", "currency")


def totals(invoice: dict[str, Any]) -> dict[str, Any]:
    return {k: invoice[k] for k in TOTALS}


# --- the erasure -------------------------------------------------------------------------------------------------
def test_an_erased_customer_leaves_no_personal_data_in_the_table_and_its_invoices_total_as_before(
    deps, gateway, tenant_id, key
):
    cus, invoices = customer_with_history(deps, gateway, tenant_id, key)
    before = {v for v, _, _ in personal_left()}
    assert before == set(PERSONAL)  # the scan sees every one of them before (it can fail)
    stripe_customer = deps.context.repo.customer(tenant_id, cus).stripe_customer_id
    assert stripe_customer and gateway.client.v1.customers.retrieve(stripe_customer).email == NEW_EMAIL

    erased = ok("POST", f"/v1/customers/{cus}/erase", key, {"keep_metadata": ["crm_id"]}, {"Idempotency-Key": "e-1"})

    assert (erased["status"], erased["email"], erased["name"]) == ("erased", erasure.TOMBSTONE, erasure.TOMBSTONE)
    assert erased["metadata"] == {"crm_id": "C-1"} and erased["address"]["country"] == "DE"
    assert not any(v for k, v in erased["address"].items() if k != "country")
    assert erased["tax_ids"] == [{"type": "eu_vat", "value": erasure.TOMBSTONE}] and erased["external_id"] is None
    assert personal_left() == []
    after = [ok("GET", f"/v1/invoices/{i['id']}", key) for i in invoices]
    assert [totals(i) for i in after] == [totals(i) for i in invoices]
    assert sum(i["total"] for i in after) == sum(i["total"] for i in invoices) > 0
    assert all(i["customer_name"] == erasure.TOMBSTONE for i in after)
    with pytest.raises(stripe.InvalidRequestError):  # deleted at Stripe (name, e-mail, cards gone)
        gateway.client.v1.customers.retrieve(stripe_customer)
    events = [e.type for e in deps.context.repo.events(keys.customer(tenant_id, cus))]
    assert events.count("customer.erased") == 1

    # the same request again replays; another erasure answers the erased customer; nothing is written
    count = len(table_items())
    assert (
        ok("POST", f"/v1/customers/{cus}/erase", key, {"keep_metadata": ["crm_id"]}, {"Idempotency-Key": "e-1"})
        == erased
    )
    assert ok("POST", f"/v1/customers/{cus}/erase", key, {}) == erased
    assert len(table_items()) == count
    # the replay of the creation's Idempotency-Key answers the erased customer, not the personal data
    body = {"email": EMAIL, "name": NAME, "locale": "en", "currency": "eur", "external_id": EXTERNAL_ID}
    replay = ok(
        "POST",
        "/v1/customers",
        key,
        body | {"metadata": METADATA, "address": ADDRESS},
        {"Idempotency-Key": "create-ana"},
    )
    assert replay["id"] == cus and replay["email"] == erasure.TOMBSTONE

    # an erased customer is changed, ordered for and mailed no more; later events carry no personal data
    status, refused = call("PATCH", f"/v1/customers/{cus}", key, {"name": "Someone"})
    assert (status, refused["code"]) == (409, "customer_erased")
    order = {"customer_id": cus, "currency": "eur", "lines": [{"description": "x", "quantity": 1, "unit_amount": 100}]}
    status, refused = call("POST", "/v1/orders", key, order | {"collection_method": "send_invoice"})
    assert (status, refused["code"]) == (409, "customer_erased")
    ok(
        "POST",
        f"/v1/invoices/{invoices[0]['id']}/credit_notes",
        key,
        {"reason": "order_change", "amount": 500, "credit_to": "balance"},
    )
    assert mail_everything(deps, tenant_id, [i["id"] for i in invoices]) == 0
    assert personal_left() == []


def test_the_export_holds_everything_about_the_customer_and_needs_an_admin_key(deps, gateway, tenant_id, key):
    cus, invoices = customer_with_history(deps, gateway, tenant_id, key)
    writer = ok("POST", "/v1/api_keys", key, {"name": "storefront", "scopes": ["write", "read"]})["secret"]
    status, refused = call("GET", f"/v1/customers/{cus}/export", writer)
    assert (status, refused["code"], refused["required_scope"]) == (403, "insufficient_scope", "admin")

    export = ok("GET", f"/v1/customers/{cus}/export", key)

    assert export["object"] == "customer_export" and export["customer"]["email"] == NEW_EMAIL
    assert sorted(r["invoice"]["number"] for r in export["invoices"]) == sorted(i["number"] for i in invoices)
    assert all(r["invoice"]["customer_name"] in (NAME, NEW_NAME) for r in export["invoices"])
    assert all(len(r["payments"]) == 1 for r in export["invoices"])
    notes = {r["invoice"]["id"]: len(r["credit_notes"]) for r in export["invoices"]}
    assert notes == {invoices[0]["id"]: 0, invoices[1]["id"]: 1}
    assert {m["to"] for r in export["invoices"] for m in r["emails"]} >= {EMAIL, NEW_EMAIL}
    types = {e["type"] for e in export["events"]}
    assert {"customer.created", "customer.updated", "customer.email_suppressed"} <= types
    assert export["stripe"]["customer_id"] == deps.context.repo.customer(tenant_id, cus).stripe_customer_id
    assert export["subscriptions"] == [] and [b["amount"] for b in export["balance_transactions"]] == [1_000]


# --- refusals ------------------------------------------------------------------------------------------------------
def personal_of_tenant(tenant_id: str) -> list[tuple[str, str, str]]:
    return [found for found in personal_left() if found[1].startswith(f"T#{tenant_id}")]


def plain_customer(key: str) -> str:
    body = {"email": EMAIL, "name": NAME, "locale": "en", "currency": "eur", "address": ADDRESS}
    return ok("POST", "/v1/customers", key, body)["id"]


def test_money_owed_refuses_the_erasure_unless_an_admin_key_forces_it(deps, tenant_id, key):
    cus = plain_customer(key)
    owed = invoice_for(key, cus, 3_000, pay=False)
    writer = ok("POST", "/v1/api_keys", key, {"name": "storefront", "scopes": ["write"]})["secret"]
    count = len(table_items())

    status, refused = call("POST", f"/v1/customers/{cus}/erase", writer, {})
    assert (status, refused["code"], refused["invoice_ids"]) == (409, "customer_owes_money", [owed["id"]])
    status, refused = call("POST", f"/v1/customers/{cus}/erase", writer, {"force": True})
    assert status == 403, refused
    assert (status, refused["code"], refused["required_scope"]) == (403, "insufficient_scope", "admin")
    assert len(table_items()) == count and personal_of_tenant(tenant_id)  # nothing changed

    erased = ok("POST", f"/v1/customers/{cus}/erase", key, {"force": True})  # the tenant's first key: every scope
    assert erased["status"] == "erased" and personal_of_tenant(tenant_id) == []
    after = ok("GET", f"/v1/invoices/{owed['id']}", key)
    assert totals(after) == totals(owed) and after["status"] == "open"  # still owed, as the books say


def test_an_open_dispute_refuses_the_erasure_and_a_live_subscription_refuses_it_even_forced(deps, tenant_id, key):
    cus = plain_customer(key)
    paid = invoice_for(key, cus, 3_000, pay=True)
    repo = deps.context.repo
    tx = repo.transaction()
    repo.save_invoice(tx, repo.invoice(tenant_id, paid["id"]).model_copy(update={"dispute_open": True}))
    repo.commit(tx)
    status, refused = call("POST", f"/v1/customers/{cus}/erase", key, {})
    assert (status, refused["code"], refused["invoice_ids"]) == (409, "customer_dispute_open", [paid["id"]])

    flat = {"name": "Pro", "interval": {"unit": "month", "count": 1}}
    plan_id = ok("POST", "/v1/plans", key, flat | {"prices": [{"currency": "eur", "scheme": "flat", "amount": 900}]})
    body = {"customer_id": cus, "items": [{"plan_id": plan_id["id"]}], "collection_method": "send_invoice"}
    sub = ok("POST", "/v1/subscriptions", key, body)
    status, refused = call("POST", f"/v1/customers/{cus}/erase", key, {"force": True})
    assert (status, refused["code"], refused["subscription_ids"]) == (409, "customer_has_subscriptions", [sub["id"]])
    assert repo.customer(tenant_id, cus).email == EMAIL  # nothing erased


# --- a crash half-way, then a retry ----------------------------------------------------------------------------------
class Crash(Exception):
    """The Lambda gone right after a write (its answer never heard)."""


def test_a_crash_after_any_write_of_the_erasure_is_finished_by_a_retry(deps, gateway, clock, monkeypatch):
    """A clean erasure is run first, counting its writes (every commit, and the Stripe deletion); then, for each of
    them, a tenant of its own erases with the process dying right after that write, and erases again: the second
    run finishes (no personal value left in the tenant's items, one customer.erased event, Stripe's customer gone)."""
    from billing.services import tenants

    store, real_commit, real_delete = deps.context.repo.store, deps.context.repo.store.commit, gateway.delete_customer
    writes: list[str] = []
    die_at: list[int] = []

    def after(name: str, call_: Any) -> Any:
        result = call_()
        writes.append(name)
        if die_at and len(writes) == die_at[0]:
            raise Crash(f"died after {name} #{len(writes)}")
        return result

    monkeypatch.setattr(store, "commit", lambda tx: after("commit", lambda: real_commit(tx)))
    monkeypatch.setattr(gateway, "delete_customer", lambda sid: after("stripe", lambda: real_delete(sid)))

    def erase(tenant_id: str, cus: str) -> Any:
        cmd = EraseCustomer(keep_metadata=["crm_id"])
        return privacy.erase_customer(deps.context, gateway, tenant_id, cus, cmd)

    def scenario(crash_at: int | None) -> int:
        tenant, key = tenants.create_tenant(deps.context, "Acme Cloud")
        cus, invoices = customer_with_history(deps, gateway, tenant.id, key)
        stripe_id = deps.context.repo.customer(tenant.id, cus).stripe_customer_id
        writes.clear()
        die_at[:] = [crash_at] if crash_at else []
        if crash_at:
            with pytest.raises(Crash):
                erase(tenant.id, cus)
            die_at.clear()
            assert deps.context.repo.customer(tenant.id, cus).status == "active"  # the customer is last
        assert erase(tenant.id, cus).status == "erased"
        done = len(writes)
        assert personal_of_tenant(tenant.id) == [], crash_at
        events = [e.type for e in deps.context.repo.events(keys.customer(tenant.id, cus))]
        assert events.count("customer.erased") == 1
        assert [totals(ok("GET", f"/v1/invoices/{i['id']}", key)) for i in invoices] == [totals(i) for i in invoices]
        with pytest.raises(stripe.InvalidRequestError):
            gateway.client.v1.customers.retrieve(stripe_id)
        return done

    total = scenario(None)
    assert total >= 6 and writes.count("stripe") == 1
    for crash_at in range(1, total):  # the last write is the customer's own: after it, nothing is left to do
        scenario(crash_at)


# --- retention -----------------------------------------------------------------------------------------------------
def test_what_has_no_legal_need_expires_and_the_suppression_list_keeps_no_address(deps, gateway, clock, tenant_id, key):
    from billing.domain import retention
    from billing.services import stripe_webhooks

    cus, invoices = customer_with_history(deps, gateway, tenant_id, key)
    now = int(clock.now().timestamp())
    items = table_items()

    def ttl_of(match: Any) -> set[int | None]:
        found = {int(i["expires_at"]["N"]) if "expires_at" in i else None for i in items if match(i)}
        assert found, "no such item"
        return found

    assert ttl_of(lambda i: i["sk"]["S"].startswith("MAIL#")) == {now + int(retention.MAIL_LOG.total_seconds())}
    sign_in = int(retention.SIGN_IN_REQUEST.total_seconds())
    assert ttl_of(lambda i: i.get("event_type", {}).get("S") == "portal.sign_in_requested") == {now + sign_in}
    assert ttl_of(lambda i: i.get("type", {}).get("S") == "sign_in_ref") == {now + sign_in}
    assert ttl_of(lambda i: i.get("event_type", {}).get("S") == "customer.updated") == {None}  # the audit trail stays
    assert ttl_of(lambda i: i.get("type", {}).get("S") == "claim_ref") == {now + 24 * 3600}
    suppressed = [i for i in items if i["sk"]["S"] == "SUPPRESSED"]
    assert len(suppressed) == 1 and "address" not in suppressed[0]
    assert deps.context.repo.suppression(tenant_id, EMAIL.upper())  # still found, by the digest

    delivered = {"id": "evt_1", "type": "payment_intent.succeeded", "created": now}
    delivered["data"] = {"object": {"id": "pi_1", "object": "payment_intent", "metadata": {"tenant_id": tenant_id}}}
    delivered["data"]["object"]["receipt_email"] = EMAIL
    assert stripe_webhooks.receive(deps.context, delivered).enqueue
    record = deps.context.repo.stripe_event(tenant_id, "evt_1")
    assert int(record["expires_at"]) == now + int(retention.STRIPE_EVENT.total_seconds())
    assert EMAIL not in json.dumps(record, default=str)  # only ids: no raw payload is kept
