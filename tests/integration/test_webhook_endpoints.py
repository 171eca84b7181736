"""Tenant webhook endpoints on moto, through the API handler and the delivery function as AWS calls them: every bad
input a 4xx problem that changes nothing, the secret shown once, and a delivery made once whatever SQS redelivers,
sent to a real HTTP receiver (tests/webhook_receiver.py) that verifies it with the ``standardwebhooks`` library."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from billing.adapters import keys
from billing.adapters.clock import FixedClock
from billing.bootstrap import Deps
from billing.domain.models import DomainEvent
from billing.outbound import retry
from billing.services import outbox, tenants
from functions.api import app as api
from functions.webhook_delivery import app as delivery_function
from tests.integration.conftest import FakeLambdaContext, http_event, sample_event
from tests.webhook_receiver import Receiver

NO_FAILURES = {"batchItemFailures": []}


def call(method: str, path: str, key: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    answer = api.lambda_handler(http_event(method, path, key, body, headers=headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


@pytest.fixture
def local(deps: Deps) -> Deps:
    """The local stack's allowance: http and loopback targets (a receiver on this machine)."""
    deps.env["WEBHOOKS_ALLOW_LOCAL"] = "true"
    deps.env["WEBHOOK_TIMEOUT_SECONDS"] = "1"
    return deps


