"""The Stripe webhook receiver (StripeWebhookFunction) on moto, driven by API Gateway HTTP API events built from
events/stripe_webhook_request.json, with payloads built from Stripe's published fixtures and signed as Stripe
signs them (``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<raw body>")>``), by hand rather than through the SDK.

Also home to the Stripe test doubles the collection tests share: Stripe objects from the fixtures, a signed
delivery, and ``FakeStripe``, the gateway port with Stripe's idempotency.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import stripe
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from billing.adapters import keys
from billing.adapters.dynamodb import from_item
from billing.bootstrap import Deps
from billing.services import stripe_webhooks
from functions.stripe_events import app as stripe_events_app
from functions.stripe_webhook import app as webhook_app
from infra.local import template as tpl
from tests.fixtures import stripe_resource
from tests.integration.conftest import TABLE, FakeLambdaContext, sample_event

SECRETS = ("whsec_a", "whsec_b")  # two accepted at once: a rotation in progress
SAMPLE_SECRET = "whsec_sample_do_not_use"  # the secret events/stripe_webhook_request.json is signed with
TOLERANCE = 300


# --- Stripe objects, from Stripe's published fixtures -----------------------------------------------------------------
def _stripe_id(prefix: str) -> str:
    return f"{prefix}_3Q{uuid.uuid4().hex[:20]}"


def payment_intent_object(**changes: Any) -> dict[str, Any]:
    """Stripe's PaymentIntent fixture with ``changes``; its sample idempotency_error and next_action are cleared."""
    intent = stripe_resource("payment_intent")
    pi_id = changes.get("id") or _stripe_id("pi")
    intent.update(
        id=pi_id,
        client_secret=f"{pi_id}_secret_{uuid.uuid4().hex[:24]}",
        created=int(time.time()),
        canceled_at=None,
        last_payment_error=None,
        next_action=None,
        processing=None,
    )
    intent.update(changes)
    return intent


def setup_intent_object(**changes: Any) -> dict[str, Any]:
    intent = stripe_resource("setup_intent")
    seti_id = changes.get("id") or _stripe_id("seti")
    intent.update(
        id=seti_id,
        client_secret=f"{seti_id}_secret_{uuid.uuid4().hex[:24]}",
        created=int(time.time()),
        last_setup_error=None,
        next_action=None,
    )
    intent.update(changes)
    return intent


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None, created: int | None = None):
    """Stripe's event envelope (from the fixture) around ``obj``."""
    event = stripe_resource("event")
    event.update(
        id=event_id or _stripe_id("evt"),
        object="event",
        type=event_type,
        created=created or int(time.time()),
        api_version="2024-06-20",
        pending_webhooks=1,
        data={"object": copy.deepcopy(obj)},
    )
    return event


# --- a signed delivery ------------------------------------------------------------------------------------------------
def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's signature scheme, computed here by hand (not by the SDK the code under test uses)."""
    ts = int(time.time()) if timestamp is None else timestamp
    raw = payload if isinstance(payload, bytes) else payload.encode()
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def body_of(event: dict[str, Any]) -> str:
    """The raw body as Stripe sends it: pretty-printed JSON."""
    return json.dumps(event, indent=2)


