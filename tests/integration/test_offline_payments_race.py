"""Concurrent recordings of one wire, from separate Lambda containers (processes) against one moto server: exactly
one payment, and every request answers it."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest

from infra.local import aws
from infra.local import template as tpl
from tests.integration.test_concurrency import _call, _container_init

TABLE = "billing-race"  # what _container_init points the containers at
WORKERS = 4


@pytest.fixture(scope="module")
def endpoint():
    server = aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    client.create_table(**tpl.table_definition(tpl.load(), "Table", TABLE))
    yield url
    client.delete_table(TableName=TABLE)  # moto's backends outlive the server: test_concurrency makes it again
    server.stop()


@pytest.fixture(scope="module")
def pool(endpoint):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_container_init, initargs=(endpoint,)) as pool:
        yield pool


@pytest.fixture(scope="module")
def api_key(endpoint):
    from billing.adapters.clock import FixedClock
    from billing.adapters.dynamodb import DynamoStore
    from billing.adapters.repository import Repository
    from billing.services import tenants
    from billing.services.unit import Context

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    ctx = Context(Repository(DynamoStore(client, TABLE)), FixedClock(datetime.now(UTC)))
    return tenants.create_tenant(ctx, "Wire Co")[1]


def test_concurrent_recordings_of_one_wire_make_exactly_one_payment(pool, api_key):
    customer = {"email": "w@example.com", "name": "W", "locale": "en", "currency": "eur"}
    customer_id = pool.submit(_call, ("POST", "/v1/customers", api_key, customer, {})).result()[1]["id"]
    order = {
        "customer_id": customer_id,
        "currency": "eur",
        "collection_method": "send_invoice",
        "lines": [{"description": "Seat", "quantity": 1, "unit_amount": 100_000}],
    }
    invoice_id = pool.submit(_call, ("POST", "/v1/orders", api_key, order, {})).result()[1]["invoice_id"]
    invoice = pool.submit(_call, ("GET", f"/v1/invoices/{invoice_id}", api_key, None, {})).result()[1]
    wire = {"amount": 30_000, "method": "bank_transfer", "reference": "RACE-1", "received_at": invoice["issued_at"]}
    path = f"/v1/invoices/{invoice_id}/payments"
    answers = list(pool.map(_call, [("POST", path, api_key, wire, {})] * 24))
    assert Counter(status for status, _ in answers) == {201: 24}, answers
    assert len({body["id"] for _, body in answers}) == 1
    payments = pool.submit(_call, ("GET", path, api_key, None, {})).result()[1]["data"]
    assert [p["amount"] for p in payments] == [30_000]
    after = pool.submit(_call, ("GET", f"/v1/invoices/{invoice_id}", api_key, None, {})).result()[1]
    assert (after["amount_paid"], after["amount_due"]) == (30_000, 70_000)
    # a different request racing for the same reference: one wins, the others are told it is taken
    other = {**wire, "reference": "RACE-2"}
    mixed = [("POST", path, api_key, {**other, "amount": 1_000 + n}, {}) for n in range(12)]
    statuses = Counter(status for status, _ in pool.map(_call, mixed))
    assert statuses == {201: 1, 409: 11}, statuses
    after = pool.submit(_call, ("GET", f"/v1/invoices/{invoice_id}", api_key, None, {})).result()[1]
    assert len(pool.submit(_call, ("GET", path, api_key, None, {})).result()[1]["data"]) == 2
    assert after["amount_paid"] == 30_000 + next(
        p["amount"]
        for p in pool.submit(_call, ("GET", path, api_key, None, {})).result()[1]["data"]
        if p["reference"] == "RACE-2"
    )
