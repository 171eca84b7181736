"""Collecting invoices through Stripe, on moto, with a fake gateway that has Stripe's idempotency: the collector
handler charges finalized charge_automatically invoices off session; Stripe's webhooks go through the receiver and
the stripe_events handler; the storefront reads payments and retries through the API handler.

Every outcome is read back from DynamoDB, SQS, the API's answers and what the fake saw: a charge counts at Stripe
once per idempotency key, and an invoice's amount_paid must count each payment once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.domain.models import DomainEvent
from billing.domain.payments import payment_id
from billing.services import payments, stripe_events
from functions.api import app as api
from functions.collector import app as collector
from functions.outbox_relay import app as relay
from tests.fixtures import stripe_resource
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event, sample_event
from tests.integration.test_stripe_webhooks import (
    SECRETS,
    FakeStripe,
    deliver,
    put_webhook_secrets,
    receive_messages,
    run_stripe_events,
    sqs_event,
    stripe_event,
    stripe_event_record,
)

NO_FAILURES = {"batchItemFailures": []}
TOTAL = 4328  # 2 x 19.99 + 8.25 % tax
DECLINE = {
    "type": "card_error",
    "code": "card_declined",
    "decline_code": "card_declined",
    "message": "Your card was declined.",
}


# --- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def gateway(deps: Deps) -> FakeStripe:
    fake = FakeStripe()
    deps.__dict__["stripe"] = fake  # cached_property slot, like the clock
    return fake


@pytest.fixture(autouse=True)
def webhook_secrets(deps: Deps):
    put_webhook_secrets(deps, ",".join(SECRETS))
    yield
    parameters.clear_caches()


# --- the API ----------------------------------------------------------------------------------------------------------
def call(method: str, path: str, key: str, body: Any = None, headers: dict[str, str] | None = None):
    answer = api.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None, answer.get("headers", {})


def new_customer(key: str) -> str:
    status, body, _ = call(
        "POST",
        "/v1/customers",
        key,
        {"email": "ana@example.com", "name": "Ana Lima", "locale": "en", "currency": "usd"},
    )
    assert status == 201, body
    return body["id"]


def place_invoice(key: str, customer_id: str, collection_method: str = "charge_automatically") -> dict[str, Any]:
    order = {
        "customer_id": customer_id,
        "currency": "usd",
        "lines": [{"description": "Pro plan", "quantity": 2, "unit_amount": 1999, "tax_rate_percent": "8.25"}],
        "collection_method": collection_method,
    }
    status, placed, _ = call("POST", "/v1/orders", key, order)
    assert status == 201 and placed["status"] == "invoiced", placed
    invoice = get_invoice(key, placed["invoice_id"])
    assert invoice["status"] == "open" and invoice["total"] == invoice["amount_due"] == TOTAL
    return invoice


def get_invoice(key: str, invoice_id: str) -> dict[str, Any]:
    status, invoice, _ = call("GET", f"/v1/invoices/{invoice_id}", key)
    assert status == 200, invoice
    return invoice


def list_payments(key: str, invoice_id: str) -> list[dict[str, Any]]:
    status, listed, _ = call("GET", f"/v1/invoices/{invoice_id}/payments", key)
    assert status == 200, listed
    return listed["data"]


def save_card(deps: Deps, gateway: FakeStripe, key: str, tenant_id: str, customer_id: str) -> str:
    """The storefront asks for a SetupIntent, Stripe.js confirms it, and we save its card (as the
    setup_intent.succeeded handler does)."""
    status, intent, _ = call("POST", f"/v1/customers/{customer_id}/setup_intent", key)
    assert status == 200 and intent["client_secret"], intent
    gateway.confirm_setup_intent(intent["id"], "pm_card_visa")
    saved = payments.save_payment_method(deps.context, gateway, tenant_id, intent["id"])
    assert saved is not None and saved.default_payment_method == "pm_card_visa" and saved.stripe_customer_id
    return saved.stripe_customer_id


@pytest.fixture
def customer_id(deps: Deps, gateway: FakeStripe, key: str, tenant_id: str) -> str:
    """A customer with a saved card."""
    customer = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer)
    gateway.calls.clear()
    return customer


# --- the table, read back ---------------------------------------------------------------------------------------------
def invoice_events(tenant_id: str, invoice_id: str, event_type: str | None = None) -> list[DomainEvent]:
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
        ExpressionAttributeValues={":pk": {"S": keys.invoice(tenant_id, invoice_id)["pk"]}, ":evt": {"S": "EVT#"}},
        ConsistentRead=True,
    )
    events = [DomainEvent.model_validate_json(i["doc"]["S"]) for i in answer["Items"]]
    return [e for e in events if event_type is None or e.type == event_type]


def payment_items(tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :pay)",
        ExpressionAttributeValues={":pk": {"S": keys.invoice(tenant_id, invoice_id)["pk"]}, ":pay": {"S": "PAY#"}},
        ConsistentRead=True,
    )
    return [json.loads(i["doc"]["S"]) | {"_status_attr": i["status"]["S"]} for i in answer["Items"]]


def assert_paid_once(key: str, tenant_id: str, invoice_id: str) -> dict[str, Any]:
    invoice = get_invoice(key, invoice_id)
    assert (invoice["status"], invoice["amount_paid"], invoice["amount_due"]) == ("paid", TOTAL, 0), invoice
    assert len(invoice_events(tenant_id, invoice_id, "invoice.paid")) == 1
    assert len(invoice_events(tenant_id, invoice_id, "invoice.payment_succeeded")) == 1
    return invoice


# --- the collector's queue --------------------------------------------------------------------------------------------
def finalized_message(tenant_id: str, invoice_id: str) -> dict[str, Any]:
    """The invoice.finalized outbox item as an SQS message on the collections queue."""
    (event,) = invoice_events(tenant_id, invoice_id, "invoice.finalized")
    body = event.model_dump_json()
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
    }


def run_collector(*messages: dict[str, Any]) -> dict[str, Any]:
    return collector.lambda_handler(sqs_event(list(messages), "collections"), FakeLambdaContext())


def relay_finalized(deps: Deps, tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    """Hand the invoice's invoice.finalized outbox item to the relay as a stream record; what reached the
    collections queue."""
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
        ExpressionAttributeValues={":pk": {"S": keys.invoice(tenant_id, invoice_id)["pk"]}, ":evt": {"S": "EVT#"}},
    )
    (image,) = [i for i in answer["Items"] if i["event_type"]["S"] == "invoice.finalized"]
    record = copy.deepcopy(sample_event("dynamodb_stream_event_item.json")["Records"][0])
    record["eventID"] = uuid.uuid4().hex
    record["dynamodb"]["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
    record["dynamodb"]["NewImage"] = image
    assert relay.lambda_handler({"Records": [record]}, FakeLambdaContext()) == NO_FAILURES
    return receive_messages(deps.env["COLLECTIONS_QUEUE_URL"])


# --- Stripe's webhooks, end to end ------------------------------------------------------------------------------------
def webhook(deps: Deps, event_type: str, intent: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stripe delivers ``event_type`` for ``intent``; the receiver enqueues it; the stripe_events handler applies it.
    Answers the Stripe event and the handler's batch response."""
    event = stripe_event(event_type, intent)
    status, answer = deliver(event)
    assert status == 200, answer
    messages = receive_messages(deps.env["STRIPE_EVENTS_QUEUE_URL"])
    assert len(messages) == 1, messages
    return event, run_stripe_events(messages)