def webhook_request(
    body: str | bytes, signature: str | None, *, header: str = "stripe-signature", base64_body: bool = False
) -> dict[str, Any]:
    """An API Gateway HTTP API event for POST /webhooks/stripe, from the sample in events/."""
    request = sample_event("stripe_webhook_request.json")
    headers = {k: v for k, v in request["headers"].items() if k != "stripe-signature"}
    raw = body if isinstance(body, bytes) else body.encode()
    headers["content-length"] = str(len(raw))
    if signature is not None:
        headers[header] = signature
    request["headers"] = headers
    request["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    request["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    if base64_body:
        request["body"], request["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        request["body"], request["isBase64Encoded"] = raw.decode(), False
    return request


def post_webhook(request: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = webhook_app.lambda_handler(request, FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers", {})


def deliver(event: dict[str, Any], secret: str = SECRETS[0], **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Stripe delivers ``event``: signed now with ``secret``."""
    body = body_of(event)
    status, answer, _ = post_webhook(webhook_request(body, sign(body, secret), **kwargs))
    return status, answer


def put_webhook_secrets(deps: Deps, value: str) -> None:
    boto3.client("ssm").put_parameter(
        Name=deps.env["STRIPE_WEBHOOK_SECRETS_PARAM"], Value=value, Type="SecureString", Overwrite=True
    )
    parameters.clear_caches()


# --- what the receiver left behind ------------------------------------------------------------------------------------
def stripe_event_records() -> list[dict[str, Any]]:
    """Every recorded Stripe event in the table (a scan: tests only)."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return [from_item(i) for i in items if "#STRIPEEVT#" in i["pk"]["S"]]


def stripe_event_record(tenant_id: str, event_id: str) -> dict[str, Any] | None:
    answer = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={k: {"S": v} for k, v in keys.stripe_event(tenant_id, event_id).items()}
    )
    return from_item(answer["Item"]) if "Item" in answer else None


def receive_messages(queue_url: str) -> list[dict[str, Any]]:
    sqs, got = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        got += batch
    return got


def sqs_event(messages: list[dict[str, Any]], queue_name: str = "stripe-events") -> dict[str, Any]:
    """The SQS batch the Lambda poller hands over for ``messages`` received from moto."""
    template = sample_event("sqs_dunning.json")["Records"][0]
    records = []
    for m in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=m["MessageId"],
            receiptHandle=m["ReceiptHandle"],
            body=m["Body"],
            md5OfBody=m["MD5OfBody"],
            eventSourceARN=f"arn:aws:sqs:us-east-1:123456789012:{queue_name}",
        )
        record["attributes"].update(m.get("Attributes", {}))
        records.append(record)
    return {"Records": records}


def run_stripe_events(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return stripe_events_app.lambda_handler(sqs_event(messages), FakeLambdaContext())


# --- the gateway, faked with Stripe's behaviour -----------------------------------------------------------------------
CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture")


class FakeStripe:
    """The StripeGateway port, behaving as Stripe does where it matters: a POST with an idempotency key Stripe has seen
    returns the first answer again and charges nothing more; a decline is a PaymentIntent back at
    requires_payment_method with ``last_payment_error``. Every call is recorded.

    ``outcomes`` queues the result of the next new charges (default: succeeded); ``crash_after_charge`` makes the
    next charges raise *after* Stripe recorded them (the Lambda timed out waiting for the answer)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.intents: dict[str, dict[str, Any]] = {}  # Stripe's PaymentIntents, current state, by id
        self.by_key: dict[str, str] = {}  # idempotency key -> PaymentIntent id
        self.params_by_key: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, str] = {}
        self.outcomes: list[dict[str, Any]] = []
        self.crash_after_charge = 0

    # the port ---------------------------------------------------------------------------------------------------
    def create_customer(self, tenant_id: str, customer_id: str, email: str, name: str) -> str:
        self.calls.append(("create_customer", {"idempotency_key": f"customer-{customer_id}", "tenant_id": tenant_id}))
        return self.customers.setdefault(f"customer-{customer_id}", _stripe_id("cus"))

    def create_setup_intent(self, tenant_id: str, customer_id: str, stripe_customer_id: str, key: str | None):
        self.calls.append(("create_setup_intent", {"idempotency_key": key, "customer": stripe_customer_id}))
        if key and key in self.by_key:
            return copy.deepcopy(self.setup_intents[self.by_key[key]])
        intent = setup_intent_object(
            customer=stripe_customer_id,
            usage="off_session",
            status="requires_payment_method",
            metadata={"tenant_id": tenant_id, "customer_id": customer_id},
        )
        self.setup_intents[intent["id"]] = intent
        if key:
            self.by_key[key] = intent["id"]
        return copy.deepcopy(intent)

    def setup_intent(self, setup_intent_id: str) -> dict[str, Any]:
        self.calls.append(("setup_intent", {"id": setup_intent_id}))
        return copy.deepcopy(self.setup_intents[setup_intent_id])

    def charge_off_session(self, payment: Any, stripe_customer_id: str, payment_method: str) -> dict[str, Any]:
        params = {
            "amount": payment.amount,
            "currency": payment.currency,
            "customer": stripe_customer_id,
            "payment_method": payment_method,
            "metadata": {"tenant_id": payment.tenant_id, "invoice_id": payment.invoice_id, "payment_id": payment.id},
        }
        self.calls.append(("charge_off_session", {"idempotency_key": payment.id, **params}))
        if payment.id in self.by_key:  # Stripe replays the first answer for a key it has seen
            assert self.params_by_key[payment.id] == params, "same idempotency key with other parameters"
            return copy.deepcopy(self.intents[self.by_key[payment.id]])
        outcome = self.outcomes.pop(0) if self.outcomes else {"status": "succeeded"}
        intent = payment_intent_object(
            amount=payment.amount,
            currency=payment.currency,
            customer=stripe_customer_id,
            payment_method=payment_method,
            confirmation_method="automatic",
            metadata=params["metadata"],
            **outcome,
        )
        if intent["status"] == "succeeded":
            intent.update(amount_received=payment.amount, latest_charge=_stripe_id("ch"))
        self.intents[intent["id"]] = intent
        self.by_key[payment.id] = intent["id"]
        self.params_by_key[payment.id] = params
        if self.crash_after_charge:
            self.crash_after_charge -= 1
            raise TimeoutError("Lambda timed out after Stripe charged, before the answer was recorded")
        return copy.deepcopy(intent)

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        self.calls.append(("payment_intent", {"id": payment_intent_id}))
        return copy.deepcopy(self.intents[payment_intent_id])

    def cancel_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """Stripe cancels a PaymentIntent that can still take money; any other is answered as it is."""
        self.calls.append(("cancel_payment_intent", {"id": payment_intent_id}))
        intent = self.intents[payment_intent_id]
        if intent["status"] in CANCELABLE:
            intent["status"] = "canceled"
        return copy.deepcopy(intent)

    # Stripe's side, driven by the test ----------------------------------------------------------------------------
    def confirm_setup_intent(self, setup_intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        self.setup_intents[setup_intent_id].update(status="succeeded", payment_method=payment_method)
        return copy.deepcopy(self.setup_intents[setup_intent_id])

    def settle(self, payment_intent_id: str) -> dict[str, Any]:
        """An asynchronous PaymentIntent (processing) succeeds at Stripe."""
        intent = self.intents[payment_intent_id]
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=_stripe_id("ch"))
        return copy.deepcopy(intent)

    def add_intent(self, **changes: Any) -> dict[str, Any]:
        """A PaymentIntent made outside our charges (e.g. a hosted payment page)."""
        intent = payment_intent_object(**changes)
        self.intents[intent["id"]] = intent
        return copy.deepcopy(intent)

    # what happened ------------------------------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == method]

    @property
    def charged_keys(self) -> list[str]:
        return [c["idempotency_key"] for c in self.calls_to("charge_off_session")]

    @property
    def captured(self) -> int:
        """Money Stripe actually took: every succeeded PaymentIntent counts, once."""
        return sum(i["amount_received"] for i in self.intents.values() if i["status"] == "succeeded")

    @property
    def charges(self) -> list[dict[str, Any]]:
        """The PaymentIntents our charges created at Stripe (one per idempotency key)."""
        return [self.intents[pi] for key, pi in self.by_key.items() if pi in self.intents]


class NoStripe:
    """The receiver never calls Stripe: any use of the gateway is a failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the webhook receiver called Stripe ({name})")


# --- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def secrets(deps: Deps) -> Iterator[tuple[str, str]]:
    put_webhook_secrets(deps, ",".join(SECRETS))
    yield SECRETS
    parameters.clear_caches()


@pytest.fixture
def receiver(deps: Deps, secrets: tuple[str, str]) -> Deps:
    deps.__dict__["stripe"] = NoStripe()  # cached_property slot
    return deps


def succeeded_event(tenant_id: str, **changes: Any) -> dict[str, Any]:
    intent = payment_intent_object(
        status="succeeded",
        amount=4328,
        amount_received=4328,
        metadata={
            "tenant_id": tenant_id,
            "invoice_id": "in_01TESTINVOICE",
            "payment_id": "pay_0123456789abcdef01234567",
        },
        **changes,
    )
    return stripe_event("payment_intent.succeeded", intent)


def kept_of(body: str) -> str:
    """What is recorded of a delivery: the event's id, type, creation time and its object's ids, nothing else."""
    event = json.loads(body)
    obj = event["data"]["object"]
    ids = {k: obj.get(k) for k in ("id", "object", "payment_intent", "charge")}
    return json.dumps({"id": event["id"], "type": event["type"], "created": event["created"], "data": {"object": ids}})


def assert_nothing_written_or_sent(deps: Deps) -> None:
    assert stripe_event_records() == []
    assert receive_messages(deps.env["STRIPE_EVENTS_QUEUE_URL"]) == []


# --- the sample request -----------------------------------------------------------------------------------------------
def test_sample_request_is_a_signed_stripe_delivery_on_the_templates_route():
    sample = sample_event("stripe_webhook_request.json")
    request = APIGatewayProxyEventV2(sample)
    assert (request.request_context.http.method, request.raw_path) == ("POST", "/webhooks/stripe")
    assert request.request_context.http.path == "/webhooks/stripe" and sample["routeKey"] == "POST /webhooks/stripe"
    events = tpl.load()["Resources"]["StripeWebhookFunction"]["Properties"]["Events"].values()
    (route,) = [e["Properties"] for e in events if e["Type"] == "HttpApi"]
    assert (route["Method"], route["Path"]) == ("POST", "/webhooks/stripe")

    body, header = sample["body"], sample["headers"]["stripe-signature"]
    assert int(sample["headers"]["content-length"]) == len(body.encode())
    # the signature is Stripe's over the exact body (time not checked: the sample is a recording)
    stripe.WebhookSignature.verify_header(body, header, SAMPLE_SECRET, tolerance=None)
    ts = int(header.split(",")[0].removeprefix("t="))
    assert header == sign(body, SAMPLE_SECRET, ts)
    event = json.loads(body)
    assert (event["object"], event["type"], event["data"]["object"]["object"]) == (
        "event",
        "payment_intent.succeeded",
        "payment_intent",
    )
    assert set(event["data"]["object"]["metadata"]) == {"tenant_id", "invoice_id", "payment_id"}
    assert set(stripe_resource("payment_intent")) <= set(event["data"]["object"])


def test_the_sample_delivery_is_received_when_signed_by_an_accepted_secret(receiver):
    sample = sample_event("stripe_webhook_request.json")
    event = json.loads(sample["body"])
    tenant_id = event["data"]["object"]["metadata"]["tenant_id"]

    status, problem, _ = post_webhook(copy.deepcopy(sample))  # signed with a secret we do not accept
    assert status == 400 and problem["code"] in ("invalid_signature", "stale_signature")
    assert_nothing_written_or_sent(receiver)

    sample["headers"]["stripe-signature"] = sign(sample["body"], SECRETS[1])  # the same bytes, signed now
    status, answer, _ = post_webhook(sample)
    assert status == 200 and answer == {"received": True, "id": event["id"]}
    record = stripe_event_record(tenant_id, event["id"])
    assert record["payload"] == kept_of(sample["body"]) and record["event_type"] == "payment_intent.succeeded"
    (message,) = receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])
    assert json.loads(message["Body"]) == {"tenant_id": tenant_id, "event_id": event["id"]}


# --- accepted ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", SECRETS)
def test_a_delivery_signed_by_either_rotation_secret_is_recorded_once_and_enqueued(receiver, tenant_id, secret):
    event = succeeded_event(tenant_id)
    body = body_of(event)
    status, answer, headers = post_webhook(webhook_request(body, sign(body, secret)))

    assert status == 200 and answer == {"received": True, "id": event["id"]}
    assert headers["Content-Type"] == "application/json"
    (record,) = stripe_event_records()
    assert (record["pk"], record["sk"]) == (f"T#{tenant_id}#STRIPEEVT#{event['id']}", "STRIPE_EVENT")
    assert record["status"] == "received" and record["event_type"] == "payment_intent.succeeded"
    assert record["payload"] == kept_of(body)  # what processing needs, not the body (stripe_webhooks.kept)
    (message,) = receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])
    assert json.loads(message["Body"]) == {"tenant_id": tenant_id, "event_id": event["id"]}


