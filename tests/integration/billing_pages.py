"""The billing run through its real handlers: the hourly run starts the run (its record, a page message per billing
shard), the page function fans each page out (one message a batch, as the template's BatchSize), each page's
successor queued until every shard is done. Used by every test that bills."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

from billing.bootstrap import Deps
from billing.services.subscriptions import BILLING_RUN
from functions.billing_pages import app as billing_pages
from functions.billing_run import app as billing_run_handler
from tests.integration.conftest import FakeLambdaContext, sample_event

NO_FAILURES = {"batchItemFailures": []}


def page_event(message: dict[str, Any]) -> dict[str, Any]:
    """One received page message as the Lambda poller hands it over (a batch of one)."""
    from tests.integration.test_workers import sqs_event  # noqa: PLC0415  (test_workers imports the handlers)

    return sqs_event("sqs_billing_page.json", [message])


def receive_pages(deps: Deps, keep: bool = False) -> list[dict[str, Any]]:
    """The page messages waiting (``keep``: made visible again, to be received once more)."""
    sqs, got = boto3.client("sqs"), []
    url = deps.env["BILLING_PAGE_QUEUE_URL"]
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        got += batch
    for message in got if keep else []:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return got


def run_page(message: dict[str, Any]) -> dict[str, Any]:
    return billing_pages.lambda_handler(page_event(message), FakeLambdaContext())


def drain_pages(deps: Deps) -> int:
    """Every page message, and the pages they queue, until none is left; how many pages ran."""
    ran = 0
    while messages := receive_pages(deps):
        for message in messages:
            assert run_page(message) == NO_FAILURES
            ran += 1
    return ran


def start_run(when: datetime) -> dict[str, Any]:
    run = {**sample_event("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
    return billing_run_handler.lambda_handler(run, FakeLambdaContext())


def run_record(deps: Deps, started: dict[str, Any]) -> dict[str, Any]:
    """The run's record, with its shards' progress items as ``shards`` (shard as a string -> progress)."""
    record = deps.context.repo.schedule_run(BILLING_RUN, started["scheduled_time"])
    assert record is not None
    shards = deps.context.repo.run_shards(BILLING_RUN, started["scheduled_time"])
    return {**record, "shards": {str(shard): progress for shard, progress in shards.items()}}


def sweep(deps: Deps, when: datetime) -> dict[str, Any]:
    """The run of ``when`` started and all its pages fanned out: the run handler's answer with ``fanned_out`` (the
    subscriptions the run sent to the billing queue; 0 for a repeated firing, which starts nothing)."""
    started = start_run(when)
    drain_pages(deps)
    fanned_out = 0 if started["duplicate"] else int(run_record(deps, started)["fanned_out"])
    return {**started, "fanned_out": fanned_out}