def received(deps: Deps, event: dict[str, Any]) -> dict[str, Any]:
    """Deliver ``event`` and answer the message the receiver enqueued (not yet processed)."""
    assert deliver(event)[0] == 200
    (message,) = receive_messages(deps.env["STRIPE_EVENTS_QUEUE_URL"])
    return message


# --- saved cards ------------------------------------------------------------------------------------------------------
def test_a_card_confirmed_with_stripe_js_is_saved_by_the_setup_intent_webhook(deps, gateway, key, tenant_id):
    customer_id = new_customer(key)
    idem = {"Idempotency-Key": "seti-1"}
    status, intent, _ = call("POST", f"/v1/customers/{customer_id}/setup_intent", key, headers=idem)
    assert status == 200 and intent["customer_id"] == customer_id and intent["client_secret"]
    (created,) = gateway.calls_to("create_setup_intent")
    assert created["idempotency_key"].startswith(f"seti-{customer_id}-")
    replay = call("POST", f"/v1/customers/{customer_id}/setup_intent", key, headers=idem)
    assert replay[1] == intent and replay[2].get("Idempotent-Replayed") == "true"
    assert len(gateway.calls_to("create_customer")) == 1

    confirmed = gateway.confirm_setup_intent(intent["id"], "pm_card_mastercard")
    event, result = webhook(deps, "setup_intent.succeeded", confirmed)
    assert result == NO_FAILURES
    customer = call("GET", f"/v1/customers/{customer_id}", key)[1]
    assert customer["default_payment_method"] == "pm_card_mastercard"
    assert customer["stripe_customer_id"] == gateway.setup_intents[intent["id"]]["customer"]
    assert stripe_event_record(tenant_id, event["id"])["status"] == "processed"

    # the same card saved again (a second SetupIntent event for it) raises no second event
    payments.save_payment_method(deps.context, gateway, tenant_id, intent["id"])
    saved = deps.context.repo.events(keys.customer(tenant_id, customer_id))
    assert [e.type for e in saved].count("customer.payment_method_saved") == 1