def test_secrets_are_read_from_ssm_with_spaces_around_commas(receiver, tenant_id):
    put_webhook_secrets(receiver, " whsec_old ,  whsec_new ")
    for secret in ("whsec_old", "whsec_new"):
        assert deliver(succeeded_event(tenant_id), secret)[0] == 200
    assert deliver(succeeded_event(tenant_id), SECRETS[0])[0] == 400  # no longer accepted
    assert len(stripe_event_records()) == 2


def test_a_header_with_a_signature_per_secret_is_accepted(receiver, tenant_id):
    """During Stripe's own secret roll it signs with the old and the new secret: several v1 entries."""
    event = succeeded_event(tenant_id)
    body = body_of(event)
    ts = int(time.time())
    other = sign(body, "whsec_unknown", ts).split(",")[1]
    header = f"t={ts},{other},{sign(body, SECRETS[1], ts).split(',')[1]}"
    status, _, _ = post_webhook(webhook_request(body, header))
    assert status == 200 and len(stripe_event_records()) == 1


@pytest.mark.parametrize("header", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"])
def test_the_signature_header_is_found_in_any_case(receiver, tenant_id, header):
    event = succeeded_event(tenant_id)
    body = body_of(event)
    status, _, _ = post_webhook(webhook_request(body, sign(body, SECRETS[0]), header=header))
    assert status == 200
    assert [r["sk"] for r in stripe_event_records()] == ["STRIPE_EVENT"]


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(receiver, tenant_id):
    event = succeeded_event(tenant_id, description="Café ☕ 日本")  # non-ASCII: the raw bytes matter
    body = json.dumps(event, indent=2, ensure_ascii=False)
    status, answer, _ = post_webhook(webhook_request(body.encode(), sign(body, SECRETS[1]), base64_body=True))
    assert status == 200 and answer["id"] == event["id"]
    (record,) = stripe_event_records()
    assert record["payload"] == kept_of(body)
    assert len(receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])) == 1