def create(key: str, url: str, types: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    status, body = call("POST", "/v1/webhook_endpoints", key, {"url": url, "enabled_events": types or ["*"], **extra})
    assert status == 201, body
    return body


def table_items(pk: str, prefix: str) -> list[dict[str, Any]]:
    from billing.adapters.dynamodb import from_item

    answer = boto3.client("dynamodb").query(
        TableName="billing-test",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": prefix}},
    )
    return [from_item(i) for i in answer["Items"]]


def receive_all(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue, delayed ones too (SQS's delay runs on the wall clock; the test's clock is
    fixed), taken off it: what the Lambda poller would hand over, each in its time. Read from moto's backend."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[queue_url.rstrip("/").rpartition("/")[2]]
    with queue._messages_lock:
        found = [{"Body": m.body} for m in queue._messages]
        queue._messages.clear()
    return found


def sqs_event(*bodies: str) -> dict[str, Any]:
    template = sample_event("sqs_webhook_event.json")["Records"][0]
    records = []
    for body in bodies:
        record = json.loads(json.dumps(template))
        record.update(messageId=str(uuid.uuid4()), body=body, md5OfBody=hashlib.md5(body.encode()).hexdigest())
        records.append(record)
    return {"Records": records}


def deliver(*bodies: str) -> dict[str, Any]:
    return delivery_function.lambda_handler(sqs_event(*bodies), FakeLambdaContext())


# --- the sample ---------------------------------------------------------------------------------------------
def test_the_sample_has_the_shape_aws_delivers_an_event_and_an_attempt():
    parsed = SqsModel.model_validate(sample_event("sqs_webhook_event.json"))
    event, attempt = parsed.Records
    assert DomainEvent.model_validate_json(event.body).type == "invoice.finalized"
    assert json.loads(attempt.body)["kind"] == "webhook_attempt"
    for record in parsed.Records:
        assert record.md5OfBody == hashlib.md5(record.body.encode()).hexdigest()


# --- CRUD and problems --------------------------------------------------------------------------------------
def test_create_shows_the_secret_once(deps, key):
    created = create(key, "https://93.184.215.14/hooks", ["invoice.paid", "invoice.finalized"], description="ERP")
    assert created["secret"].startswith("whsec_") and created["object"] == "webhook_endpoint"
    assert created["enabled_events"] == ["invoice.finalized", "invoice.paid"] and created["enabled"] is True
    status, got = call("GET", f"/v1/webhook_endpoints/{created['id']}", key)
    assert status == 200 and "secret" not in got and got["description"] == "ERP"
    status, listed = call("GET", "/v1/webhook_endpoints", key)
    assert [e["id"] for e in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]
    assert created["secret"] not in json.dumps(listed)
    events = deps.context.repo.events(
        keys.webhook_endpoint(created["tenant_id"] if "tenant_id" in created else _tenant(deps, key), created["id"])
    )
    assert [e.type for e in events] == ["webhook_endpoint.created"] and created["secret"] not in json.dumps(
        [e.model_dump(mode="json") for e in events]
    )


def _tenant(deps: Deps, key: str) -> str:
    from billing.services.tenants import authenticate

    return authenticate(deps.context, f"Bearer {key}")


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hooks",  # not https
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.0.0.8/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[fc00::1]/hooks",
        "https://user:pw@93.184.215.14/",
        "https://no-such-host.invalid/hooks",
        "ftp://93.184.215.14/",
    ],
)
def test_a_url_the_policy_refuses_is_a_400_and_creates_nothing(deps, key, url):
    status, body = call("POST", "/v1/webhook_endpoints", key, {"url": url, "enabled_events": ["*"]})
    assert status == 400 and body["code"] == "webhook_url_not_allowed", body
    assert call("GET", "/v1/webhook_endpoints", key)[1]["data"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "https://93.184.215.14/", "enabled_events": ["invoice.payed"]}, 422, "unknown_event_type"),
        ({"url": "https://93.184.215.14/", "enabled_events": []}, 422, "invalid_request"),
        ({"url": "https://93.184.215.14/"}, 422, "invalid_request"),
        ({"enabled_events": ["*"]}, 422, "invalid_request"),
        ({"url": "https://93.184.215.14/", "enabled_events": ["*"], "secret": "whsec_mine"}, 422, "invalid_request"),
        ({"url": 7, "enabled_events": ["*"]}, 422, "invalid_request"),
    ],
)
def test_every_bad_create_is_a_problem(deps, key, body, status, code):
    answer = call("POST", "/v1/webhook_endpoints", key, body)
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert call("GET", "/v1/webhook_endpoints", key)[1]["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/webhook_endpoints/we_nope", None),
        ("PATCH", "/v1/webhook_endpoints/we_nope", {"description": "x"}),
        ("DELETE", "/v1/webhook_endpoints/we_nope", None),
        ("POST", "/v1/webhook_endpoints/we_nope/roll_secret", {}),
        ("GET", "/v1/webhook_endpoints/we_nope/deliveries", None),
        ("POST", "/v1/webhook_endpoints/we_nope/deliveries/whd_nope/retry", None),
        (
            "POST",
            "/v1/webhook_endpoints/we_nope/replay",
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        ),
    ],
)
def test_an_unknown_endpoint_is_a_404(deps, key, method, path, body):
    status, answer = call(method, path, key, body)
    assert status == 404 and answer["code"] == "webhook_endpoint_not_found", answer


def test_an_unknown_delivery_is_a_404(deps, key):
    endpoint = create(key, "https://93.184.215.14/hooks")
    status, answer = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/whd_nope/retry", key)
    assert status == 404 and answer["code"] == "webhook_delivery_not_found"


def test_another_tenants_endpoint_is_not_found(deps, key):
    from billing.services import tenants

    endpoint = create(key, "https://93.184.215.14/hooks")
    _, other_key = tenants.create_tenant(deps.context, "Other")
    assert call("GET", f"/v1/webhook_endpoints/{endpoint['id']}", other_key)[0] == 404
    assert call("GET", "/v1/webhook_endpoints", other_key)[1]["data"] == []