# --- charging ---------------------------------------------------------------------------------------------------------
def test_a_finalized_invoice_is_charged_once_with_the_payment_id_as_idempotency_key(deps, gateway, key, tenant_id):
    customer_id = new_customer(key)
    stripe_customer = save_card(deps, gateway, key, tenant_id, customer_id)
    gateway.calls.clear()
    invoice = place_invoice(key, customer_id)
    messages = relay_finalized(deps, tenant_id, invoice["id"])
    assert len(messages) == 1

    assert run_collector(*messages) == NO_FAILURES

    expected = payment_id(invoice["id"], "finalized")
    (charge,) = gateway.calls_to("charge_off_session")
    assert charge["idempotency_key"] == expected
    assert (charge["amount"], charge["currency"], charge["customer"], charge["payment_method"]) == (
        TOTAL,
        "usd",
        stripe_customer,
        "pm_card_visa",
    )
    assert charge["metadata"] == {"tenant_id": tenant_id, "invoice_id": invoice["id"], "payment_id": expected}
    assert gateway.captured == TOTAL
    assert_paid_once(key, tenant_id, invoice["id"])
    (pay,) = list_payments(key, invoice["id"])
    assert (pay["id"], pay["status"], pay["method"], pay["amount"]) == (expected, "succeeded", "off_session", TOTAL)
    assert pay["stripe_payment_intent_id"] == gateway.by_key[expected]

    # the same message again (SQS delivers at least once): nothing more at Stripe
    assert run_collector(*messages) == NO_FAILURES
    assert gateway.charged_keys == [expected] and gateway.captured == TOTAL
    assert_paid_once(key, tenant_id, invoice["id"])


def test_a_send_invoice_invoice_is_not_charged(deps, gateway, key, tenant_id, customer_id):
    invoice = place_invoice(key, customer_id, "send_invoice")
    messages = relay_finalized(deps, tenant_id, invoice["id"])  # every finalized invoice reaches the collector…
    assert len(messages) == 1
    assert run_collector(*messages) == NO_FAILURES  # …which leaves a send_invoice one to the customer
    assert gateway.calls == [] and payment_items(tenant_id, invoice["id"]) == []
    assert get_invoice(key, invoice["id"])["status"] == "open"


