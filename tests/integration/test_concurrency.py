"""Races between real concurrent Lambda containers: separate processes, each with its own handler, against one
moto server (which, like DynamoDB, applies each request atomically)."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from infra.local import aws
from infra.local import template as tpl

TABLE = "billing-race"
WORKERS = 8


def _container_init(endpoint: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        TABLE_NAME=TABLE,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_METRICS_DISABLED="true",
    )


def _call(args: tuple[str, str, str, dict, dict]) -> tuple[int, dict]:
    method, path, api_key, body, headers = args
    from functions.api import app
    from tests.integration.conftest import FakeLambdaContext, http_event

    answer = app.lambda_handler(http_event(method, path, api_key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture(scope="module")
def moto_server():
    server = aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(**tpl.table_definition(tpl.load(), "Table", TABLE))
    yield endpoint
    client.delete_table(TableName=TABLE)  # moto's backends outlive the server: the offline race test makes it again
    server.stop()


@pytest.fixture(scope="module")
def pool(moto_server):
    with ProcessPoolExecutor(
        WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_container_init, initargs=(moto_server,)
    ) as executor:
        yield executor


@pytest.fixture(scope="module")
def api_key(moto_server):
    from billing.adapters.clock import FixedClock
    from billing.adapters.dynamodb import DynamoStore
    from billing.adapters.repository import Repository
    from billing.services import tenants
    from billing.services.unit import Context

    client = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1")
    ctx = Context(Repository(DynamoStore(client, TABLE)), FixedClock(datetime.now(UTC)))
    return tenants.create_tenant(ctx, "Race Co")[1]


def test_fifty_concurrent_identical_posts_create_exactly_one_customer(pool, api_key):
    body = {"email": "race@example.com", "name": "Race", "locale": "en", "currency": "eur"}
    calls = [("POST", "/v1/customers", api_key, body, {"Idempotency-Key": "one-customer"})] * 50
    answers = list(pool.map(_call, calls))
    assert Counter(status for status, _ in answers) == {201: 50}
    assert len({body["id"] for _, body in answers}) == 1


def test_concurrent_finalization_numbers_are_gapless_and_unique(pool, api_key):
    customer = {"email": "n@example.com", "name": "N", "locale": "en", "currency": "eur"}
    customer_id = pool.submit(_call, ("POST", "/v1/customers", api_key, customer, {})).result()[1]["id"]
    order = {
        "customer_id": customer_id,
        "currency": "eur",
        "collection_method": "charge_automatically",
        "lines": [{"description": "Seat", "quantity": 1, "unit_amount": 1000}],
    }
    answers = list(pool.map(_call, [("POST", "/v1/orders", api_key, order, {})] * 40))
    assert all(status == 201 for status, _ in answers), answers
    gets = [("GET", f"/v1/invoices/{body['invoice_id']}", api_key, None, {}) for _, body in answers]
    invoices = [body for _, body in pool.map(_call, gets)]
    year = datetime.now(UTC).year
    assert sorted(inv["number"] for inv in invoices) == [f"INV-{year}-{n:06}" for n in range(1, 41)]