def test_patch_changes_what_it_names_and_records_the_changes(deps, key):
    endpoint = create(key, "https://93.184.215.14/hooks", ["invoice.paid"])
    status, changed = call(
        "PATCH", f"/v1/webhook_endpoints/{endpoint['id']}", key, {"enabled_events": ["*"], "enabled": False}
    )
    assert status == 200 and changed["enabled_events"] == ["*"] and changed["enabled"] is False
    assert changed["disabled_reason"] == "tenant" and changed["url"] == endpoint["url"]
    bad = call("PATCH", f"/v1/webhook_endpoints/{endpoint['id']}", key, {"url": "https://10.1.1.1/"})
    assert bad[0] == 400 and bad[1]["code"] == "webhook_url_not_allowed"
    assert call("PATCH", f"/v1/webhook_endpoints/{endpoint['id']}", key, {"enabled_events": ["nope.nope"]})[0] == 422
    again = call("PATCH", f"/v1/webhook_endpoints/{endpoint['id']}", key, {"enabled": True})[1]
    assert again["enabled"] is True and again["disabled_reason"] is None and again["url"] == endpoint["url"]
    events = deps.context.repo.events(keys.webhook_endpoint(_tenant(deps, key), endpoint["id"]))
    (update,) = [e for e in events if e.type == "webhook_endpoint.updated" and "enabled_events" in e.data["changes"]]
    assert update.data["changes"]["enabled_events"] == {"before": ["invoice.paid"], "after": ["*"]}
    assert update.data["changes"]["enabled"] == {"before": True, "after": False}
    assert update.object_version == 2
    assert update.actor == {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    assert len([e for e in events if e.type == "webhook_endpoint.updated"]) == 2  # refusals changed nothing


def test_roll_secret_answers_a_new_one_and_keeps_the_old_one_signing_for_the_window(deps, key, clock: FixedClock):
    endpoint = create(key, "https://93.184.215.14/hooks")
    status, rolled = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/roll_secret", key, {"expires_in_hours": 2})
    assert status == 200 and rolled["secret"] != endpoint["secret"] and rolled["secret"].startswith("whsec_")
    assert rolled["secret_rotation_ends_at"] == (clock.now() + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    stored = deps.webhooks.store.endpoint(_tenant(deps, key), endpoint["id"])
    assert stored.signing_secrets(clock.now()) == [rolled["secret"], endpoint["secret"]]
    assert stored.signing_secrets(clock.now() + timedelta(hours=2)) == [rolled["secret"]]
    assert call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/roll_secret", key, {"expires_in_hours": 999})[0] == 422
    assert "secret" not in call("GET", f"/v1/webhook_endpoints/{endpoint['id']}", key)[1]


def test_delete_removes_the_endpoint_from_the_api(deps, key):
    endpoint = create(key, "https://93.184.215.14/hooks")
    status, answer = call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}", key)
    assert status == 200 and answer == {"object": "webhook_endpoint", "id": endpoint["id"], "deleted": True}
    assert call("GET", f"/v1/webhook_endpoints/{endpoint['id']}", key)[0] == 404
    assert call("GET", "/v1/webhook_endpoints", key)[1]["data"] == []
    assert call("DELETE", f"/v1/webhook_endpoints/{endpoint['id']}", key)[0] == 404


def test_an_idempotent_create_replays_the_same_endpoint(deps, key):
    body = {"url": "https://93.184.215.14/hooks", "enabled_events": ["*"]}
    first = call("POST", "/v1/webhook_endpoints", key, body, **{"Idempotency-Key": "k1"})
    again = call("POST", "/v1/webhook_endpoints", key, body, **{"Idempotency-Key": "k1"})
    assert first == again and first[0] == 201
    assert len(call("GET", "/v1/webhook_endpoints", key)[1]["data"]) == 1


# --- delivering -------------------------------------------------------------------------------------------------
def test_the_relay_routes_every_public_event_to_the_webhook_queue():
    from billing.outbound import catalog

    assert outbox.ROUTES["WEBHOOK_EVENTS_QUEUE_URL"] == frozenset(catalog.TYPES) - catalog.INTERNAL
    assert "portal.sign_in_requested" not in outbox.ROUTES["WEBHOOK_EVENTS_QUEUE_URL"]


def customer_event(deps: Deps, key: str) -> DomainEvent:
    status, customer = call(
        "POST", "/v1/customers", key, {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "usd"}
    )
    assert status == 201
    return next(
        e
        for e in deps.context.repo.events(
            keys.customer(customer["tenant_id"] if "tenant_id" in customer else _tenant(deps, key), customer["id"])
        )
        if e.type == "customer.created"
    )


def test_a_redelivered_event_makes_one_delivery_and_the_receiver_verifies_it(local, key):
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        create(key, receiver.url, ["invoice.paid"])  # takes another type: nothing for it
        event = customer_event(local, key)
        body = json.dumps(event.model_dump(mode="json"))
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        assert deliver(body) == NO_FAILURES
        assert deliver(body) == NO_FAILURES  # SQS delivers the same message again
        attempts = [json.loads(m["Body"]) for m in receive_all(queue)]
        # one delivery; its first attempt queued again by the redelivery (the first message might have been lost)
        assert {(a["delivery_id"], a["attempt"]) for a in attempts} == {(attempts[0]["delivery_id"], 1)}
        assert deliver(*(json.dumps(a) for a in attempts), json.dumps(attempts[0])) == NO_FAILURES
        assert receive_all(queue) == []
        assert len(receiver.received) == 1 and receiver.received[0].verified
        got = receiver.received[0]
        assert got.webhook_id == event.id and got.body["type"] == "customer.created"
        assert got.body["object"] == {"type": "customer", "id": event.aggregate_id, "version": event.object_version}
        deliveries = table_items(keys.webhook_endpoint(event.tenant_id, endpoint["id"])["pk"], "WHD#")
        assert len(deliveries) == 1 and deliveries[0]["status"] == "succeeded"
        status, listed = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", key)
        assert status == 200 and [d["status"] for d in listed["data"]] == ["succeeded"]
        assert listed["data"][0]["attempts"][0]["response_code"] == 200
        assert listed["data"][0]["attempts"][0]["body_excerpt"] == '{"received": true}'


def test_a_failure_is_retried_on_schedule_and_a_retry_asked_for_is_sent_again(local, key, clock: FixedClock):
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        receiver.mode = "fail"
        event = customer_event(local, key)
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        deliver(json.dumps(event.model_dump(mode="json")))
        first = receive_all(queue)[0]["Body"]
        assert deliver(first) == NO_FAILURES
        listed = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", key, None)[1]["data"]
        (delivery,) = listed
        assert delivery["status"] == "failed" and delivery["attempts"][0]["response_code"] == 500
        low, high = retry.bounds_after(1)
        due = delivery["next_attempt_at"]
        from datetime import datetime

        assert clock.now() + low <= datetime.fromisoformat(due) <= clock.now() + high
        (second,) = receive_all(queue)
        assert json.loads(second["Body"]) == {
            **json.loads(first),
            "attempt": 2,
            "due": json.loads(second["Body"])["due"],
        }
        # early (the clock has not moved): sent on with what remains, nothing posted
        assert deliver(second["Body"]) == NO_FAILURES and receiver.count() == 1
        assert len(receive_all(queue)) == 1
        failed_only = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", key, None)
        assert failed_only[0] == 200
        # the tenant asks for it now; the receiver has recovered
        receiver.mode = "ok"
        status, retried = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry", key)
        assert status == 202 and retried["status"] == "pending"
        clock.advance(timedelta(seconds=1))
        again = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry", key)
        assert again[0] == 202  # in flight already: sent now instead, the first request's message goes stale
        stale, asked = receive_all(queue)
        assert deliver(stale["Body"]) == NO_FAILURES and receiver.count() == 1
        assert deliver(asked["Body"]) == NO_FAILURES
        assert [r.answered for r in receiver.received] == [500, 200]
        done = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", key)[1]["data"][0]
        assert done["status"] == "succeeded" and done["attempt_count"] == 2
        # the scheduled attempt's message, when it comes, is stale: nothing is sent twice
        clock.advance(timedelta(minutes=1))
        deliver(second["Body"])
        assert receiver.count() == 2


def test_410_disables_the_endpoint_and_tells_the_finance_address(local, key, clock: FixedClock):
    from billing.services import notifications

    put = call(
        "PUT",
        "/v1/settings/profile",
        key,
        {"legal_name": "Acme GmbH", "finance_email": "finance@acme.example", "default_locale": "ru"},
    )
    assert put[0] == 200, put
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        receiver.mode = "gone"
        event = customer_event(local, key)
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        deliver(json.dumps(event.model_dump(mode="json")))
        deliver(receive_all(queue)[0]["Body"])
        assert receive_all(queue) == []  # no retry after a 410
    got = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}", key)[1]
    assert got["enabled"] is False and got["disabled_reason"] == "gone"
    tenant_id = _tenant(local, key)
    (disabled,) = [
        e
        for e in local.context.repo.events(keys.webhook_endpoint(tenant_id, endpoint["id"]))
        if e.type == "webhook_endpoint.disabled"
    ]
    assert disabled.data["reason"] == "gone" and disabled.data["changes"] == {
        "enabled": {"before": True, "after": False}
    }
    assert "webhook_endpoint.disabled" in outbox.ROUTES["NOTIFICATIONS_QUEUE_URL"]

    class Mailer:
        sent: list[dict[str, Any]] = []

        def send(self, to, subject, text, html, sender_name, reply_to, tags=None):
            self.sent.append({"to": to, "subject": subject, "text": text})
            return f"m-{len(self.sent)}"

    mailer = Mailer()
    assert notifications.notify(local.context, mailer, disabled) == "m-1"
    assert notifications.notify(local.context, mailer, disabled) is None  # once
    (mail,) = mailer.sent
    assert mail["to"] == "finance@acme.example" and mail["subject"].startswith("Webhook-точка отключена")
    assert "410" in mail["text"] and endpoint["id"] in mail["text"]
    # a retry of a delivery of a disabled endpoint is refused until it is enabled again
    delivery = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries", key)[1]["data"][0]
    assert delivery["status"] == "given_up"
    refused = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry", key)
    assert refused[0] == 409 and refused[1]["code"] == "webhook_endpoint_disabled"