def test_a_delivery_signed_a_little_early_or_late_is_within_tolerance(receiver, tenant_id):
    now = int(time.time())
    for ts in (now - TOLERANCE + 30, now + TOLERANCE - 30):
        event = succeeded_event(tenant_id)
        body = body_of(event)
        assert post_webhook(webhook_request(body, sign(body, SECRETS[0], ts)))[0] == 200
    assert len(stripe_event_records()) == 2


# --- at least once ----------------------------------------------------------------------------------------------------
def test_the_same_delivery_twice_in_a_row_is_one_record(receiver, tenant_id):
    event = succeeded_event(tenant_id)
    body = body_of(event)
    request = webhook_request(body, sign(body, SECRETS[0]))
    first = post_webhook(request)
    second = post_webhook(copy.deepcopy(request))
    assert first[0] == second[0] == 200 and first[1] == second[1]
    (record,) = stripe_event_records()
    assert record["payload"] == kept_of(body) and record["status"] == "received"
    # not processed yet: a redelivery may enqueue again (the first enqueue may have been lost); same event either way
    messages = receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])
    assert 1 <= len(messages) <= 2
    assert {m["Body"] for m in messages} == {json.dumps({"tenant_id": tenant_id, "event_id": event["id"]})}


def test_the_same_delivery_concurrently_is_one_record(receiver, tenant_id):
    event = succeeded_event(tenant_id)
    body = body_of(event)
    signature = sign(body, SECRETS[0])
    receiver.context, receiver.publisher, receiver.webhook_secrets()  # built once, as in a warm container
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post_webhook(webhook_request(body, signature)), range(8)))
    assert {status for status, _, _ in answers} == {200}
    (record,) = stripe_event_records()
    assert record["payload"] == kept_of(body)
    messages = receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])
    assert 1 <= len(messages) <= 8
    assert {json.loads(m["Body"])["event_id"] for m in messages} == {event["id"]}


