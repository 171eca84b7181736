"""Invoice items and the customer's balance ledger on moto, through the API handler and the billing run: a pending
item is taken by exactly one invoice (an order's or a subscription period's, whichever is drafted first, even when
both are drafted at once), ``invoice_now`` makes a one-off invoice, every refusal is a problem that writes nothing,
and the ledger's entries sum to the customer's credit balance through every kind of credit movement."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.services import orders, subscriptions
from billing.services.commands import PlaceOrder
from functions.api import app as api
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event
from tests.integration.numbering import number_drafts
from tests.integration.test_subscriptions import FLAT, START, after, billing_run, invoices_of, plan, subscribe
from tests.integration.test_workers import call, set_clock

pytestmark = pytest.mark.usefixtures("deps")
CUSTOMER = {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "usd"}


@pytest.fixture
def cus(key: str) -> str:
    status, body = call("POST", "/v1/customers", key, CUSTOMER)
    assert status == 201, body
    return body["id"]


def get(key: str, path: str, **query: str) -> tuple[int, Any]:
    answer = api.lambda_handler(http_event("GET", path, key, query=query or None), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def item(key: str, cus: str, **body: Any) -> dict[str, Any]:
    status, created = call("POST", "/v1/invoice_items", key, {"customer": cus, "currency": "usd", **body})
    assert status == 201, created
    return created


def order(key: str, cus: str, amount: int = 10_000) -> dict[str, Any]:
    body = {
        "customer_id": cus,
        "currency": "usd",
        "lines": [{"description": "Setup", "quantity": 1, "unit_amount": amount}],
        "collection_method": "send_invoice",
    }
    status, placed = call("POST", "/v1/orders", key, body)
    assert status == 201, placed
    return get(key, f"/v1/invoices/{placed['invoice_id']}")[1]


def table_size() -> int:
    return boto3.client("dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"]


def pending(key: str, cus: str) -> list[str]:
    status, listed = get(key, "/v1/invoice_items", customer=cus, pending="true")
    assert status == 200, listed
    return [i["id"] for i in listed["data"]]


# --- the pick-up ---------------------------------------------------------------------------------------------------
def test_the_next_order_invoice_takes_the_pending_items_once(clock, key, cus):
    charge = item(key, cus, amount=2_500, description="Onboarding call")
    clock.advance(timedelta(seconds=1))  # ids sort by their millisecond: the invoice bills the oldest first
    credit = item(key, cus, price={"unit_amount": -500, "quantity": 2}, description="Goodwill")
    assert (charge["status"], charge["amount"], charge["discountable"]) == ("pending", 2_500, True)
    assert (credit["amount"], credit["quantity"], credit["discountable"]) == (-1_000, 2, False)
    assert pending(key, cus) == [credit["id"], charge["id"]]  # newest first

    invoice = order(key, cus)
    assert [(ln["description"], ln["amount"]) for ln in invoice["lines"]] == [
        ("Setup", 10_000),
        ("Onboarding call", 2_500),
        ("Goodwill", -1_000),
    ]
    assert invoice["total"] == 11_500 and invoice["amount_due"] == 11_500
    for made in (charge, credit):
        status, taken = get(key, f"/v1/invoice_items/{made['id']}")
        assert (status, taken["status"], taken["invoice_id"]) == (200, "invoiced", invoice["id"])
    assert pending(key, cus) == []
    assert [ln["amount"] for ln in order(key, cus)["lines"]] == [10_000]  # the next order: nothing more
    status, invoiced = get(key, "/v1/invoice_items", customer=cus, pending="false")
    assert status == 200 and {i["id"] for i in invoiced["data"]} == {charge["id"], credit["id"]}


def test_the_next_subscription_period_invoice_takes_the_pending_item(deps, clock, key, cus):
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}])
    made = item(key, cus, amount=1_900, description="Extra storage, November")
    billing_run(deps, clock, after(START))
    (invoice,) = invoices_of(key, cus)
    assert invoice["subscription_id"] == sub["id"]
    assert [ln["amount"] for ln in invoice["lines"]] == [4_900, 1_900] and invoice["total"] == 6_800
    assert get(key, f"/v1/invoice_items/{made['id']}")[1]["invoice_id"] == invoice["id"]


def test_an_order_and_a_billing_run_drafted_at_once_never_both_take_the_item(deps, clock, key, tenant_id, cus):
    subscribe(key, cus, [{"plan_id": plan(key, FLAT)}])
    made = item(key, cus, amount=700, description="Late fee")
    set_clock(clock, after(START))
    repo = deps.context.repo
    real_commit, raced = repo.commit, []
    placed: list[str] = []

    def the_order_commits_first(tx):  # the billing run drafted with the item; the order takes it meanwhile
        if not raced:
            raced.append(True)
            cmd = PlaceOrder(
                customer_id=cus,
                currency="usd",
                lines=[{"description": "Setup", "quantity": 1, "unit_amount": 10_000}],
                collection_method="send_invoice",
            )
            placed.append(orders.place_order(deps.context, tenant_id, cmd).invoice_id)
        return real_commit(tx)

    repo.commit = the_order_commits_first
    try:
        outcome = subscriptions.bill_subscriptions(deps.context, tenant_id, [s["id"] for s in [*_subs(key)]])
    finally:
        repo.commit = real_commit
    assert len(outcome.billed) == 1
    number_drafts(deps)
    invoices = invoices_of(key, cus)
    assert len(invoices) == 2
    carrying = [i["id"] for i in invoices if any(ln["description"] == "Late fee" for ln in i["lines"])]
    assert carrying == placed  # the order's; the run's retry drafted without it
    assert get(key, f"/v1/invoice_items/{made['id']}")[1]["invoice_id"] == placed[0]


def _subs(key: str) -> list[dict[str, Any]]:
    return get(key, "/v1/subscriptions")[1]["data"]


def test_invoice_now_makes_a_one_off_invoice_of_the_item_alone(key, cus):
    other = item(key, cus, amount=300, description="Stays pending")
    status, made = call(
        "POST",
        "/v1/invoice_items",
        key,
        {"customer_id": cus, "currency": "usd", "amount": 15_000, "description": "Data migration", "invoice_now": True},
    )
    assert status == 201, made
    assert made["status"] == "invoiced" and made["invoice_id"]
    invoice = get(key, f"/v1/invoices/{made['invoice_id']}")[1]
    assert (invoice["status"], invoice["number"], invoice["total"]) == ("open", "INV-2026-000001", 15_000)
    assert (invoice["collection_method"], invoice["days_until_due"]) == ("send_invoice", 30)
    assert [ln["description"] for ln in invoice["lines"]] == ["Data migration"]
    assert pending(key, cus) == [other["id"]]


def test_a_plan_price_makes_the_item(key, cus):
    seats = plan(key, {**FLAT, "name": "Seats", "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 1200}]})
    made = item(key, cus, price={"plan_id": seats, "quantity": 3}, description="3 extra seats, one-off")
    assert (made["unit_amount"], made["quantity"], made["amount"], made["plan_id"]) == (1200, 3, 3600, seats)


def test_a_pending_item_is_deleted_and_an_invoiced_one_is_not(key, cus):
    gone = item(key, cus, amount=100, description="Mistake")
    status, deleted = call("DELETE", f"/v1/invoice_items/{gone['id']}", key)
    assert (status, deleted["status"]) == (200, "deleted")
    assert pending(key, cus) == []
    kept = item(key, cus, amount=200, description="Kept")
    order(key, cus)
    status, refused = call("DELETE", f"/v1/invoice_items/{kept['id']}", key)
    assert (status, refused["code"]) == (409, "invoice_item_invoiced")
    status, again = call("DELETE", f"/v1/invoice_items/{gone['id']}", key)
    assert (status, again["code"]) == (409, "invoice_item_delete_not_allowed")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 100, "currency": "eur"}, 422, "currency_mismatch"),
        ({"amount": 100, "price": {"unit_amount": 100}}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
        ({"amount": 0}, 422, "invoice_item_zero"),
        ({"amount": 1.5}, 422, "invalid_request"),
        ({"amount": -100, "invoice_now": True}, 422, "invoice_now_needs_a_charge"),
        ({"price": {"plan_id": "plan_nope"}}, 404, "plan_not_found"),
        ({"price": {"unit_amount": 100, "plan_id": "plan_x"}}, 422, "invalid_request"),
        ({"amount": 100, "customer": "cus_nope"}, 404, "customer_not_found"),
        ({"amount": 100, "unknown": 1}, 422, "invalid_request"),
        (
            {"amount": 100, "period": {"start": "2026-12-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}},
            422,
            "invalid_period",
        ),
    ],
)
def test_a_bad_invoice_item_is_refused_and_writes_nothing(key, cus, body, status, code):
    before = table_size()
    answer = call("POST", "/v1/invoice_items", key, {"customer": cus, "currency": "usd", "description": "x", **body})
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert table_size() == before


def test_listing_pending_items_needs_a_customer_and_unknown_items_are_404(key, cus):
    assert get(key, "/v1/invoice_items", pending="true")[1]["code"] == "pending_needs_customer"
    assert get(key, "/v1/invoice_items/ii_nope") == (404, get(key, "/v1/invoice_items/ii_nope")[1])
    assert get(key, "/v1/invoice_items/ii_nope")[1]["code"] == "invoice_item_not_found"


# --- the balance ledger --------------------------------------------------------------------------------------------
def ledger(key: str, cus: str) -> list[dict[str, Any]]:
    entries, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = get(key, f"/v1/customers/{cus}/balance_transactions", **query)
        assert status == 200, page
        entries += page["data"]
        if not page["has_more"]:
            return entries
        cursor = page["next_cursor"]


def balance_of(key: str, cus: str) -> int:
    return get(key, f"/v1/customers/{cus}")[1]["credit_balance"]


def test_the_ledger_sums_to_the_credit_balance_through_every_movement(clock, key, cus):
    def adjust(amount: int, **extra: Any) -> dict[str, Any]:
        body = {"amount": amount, "currency": "usd", "description": "Goodwill", **extra}
        status, entry = call("POST", f"/v1/customers/{cus}/balance_transactions", key, body)
        assert status == 201, entry
        return entry

    first = adjust(5_000, reason="service_outage")
    assert (first["type"], first["amount"], first["ending_balance"], first["reason"]) == (
        "adjustment",
        5_000,
        5_000,
        "service_outage",
    )
    adjust(-1_000)
    assert balance_of(key, cus) == 4_000
    invoice = order(key, cus, 3_000)  # the credit pays it in full
    assert (invoice["credit_applied"], invoice["status"]) == (3_000, "paid")
    second = order(key, cus, 2_000)  # 1,000 of credit left: 1,000 due
    assert second["credit_applied"] == 1_000
    wire = {"amount": 1_500, "method": "bank_transfer", "reference": "W-1", "received_at": "2026-11-23T11:00:00Z"}
    assert call("POST", f"/v1/invoices/{second['id']}/payments", key, wire)[0] == 201  # 500 overpaid: credit
    item(key, cus, amount=-800, description="Refund as credit")
    third = order(key, cus, 100)  # the credit line outweighs the charge: the rest becomes credit
    assert third["total"] == -700
    clock.advance(timedelta(minutes=1))
    fourth = order(key, cus, 10_000)
    clock.advance(timedelta(minutes=1))  # the ledger lists newest first: the void's entry is the latest
    assert call("POST", f"/v1/invoices/{fourth['id']}/void", key)[0] == 200  # its credit comes back
    entries = ledger(key, cus)
    assert {e["type"] for e in entries} == {
        "adjustment",
        "applied_to_invoice",
        "overpaid",
        "invoice_excess_credit",
        "invoice_voided",
    }
    assert sum(e["amount"] for e in entries) == balance_of(key, cus) == entries[0]["ending_balance"] == 1_200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 100, "currency": "eur", "description": "x"}, 422, "currency_mismatch"),
        ({"amount": 0, "currency": "usd", "description": "x"}, 422, "balance_transaction_zero"),
        ({"amount": 100, "currency": "usd"}, 422, "invalid_request"),
        ({"amount": "100", "currency": "usd", "description": "x"}, 422, "invalid_request"),
    ],
)
def test_a_bad_balance_transaction_is_refused_and_writes_nothing(key, cus, body, status, code):
    before = table_size()
    answer = call("POST", f"/v1/customers/{cus}/balance_transactions", key, body)
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert table_size() == before
    assert call("POST", "/v1/customers/cus_nope/balance_transactions", key, {**body, "currency": "usd"})[0] in (
        404,
        422,
    )


def test_an_items_tax_rate_taxes_its_line_on_the_invoice_that_takes_it(key, cus):
    status, rate = call(
        "POST", "/v1/tax_rates", key, {"display_name": "Sales tax", "jurisdiction": "US-NY", "percentage": "8.875"}
    )
    assert status == 201, rate
    item(key, cus, amount=10_000, description="Installation", tax_rate_id=rate["id"])
    invoice = order(key, cus, 5_000)
    setup, installation = invoice["lines"]
    assert (setup["tax_amount"], installation["tax_amount"]) == (0, 888)  # 10,000 x 8.875 % = 887.5, half up
    assert installation["tax_rate"]["id"] == rate["id"] and invoice["total"] == 15_888
    status, refused = call(
        "POST",
        "/v1/invoice_items",
        key,
        {"customer_id": cus, "currency": "usd", "amount": 1, "description": "x", "tax_rate_id": "txr_nope"},
    )
    assert (status, refused["code"]) == (422, "tax_rate_not_found")