def test_replay_sends_the_windows_deliveries_again(local, key, clock: FixedClock):
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        event = customer_event(local, key)
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        deliver(json.dumps(event.model_dump(mode="json")))
        deliver(receive_all(queue)[0]["Body"])
        window = {"from": (clock.now() - timedelta(hours=1)).isoformat(), "to": clock.now().isoformat()}
        status, answer = call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/replay", key, window)
        assert status == 202 and answer["replayed"] == 1 and answer["from"] == window["from"].replace("+00:00", "Z")
        deliver(receive_all(queue)[0]["Body"])
        assert [r.webhook_id for r in receiver.received] == [event.id, event.id] and receiver.duplicates == 1
        empty = {
            "from": (clock.now() - timedelta(days=9)).isoformat(),
            "to": (clock.now() - timedelta(days=8)).isoformat(),
        }
        assert call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/replay", key, empty)[1]["replayed"] == 0
        backwards = {"from": window["to"], "to": window["from"]}
        assert call("POST", f"/v1/webhook_endpoints/{endpoint['id']}/replay", key, backwards)[0] == 422


def new_customers(key: str, *names: str) -> list[str]:
    made = []
    for name in names:
        body = {"email": f"{name}@example.com", "name": name.title(), "locale": "en", "currency": "usd"}
        status, customer = call("POST", "/v1/customers", key, body)
        assert status == 201, customer
        made.append(customer["id"])
    return made


