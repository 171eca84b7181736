"""The four event-driven handlers (outbox relay, notifier, due sweep, invoice-due worker) on moto, driven by the
sample events in events/ as AWS delivers them, with real ids filled in.

State is made through the API handler (as a storefront would), outbox items are read back from the table and handed
to the relay as stream records, and queue messages are received from moto's SQS and handed to their consumer as the
Lambda SQS poller would: every hop of the pipeline is a real handler call on real AWS-shaped data.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, SqsModel
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from billing.adapters import keys
from billing.adapters.clock import FixedClock
from billing.adapters.dynamodb import from_item
from billing.bootstrap import Deps
from billing.domain.models import DomainEvent
from billing.services import tenants
from functions.api import app as api
from functions.dunning_sweep import app as due_sweep
from functions.dunning_worker import app as due_worker
from functions.notifier import app as notifier
from functions.outbox_relay import app as relay
from infra.local import template as tpl
from tests.integration.conftest import TABLE, FakeLambdaContext, all_failed, http_event, sample_event

pytestmark = pytest.mark.usefixtures("deps")

NO_FAILURES = {"batchItemFailures": []}


# --- the API, as a storefront calls it ---------------------------------------------------------------------------
def call(method: str, path: str, key: str | None = None, body: Any = None) -> tuple[int, Any]:
    answer = api.lambda_handler(http_event(method, path, key, body), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def new_customer(key: str, locale: str = "en", email: str = "ana@example.com", name: str = "Ana Lima") -> str:
    status, body = call(
        "POST", "/v1/customers", key, {"email": email, "name": name, "locale": locale, "currency": "usd"}
    )
    assert status == 201, body
    return body["id"]


def place_invoice(key: str, customer_id: str, days_until_due: int = 14, **extra: Any) -> dict[str, Any]:
    order = {
        "customer_id": customer_id,
        "currency": "usd",
        "lines": [{"description": "Pro plan", "quantity": 2, "unit_amount": 1999, "tax_rate_percent": "8.25"}],
        "collection_method": "send_invoice",
        "days_until_due": days_until_due,
        **extra,
    }
    status, placed = call("POST", "/v1/orders", key, order)
    assert status == 201 and placed["status"] == "invoiced", placed
    status, invoice = call("GET", f"/v1/invoices/{placed['invoice_id']}", key)
    assert status == 200
    return invoice


def get_invoice(key: str, invoice_id: str) -> dict[str, Any]:
    status, invoice = call("GET", f"/v1/invoices/{invoice_id}", key)
    assert status == 200, invoice
    return invoice


# --- the table, the queues and SES, read back ---------------------------------------------------------------------
def items(pk: str, sk_prefix: str) -> list[dict[str, Any]]:
    """Raw items (DynamoDB JSON, as a stream record carries them) of one partition under an sk prefix."""
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": sk_prefix}},
    )
    return answer["Items"]


def outbox(aggregate_key: dict[str, str], event_type: str) -> list[dict[str, Any]]:
    """The aggregate's outbox (EVT#) items of one event type."""
    return [i for i in items(aggregate_key["pk"], "EVT#") if i["event_type"]["S"] == event_type]


def receive_all(queue_url: str) -> list[dict[str, Any]]:
    sqs, got = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        got += batch
    return got


def bodies(queue_url: str) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in receive_all(queue_url)]


