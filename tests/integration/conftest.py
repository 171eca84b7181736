"""Handlers on moto (in-process, ``mock_aws``) with the table, queues and SES identity that template.yaml declares."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing import bootstrap
from billing.adapters.clock import FixedClock
from billing.services import tenants
from infra.local import template as tpl

EVENTS = Path(__file__).resolve().parents[2] / "events"
TABLE = "billing-test"
DOCUMENTS_BUCKET = "billing-test-documents"
QUEUE_ENV = (
    "NOTIFICATIONS_QUEUE_URL",
    "DUNNING_QUEUE_URL",
    "BILLING_QUEUE_URL",
    "BILLING_PAGE_QUEUE_URL",
    "COLLECTIONS_QUEUE_URL",
    "STRIPE_EVENTS_QUEUE_URL",
    "WEBHOOK_EVENTS_QUEUE_URL",
    "NUMBERING_QUEUE_URL",
)


class FakeLambdaContext:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _reads_without_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's GetItem of a missing partition adds an empty one to its table (a defaultdict): done by a request's
    read-ahead on one thread while a Query iterates the table on another (``DynamoStore.prefetch``), moto raises
    "dictionary changed size during iteration". A read here writes nothing, as DynamoDB's."""
    from moto.dynamodb.models.table import Table

    real = Table.get_item

    def get_item(self: Table, hash_key: Any, range_key: Any = None, projection_expression: Any = None) -> Any:
        if range_key is not None and hash_key not in self.items:
            return None
        return real(self, hash_key, range_key, projection_expression)

    monkeypatch.setattr(Table, "get_item", get_item)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _reads_without_writing(monkeypatch)
    with mock_aws():
        template = tpl.load()
        boto3.client("dynamodb").create_table(**tpl.table_definition(template, "Table", TABLE))
        boto3.client("ses").verify_domain_identity(Domain="example.com")
        boto3.client("ses").create_configuration_set(ConfigurationSet={"Name": "billing-test"})
        yield


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


@pytest.fixture
def deps(aws: None, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[bootstrap.Deps]:
    sqs = boto3.client("sqs")
    queues = {
        name: sqs.create_queue(QueueName=name.lower().removesuffix("_queue_url").replace("_", "-"))["QueueUrl"]
        for name in (
            "NOTIFICATIONS_QUEUE_URL",
            "DUNNING_QUEUE_URL",
            "BILLING_QUEUE_URL",
            "BILLING_PAGE_QUEUE_URL",
            "COLLECTIONS_QUEUE_URL",
            "DOCUMENTS_QUEUE_URL",
            "STRIPE_EVENTS_QUEUE_URL",
            "WEBHOOK_EVENTS_QUEUE_URL",
        )
    }
    # the numbering writer's queue is FIFO, as the template declares it (one message group per tenant and series)
    fifo = {"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    queues["NUMBERING_QUEUE_URL"] = sqs.create_queue(QueueName="numbering.fifo", Attributes=fifo)["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket=DOCUMENTS_BUCKET)
    env = {
        **os.environ,
        "TABLE_NAME": TABLE,
        **queues,
        "DOCUMENTS_BUCKET": DOCUMENTS_BUCKET,
        "EMAIL_FROM": "billing@example.com",
        "SES_CONFIGURATION_SET": "billing-test",
        "STRIPE_SECRET_KEY_PARAM": "/billing/test/stripe/secret-key",
        "STRIPE_WEBHOOK_SECRETS_PARAM": "/billing/test/stripe/webhook-secrets",
    }
    # Stripe's key as deployed (a SecureString); a test that charges swaps in a fake gateway before it is used
    boto3.client("ssm").put_parameter(
        Name=env["STRIPE_SECRET_KEY_PARAM"], Value="sk_test_never_called", Type="SecureString", Overwrite=True
    )
    built = bootstrap.Deps(env=env)
    built.__dict__["clock"] = clock  # cached_property slot: the test's clock instead of the system's
    bootstrap.use(built)
    yield built
    bootstrap.use(None)


@pytest.fixture
def tenant(deps: bootstrap.Deps) -> tuple[str, str]:
    created, api_key = tenants.create_tenant(deps.context, "Acme Cloud")
    return created.id, api_key


@pytest.fixture
def key(tenant: tuple[str, str]) -> str:
    """The tenant's API key."""
    return tenant[1]


@pytest.fixture
def tenant_id(tenant: tuple[str, str]) -> str:
    return tenant[0]


def http_event(
    method: str,
    path: str,
    api_key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, built from the recorded sample in events/."""
    event = sample_event("http_api_request.json")
    all_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if api_key:
        all_headers["authorization"] = f"Bearer {api_key}"
    if body is not None:
        all_headers["content-type"] = "application/json"
    event["headers"] = {**event["headers"], **all_headers}
    event["rawPath"] = path
    event["routeKey"] = f"{method} {path}"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["queryStringParameters"] = query or None
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def all_failed(answer: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether a worker reported every message of ``event`` as failed (to be backed off and delivered again)."""
    return answer["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