def test_a_customer_without_a_saved_card_fails_the_attempt_without_calling_stripe(deps, gateway, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    assert run_collector(finalized_message(tenant_id, invoice["id"])) == NO_FAILURES
    assert gateway.calls == []
    (pay,) = list_payments(key, invoice["id"])
    assert (pay["status"], pay["decline_code"]) == ("failed", "no_payment_method")
    assert pay["failure_message"] and pay["stripe_payment_intent_id"] is None
    invoice = get_invoice(key, invoice["id"])
    assert (invoice["status"], invoice["amount_due"], invoice["amount_paid"]) == ("open", TOTAL, 0)
    (failed,) = invoice_events(tenant_id, invoice["id"], "payment.failed")
    assert failed.data == {"payment_id": pay["id"], "decline_code": "no_payment_method"}


# --- a crash between "Stripe charged" and "we recorded it" ------------------------------------------------------------
def test_a_crash_after_stripe_charged_ends_in_one_charge_when_the_message_is_redelivered(
    deps, gateway, key, tenant_id, customer_id
):
    invoice = place_invoice(key, customer_id)
    message = finalized_message(tenant_id, invoice["id"])
    gateway.crash_after_charge = 1

    # the whole (one-message) batch failed: reported, backed off, and SQS redelivers it
    assert run_collector(message)["batchItemFailures"] != []
    expected = payment_id(invoice["id"], "finalized")
    assert gateway.captured == TOTAL  # Stripe took the money…
    (pending,) = payment_items(tenant_id, invoice["id"])
    assert (pending["id"], pending["status"]) == (expected, "pending")  # …we never heard the answer
    assert get_invoice(key, invoice["id"])["amount_paid"] == 0

    assert run_collector(message) == NO_FAILURES
    assert gateway.charged_keys == [expected, expected]  # asked twice, with the same key
    assert len(gateway.charges) == 1 and gateway.captured == TOTAL  # charged once
    assert_paid_once(key, tenant_id, invoice["id"])
    (pay,) = list_payments(key, invoice["id"])
    assert pay["status"] == "succeeded"


def test_a_crash_then_stripes_webhook_then_the_redelivery_is_still_one_charge(
    deps, gateway, key, tenant_id, customer_id
):
    invoice = place_invoice(key, customer_id)
    message = finalized_message(tenant_id, invoice["id"])
    gateway.crash_after_charge = 1
    assert run_collector(message)["batchItemFailures"] != []  # failed: backed off, redelivered later
    (charge,) = gateway.charges

    _, result = webhook(deps, "payment_intent.succeeded", charge)  # Stripe's word arrives before the retry
    assert result == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])

    assert run_collector(message) == NO_FAILURES
    assert len(gateway.charges) == 1 and gateway.captured == TOTAL
    assert gateway.charged_keys == [payment_id(invoice["id"], "finalized")]  # paid: no second request at all
    assert_paid_once(key, tenant_id, invoice["id"])


def test_paying_now_while_an_attempts_outcome_is_unknown_does_not_charge_twice(
    deps, gateway, key, tenant_id, customer_id
):
    invoice = place_invoice(key, customer_id)
    message = finalized_message(tenant_id, invoice["id"])
    gateway.crash_after_charge = 1
    assert run_collector(message)["batchItemFailures"] != []  # failed: backed off, redelivered later

    status, answer, _ = call("POST", f"/v1/invoices/{invoice['id']}/pay", key)  # the customer clicks "pay now"
    first = payment_id(invoice["id"], "finalized")
    assert status == 200, answer
    assert (answer["id"], answer["status"]) == (first, "succeeded")  # the unknown attempt, resumed with its key
    assert run_collector(message) == NO_FAILURES  # the redelivery

    assert gateway.charged_keys == [first, first]
    assert gateway.captured == TOTAL, f"Stripe captured {gateway.captured} for an invoice of {TOTAL}"
    assert_paid_once(key, tenant_id, invoice["id"])
    assert [p["id"] for p in list_payments(key, invoice["id"])] == [first]


