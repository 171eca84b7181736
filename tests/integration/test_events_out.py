"""Events out: the audit trail (GET /v1/events), actors and object versions stamped on every event, every event of
real flows valid against its published schema, and the relay's EventBridge bus read back through a rule to SQS."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jsonschema
import pytest

from billing.adapters import keys
from billing.adapters.messaging import EventBridgeBus, entry_size
from billing.domain.models import DomainEvent
from billing.outbound import catalog, schemas
from billing.services import outbox, payments, portal, subscriptions, tenants
from functions.outbox_relay import app as relay
from infra import admin
from tests.integration.conftest import TABLE, FakeLambdaContext, sample_event
from tests.integration.numbering import number_drafts
from tests.integration.test_collection import DECLINE, TOTAL, call, get_invoice, new_customer, place_invoice, save_card
from tests.integration.test_collection_cases import ISSUED as CASE_ISSUED
from tests.integration.test_collection_cases import POLICY as CASE_POLICY
from tests.integration.test_collection_cases import escalated_case, sweep_on
from tests.integration.test_dunning import on_day
from tests.integration.test_offline_payments import CUSTOMER as OFFLINE_CUSTOMER
from tests.integration.test_offline_payments import TOTAL as OFFLINE_TOTAL
from tests.integration.test_offline_payments import new_invoice, wire
from tests.integration.test_stripe_webhooks import FakeStripe
from tests.integration.test_webhook_endpoints import create as create_endpoint
from tests.integration.test_webhook_endpoints import deliver as deliver_event
from tests.integration.test_webhook_endpoints import receive_all as receive_every
from tests.integration.test_workers import NO_FAILURES, set_clock
from tests.webhook_receiver import Receiver


class Gateway(FakeStripe):
    """Stripe for these flows: charges (the webhooks tests' fake) and refunds, idempotent on their key."""

    def refund(self, payment_intent_id, amount, reason, key, metadata=None, *, currency):
        self.__dict__.setdefault("refunds", {})
        made = {"id": f"re_{len(self.refunds) + 1}", "object": "refund", "status": "succeeded", "amount": amount}
        return self.refunds.setdefault(key, {**made, "payment_intent": payment_intent_id, "reason": reason})


@pytest.fixture
def gateway(deps):
    fake = Gateway()
    deps.__dict__["stripe"] = fake
    deps.env["PUBLIC_BASE_URL"] = "https://billing.example.com"
    return fake


def trail(key: str, **query: str) -> list[dict[str, Any]]:
    """Every event GET /v1/events gives for ``query``, page after page (small pages: the cursor is exercised)."""
    found, cursor = [], None
    while True:
        page_query = {"limit": "7", **query, **({"cursor": cursor} if cursor else {})}
        status, page, _ = call_query("GET", "/v1/events", key, page_query)
        assert status == 200, page
        found += page["data"]
        if not page["has_more"]:
            return found
        cursor = page["next_cursor"]


def call_query(method: str, path: str, key: str, query: dict[str, str] | None = None, body: Any = None):
    from functions.api import app as api
    from tests.integration.conftest import http_event

    answer = api.lambda_handler(http_event(method, path, key, body, query=query), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers", {})


def assert_valid(events: list[dict[str, Any]]) -> set[str]:
    """Each event validates against its type's published JSON Schema, and its data holds no field the type's model
    does not name (the schemas allow unknown fields for consumers; the code must not emit any unmodelled)."""
    for event in events:
        jsonschema.validate(event, schemas.schema(event["type"]))
        unmodelled = set(event["data"]) - set(schemas.DATA[event["type"]].model_fields)
        assert not unmodelled, (event["type"], unmodelled)
    return {e["type"] for e in events}


# --- every event of real flows is valid against its schema -------------------------------------------------------
def test_order_invoice_payment_refund_events_are_valid_and_say_who_did_what(deps, clock, gateway, key, tenant_id):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    invoice = place_invoice(key, customer_id)
    paid = payments.collect(deps.context, gateway, tenant_id, invoice["id"], "finalized")
    assert paid is not None and paid.status == "succeeded"
    status, note = call("POST", f"/v1/invoices/{invoice['id']}/refunds", key, {"amount": 1000, "reason": "other"})[:2]
    assert status == 201, note
    trial = call(
        "POST",
        "/v1/orders",
        key,
        {
            "customer_id": customer_id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "metadata": {"order_type": "trial"},
            "lines": [{"description": "Trial", "quantity": 1, "unit_amount": 100}],
        },
    )[1]
    assert call("POST", f"/v1/orders/{trial['id']}/approve", key, {})[0] == 200
    trial_invoice = call("GET", f"/v1/orders/{trial['id']}", key)[1]["invoice_id"]
    voided = call("POST", f"/v1/invoices/{trial_invoice}/void", key)
    assert voided[0] == 200, voided
    # money that arrives for the voided invoice: not its own, so the customer's credit
    late = {"id": "pi_late", "status": "succeeded", "amount": 100, "amount_received": 100, "currency": "usd"}
    pay_id = payments.payment_id(trial_invoice, "pi-pi_late")
    late["metadata"] = {"tenant_id": tenant_id, "invoice_id": trial_invoice, "payment_id": pay_id}
    payments.apply_payment_intent(deps.context, tenant_id, trial_invoice, pay_id, late)

    events = trail(key)
    seen = assert_valid(events)
    assert {
        "customer.created",
        "customer.payment_method_saved",
        "order.invoiced",
        "order.pending_review",
        "order.approved",
        "invoice.finalized",
        "payment.succeeded",
        "invoice.payment_succeeded",
        "invoice.paid",
        "invoice.refunded",
        "credit_note.issued",
        "invoice.voided",
        "customer.credit_added",
        "payment.unapplied",
        "api_key.created",
    } <= seen, seen
    # newest first, with who did it: the API key's id for what the API did, never the key
    created = [e["created"] for e in events]
    assert created == sorted(created, reverse=True)
    key_id = tenants.key_id(tenants.hash_key(key))
    by_type = {e["type"]: e for e in events}
    assert by_type["customer.created"]["actor"] == {"type": "api_key", "id": key_id}
    assert by_type["invoice.refunded"]["actor"] == {"type": "api_key", "id": key_id}
    assert key not in json.dumps(events) and key.split(".", 1)[1] not in json.dumps(events)
    # the object's version after the change: the invoice went finalized (1), paid (2), refunded (3)
    versions = [e["object"]["version"] for e in reversed(events) if e["object"]["id"] == invoice["id"]]
    stored = get_invoice(key, invoice["id"])
    assert max(v for v in versions if v is not None) == stored["version"]
    assert by_type["invoice.refunded"]["object"] == {"type": "invoice", "id": invoice["id"], "version": 3}


def test_subscription_and_dunning_events_are_valid_and_name_the_jobs(deps, clock, gateway, key, tenant_id):
    customer_id = new_customer(key)
    save_card(deps, gateway, key, tenant_id, customer_id)
    plan = {
        "name": "Pro",
        "interval": {"unit": "month", "count": 1},
        "prices": [{"currency": "usd", "scheme": "flat", "amount": TOTAL}],
    }
    plan_id = call("POST", "/v1/plans", key, plan)[1]["id"]
    body = {"customer_id": customer_id, "items": [{"plan_id": plan_id}]}
    status, sub, _ = call("POST", "/v1/subscriptions", key, body)
    assert status == 201, sub
    set_clock(clock, datetime(2026, 11, 23, 13, 10, tzinfo=UTC))
    (billed,) = subscriptions.bill_subscriptions(deps.context, tenant_id, [sub["id"]]).billed
    number_drafts(deps)
    gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
    payments.collect(deps.context, gateway, tenant_id, billed.invoice_id, "finalized")
    for day in range(1, 15):
        gateway.outcomes.append({"status": "requires_payment_method", "last_payment_error": DECLINE})
        on_day(deps, clock, day)
    gateway.outcomes.clear()
    payments.retry_now(deps.context, gateway, tenant_id, billed.invoice_id)
    assert get_invoice(key, billed.invoice_id)["status"] == "paid"

    events = trail(key)
    seen = assert_valid(events)
    assert {
        "plan.created",
        "subscription.created",
        "subscription.period_billed",
        "subscription.past_due",
        "subscription.suspended",
        "payment.failed",
        "invoice.past_due",
        "invoice.dunning_step",
        "invoice.paid",
    } <= seen, seen
    steps = [e for e in events if e["type"] == "invoice.dunning_step"]
    assert steps and all(e["actor"] == {"type": "job", "id": "dunning_worker"} for e in steps)
    assert all(e["object"]["version"] is not None for e in steps)
    # the subscription's own trail, from its partition, oldest last
    own = trail(key, object_id=sub["id"])
    assert {e["object"]["id"] for e in own} == {sub["id"]} and len(own) >= 4
    assert [e["created"] for e in own] == sorted((e["created"] for e in own), reverse=True)
    current = call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["version"]
    assert max(e["object"]["version"] for e in own) == current


# --- the audit trail's filters and refusals ----------------------------------------------------------------------
def test_crm_offline_payment_and_webhook_endpoint_events_are_valid_and_carry_no_secret(deps, clock, key, tenant_id):
    """A customer PATCHed, archived and brought back; a wire (overpaid) recorded and reversed; a webhook endpoint
    created, changed, its secret rolled, disabled by a 410 and deleted: every event valid, none with a secret."""
    customer = call("POST", "/v1/customers", key, OFFLINE_CUSTOMER)[1]
    patched = call("PATCH", f"/v1/customers/{customer['id']}", key, {"name": "Buyer AG", "metadata": {"crm": "42"}})
    assert patched[0] == 200, patched
    assert call("POST", f"/v1/customers/{customer['id']}/archive", key)[0] == 200
    assert call("POST", f"/v1/customers/{customer['id']}/unarchive", key)[0] == 200
    invoice = new_invoice(key, customer["id"])
    body = {**wire(OFFLINE_TOTAL + 500, "WIRE-7"), "recorded_by": "Grace (finance)"}
    status, paid = call("POST", f"/v1/invoices/{invoice['id']}/payments", key, body)[:2]
    assert status == 201, paid
    status, reversed_ = call(
        "POST",
        f"/v1/invoices/{invoice['id']}/payments/{paid['id']}/reverse",
        key,
        {"reason": "recalled", "recorded_by": "Grace (finance)"},
    )[:2]
    assert status == 200, reversed_

    deps.env["WEBHOOKS_ALLOW_LOCAL"] = "true"
    deps.env["WEBHOOK_TIMEOUT_SECONDS"] = "1"
    secrets = []
    with Receiver() as receiver:
        endpoint = create_endpoint(key, receiver.url, ["customer.created"])
        secrets.append(endpoint["secret"])
        path = f"/v1/webhook_endpoints/{endpoint['id']}"
        widened = {"enabled_events": ["customer.created", "invoice.paid"], "description": "ERP"}
        changed = call("PATCH", path, key, widened)
        assert changed[0] == 200, changed
        rolled = call("POST", f"{path}/roll_secret", key, {"expires_in_hours": 1})[1]
        secrets.append(rolled["secret"])
        receiver.secrets, receiver.mode = secrets, "gone"
        buyer = new_customer(key)  # customer.created: the endpoint's one delivery, answered 410
        (created,) = [e for e in deps.context.repo.events(keys.customer(tenant_id, buyer)) if e.type.endswith("ed")]
        deliver_event(json.dumps(created.model_dump(mode="json")))
        deliver_event(receive_every(deps.env["WEBHOOK_EVENTS_QUEUE_URL"])[0]["Body"])
    assert call("GET", path, key)[1]["disabled_reason"] == "gone"
    other = create_endpoint(key, "https://93.184.215.14/hooks")
    assert call("DELETE", f"/v1/webhook_endpoints/{other['id']}", key)[0] == 200

    events = trail(key)
    seen = assert_valid(events)
    assert {
        "customer.updated",
        "customer.archived",
        "customer.unarchived",
        "customer.credit_added",
        "customer.credit_deducted",
        "payment.succeeded",
        "payment.reversed",
        "invoice.reopened",
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.secret_rolled",
        "webhook_endpoint.disabled",
        "webhook_endpoint.deleted",
    } <= seen, seen
    text = json.dumps(events)
    assert all(secret not in text and secret.removeprefix("whsec_") not in text for secret in secrets)
    by_type = {e["type"]: e for e in events}
    # what the API did is the API key's; what the delivery function did is its job's
    key_actor = {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    for name in ("customer.updated", "payment.reversed", "customer.credit_deducted", "webhook_endpoint.secret_rolled"):
        assert by_type[name]["actor"] == key_actor, name
    assert by_type["webhook_endpoint.disabled"]["actor"] == {"type": "job", "id": "webhook_delivery"}
    # the free-text recorded_by stays beside the actor
    offline = next(e for e in events if e["type"] == "payment.succeeded" and e["data"].get("method"))
    assert offline["data"]["recorded_by"] == "Grace (finance)" and offline["actor"] == key_actor
    assert by_type["payment.reversed"]["data"]["recorded_by"] == "Grace (finance)"
    assert by_type["customer.credit_deducted"]["data"]["amount"] == 500


def test_collection_case_events_are_valid_and_name_who_did_them(deps, clock, key, tenant_id):
    """An invoice escalated by dunning, its case assigned, annotated, promised, the promise broken, the case
    resolved: every event valid; the dunning worker's and the API key's each say so."""
    call("PUT", "/v1/settings/dunning", key, CASE_POLICY)
    call("PUT", "/v1/settings/profile", key, {"legal_name": "Acme GmbH", "finance_email": "finance@acme.example"})
    invoice, case = escalated_case(deps, clock, key, tenant_id)
    path = f"/v1/collection_cases/{case['id']}"
    assert call("POST", f"{path}/assign", key, {"assignee": "olga@acme.example"})[0] == 200
    assert call("POST", f"{path}/notes", key, {"text": "Called: pays next week."})[0] == 200
    promised_on = CASE_ISSUED + timedelta(days=5)
    status, promised = call("POST", f"{path}/promise_to_pay", key, {"date": promised_on.isoformat()})[:2]
    assert status == 200, promised
    sweep_on(deps, clock, promised_on + timedelta(days=1))  # nothing came in: broken
    assert call("POST", f"{path}/resolve", key, {"resolution": "other", "note": "handed to a lawyer"})[0] == 200

    events = trail(key, object_id=case["id"])
    assert assert_valid(events) == {
        "collection_case.opened",
        "collection_case.assigned",
        "collection_case.note_added",
        "collection_case.promise_recorded",
        "collection_case.promise_broken",
        "collection_case.resolved",
    }
    by_type = {e["type"]: e for e in events}
    key_actor = {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    for name in ("collection_case.assigned", "collection_case.note_added", "collection_case.resolved"):
        assert by_type[name]["actor"] == key_actor, name
    for name in ("collection_case.opened", "collection_case.promise_broken"):
        assert by_type[name]["actor"] == {"type": "job", "id": "dunning_worker"}, name
    assert all(e["data"]["invoice_id"] == invoice["id"] for e in events)
    assert_valid(trail(key))  # the invoice's own events of the flow too


def test_the_trail_filters_by_type_object_and_time_and_refuses_bad_filters(deps, clock, key, tenant_id):
    first = new_customer(key)
    middle = clock.advance(timedelta(hours=1))
    clock.advance(timedelta(hours=1))
    second = new_customer(key)
    assert [e["object"]["id"] for e in trail(key, type="customer.created")] == [second, first]
    assert [e["type"] for e in trail(key, object_id=first)] == ["customer.created"]
    since = middle.isoformat()
    assert [e["object"]["id"] for e in trail(key, type="customer.created", **{"from": since})] == [second]
    assert [e["object"]["id"] for e in trail(key, type="customer.created", to=since)] == [first]
    assert [e["object"]["id"] for e in trail(key, object_id=second, to=since)] == []
    key_events = trail(key, type="api_key.created")
    assert len(key_events) == 1 and trail(key, object_id=key_events[0]["object"]["id"]) == key_events
    assert trail(key, object_id=tenant_id) == []  # the tenant item's own partition: nothing changed the tenant yet

    for query, status, code in [
        ({"type": "invoice.exploded"}, 422, "unknown_event_type"),
        ({"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}, 422, "invalid_range"),
        ({"from": "2026-11-24T00:00:00"}, 422, "invalid_instant"),
        ({"to": "9999-12-31T23:00:00-05:00"}, 422, "invalid_instant"),
        ({"from": "yesterday"}, 422, "invalid_request"),
        ({"to": "0.5"}, 422, "invalid_request"),  # a number is no instant (pydantic would read it as a timestamp)
        ({"to": "2026-13-45T00:00Z"}, 422, "invalid_instant"),
        ({"limit": "0"}, 422, "invalid_request"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, 422, "invalid_cursor"),
        ({"object": first}, 400, "unknown_query_parameter"),
    ]:
        answered, problem, headers = call_query("GET", "/v1/events", key, query)
        assert (answered, problem["code"]) == (status, code), (query, problem)
    # another tenant's cursor or trail is not this one's
    other_key = tenants.create_tenant(deps.context, "Other")[1]
    assert [e["type"] for e in trail(other_key)] == ["api_key.created"]


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT", "POST"])
def test_no_route_edits_or_deletes_an_event(deps, key, method):
    (event,) = trail(key, type="api_key.created")
    for path in ("/v1/events", f"/v1/events/{event['id']}"):
        status, problem, _ = call_query(method, path, key, body={} if method in ("PUT", "POST", "PATCH") else None)
        assert (status, problem["code"]) == (404, "no_such_route"), (method, path, problem)
    assert trail(key, type="api_key.created") == [event]


# --- admin actions are events ---------------------------------------------------------------------------------------
def test_admin_actions_are_events_with_before_and_after(deps, clock, monkeypatch, capsys, key, tenant_id):
    monkeypatch.setenv("TABLE_NAME", TABLE)
    clock.advance(timedelta(minutes=1))
    assert admin.main(["add-key", "--tenant", tenant_id]) == 0
    printed = json.loads(capsys.readouterr().out)
    second = printed["api_key"]
    assert printed["key_id"] == tenants.key_id(tenants.hash_key(second))
    issued = trail(key, type="api_key.created")
    assert len(issued) == 2
    newest = issued[0]
    assert newest["actor"] == {"type": "admin_command", "id": "add-key"}
    assert newest["data"]["key_id"] == tenants.key_id(tenants.hash_key(second))
    assert newest["data"]["scopes"] == ["read", "write", "payments", "admin"]
    assert second not in json.dumps(issued) and second.split(".", 1)[1] not in json.dumps(issued)

    policy = call("GET", "/v1/settings/dunning", key)[1]
    changed = {**policy, "steps": policy["steps"][:2]}
    assert call("PUT", "/v1/settings/dunning", key, changed)[0] == 200
    (event,) = trail(key, type="tenant.dunning_policy_updated")
    assert event["data"]["changes"] == {"steps": {"before": policy["steps"], "after": policy["steps"][:2]}}
    assert event["object"] == {"type": "tenant", "id": tenant_id, "version": 2}

    profile = {"legal_name": "Acme Software GmbH", "footer": "HRB 1"}
    assert call("PUT", "/v1/settings/profile", key, profile)[0] == 200
    clock.advance(timedelta(minutes=1))
    assert call("PUT", "/v1/settings/profile", key, {**profile, "footer": "HRB 2"})[0] == 200
    latest, first = trail(key, type="tenant.profile_updated")
    assert latest["data"]["changes"] == {"footer": {"before": "HRB 1", "after": "HRB 2"}}
    assert first["data"]["changes"]["legal_name"] == {"before": None, "after": "Acme Software GmbH"}
    assert_valid([latest, first, event, *issued])


# --- EventBridge: the relay puts every public event on the bus ------------------------------------------------------
@pytest.fixture
def bus(deps):
    """The stack's bus with a rule that sends every event of source ``billing`` to an SQS queue."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    name = "billing-test"
    events.create_event_bus(Name=name)
    queue = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-billing", EventBusName=name, EventPattern=json.dumps({"source": [outbox.EVENT_SOURCE]}))
    events.put_targets(Rule="all-billing", EventBusName=name, Targets=[{"Id": "tap", "Arn": arn}])
    deps.env["EVENT_BUS_NAME"] = name
    deps.__dict__.pop("event_bus", None)
    return queue


def stream_records(tenant_id: str) -> list[dict[str, Any]]:
    """Every event item of the tenant, as the table's stream gives them to the relay."""
    client = boto3.client("dynamodb")
    shards = [
        client.query(
            TableName=TABLE,
            IndexName="gsi3",
            KeyConditionExpression="gsi3pk = :pk",
            ExpressionAttributeValues={":pk": {"S": shard}},
        )["Items"]
        for shard in keys.event_lists(tenant_id)
    ]
    items = sorted((item for shard in shards for item in shard), key=lambda item: item["gsi3sk"]["S"])
    records = []
    for image in items:
        record = copy.deepcopy(sample_event("dynamodb_stream_event_item.json")["Records"][0])
        record["eventID"] = uuid.uuid4().hex
        record["dynamodb"]["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
        record["dynamodb"]["NewImage"] = image
        records.append(record)
    return records


def drain(queue: str) -> list[dict[str, Any]]:
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_the_relay_puts_every_public_event_on_the_bus_and_a_rule_delivers_it(deps, bus, key, tenant_id):
    for _ in range(6):
        new_customer(key)
    # the portal's sign-in request: an internal event, never on the bus
    assert portal.request_sign_in(deps.context, tenant_id, "someone@example.com", "en") is True
    records = stream_records(tenant_id)
    assert len(records) == 8  # the key, six customers, the sign-in request
    assert relay.lambda_handler({"Records": records}, FakeLambdaContext()) == NO_FAILURES

    delivered = drain(bus)
    assert len(delivered) == 7
    assert {m["source"] for m in delivered} == {"billing"}
    assert sorted(m["detail-type"] for m in delivered) == ["api_key.created"] + ["customer.created"] * 6
    by_id = {m["detail"]["id"]: m for m in delivered}
    for record in records:
        event = DomainEvent.model_validate_json(record["dynamodb"]["NewImage"]["doc"]["S"])
        if not catalog.is_public(event.type):
            assert event.id not in by_id
            continue
        message = by_id[event.id]
        assert message["detail"] == json.loads(json.dumps(outbox.envelope(event), default=str))
        assert message["resources"] == [f"urn:billing:{tenant_id}:{event.aggregate}:{event.aggregate_id}"]
        jsonschema.validate(message["detail"], schemas.schema(event.type))


class FlakyEvents:
    """EventBridge that refuses the first entry of each request ``refusals`` times."""

    def __init__(self, refusals: int) -> None:
        self.refusals, self.requests = refusals, []

    def put_events(self, Entries):  # noqa: N803 - boto3's name
        self.requests.append([e["Detail"] for e in Entries])
        answer = [{"EventId": uuid.uuid4().hex} for _ in Entries]
        if self.refusals:
            self.refusals -= 1
            answer[0] = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
        return {"FailedEntryCount": sum("ErrorCode" in a for a in answer), "Entries": answer}


def entries(n: int) -> list[dict[str, Any]]:
    return [{"Source": "billing", "DetailType": "t", "Detail": json.dumps({"n": i})} for i in range(n)]


def test_a_refused_entry_is_sent_again_and_one_still_refused_fails_the_batch(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)
    flaky = FlakyEvents(refusals=1)
    assert EventBridgeBus(flaky, "b").put(entries(23)) == 23
    # ten to a request; the one refused entry is sent again alone
    assert [len(r) for r in flaky.requests] == [10, 1, 10, 3]
    assert flaky.requests[1] == [flaky.requests[0][0]]

    stubborn = FlakyEvents(refusals=99)
    with pytest.raises(RuntimeError, match="refused 1 events"):
        EventBridgeBus(stubborn, "b").put(entries(2))
    assert len(stubborn.requests) == 3


def test_a_bus_that_refuses_fails_the_relays_whole_batch_and_queues_nothing(deps, bus, key, tenant_id, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _: None)
    new_customer(key)
    deps.__dict__["event_bus"] = EventBridgeBus(FlakyEvents(refusals=99), "billing-test")
    with pytest.raises(RuntimeError):
        relay.lambda_handler({"Records": stream_records(tenant_id)}, FakeLambdaContext())
    assert drain(bus) == []


def test_an_entry_is_never_bigger_than_eventbridge_takes(deps, key, tenant_id):
    """A profile's logo (up to 100 KB) is on the trail by type, size and digest, not as the image."""
    svg = '<svg xmlns="http://www.w3.org/2000/svg">' + "<g/>" * 20_000 + "</svg>"
    logo = {"content_type": "image/svg+xml", "data": base64.b64encode(svg.encode()).decode()}
    assert call("PUT", "/v1/settings/profile", key, {"legal_name": "Acme", "logo": logo})[0] == 200
    (event,) = trail(key, type="tenant.profile_updated")
    assert event["data"]["changes"]["logo"]["after"]["bytes"] == len(svg)
    (stored,) = [e for e in deps.context.repo.events(keys.tenant(tenant_id)) if e.type == "tenant.profile_updated"]
    assert entry_size(outbox.bus_entry(stored)) < 4096


def test_the_sample_rule_of_events_md_delivers_its_tenants_paid_invoices_only(deps, bus, key, tenant_id):
    """docs/events.md's rule, for this tenant, on the bus: it takes this tenant's invoice.paid and nothing else."""
    import re

    import yaml

    from infra.local.template import _CfnLoader
    from tests.e2e.conftest import ROOT

    (sample,) = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "events.md").read_text(), flags=re.S)
    rule = yaml.load(sample, Loader=_CfnLoader)["InvoicePaidRule"]["Properties"]  # noqa: S506 - a SafeLoader
    pattern = rule["EventPattern"]
    pattern["detail"]["tenant_id"] = [tenant_id]
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="accounting")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="invoice-paid", EventBusName="billing-test", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="invoice-paid", EventBusName="billing-test", Targets=[{"Id": "a", "Arn": arn}])

    def event(type_: str, tenant: str) -> DomainEvent:
        return DomainEvent.new(type_, tenant, "invoice", "in_1", datetime(2026, 12, 1, tzinfo=UTC), number="INV-1")

    mine, others, unpaid = event("invoice.paid", tenant_id), event("invoice.paid", "ten_other"), event(
        "invoice.voided", tenant_id
    )
    assert outbox.publish([mine, others, unpaid], deps.event_bus) == 3
    assert [m["detail"]["id"] for m in drain(queue)] == [mine.id]
    assert len(drain(bus)) == 3  # the tap takes them all


def test_what_the_hosted_page_does_is_done_by_the_invoices_customer(deps, key):
    """The page's link is its credential: the payment attempt it records is the invoice's customer's."""
    from tests.integration import test_hosted_page as page

    deps.__dict__["stripe"] = page.FakeStripe()
    deps.env["STRIPE_PUBLISHABLE_KEY"] = "pk_test_x"
    invoice = page.invoice_for(key)
    status, body, _ = page.call("GET", page.link(deps, invoice))
    assert status == 200, body
    (attempt,) = [e for e in trail(key, object_id=invoice["id"]) if e["type"].startswith("payment.")]
    assert attempt["actor"] == {"type": "customer", "id": invoice["customer_id"]}
    assert trail(key, type="invoice.finalized", object_id=invoice["id"])[0]["actor"]["type"] == "api_key"