def _process_once(deps: Deps, gateway: Any) -> dict[str, Any]:
    deps.__dict__["stripe"] = gateway
    messages = receive_messages(deps.env["STRIPE_EVENTS_QUEUE_URL"])
    assert len(messages) == 1
    return run_stripe_events(messages)


def test_a_redelivery_after_processing_enqueues_nothing(receiver, tenant_id):
    gateway = FakeStripe()
    intent = setup_intent_object(status="requires_payment_method", metadata={"tenant_id": tenant_id})
    gateway.setup_intents[intent["id"]] = intent
    event = stripe_event("setup_intent.succeeded", intent)
    body = body_of(event)
    request = webhook_request(body, sign(body, SECRETS[0]))
    assert post_webhook(request)[0] == 200
    assert _process_once(receiver, gateway) == {"batchItemFailures": []}
    assert stripe_event_record(tenant_id, event["id"])["status"] == "processed"

    status, answer, _ = post_webhook(copy.deepcopy(request))
    assert status == 200 and answer["id"] == event["id"]
    assert receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"]) == []
    (record,) = stripe_event_records()
    assert record["status"] == "processed"


def test_a_redelivery_of_an_ignored_event_enqueues_nothing(receiver, tenant_id):
    event = stripe_event(
        "customer.updated", {"id": "cus_X", "object": "customer", "metadata": {"tenant_id": tenant_id}}
    )
    body = body_of(event)
    request = webhook_request(body, sign(body, SECRETS[0]))
    assert post_webhook(request)[0] == 200
    assert _process_once(receiver, FakeStripe()) == {"batchItemFailures": []}
    assert stripe_event_record(tenant_id, event["id"])["status"] == "ignored"

    assert post_webhook(copy.deepcopy(request))[0] == 200
    assert receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"]) == []