def test_paying_now_while_stripe_is_still_processing_an_attempt_is_a_conflict(
    deps, gateway, key, tenant_id, customer_id
):
    invoice, charge = processing_invoice(deps, gateway, key, tenant_id, customer_id)
    status, problem, _ = call("POST", f"/v1/invoices/{invoice['id']}/pay", key)
    assert status == 409 and problem["code"] == "payment_in_progress"
    assert gateway.charged_keys == [payment_id(invoice["id"], "finalized")] and len(gateway.charges) == 1
    assert len(list_payments(key, invoice["id"])) == 1

    _, result = webhook(deps, "payment_intent.succeeded", gateway.settle(charge["id"]))
    assert result == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])
    assert gateway.captured == TOTAL


# --- Stripe's events, in any order and more than once -----------------------------------------------------------------
def processing_invoice(deps: Deps, gateway: FakeStripe, key: str, tenant_id: str, customer_id: str):
    """An invoice whose off-session charge Stripe is still processing (asynchronous)."""
    invoice = place_invoice(key, customer_id)
    gateway.outcomes.append({"status": "processing"})
    assert run_collector(finalized_message(tenant_id, invoice["id"])) == NO_FAILURES
    (charge,) = gateway.charges
    (pay,) = list_payments(key, invoice["id"])
    assert pay["status"] == "processing" and get_invoice(key, invoice["id"])["status"] == "open"
    return invoice, charge


def test_a_failure_event_after_the_success_event_leaves_the_payment_succeeded(
    deps, gateway, key, tenant_id, customer_id
):
    invoice, charge = processing_invoice(deps, gateway, key, tenant_id, customer_id)
    failed_snapshot = {**charge, "status": "requires_payment_method", "last_payment_error": DECLINE}
    succeeded = gateway.settle(charge["id"])

    _, result = webhook(deps, "payment_intent.succeeded", succeeded)
    assert result == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])

    # an older payment_failed event arrives last; Stripe's current state is succeeded
    event, result = webhook(deps, "payment_intent.payment_failed", failed_snapshot)
    assert result == NO_FAILURES and stripe_event_record(tenant_id, event["id"])["status"] == "processed"
    # and even if the state read back were the failure (a stale read), a succeeded payment does not move
    gateway.intents[charge["id"]] = copy.deepcopy(failed_snapshot)
    _, result = webhook(deps, "payment_intent.payment_failed", failed_snapshot)
    assert result == NO_FAILURES

    (pay,) = list_payments(key, invoice["id"])
    assert (pay["status"], pay["decline_code"], pay["failure_message"]) == ("succeeded", None, None)
    assert assert_paid_once(key, tenant_id, invoice["id"])["amount_paid"] == TOTAL
    assert invoice_events(tenant_id, invoice["id"], "payment.failed") == []


def test_the_same_succeeded_event_processed_three_times_counts_once(deps, gateway, key, tenant_id, customer_id):
    invoice, charge = processing_invoice(deps, gateway, key, tenant_id, customer_id)
    event = stripe_event("payment_intent.succeeded", gateway.settle(charge["id"]))
    message = received(deps, event)

    # three copies of the message in one batch, then again in batches of their own
    assert run_stripe_events([message, message, message]) == NO_FAILURES
    assert run_stripe_events([message]) == NO_FAILURES
    assert run_stripe_events([message]) == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])
    assert len(invoice_events(tenant_id, invoice["id"], "payment.succeeded")) == 1

    # a worker that applied the event but died before marking it processed: the redelivery applies it again
    for _ in range(3):
        deps.context.repo.mark_stripe_event(tenant_id, event["id"], "received", "2026-11-23T12:00:00+00:00")
        assert run_stripe_events([message]) == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])
    assert len(invoice_events(tenant_id, invoice["id"], "payment.succeeded")) == 1
    assert stripe_event_record(tenant_id, event["id"])["status"] == "processed"