def replay_all(endpoint_id: str, key: str, window: dict[str, str]) -> list[dict[str, Any]]:
    """Every answer of a replay of ``window``, cursor after cursor."""
    answers, body = [], dict(window)
    while True:
        status, answer = call("POST", f"/v1/webhook_endpoints/{endpoint_id}/replay", key, body)
        assert status == 202, answer
        answers.append(answer)
        if not answer["has_more"]:
            return answers
        body["cursor"] = answer["next_cursor"]


def test_replay_delivers_the_windows_events_the_endpoint_never_had_once_each(local, key, clock, monkeypatch):
    from billing.services import webhook_endpoints

    tenant_id = _tenant(local, key)
    clock.advance(timedelta(seconds=1))  # after the tenant's own events
    start = clock.now()
    ana, bea = new_customers(key, "ana", "bea")  # before the endpoint existed: no delivery of them was made
    clock.advance(timedelta(minutes=1))
    assert call("PATCH", f"/v1/customers/{ana}", key, {"name": "Ana Lima"})[0] == 200
    tx = local.context.repo.transaction()  # an internal event: never sent to an endpoint, whatever it takes
    inside = DomainEvent.new("portal.sign_in_requested", tenant_id, "tenant", tenant_id, clock.now(), locale="en")
    local.context.repo.add_event(tx, keys.tenant(tenant_id), inside)
    local.context.repo.commit(tx)
    queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        path = f"/v1/webhook_endpoints/{endpoint['id']}"
        clock.advance(timedelta(minutes=1))
        window = {"from": start.isoformat(), "to": clock.now().isoformat()}
        (answer,) = replay_all(endpoint["id"], key, window)
        assert (answer["queued"], answer["replayed"], answer["skipped_in_flight"]) == (2, 0, 0), answer
        assert answer["events_read"] == 5 and answer["next_cursor"] is None  # 2 created, updated, sign-in, endpoint
        messages = receive_all(queue)
        assert len(messages) == 2 and deliver(*(m["Body"] for m in messages)) == NO_FAILURES
        created = {e.id for c in (ana, bea) for e in local.context.repo.events(keys.customer(tenant_id, c))}
        assert {r.webhook_id for r in receiver.received} <= created and len(receiver.received) == 2
        assert all(r.verified and r.body["type"] == "customer.created" for r in receiver.received)
        deliveries = table_items(keys.webhook_endpoint(tenant_id, endpoint["id"])["pk"], "WHD#")
        assert sorted(d["status"] for d in deliveries) == ["succeeded", "succeeded"]

        # again: the same deliveries, sent again through the retry path; no second delivery item
        (again,) = replay_all(endpoint["id"], key, window)
        assert (again["queued"], again["replayed"]) == (0, 2), again
        assert deliver(*(m["Body"] for m in receive_all(queue))) == NO_FAILURES
        assert len(receiver.received) == 4 and receiver.duplicates == 2
        assert len(table_items(keys.webhook_endpoint(tenant_id, endpoint["id"])["pk"], "WHD#")) == 2

    # the types widened to every one: what it did not take before is delivered now, the internal type still not
    assert call("PATCH", path, key, {"enabled_events": ["*"]})[0] == 200
    window["to"] = clock.now().isoformat()
    (wider,) = replay_all(endpoint["id"], key, window)
    assert (wider["queued"], wider["replayed"]) == (3, 2), wider
    made = table_items(keys.webhook_endpoint(tenant_id, endpoint["id"])["pk"], "WHD#")
    assert sorted(json.loads(d["doc"])["event_type"] for d in made) == [
        "customer.created",
        "customer.created",
        "customer.updated",
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
    ]
    receive_all(queue)

    # bounded: a call reads at most MAX_REPLAY_EVENTS events and gives a cursor for the rest
    monkeypatch.setattr(webhook_endpoints, "MAX_REPLAY_EVENTS", 2)
    clock.advance(timedelta(seconds=1))  # (a delivery written again at the same instant is the same write)
    pages = replay_all(endpoint["id"], key, window)
    assert len(pages) >= 3 and all(p["events_read"] <= 2 for p in pages) and pages[-1]["next_cursor"] is None
    assert sum(p["events_read"] for p in pages) == 6 and sum(p["skipped_in_flight"] for p in pages) == 5, pages
    bad = call("POST", f"{path}/replay", key, {**window, "cursor": "bm90LWEtY3Vyc29y"})
    assert bad[0] == 422 and bad[1]["code"] == "invalid_cursor"
    elsewhere = {"from": window["from"], "to": (clock.now() + timedelta(hours=1)).isoformat()}
    other = call("POST", f"{path}/replay", key, {**elsewhere, "cursor": pages[0]["next_cursor"]})
    assert other[0] == 422 and other[1]["code"] == "invalid_cursor"  # a cursor of another window