def test_an_event_for_no_tenant_of_ours_is_acknowledged_and_dropped(receiver):
    """Stripe's own published event (a plan, empty metadata) is not ours: 200 so Stripe stops, nothing kept."""
    event = stripe_resource("event")
    assert event["data"]["object"]["metadata"] == {}
    status, answer = deliver(event, SECRETS[1])
    assert status == 200 and answer == {"received": True, "id": event["id"]}
    assert_nothing_written_or_sent(receiver)


@pytest.mark.parametrize("metadata", [None, {}, {"tenant_id": ""}, {"invoice_id": "in_1"}, ["tenant_id"]])
def test_an_object_without_a_tenant_id_is_acknowledged_and_not_enqueued(receiver, metadata):
    intent = payment_intent_object(status="succeeded", metadata=metadata)
    status, _ = deliver(stripe_event("payment_intent.succeeded", intent))
    assert status == 200
    assert_nothing_written_or_sent(receiver)


def test_a_charge_without_our_metadata_is_recorded_under_the_platform_and_enqueued(receiver):
    """Stripe makes charges (refunds, disputes) from our PaymentIntents without copying their metadata: such an
    event is kept under the platform and routed by its PaymentIntent when processed."""
    charge = stripe_resource("charge")
    charge.update(payment_intent="pi_3QplatformXYZ", metadata={})
    event = stripe_event("charge.refunded", charge)
    assert deliver(event)[0] == 200
    (record,) = stripe_event_records()
    assert record["pk"] == f"T#{stripe_webhooks.PLATFORM}#STRIPEEVT#{event['id']}"
    (message,) = receive_messages(receiver.env["STRIPE_EVENTS_QUEUE_URL"])
    assert json.loads(message["Body"]) == {"tenant_id": stripe_webhooks.PLATFORM, "event_id": event["id"]}


# --- refused ----------------------------------------------------------------------------------------------------------
def _refusals(tenant_id: str) -> dict[str, tuple[str | bytes, str | None, str]]:
    """name -> (body, Stripe-Signature, expected problem code)"""
    body = body_of(succeeded_event(tenant_id))
    now = int(time.time())
    good = sign(body, SECRETS[0], now)
    tampered = body.replace('"amount": 4328', '"amount": 1', 1)
    assert tampered != body
    return {
        "unsigned": (body, None, "invalid_signature"),
        "empty header": (body, "", "invalid_signature"),
        "forged (unknown secret)": (body, sign(body, "whsec_attacker", now), "invalid_signature"),
        "tampered body": (tampered, good, "invalid_signature"),
        "body with a trailing newline": (body + "\n", good, "invalid_signature"),
        "signature of another timestamp": (body, f"t={now + 1},{good.split(',')[1]}", "invalid_signature"),
        "stale (t 301 s old)": (body, sign(body, SECRETS[0], now - TOLERANCE - 1), "stale_signature"),
        "stale (a day old)": (body, sign(body, SECRETS[1], now - 86_400), "stale_signature"),
        "future (t 301 s ahead)": (body, sign(body, SECRETS[0], now + TOLERANCE + 10), "stale_signature"),
        "future (a day ahead)": (body, sign(body, SECRETS[1], now + 86_400), "stale_signature"),
        "no timestamp": (body, good.split(",")[1], "invalid_signature"),
        "timestamp not a number": (body, f"t=abc,{good.split(',')[1]}", "invalid_signature"),
        "v0 scheme only": (body, good.replace("v1=", "v0="), "invalid_signature"),
        "signature of the secret itself": (body, f"t={now},v1={SECRETS[0]}", "invalid_signature"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unsigned",
        "empty header",
        "forged (unknown secret)",
        "tampered body",
        "body with a trailing newline",
        "signature of another timestamp",
        "stale (t 301 s old)",
        "stale (a day old)",
        "future (t 301 s ahead)",
        "future (a day ahead)",
        "no timestamp",
        "timestamp not a number",
        "v0 scheme only",
        "signature of the secret itself",
    ],
)
def test_an_unverifiable_delivery_is_a_400_problem_and_leaves_no_trace(receiver, tenant_id, case):
    body, signature, code = _refusals(tenant_id)[case]
    status, problem, headers = post_webhook(webhook_request(body, signature))
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == 400 and problem["code"] == code
    assert problem["type"] == f"urn:billing:problem:{code}" and problem["detail"]
    assert_nothing_written_or_sent(receiver)