def test_two_workers_applying_the_same_success_at_once_count_it_once(
    deps, gateway, key, tenant_id, customer_id, monkeypatch
):
    """Worker A has read the payment and invoice and is about to commit when worker B (the same event redelivered)
    commits first: A's conditional write loses, A re-reads, and finds nothing left to do."""
    invoice, charge = processing_invoice(deps, gateway, key, tenant_id, customer_id)
    message = received(deps, stripe_event("payment_intent.succeeded", gateway.settle(charge["id"])))
    repo = deps.context.repo
    commit, raced = repo.commit, []

    def commit_after_the_other_worker(tx):
        if not raced and any("PAY#" in json.dumps(item) for item in tx.items):
            raced.append(True)
            assert run_stripe_events([message]) == NO_FAILURES  # B, start to finish
        return commit(tx)

    monkeypatch.setattr(repo, "commit", commit_after_the_other_worker)
    assert run_stripe_events([message]) == NO_FAILURES  # A
    assert raced
    assert_paid_once(key, tenant_id, invoice["id"])
    assert len(invoice_events(tenant_id, invoice["id"], "payment.succeeded")) == 1


def test_a_success_for_an_invoice_not_yet_visible_is_retried_until_it_is(deps, gateway, key, tenant_id, customer_id):
    invoice = place_invoice(key, customer_id, "send_invoice")
    intent = gateway.add_intent(  # paid on a hosted page: no payment of ours yet
        status="succeeded",
        amount=TOTAL,
        amount_received=TOTAL,
        currency="usd",
        metadata={"tenant_id": tenant_id, "invoice_id": invoice["id"]},
    )
    success = received(deps, stripe_event("payment_intent.succeeded", intent))
    other_event = stripe_event("customer.updated", {"id": "cus_1", "metadata": {"tenant_id": tenant_id}})
    other = received(deps, other_event)

    table = boto3.client("dynamodb")
    item_key = {k: {"S": v} for k, v in keys.invoice(tenant_id, invoice["id"]).items()}
    hidden = table.get_item(TableName=TABLE, Key=item_key, ConsistentRead=True)["Item"]
    table.delete_item(TableName=TABLE, Key=item_key)

    result = run_stripe_events([success, other])
    assert result == {"batchItemFailures": [{"itemIdentifier": success["MessageId"]}]}
    assert stripe_event_record(tenant_id, json.loads(success["Body"])["event_id"])["status"] == "received"
    assert stripe_event_record(tenant_id, other_event["id"])["status"] == "ignored"
    assert payment_items(tenant_id, invoice["id"]) == []

    table.put_item(TableName=TABLE, Item=hidden)  # the invoice becomes visible
    assert run_stripe_events([success]) == NO_FAILURES
    assert_paid_once(key, tenant_id, invoice["id"])
    (pay,) = list_payments(key, invoice["id"])
    assert pay["id"] == payment_id(invoice["id"], f"pi-{intent['id']}")
    assert (pay["method"], pay["status"], pay["stripe_payment_intent_id"]) == (
        "payment_link",
        "succeeded",
        intent["id"],
    )
    assert stripe_event_record(tenant_id, json.loads(success["Body"])["event_id"])["status"] == "processed"
    assert gateway.calls_to("charge_off_session") == []


def test_an_unknown_event_type_is_acknowledged_and_marked_ignored(deps, gateway, tenant_id):
    assert "customer.subscription.trial_will_end" not in stripe_events.HANDLERS
    obj = stripe_resource("subscription")
    obj.update(metadata={"tenant_id": tenant_id})
    event, result = webhook(deps, "customer.subscription.trial_will_end", obj)
    assert result == NO_FAILURES
    record = stripe_event_record(tenant_id, event["id"])
    assert record["status"] == "ignored" and record["processed_at"]
    assert gateway.calls == []