def sent_emails() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def mail_log(tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    return [from_item(i) for i in items(keys.invoice(tenant_id, invoice_id)["pk"], "MAIL#")]


# --- events as Lambda delivers them, built from the samples -------------------------------------------------------
def stream_event(*images: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB stream batch (NEW_IMAGE INSERTs) of these items, from events/dynamodb_stream_event_item.json."""
    sample = sample_event("dynamodb_stream_event_item.json")["Records"][0]
    first = int(sample["dynamodb"]["SequenceNumber"])
    records = []
    for n, image in enumerate(images):
        record = copy.deepcopy(sample)
        record["eventID"] = uuid.uuid4().hex
        record["dynamodb"]["Keys"] = {"pk": image["pk"], "sk": image["sk"]}
        record["dynamodb"]["NewImage"] = image
        record["dynamodb"]["SequenceNumber"] = str(first + n)
        records.append(record)
    return {"Records": records}


def sqs_event(sample: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS batch as the Lambda poller hands it over: the messages received from moto, shaped like ``sample``."""
    template = sample_event(sample)["Records"][0]
    records = []
    for m in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=m["MessageId"], receiptHandle=m["ReceiptHandle"], body=m["Body"], md5OfBody=m["MD5OfBody"]
        )
        record["attributes"].update(m.get("Attributes", {}))
        records.append(record)
    return {"Records": records}


def sqs_bodies_event(sample: str, *payloads: Any) -> dict[str, Any]:
    """An SQS batch of hand-written bodies (a JSON payload, or a string as is)."""
    messages = []
    for payload in payloads:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        messages.append(
            {
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": uuid.uuid4().hex,
                "Body": body,
                "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            }
        )
    return sqs_event(sample, messages)


def run_relay(event: dict[str, Any]) -> dict[str, Any]:
    return relay.lambda_handler(event, FakeLambdaContext())


def run_notifier(event: dict[str, Any]) -> dict[str, Any]:
    return notifier.lambda_handler(event, FakeLambdaContext())


def run_sweep(scheduled_time: str | None = None) -> dict[str, Any]:
    event = sample_event("scheduler_dunning_sweep.json")
    if scheduled_time:
        event["scheduled_time"] = scheduled_time
    return due_sweep.lambda_handler(event, FakeLambdaContext())


def run_worker(event: dict[str, Any]) -> dict[str, Any]:
    return due_worker.lambda_handler(event, FakeLambdaContext())


def relay_to_notifier(deps: Deps, aggregate_key: dict[str, str], event_type: str) -> dict[str, Any]:
    """Relay the aggregate's ``event_type`` outbox item and return the notifier's SQS event for what was queued."""
    images = outbox(aggregate_key, event_type)
    assert len(images) == 1, images
    assert run_relay(stream_event(*images)) == NO_FAILURES
    messages = receive_all(deps.env["NOTIFICATIONS_QUEUE_URL"])
    assert len(messages) == 1, messages
    return sqs_event("sqs_notification.json", messages)


def set_clock(clock: FixedClock, when: datetime) -> None:
    clock.advance(when - clock.now())


# --- the samples ---------------------------------------------------------------------------------------------------
def test_samples_have_the_shapes_aws_delivers():
    for name in ("sqs_notification.json", "sqs_dunning.json"):
        parsed = SqsModel.model_validate(sample_event(name))
        assert len(parsed.Records) == 1
        record = parsed.Records[0]
        assert record.md5OfBody == hashlib.md5(record.body.encode()).hexdigest()
    notification = DomainEvent.model_validate_json(sample_event("sqs_notification.json")["Records"][0]["body"])
    assert notification.type == "invoice.finalized" and notification.aggregate == "invoice"
    due = json.loads(sample_event("sqs_dunning.json")["Records"][0]["body"])
    assert due_worker.InvoiceNeedingAttention.model_validate(due).model_dump() == due

    stream = DynamoDBStreamModel.model_validate(sample_event("dynamodb_stream_event_item.json"))
    record = stream.Records[0]
    assert (record.eventName, record.dynamodb.StreamViewType) == ("INSERT", "NEW_IMAGE")
    image = record.dynamodb.NewImage
    event = DomainEvent.model_validate_json(image["doc"])
    assert image["type"] == "event" and image["event_type"] == event.type == "invoice.finalized"
    expected_key = keys.event(
        keys.invoice(event.tenant_id, event.aggregate_id), event.occurred_at.isoformat(), event.id
    )
    assert {k: image[k] for k in ("pk", "sk")} == record.dynamodb.Keys == expected_key


def test_scheduler_sample_is_the_templates_input_with_the_scheduled_time():
    events = tpl.load()["Resources"]["DunningSweepFunction"]["Properties"]["Events"].values()
    (template,) = [e["Properties"] for e in events if e["Type"] == "ScheduleV2"]
    sample = sample_event("scheduler_dunning_sweep.json")
    delivered = template["Input"].replace("<aws.scheduler.scheduled-time>", sample["scheduled_time"])
    assert json.loads(delivered) == sample
    run = due_sweep.ScheduledRun.model_validate(sample)
    assert run.scheduled_time == datetime(2026, 12, 8, 9, 5, tzinfo=UTC)


# --- outbox relay ---------------------------------------------------------------------------------------------------
def test_relay_sends_the_sample_event_to_the_notifications_queue(deps):
    sample = sample_event("dynamodb_stream_event_item.json")
    assert run_relay(sample) == NO_FAILURES
    assert bodies(deps.env["NOTIFICATIONS_QUEUE_URL"]) == [
        json.loads(sample["Records"][0]["dynamodb"]["NewImage"]["doc"]["S"])
    ]


def test_relay_sends_a_finalized_invoice_exactly_once_to_the_notifications_queue(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    images = outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
    assert len(images) == 1
    event = DomainEvent.model_validate_json(images[0]["doc"]["S"])

    assert run_relay(stream_event(*images)) == NO_FAILURES

    relayed = bodies(deps.env["NOTIFICATIONS_QUEUE_URL"])
    assert relayed == [event.model_dump(mode="json")]
    assert relayed[0]["aggregate_id"] == invoice["id"] and relayed[0]["data"]["number"] == invoice["number"]
    assert bodies(deps.env["DUNNING_QUEUE_URL"]) == []


def test_relay_does_not_route_a_customer_created_event(deps, key, tenant_id):
    customer_id = new_customer(key)
    images = outbox(keys.customer(tenant_id, customer_id), "customer.created")
    assert len(images) == 1

    assert run_relay(stream_event(*images)) == NO_FAILURES

    assert bodies(deps.env["NOTIFICATIONS_QUEUE_URL"]) == []
    assert bodies(deps.env["DUNNING_QUEUE_URL"]) == []


@pytest.mark.parametrize(
    "break_image",
    [
        pytest.param(lambda image: image.update(doc={"S": "{not json"}), id="not-json"),
        pytest.param(
            lambda image: image.update(doc={"S": json.dumps({**json.loads(image["doc"]["S"]), "type": None})}),
            id="not-a-domain-event",
        ),
        pytest.param(lambda image: image.pop("doc"), id="no-doc"),
    ],
)
def test_a_broken_record_is_a_partial_batch_failure_and_the_good_one_is_still_relayed(
    deps, key, tenant_id, break_image
):
    first = place_invoice(key, new_customer(key))
    second = place_invoice(key, new_customer(key, email="bo@example.com", name="Bo"))
    good = outbox(keys.invoice(tenant_id, first["id"]), "invoice.finalized")[0]
    broken = copy.deepcopy(outbox(keys.invoice(tenant_id, second["id"]), "invoice.finalized")[0])
    break_image(broken)
    event = stream_event(good, broken)

    answer = run_relay(event)

    broken_sequence = event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": broken_sequence}]}
    relayed = bodies(deps.env["NOTIFICATIONS_QUEUE_URL"])
    assert [m["aggregate_id"] for m in relayed] == [first["id"]]


# --- notifier -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("locale", "words"),
    [("zh", ["来自 Acme Cloud 的发票", "US$43.28"]), ("ru", ["Счёт", "от Acme Cloud на сумму", "43,28"])],
)
def test_a_finalized_invoice_is_emailed_to_the_customer_in_their_language(deps, key, tenant_id, locale, words):
    invoice = place_invoice(key, new_customer(key, locale=locale, email=f"{locale}@customer.test"))
    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")

    assert run_notifier(event) == NO_FAILURES

    (sent,) = sent_emails()
    assert sent.destinations["ToAddresses"] == [f"{locale}@customer.test"]
    assert sent.source == "Acme Cloud <billing@example.com>"  # an ASCII name needs no quotes (email.utils.formataddr)
    assert invoice["number"] == "INV-2026-000001" and invoice["number"] in sent.subject
    for word in words:
        assert word in sent.subject, sent.subject
    (logged,) = mail_log(tenant_id, invoice["id"])
    cause = json.loads(event["Records"][0]["body"])["id"]
    assert logged["sk"] == f"MAIL#{cause}#invoice_issued"
    assert (logged["to"], logged["subject"], logged["locale"], logged["message_id"]) == (
        f"{locale}@customer.test",
        sent.subject,
        locale,
        sent.id,
    )


def test_the_same_notification_delivered_twice_sends_one_email(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
    redelivered = copy.deepcopy(event)
    redelivered["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"

    assert run_notifier(event) == NO_FAILURES
    assert run_notifier(redelivered) == NO_FAILURES

    assert len(sent_emails()) == 1
    assert len(mail_log(tenant_id, invoice["id"])) == 1
    assert boto3.client("ses").get_send_statistics()["SendDataPoints"][0]["DeliveryAttempts"] == 1


def test_an_invoice_voided_before_the_notifier_runs_gets_no_email(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
    status, voided = call("POST", f"/v1/invoices/{invoice['id']}/void", key)
    assert status == 200 and voided["status"] == "void"

    assert run_notifier(event) == NO_FAILURES

    assert sent_emails() == []
    assert mail_log(tenant_id, invoice["id"]) == []


def test_an_ses_rejection_fails_the_record_logs_nothing_and_the_retry_sends(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
    ses = boto3.client("ses")
    ses.delete_identity(Identity="example.com")  # EMAIL_FROM is no longer a verified identity: SES refuses

    # A batch of one that fails entirely: reported as a failure (backed off), so SQS delivers it again later.
    assert all_failed(run_notifier(event), event)
    assert sent_emails() == []
    assert mail_log(tenant_id, invoice["id"]) == []

    ses.verify_domain_identity(Domain="example.com")
    assert run_notifier(event) == NO_FAILURES  # the redelivery after the visibility timeout
    assert len(sent_emails()) == 1 and len(mail_log(tenant_id, invoice["id"])) == 1


def test_an_ses_rejection_in_a_batch_is_reported_for_that_record_only(deps, key, tenant_id):
    first = place_invoice(key, new_customer(key))
    already_sent = relay_to_notifier(deps, keys.invoice(tenant_id, first["id"]), "invoice.finalized")
    assert run_notifier(already_sent) == NO_FAILURES
    second = place_invoice(key, new_customer(key, email="bo@example.com", name="Bo"))
    rejected = relay_to_notifier(deps, keys.invoice(tenant_id, second["id"]), "invoice.finalized")
    boto3.client("ses").delete_identity(Identity="example.com")
    batch = {"Records": already_sent["Records"] + rejected["Records"]}  # a redelivery and a new notification

    answer = run_notifier(batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": rejected["Records"][0]["messageId"]}]}
    assert [m.destinations["ToAddresses"] for m in sent_emails()] == [["ana@example.com"]]
    assert mail_log(tenant_id, second["id"]) == []
    assert len(mail_log(tenant_id, first["id"])) == 1


def test_events_that_call_for_no_email_send_nothing(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    voided = DomainEvent.new("invoice.voided", tenant_id, "invoice", invoice["id"], deps.clock.now())
    created = DomainEvent.new("customer.created", tenant_id, "customer", invoice["customer_id"], deps.clock.now())
    event = sqs_bodies_event("sqs_notification.json", voided.model_dump(mode="json"), created.model_dump(mode="json"))

    assert run_notifier(event) == NO_FAILURES

    assert sent_emails() == [] and mail_log(tenant_id, invoice["id"]) == []


def test_a_malformed_notification_is_a_batch_item_failure(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    good = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
    bad = sqs_bodies_event("sqs_notification.json", "{not json")
    event = {"Records": bad["Records"] + good["Records"]}

    answer = run_notifier(event)

    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["Records"][0]["messageId"]}]}
    assert len(sent_emails()) == 1


def test_a_zero_invoice_is_emailed_as_already_paid(deps, key, tenant_id):
    invoice = place_invoice(key, new_customer(key), discount={"percent_off": "100"})
    assert invoice["status"] == "paid" and invoice["amount_due"] == 0
    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")

    assert run_notifier(event) == NO_FAILURES

    (sent,) = sent_emails()
    assert invoice["number"] in sent.subject and "already paid in full" in sent.body
    assert len(mail_log(tenant_id, invoice["id"])) == 1


# --- due sweep and invoice-due worker -------------------------------------------------------------------------------
SWEEP = datetime(2026, 12, 8, 9, 5, tzinfo=UTC)  # the sample's scheduled time: the day after the due date


def test_the_sweep_fans_out_the_overdue_invoice_once(deps, clock, key, tenant_id):
    overdue = place_invoice(key, new_customer(key), days_until_due=14)
    not_yet = place_invoice(key, new_customer(key, email="bo@example.com", name="Bo"), days_until_due=30)
    assert (overdue["due_date"], not_yet["due_date"]) == ("2026-12-07", "2026-12-23")
    set_clock(clock, SWEEP)

    assert run_sweep() == {"scheduled_time": "2026-12-08T09:05:00+00:00", "duplicate": False, "fanned_out": 1}
    assert bodies(deps.env["DUNNING_QUEUE_URL"]) == [{"tenant_id": tenant_id, "invoice_id": overdue["id"]}]

    # The scheduler fires the same scheduled time again (a retry, or a duplicate delivery): nothing more.
    clock.advance(timedelta(minutes=3))
    assert run_sweep() == {"scheduled_time": "2026-12-08T09:05:00+00:00", "duplicate": True, "fanned_out": 0}
    assert bodies(deps.env["DUNNING_QUEUE_URL"]) == []
    assert bodies(deps.env["NOTIFICATIONS_QUEUE_URL"]) == []


def test_a_sweep_that_fails_half_way_is_not_recorded_and_its_retry_fans_out(deps, clock, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    set_clock(clock, SWEEP)
    due_url = deps.env["DUNNING_QUEUE_URL"]
    deps.env["DUNNING_QUEUE_URL"] = due_url.rsplit("/", 1)[0] + "/no-such-queue"  # SQS refuses the fan-out

    with pytest.raises(ClientError):
        run_sweep()

    deps.env["DUNNING_QUEUE_URL"] = due_url
    clock.advance(timedelta(minutes=1))  # Lambda's asynchronous retry of the same scheduled time
    assert run_sweep() == {"scheduled_time": "2026-12-08T09:05:00+00:00", "duplicate": False, "fanned_out": 1}
    assert bodies(due_url) == [{"tenant_id": tenant_id, "invoice_id": invoice["id"]}]
    assert run_sweep()["duplicate"] is True


def test_the_sweep_reads_across_tenants(deps, clock, key, tenant_id):
    mine = place_invoice(key, new_customer(key))
    other, other_key = tenants.create_tenant(deps.context, "Other Co")
    theirs = place_invoice(other_key, new_customer(other_key))
    set_clock(clock, SWEEP)

    assert run_sweep()["fanned_out"] == 2
    fanned = bodies(deps.env["DUNNING_QUEUE_URL"])
    assert sorted(map(tuple, (m.values() for m in fanned))) == sorted(
        [(tenant_id, mine["id"]), (other.id, theirs["id"])]
    )


def test_the_worker_marks_the_invoice_past_due_and_runs_the_first_step_once(deps, clock, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    set_clock(clock, SWEEP)
    assert run_sweep()["fanned_out"] == 1
    event = sqs_event("sqs_dunning.json", receive_all(deps.env["DUNNING_QUEUE_URL"]))
    aggregate = keys.invoice(tenant_id, invoice["id"])
    clock.advance(timedelta(seconds=2))

    assert run_worker(event) == NO_FAILURES

    marked = get_invoice(key, invoice["id"])
    assert marked["past_due"] is True and marked["status"] == "open"
    # the default policy's day 1: reminder (+ retry: not for send_invoice)
    assert marked["dunning"]["steps_done"] == ["due_date:1"]
    assert marked["dunning"]["attention_on"] == "2026-12-10"  # its day 3 step
    (past_due,) = outbox(aggregate, "invoice.past_due")
    assert json.loads(past_due["doc"]["S"])["data"] == {"number": invoice["number"], "due_date": "2026-12-07"}
    (step,) = outbox(aggregate, "invoice.dunning_step")
    data = json.loads(step["doc"]["S"])["data"]
    assert (data["step"], data["email"], data["charge"]) == (
        0,
        "dunning_reminder",
        {"outcome": "not_charged", "reason": "send_invoice"},
    )
    assert (data["next_retry_on"], data["suspend_on"], data["write_off_on"]) == (None, "2026-12-21", "2027-01-06")
    version = deps.context.repo.invoice(tenant_id, invoice["id"]).version

    # The same message again (SQS is at-least-once): nothing changes.
    clock.advance(timedelta(minutes=5))
    redelivered = copy.deepcopy(event)
    redelivered["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert run_worker(redelivered) == NO_FAILURES
    assert deps.context.repo.invoice(tenant_id, invoice["id"]).version == version
    assert get_invoice(key, invoice["id"]) == marked
    assert len(outbox(aggregate, "invoice.past_due")) == len(outbox(aggregate, "invoice.dunning_step")) == 1

    # The invoice moved on in the attention index: the next day's sweep finds nothing, the one of its next step does.
    set_clock(clock, SWEEP + timedelta(days=1))
    assert run_sweep("2026-12-09T09:05:00Z") == {
        "scheduled_time": "2026-12-09T09:05:00+00:00",
        "duplicate": False,
        "fanned_out": 0,
    }
    set_clock(clock, SWEEP + timedelta(days=2))
    assert run_sweep("2026-12-10T09:05:00Z")["fanned_out"] == 1


def test_the_sample_message_marks_the_invoice_it_names(deps, clock, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    event = sample_event("sqs_dunning.json")
    event["Records"][0]["body"] = json.dumps({"tenant_id": tenant_id, "invoice_id": invoice["id"]})
    set_clock(clock, SWEEP)

    assert run_worker(event) == NO_FAILURES

    assert get_invoice(key, invoice["id"])["past_due"] is True


def test_a_voided_invoice_is_not_fanned_out(deps, clock, key, tenant_id):
    customer_id = new_customer(key)
    kept = place_invoice(key, customer_id)
    voided = place_invoice(key, customer_id)
    assert call("POST", f"/v1/invoices/{voided['id']}/void", key)[0] == 200
    set_clock(clock, SWEEP)

    assert run_sweep()["fanned_out"] == 1
    assert bodies(deps.env["DUNNING_QUEUE_URL"]) == [{"tenant_id": tenant_id, "invoice_id": kept["id"]}]


@pytest.mark.parametrize(
    ("scheduled_time", "fanned_out"),
    [
        pytest.param("2026-12-06T09:05:00Z", 0, id="the-day-before-the-due-date"),
        pytest.param("2026-12-08T09:05:00Z", 1, id="the-day-after"),
        pytest.param("2026-12-21T09:05:00Z", 1, id="catch-up-on-the-last-lookback-day"),
        pytest.param("2026-12-22T09:05:00Z", 0, id="beyond-the-lookback"),
    ],
)
def test_which_sweep_finds_the_invoice(deps, clock, key, scheduled_time, fanned_out):
    place_invoice(key, new_customer(key))
    set_clock(clock, datetime.fromisoformat(scheduled_time))

    assert run_sweep(scheduled_time)["fanned_out"] == fanned_out
    assert len(bodies(deps.env["DUNNING_QUEUE_URL"])) == fanned_out


def test_the_worker_leaves_an_invoice_that_is_not_yet_overdue(deps, clock, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    set_clock(clock, datetime(2026, 12, 7, 23, 59, tzinfo=UTC))  # still the due date
    event = sqs_bodies_event("sqs_dunning.json", {"tenant_id": tenant_id, "invoice_id": invoice["id"]})

    assert run_worker(event) == NO_FAILURES

    assert get_invoice(key, invoice["id"])["past_due"] is False
    assert outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.past_due") == []


def test_the_worker_fails_only_the_malformed_message(deps, clock, key, tenant_id):
    invoice = place_invoice(key, new_customer(key))
    set_clock(clock, SWEEP)
    event = sqs_bodies_event(
        "sqs_dunning.json",
        {"tenant_id": tenant_id},
        {"tenant_id": tenant_id, "invoice_id": "in_doesnotexist"},
        {"tenant_id": tenant_id, "invoice_id": invoice["id"]},
    )

    answer = run_worker(event)

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert get_invoice(key, invoice["id"])["past_due"] is True


def test_an_overdue_invoice_gets_a_reminder_in_the_customers_language(deps, clock, key, tenant_id):
    """Every handler in turn: sweep -> worker -> relay (invoice.dunning_step) -> notifier -> SES."""
    invoice = place_invoice(key, new_customer(key, locale="ru", email="ivan@customer.test", name="Иван"))
    set_clock(clock, SWEEP)
    assert run_sweep()["fanned_out"] == 1
    assert run_worker(sqs_event("sqs_dunning.json", receive_all(deps.env["DUNNING_QUEUE_URL"]))) == NO_FAILURES

    event = relay_to_notifier(deps, keys.invoice(tenant_id, invoice["id"]), "invoice.dunning_step")
    assert run_notifier(event) == NO_FAILURES
    assert run_notifier(event) == NO_FAILURES  # redelivered

    (sent,) = sent_emails()
    assert sent.destinations["ToAddresses"] == ["ivan@customer.test"]
    assert f"Напоминание об оплате счёта {invoice['number']} от Acme Cloud" in sent.subject
    (logged,) = mail_log(tenant_id, invoice["id"])
    assert logged["sk"].endswith("#dunning_reminder") and logged["locale"] == "ru"