def test_a_signed_body_that_is_not_a_stripe_event_is_refused(receiver):
    for body in ("not json", "[1, 2]", json.dumps({"id": 1, "type": "x"}), json.dumps({"object": "event"})):
        status, problem, _ = post_webhook(webhook_request(body, sign(body, SECRETS[0])))
        assert status == 400 and problem["code"] == "malformed_event", body
    assert_nothing_written_or_sent(receiver)


def test_a_signed_base64_body_tampered_after_signing_is_refused(receiver, tenant_id):
    body = body_of(succeeded_event(tenant_id))
    signature = sign(body, SECRETS[0])
    status, problem, _ = post_webhook(
        webhook_request(body.replace("4328", "4329").encode(), signature, base64_body=True)
    )
    assert status == 400 and problem["code"] == "invalid_signature"
    assert_nothing_written_or_sent(receiver)


def _undecodable(kind: str) -> dict[str, Any]:
    if kind == "base64 of bytes that are not UTF-8":
        garbage = b"\xff\xfe{not utf-8}"
        return webhook_request(garbage, sign(garbage, SECRETS[0]), base64_body=True)
    request = webhook_request("{}", sign("{}", SECRETS[0]))
    request["body"], request["isBase64Encoded"] = "e30", True  # base64 without its padding
    return request


@pytest.mark.parametrize("kind", ["base64 of bytes that are not UTF-8", "base64 that does not decode"])
def test_a_body_that_cannot_be_decoded_is_a_400_problem(receiver, kind):
    status, problem, _ = post_webhook(_undecodable(kind))
    assert status == 400 and problem["code"] in ("invalid_signature", "malformed_event")
    assert_nothing_written_or_sent(receiver)


# --- hostile input never answers 5xx, and writes nothing (issue 11, items 8–10) ------------------------------------
@pytest.mark.parametrize("stamp", ["²", "١٢٣", "1" * 30, "-5", "+5", " 5", "0x10"])
def test_a_timestamp_that_is_not_ascii_digits_is_refused(receiver, tenant_id, stamp):
    body = body_of(succeeded_event(tenant_id))
    valid = sign(body, SECRETS[0])
    status, answer, _ = post_webhook(webhook_request(body, valid.replace(valid.split(",")[0], f"t={stamp}")))
    assert (status, answer["code"]) == (400, "invalid_signature")
    assert_nothing_written_or_sent(receiver)


@pytest.mark.parametrize(
    "shape",
    [
        {"data": "a string"},
        {"data": ["a", "list"]},
        {"data": {"object": "a string"}},
        {"data": {"object": ["a", "list"]}},
        {"data": None},
        {"type": ["not", "a", "string"]},
        {"data": {"object": {"id": ["not", "a", "string"], "object": "payment_intent"}}},
        {"data": {"object": {"id": "pi_" + "x" * 300, "object": "payment_intent"}}},
    ],
    ids=lambda shape: json.dumps(shape)[:40],
)
def test_a_signed_event_of_the_wrong_shape_is_refused_not_a_500(receiver, tenant_id, shape):
    event = {**succeeded_event(tenant_id), **shape}
    status, answer = deliver(event)
    assert (status, answer["code"]) == (400, "malformed_event")
    assert_nothing_written_or_sent(receiver)


def test_a_signed_megabyte_event_is_received_and_only_what_processing_needs_is_kept(receiver, tenant_id):
    event = succeeded_event(tenant_id)
    event["data"]["object"]["description"] = "x" * 1_000_000
    event["data"]["object"]["receipt_email"] = "someone@example.com"
    status, answer = deliver(event)
    assert (status, answer) == (200, {"received": True, "id": event["id"]})
    [record] = stripe_event_records()
    kept = json.loads(record["payload"])
    assert len(record["payload"]) < 2_000
    assert kept["type"] == "payment_intent.succeeded" and kept["data"]["object"]["id"] == event["data"]["object"]["id"]
    assert "someone@example.com" not in record["payload"]  # personal data in the body is not kept