def test_a_payment_intent_without_an_invoice_is_processed_and_changes_nothing(deps, gateway, tenant_id):
    intent = gateway.add_intent(status="succeeded", metadata={"tenant_id": tenant_id})
    event, result = webhook(deps, "payment_intent.succeeded", intent)
    assert result == NO_FAILURES
    assert stripe_event_record(tenant_id, event["id"])["status"] == "processed"
    assert [name for name, _ in gateway.calls] == ["payment_intent"]  # Stripe's PaymentIntent decides, not the body


# --- declines and paying again ----------------------------------------------------------------------------------------
def test_a_declined_charge_fails_the_attempt_and_paying_again_is_a_new_attempt(
    deps, gateway, key, tenant_id, customer_id, clock
):
    invoice = place_invoice(key, customer_id)
    gateway.outcomes += [
        {"status": "requires_payment_method", "last_payment_error": DECLINE},
        {"status": "requires_payment_method", "last_payment_error": {**DECLINE, "decline_code": "insufficient_funds"}},
    ]
    assert run_collector(finalized_message(tenant_id, invoice["id"])) == NO_FAILURES

    first = payment_id(invoice["id"], "finalized")
    (declined,) = gateway.charges
    (pay,) = list_payments(key, invoice["id"])
    assert (pay["id"], pay["status"], pay["decline_code"]) == (first, "failed", "card_declined")
    assert pay["failure_message"] == "Your card was declined." and pay["stripe_payment_intent_id"] == declined["id"]
    current = get_invoice(key, invoice["id"])
    assert (current["status"], current["amount_due"], current["amount_paid"]) == ("open", TOTAL, 0)
    (failed,) = invoice_events(tenant_id, invoice["id"], "payment.failed")
    assert failed.data == {"payment_id": first, "decline_code": "card_declined"}

    # an hour later, pay now with an Idempotency-Key: attempt 2, its own Stripe idempotency key; declined again
    clock.advance(timedelta(hours=1))
    idem = {"Idempotency-Key": "pay-now-1"}
    status, second, _ = call("POST", f"/v1/invoices/{invoice['id']}/pay", key, headers=idem)
    assert status == 200, second
    assert second["id"] == payment_id(invoice["id"], "attempt-2") != first
    assert (second["status"], second["decline_code"]) == ("failed", "insufficient_funds")
    assert gateway.charged_keys == [first, second["id"]]
    status, replay, headers = call("POST", f"/v1/invoices/{invoice['id']}/pay", key, headers=idem)
    assert status == 200 and replay == second and headers.get("Idempotent-Replayed") == "true"
    assert gateway.charged_keys == [first, second["id"]]  # the replay asked Stripe nothing

    # a day later, pay now again: attempt 3 succeeds
    clock.advance(timedelta(days=1))
    status, third, _ = call("POST", f"/v1/invoices/{invoice['id']}/pay", key)
    assert status == 200 and third["status"] == "succeeded"
    assert third["id"] == payment_id(invoice["id"], "attempt-3")
    assert len(set(gateway.charged_keys)) == 3 and gateway.captured == TOTAL
    assert_paid_once(key, tenant_id, invoice["id"])
    listed = list_payments(key, invoice["id"])
    assert [(p["id"], p["status"], p["decline_code"]) for p in listed] == [
        (first, "failed", "card_declined"),
        (second["id"], "failed", "insufficient_funds"),
        (third["id"], "succeeded", None),
    ]

    status, problem, _ = call("POST", f"/v1/invoices/{invoice['id']}/pay", key)  # nothing left to pay
    assert status == 409 and problem["code"] == "invoice_not_payable"
    assert len(gateway.charged_keys) == 3


def test_another_tenants_invoice_payments_are_not_found(deps, gateway, key, tenant_id, customer_id):
    from billing.services import tenants

    invoice = place_invoice(key, customer_id)
    _, other_key = tenants.create_tenant(deps.context, "Other Co")
    assert call("GET", f"/v1/invoices/{invoice['id']}/payments", other_key)[0] == 404
    assert call("POST", f"/v1/invoices/{invoice['id']}/pay", other_key)[0] == 404
    assert gateway.calls == []
