"""Payments received outside Stripe, on moto through the API handler: recorded (partial, full, overpaid), the
receipt e-mail through the relay and the notifier, idempotency on (method, reference), every refusal a problem that
changes nothing, and the reversal entry (a bounced check): owed again, the invoice reopened, the credit taken back."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.adapters import keys
from billing.domain.payments import offline_payment_id
from billing.services import tenants
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.test_workers import (
    NO_FAILURES,
    outbox,
    receive_all,
    run_notifier,
    run_relay,
    sent_emails,
    sqs_event,
    stream_event,
)

pytestmark = pytest.mark.usefixtures("deps")
CUSTOMER = {"email": "ap@buyer.example", "name": "Buyer GmbH", "locale": "en", "currency": "eur"}
TOTAL = 100_000  # one line of 1,000.00 EUR, no tax


def call(method, path, api_key=None, body=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, api_key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


@pytest.fixture
def customer_id(key):
    status, body = call("POST", "/v1/customers", key, CUSTOMER)
    assert status == 201, body
    return body["id"]


def new_invoice(key: str, customer_id: str, amount: int = TOTAL) -> dict[str, Any]:
    order = {
        "customer_id": customer_id,
        "currency": "eur",
        "lines": [{"description": "Consulting", "quantity": 1, "unit_amount": amount}],
        "collection_method": "send_invoice",
        "days_until_due": 30,
    }
    status, placed = call("POST", "/v1/orders", key, order)
    assert status == 201, placed
    return invoice_of(key, placed["invoice_id"])


@pytest.fixture
def invoice(key, customer_id):
    return new_invoice(key, customer_id)


def invoice_of(key: str, invoice_id: str) -> dict[str, Any]:
    status, body = call("GET", f"/v1/invoices/{invoice_id}", key)
    assert status == 200, body
    return body


def customer_of(key: str, customer_id: str) -> dict[str, Any]:
    return call("GET", f"/v1/customers/{customer_id}", key)[1]


def wire(amount: int, reference: str, when: str = "2026-11-23T11:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "method": "bank_transfer", "reference": reference, "received_at": when, **extra}


def record(key: str, invoice_id: str, body: dict[str, Any], headers=None) -> tuple[int, Any]:
    return call("POST", f"/v1/invoices/{invoice_id}/payments", key, body, headers)


def payments_of(key: str, invoice_id: str) -> list[dict[str, Any]]:
    return call("GET", f"/v1/invoices/{invoice_id}/payments", key)[1]["data"]


def event_types(aggregate_key: dict[str, str]) -> list[str]:
    from billing import bootstrap

    return [e.type for e in bootstrap.deps().context.repo.events(aggregate_key)]


# --- recording -----------------------------------------------------------------------------------------------------
def test_a_wire_in_two_parts_pays_the_invoice_and_dunning_stops(key, tenant_id, deps, invoice):
    status, first = record(key, invoice["id"], wire(40_000, "WIRE-0001", recorded_by="erp"))
    assert status == 201, first
    assert first["id"] == offline_payment_id(tenant_id, "bank_transfer", "WIRE-0001")
    assert (first["status"], first["method"], first["reference"], first["recorded_by"]) == (
        "succeeded",
        "bank_transfer",
        "WIRE-0001",
        "erp",
    )
    assert first["received_at"].startswith("2026-11-23T11:00:00") and first["currency"] == "eur"
    partly = invoice_of(key, invoice["id"])
    assert (partly["status"], partly["amount_paid"], partly["amount_due"]) == ("open", 40_000, 60_000)
    assert partly["dunning"]["attention_on"] is not None  # the rest is still chased
    status, second = record(key, invoice["id"], wire(60_000, "WIRE-0002"))
    assert status == 201, second
    paid = invoice_of(key, invoice["id"])
    assert (paid["status"], paid["amount_paid"], paid["amount_due"]) == ("paid", TOTAL, 0)
    assert {p["id"] for p in payments_of(key, invoice["id"])} == {first["id"], second["id"]}
    repo = deps.context.repo  # off the attention index: the dunning sweep no longer finds it, on any day
    for day in (invoice["due_date"], partly["dunning"]["attention_on"]):
        assert (tenant_id, invoice["id"]) not in repo.invoices_needing_attention(day)
    types = event_types(keys.invoice(tenant_id, invoice["id"]))
    assert types.count("payment.succeeded") == 2 and types.count("invoice.payment_succeeded") == 2
    assert types.count("invoice.paid") == 1


def test_an_overpayment_becomes_the_customers_credit(key, tenant_id, customer_id, invoice):
    status, body = record(key, invoice["id"], wire(TOTAL + 2_500, "WIRE-OVER"))
    assert status == 201 and body["amount_credited"] == 2_500, body
    assert invoice_of(key, invoice["id"])["status"] == "paid"
    assert customer_of(key, customer_id)["credit_balance"] == 2_500
    # the credit is taken off the next invoice
    following = new_invoice(key, customer_id, 10_000)
    assert (following["credit_applied"], following["amount_due"]) == (2_500, 7_500)


def test_a_written_off_invoice_takes_a_late_wire(key, tenant_id, deps, invoice):
    repo = deps.context.repo
    current = repo.invoice(tenant_id, invoice["id"])
    written_off, event = current.mark_uncollectible(deps.clock.now())
    tx = repo.transaction()
    repo.save_invoice(tx, written_off)
    repo.commit(tx)
    status, body = record(key, invoice["id"], wire(TOTAL, "WIRE-LATE"))
    assert status == 201, body
    assert invoice_of(key, invoice["id"])["status"] == "paid"


def _notify(deps, tenant_id: str, invoice_id: str, event_type: str) -> None:
    images = outbox(keys.invoice(tenant_id, invoice_id), event_type)
    assert run_relay(stream_event(*images)) == NO_FAILURES
    messages = [
        m for m in receive_all(deps.env["NOTIFICATIONS_QUEUE_URL"]) if json.loads(m["Body"]).get("type") == event_type
    ]
    assert messages
    assert run_notifier(sqs_event("sqs_notification.json", messages)) == NO_FAILURES


def test_each_part_of_a_wire_gets_its_receipt_email(key, tenant_id, deps, invoice):
    deps.clock.advance(timedelta(days=2))  # entered two days after the first wire arrived
    record(key, invoice["id"], wire(40_000, "WIRE-A"))
    record(key, invoice["id"], wire(60_000, "WIRE-B"))
    before = len(sent_emails())
    _notify(deps, tenant_id, invoice["id"], "invoice.payment_succeeded")
    receipts = sent_emails()[before:]
    assert len(receipts) == 2
    texts = [m.body for m in receipts] if hasattr(receipts[0], "body") else [str(m) for m in receipts]
    assert all(m.destinations["ToAddresses"] == ["ap@buyer.example"] for m in receipts)
    joined = " ".join(texts)
    assert "400.00" in joined and "600.00" in joined and "paid in full" in joined
    assert "November 25" not in joined  # the day the money arrived (23rd), not the day it was entered


# --- idempotency on (method, reference) ----------------------------------------------------------------------------
def test_the_same_wire_recorded_twice_is_one_payment_with_the_same_answer(key, tenant_id, invoice):
    first = record(key, invoice["id"], wire(40_000, "WIRE-0001"))
    again = record(key, invoice["id"], wire(40_000, "WIRE-0001"))
    assert first == again and first[0] == 201
    assert len(payments_of(key, invoice["id"])) == 1
    assert invoice_of(key, invoice["id"])["amount_paid"] == 40_000
    assert event_types(keys.invoice(tenant_id, invoice["id"])).count("invoice.payment_succeeded") == 1


def test_the_same_reference_with_another_amount_or_on_another_invoice_is_refused(key, customer_id, invoice):
    status, first = record(key, invoice["id"], wire(40_000, "WIRE-0001"))
    assert status == 201
    other = new_invoice(key, customer_id)
    for target, body in (
        (invoice["id"], wire(40_001, "WIRE-0001")),
        (invoice["id"], wire(40_000, "WIRE-0001", when="2026-11-23T10:00:00Z")),
        (other["id"], wire(40_000, "WIRE-0001")),
    ):
        status, problem = record(key, target, body)
        assert status == 409 and problem["code"] == "payment_reference_used", problem
        assert problem["payment_id"] == first["id"] and problem["invoice_id"] == invoice["id"]
    assert invoice_of(key, other["id"])["amount_paid"] == 0 and payments_of(key, other["id"]) == []
    assert invoice_of(key, invoice["id"])["amount_paid"] == 40_000
    # the same reference by another method is another payment (a check numbered like a wire)
    status, check = record(key, invoice["id"], {**wire(1_000, "WIRE-0001"), "method": "check"})
    assert status == 201 and check["id"] != first["id"]


def test_an_idempotency_key_replays_the_first_answer(key, invoice):
    headers = {"Idempotency-Key": "erp-42"}
    first = record(key, invoice["id"], wire(40_000, "WIRE-IDEM"), headers)
    again = record(key, invoice["id"], wire(40_000, "WIRE-IDEM"), headers)
    assert first == again and first[0] == 201
    status, problem = record(key, invoice["id"], wire(1, "WIRE-OTHER"), headers)
    assert status == 409 and problem["code"] == "idempotency_key_reused"


# --- refusals: a problem, and nothing changes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, status, code",
    [
        (wire(0, "R"), 422, "invalid_request"),
        (wire(-5, "R"), 422, "invalid_request"),
        (wire(10.5, "R"), 422, "invalid_request"),
        (wire("100", "R"), 422, "invalid_request"),
        ({**wire(100, "R"), "method": "card"}, 422, "invalid_request"),
        ({**wire(100, "R"), "method": "off_session"}, 422, "invalid_request"),
        (wire(100, ""), 422, "invalid_request"),
        (wire(100, "R" * 201), 422, "invalid_request"),
        ({"amount": 100, "method": "cash", "reference": "R"}, 422, "invalid_request"),
        (wire(100, "R", when="2026-11-23T11:00:00"), 422, "invalid_request"),  # no offset: which day?
        (wire(100, "R", when="yesterday"), 422, "invalid_request"),
        (wire(100, "R", note="x"), 422, "invalid_request"),
        (wire(100, "R", currency="usd"), 422, "currency_mismatch"),
        (wire(100, "R", when="2026-11-23T12:00:01Z"), 422, "received_in_future"),
        (wire(100, "R", when="2026-11-22T23:59:59Z"), 422, "received_before_issue"),
        (wire(100, "R", when="2026-11-23T01:00:00+03:00"), 422, "received_before_issue"),  # 22 Nov, 22:00 UTC
        (wire(100, "R", when="0001-01-01T00:00:00+23:59"), 422, "received_before_issue"),
        (wire(100, "R", when="9999-12-31T23:59:59-23:59"), 422, "received_in_future"),
        (wire(100, "R", amount_due=5), 422, "invalid_request"),
    ],
)
def test_each_bad_payment_is_a_problem_and_changes_nothing(key, tenant_id, invoice, body, status, code):
    got, problem = record(key, invoice["id"], body)
    assert (got, problem["code"]) == (status, code), problem
    after = invoice_of(key, invoice["id"])
    assert after == invoice
    assert payments_of(key, invoice["id"]) == []
    assert "payment.succeeded" not in event_types(keys.invoice(tenant_id, invoice["id"]))


def test_received_at_is_an_instant_whatever_its_offset(key, invoice):
    status, body = record(key, invoice["id"], wire(100, "R", when="2026-11-22T23:30:00-01:00"))  # 00:30 UTC
    assert status == 201, body


def test_the_invoices_currency_given_is_accepted(key, invoice):
    assert record(key, invoice["id"], wire(100, "R", currency="EUR"))[0] == 201


def test_a_paid_or_void_invoice_takes_no_payment(key, deps, invoice, customer_id):
    assert record(key, invoice["id"], wire(TOTAL, "PAID"))[0] == 201
    status, problem = record(key, invoice["id"], wire(5, "MORE"))
    assert status == 409 and problem["code"] == "invoice_not_payable" and problem["invoice_status"] == "paid", problem
    other = new_invoice(key, customer_id)
    assert call("POST", f"/v1/invoices/{other['id']}/void", key)[0] == 200
    status, problem = record(key, other["id"], wire(5, "VOID"))
    assert status == 409 and problem["code"] == "invoice_not_payable" and problem["invoice_status"] == "void", problem
    assert payments_of(key, other["id"]) == []


def test_an_unknown_or_foreign_invoice_is_404(key, deps, invoice):
    from billing.services import tenants

    status, problem = record(key, "in_nope", wire(5, "R"))
    assert status == 404 and problem["code"] == "invoice_not_found"
    _, other_key = tenants.create_tenant(deps.context, "Other Co")
    status, problem = record(other_key, invoice["id"], wire(5, "R"))
    assert status == 404 and problem["code"] == "invoice_not_found"
    assert invoice_of(key, invoice["id"]) == invoice


def test_an_archived_customers_invoice_still_takes_payments(key, customer_id, invoice):
    assert call("POST", f"/v1/customers/{customer_id}/archive", key)[0] == 200
    assert record(key, invoice["id"], wire(TOTAL, "WIRE-ARCH"))[0] == 201
    assert invoice_of(key, invoice["id"])["status"] == "paid"


def test_a_refund_never_goes_to_stripe_for_an_offline_payment(key, invoice):
    record(key, invoice["id"], wire(TOTAL, "WIRE-REF"))
    status, problem = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1000, "reason": "x"})
    assert 400 <= status < 500, problem
    assert payments_of(key, invoice["id"])[0]["amount_refunded"] == 0


# --- reversal ------------------------------------------------------------------------------------------------------
def reverse(key: str, invoice_id: str, payment_id: str, reason: str = "check bounced", headers=None):
    return call("POST", f"/v1/invoices/{invoice_id}/payments/{payment_id}/reverse", key, {"reason": reason}, headers)


def test_a_bounced_check_reopens_the_paid_invoice_and_dunning_starts_over(key, tenant_id, deps, invoice):
    _, wired = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    _, check = record(key, invoice["id"], {**wire(60_000, "CHK-77"), "method": "check"})
    assert invoice_of(key, invoice["id"])["status"] == "paid"
    deps.clock.advance(timedelta(days=3))
    status, body = reverse(key, invoice["id"], check["id"])
    assert status == 200, body
    assert body["status"] == "reversed" and body["reversal_reason"] == "check bounced" and body["reversed_at"]
    assert body["amount"] == 60_000 and body["reference"] == "CHK-77"  # the record stays
    reopened = invoice_of(key, invoice["id"])
    assert (reopened["status"], reopened["amount_paid"], reopened["amount_due"]) == ("open", 40_000, 60_000)
    today = deps.clock.now().date().isoformat()
    assert reopened["due_date"] == today and reopened["dunning"]["attention_on"] == today
    assert reopened["dunning"]["first_failure_at"] is not None
    assert {p["id"]: p["status"] for p in payments_of(key, invoice["id"])} == {
        wired["id"]: "succeeded",
        check["id"]: "reversed",
    }
    repo = deps.context.repo
    events = {e.type: e for e in repo.events(keys.invoice(tenant_id, invoice["id"]))}
    reversed_event = events["payment.reversed"]
    assert reversed_event.data["owed_again"] == 60_000 and reversed_event.data["from_credit"] == 0
    assert reversed_event.actor == {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    assert reversed_event.data["changes"]["status"] == {"before": "paid", "after": "open"}
    assert events["invoice.reopened"].data["reason"] == "payment_reversed"
    # the dunning sweep finds it again: it is on today's attention index
    assert (tenant_id, invoice["id"]) in repo.invoices_needing_attention(today)
    # and it can be paid again: a new wire settles it
    assert record(key, invoice["id"], wire(60_000, "WIRE-2", when=deps.clock.now().isoformat()))[0] == 201
    assert invoice_of(key, invoice["id"])["status"] == "paid"


def test_a_reversal_on_an_open_invoice_keeps_its_due_date(key, invoice):
    _, part = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    status, _ = reverse(key, invoice["id"], part["id"])
    assert status == 200
    after = invoice_of(key, invoice["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, TOTAL)
    assert after["due_date"] == invoice["due_date"] and after["dunning"] == invoice["dunning"]


def test_a_reversed_overpayment_takes_its_credit_back_first(key, tenant_id, customer_id, invoice, deps):
    _, over = record(key, invoice["id"], wire(TOTAL + 2_500, "WIRE-OVER"))
    assert customer_of(key, customer_id)["credit_balance"] == 2_500
    status, _ = reverse(key, invoice["id"], over["id"], "wire recalled")
    assert status == 200
    assert customer_of(key, customer_id)["credit_balance"] == 0
    after = invoice_of(key, invoice["id"])
    assert (after["status"], after["amount_paid"], after["amount_due"]) == ("open", 0, TOTAL)
    types = event_types(keys.customer(tenant_id, customer_id))
    assert "customer.credit_deducted" in types


def test_credit_already_spent_is_owed_on_the_next_invoice(key, customer_id, invoice):
    _, over = record(key, invoice["id"], wire(TOTAL + 2_500, "WIRE-OVER"))
    spent = new_invoice(key, customer_id, 2_000)  # 2,000 of the 2,500 credit used up
    assert spent["credit_applied"] == 2_000 and customer_of(key, customer_id)["credit_balance"] == 500
    assert reverse(key, invoice["id"], over["id"])[0] == 200
    assert customer_of(key, customer_id)["credit_balance"] == -2_000  # a debit
    assert invoice_of(key, invoice["id"])["amount_due"] == TOTAL
    following = new_invoice(key, customer_id, 10_000)
    assert (following["credit_applied"], following["amount_due"]) == (-2_000, 12_000)
    assert customer_of(key, customer_id)["credit_balance"] == 0


def test_a_payment_of_a_voided_invoice_comes_back_off_the_credit(key, customer_id, invoice):
    _, part = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    assert call("POST", f"/v1/invoices/{invoice['id']}/void", key)[0] == 200
    assert customer_of(key, customer_id)["credit_balance"] == 40_000
    assert reverse(key, invoice["id"], part["id"])[0] == 200
    assert customer_of(key, customer_id)["credit_balance"] == 0
    assert invoice_of(key, invoice["id"])["status"] == "void"


def test_reversal_refusals_change_nothing(key, tenant_id, deps, invoice):
    _, part = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    assert reverse(key, invoice["id"], part["id"])[0] == 200
    before = invoice_of(key, invoice["id"])
    status, problem = reverse(key, invoice["id"], part["id"])
    assert status == 409 and problem["code"] == "payment_already_reversed"
    status, problem = reverse(key, invoice["id"], "pay_nope")
    assert status == 404 and problem["code"] == "payment_not_found"
    status, problem = call("POST", f"/v1/invoices/{invoice['id']}/payments/{part['id']}/reverse", key, {})
    assert status == 422 and problem["code"] == "invalid_request"
    status, problem = call(
        "POST", f"/v1/invoices/{invoice['id']}/payments/{part['id']}/reverse", key, {"reason": "x", "amount": 5}
    )
    assert status == 422 and problem["code"] == "invalid_request"
    # a Stripe payment is refunded or disputed, never reversed here
    from billing.domain.payments import Payment

    repo, now = deps.context.repo, deps.clock.now()
    stripe_payment = Payment(
        id="pay_stripe",
        tenant_id=tenant_id,
        invoice_id=invoice["id"],
        customer_id=invoice["customer_id"],
        amount=1_000,
        currency="eur",
        method="payment_link",
        status="succeeded",
        stripe_payment_intent_id="pi_1",
        created_at=now,
        updated_at=now,
    )
    tx = repo.transaction()
    repo.save_payment(tx, stripe_payment)
    repo.commit(tx)
    status, problem = reverse(key, invoice["id"], "pay_stripe")
    assert status == 409 and problem["code"] == "payment_not_reversible"
    assert invoice_of(key, invoice["id"]) == before
    # there is no DELETE
    status, problem = call("DELETE", f"/v1/invoices/{invoice['id']}/payments/{part['id']}", key)
    assert 400 <= status < 500


def test_the_same_reference_after_a_reversal_is_still_the_reversed_payment(key, invoice):
    _, part = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    reverse(key, invoice["id"], part["id"])
    status, problem = record(key, invoice["id"], wire(50_000, "WIRE-1"))
    assert status == 409 and problem["code"] == "payment_reference_used"
    status, same = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    assert status == 201 and same["status"] == "reversed"  # the identical request: what that payment is now


def test_the_facts_hold_the_offline_payment_and_its_reversal(key, tenant_id, invoice):
    from billing.adapters.dynamodb import from_item
    from billing.reports.facts import facts_from_items
    from tests.integration.conftest import TABLE

    _, part = record(key, invoice["id"], wire(40_000, "WIRE-1"))
    _, check = record(key, invoice["id"], {**wire(60_000, "CHK-1"), "method": "check"})
    reverse(key, invoice["id"], check["id"])
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.invoice(tenant_id, invoice["id"])["pk"]}},
    )
    facts = facts_from_items(from_item(i) for i in answer["Items"])
    money = sorted((r["type"], r["amount"], r["applied"]) for r in facts["invoice_events"] if r["amount"])
    collected = sum(r["amount"] for r in facts["invoice_events"] if r["type"] == "invoice.payment_succeeded")
    taken_back = sum(r["amount"] for r in facts["invoice_events"] if r["type"] == "payment.reversed")
    reopened = sum(r["amount"] for r in facts["invoice_events"] if r["type"] == "invoice.reopened")
    assert (collected, taken_back, reopened) == (100_000, 60_000, 60_000), money
    methods = {r["payment_id"]: (r["method"], r["status"]) for r in facts["payments"]}
    assert methods == {part["id"]: ("bank_transfer", "succeeded"), check["id"]: ("check", "reversed")}


class Crash(Exception):
    """The Lambda gone after its write committed, before the answer came back."""


def test_a_recording_that_died_after_its_commit_is_answered_by_its_retry_and_counted_once(
    key, tenant_id, deps, invoice, monkeypatch
):
    store = deps.context.repo.store
    real_commit = store.commit
    died = []

    def commit_then_die(tx):
        real_commit(tx)
        if not died:
            died.append(tx)
            raise Crash

    monkeypatch.setattr(store, "commit", commit_then_die)
    with pytest.raises(Crash):
        record(key, invoice["id"], wire(40_000, "WIRE-DIED"))
    status, body = record(key, invoice["id"], wire(40_000, "WIRE-DIED"))  # the ERP's retry
    assert status == 201 and body["reference"] == "WIRE-DIED", body
    assert invoice_of(key, invoice["id"])["amount_paid"] == 40_000
    assert event_types(keys.invoice(tenant_id, invoice["id"])).count("invoice.payment_succeeded") == 1