def test_an_attempts_message_redelivered_after_a_crash_queues_the_next_attempt_once(local, key, clock: FixedClock):
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        receiver.mode = "fail"
        event = customer_event(local, key)
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        deliver(json.dumps(event.model_dump(mode="json")))
        first = receive_all(queue)[0]["Body"]
        deliver(first)
        (second,) = receive_all(queue)
        deliver(first)  # a duplicate right away: stale, nothing sent, nothing queued
        assert receive_all(queue) == [] and receiver.count() == 1
        clock.advance(timedelta(minutes=10))  # SQS brings it back after its visibility timeout
        deliver(first)
        (requeued,) = receive_all(queue)
        assert json.loads(requeued["Body"]) == json.loads(second["Body"]) and receiver.count() == 1
        deliver(requeued["Body"], second["Body"])  # the next attempt, and its duplicate: one request
        assert receiver.count() == 2


def get(path: str, key: str, **query: str) -> tuple[int, Any]:
    answer = api.lambda_handler(http_event("GET", path, key, query=query or None), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def test_deliveries_page_newest_first_and_filter_by_status(local, key, clock: FixedClock):
    with Receiver() as receiver:
        endpoint = create(key, receiver.url, ["customer.created"])
        receiver.secrets = [endpoint["secret"]]
        queue = local.env["WEBHOOK_EVENTS_QUEUE_URL"]
        made = []
        for n in range(3):
            receiver.mode = "fail" if n == 0 else "ok"  # the first delivery fails (a retry waits), the others succeed
            status, customer = call(
                "POST",
                "/v1/customers",
                key,
                {"email": f"c{n}@example.com", "name": f"C{n}", "locale": "en", "currency": "usd"},
            )
            event = next(
                e
                for e in local.context.repo.events(keys.customer(_tenant(local, key), customer["id"]))
                if e.type == "customer.created"
            )
            made.append(event.id)
            deliver(json.dumps(event.model_dump(mode="json")))
            for message in receive_all(queue):
                deliver(message["Body"])
            clock.advance(timedelta(seconds=1))  # (the first delivery's retry waits at least 4.5 s)
        path = f"/v1/webhook_endpoints/{endpoint['id']}/deliveries"
        status, first = get(path, key, limit="2")
        assert status == 200 and first["has_more"] and [d["event_id"] for d in first["data"]] == made[:0:-1]
        status, rest = get(path, key, limit="2", cursor=first["next_cursor"])
        assert [d["event_id"] for d in rest["data"]] == made[:1] and not rest["has_more"]
        failed = get(path, key, status="failed")[1]["data"]
        assert [d["event_id"] for d in failed] == made[:1]
        assert get(path, key, status="nope")[0] == 422
        assert get(path, key, cursor="bm90LWEtY3Vyc29y")[1]["code"] == "invalid_cursor"


def test_a_tenant_has_at_most_16_endpoints(deps, key):
    for _ in range(16):
        create(key, "https://93.184.215.14/hooks")
    status, body = call(
        "POST", "/v1/webhook_endpoints", key, {"url": "https://93.184.215.14/x", "enabled_events": ["*"]}
    )
    assert status == 409 and body["code"] == "webhook_endpoint_limit"
