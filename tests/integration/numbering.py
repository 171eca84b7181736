"""The numbering step after a billing run, through the real handlers: the outbox relay routes the run's
``invoices.drafted`` events to the FIFO numbering queue, and the numbering writer numbers the drafts (a batch of
at most ten messages at a time, as Lambda polls a FIFO queue: a group's next batch once the last is done)."""

from __future__ import annotations

from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr

from billing.bootstrap import Deps
from billing.domain import numbering
from functions.invoice_numbering import app as invoice_numbering
from functions.outbox_relay import app as relay
from tests.integration.conftest import TABLE, FakeLambdaContext

NO_FAILURES = {"batchItemFailures": []}


def drafted_events(deps: Deps) -> list[dict[str, Any]]:
    """The outbox items of every ``invoices.drafted`` event not relayed yet by ``number_drafts`` (a test-only scan;
    the relay reads the table's stream)."""
    table = boto3.resource("dynamodb").Table(TABLE)
    client = boto3.client("dynamodb")
    relayed = deps.__dict__.setdefault("_relayed_drafts", set())
    found, start = [], None
    while True:
        page = table.scan(FilterExpression=Attr("event_type").eq(numbering.DRAFTED), **start or {})
        found += [i for i in page["Items"] if (i["pk"], i["sk"]) not in relayed]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    relayed |= {(i["pk"], i["sk"]) for i in found}
    keys = [{"pk": {"S": i["pk"]}, "sk": {"S": i["sk"]}} for i in found]
    return [client.get_item(TableName=TABLE, Key=k)["Item"] for k in keys]  # as the stream's NewImage has them


def receive_batch(queue_url: str) -> list[dict[str, Any]]:
    return boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    )


def numbering_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    from tests.integration.test_workers import sqs_event

    event = sqs_event("sqs_invoices_drafted.json", messages)
    arn = "arn:aws:sqs:us-east-1:123456789012:numbering.fifo"  # the test's queue: a failed message is backed off
    for record, message in zip(event["Records"], messages, strict=True):
        record["attributes"] = {**message["Attributes"]}
        record["eventSourceARN"] = arn
    return event


def relay_drafts(deps: Deps) -> int:
    """Relay the new ``invoices.drafted`` events (through the relay's handler) to the numbering queue."""
    from tests.integration.test_workers import stream_event

    images = drafted_events(deps)
    for start in range(0, len(images), 100):
        assert relay.lambda_handler(stream_event(*images[start : start + 100]), FakeLambdaContext()) == NO_FAILURES
    return len(images)


def run_numbering(deps: Deps, expect_failures: bool = False) -> list[dict[str, Any]]:
    """The writer on everything in the numbering queue, a batch at a time; each batch's answer, in order."""
    sqs, url, answers = boto3.client("sqs"), deps.env["NUMBERING_QUEUE_URL"], []
    while messages := receive_batch(url):
        answer = invoice_numbering.lambda_handler(numbering_event(messages), FakeLambdaContext())
        if not expect_failures:
            assert answer == NO_FAILURES, answer
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        done = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        done = [d for d, m in zip(done, messages, strict=True) if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=done)
        answers.append(answer)
        if failed:
            break  # the failed ones come back after their visibility timeout
    return answers


def number_drafts(deps: Deps) -> int:
    """The billing run's numbering step: relay its drafted events, then run the writer until the queue is empty.
    How many drafted events were relayed."""
    relayed = relay_drafts(deps)
    run_numbering(deps)
    return relayed
