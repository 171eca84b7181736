"""A write that committed but whose answer was lost is retried by the SDK with the same request; the retry must read
as the success it is, never as a lost race that makes the use case run again with new ids (issue 11, item 5).

``Replaying`` plays that: every write reaches DynamoDB (moto) twice, and the caller sees the second answer."""

from __future__ import annotations

import json

import boto3
import pytest

from functions.api import app
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

pytestmark = pytest.mark.usefixtures("deps")
WRITES = ("put_item", "update_item", "transact_write_items")


class Replaying:
    """A DynamoDB client whose writes commit, lose their answer, and are sent again as the SDK retries them."""

    def __init__(self, client):
        self.client = client
        self.replayed: list[str] = []

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if name not in WRITES:
            return method

        def twice(**request):
            method(**request)
            self.replayed.append(name)
            return method(**request)

        return twice


@pytest.fixture
def replaying(deps):
    store = deps.context.repo.store
    store.client = Replaying(store.client)
    yield store.client
    store.client = store.client.client


def call(method, path, key, body=None):
    answer = app.lambda_handler(http_event(method, path, key, body), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def items_of_type(kind):
    scan = boto3.client("dynamodb").scan(
        TableName=TABLE,
        FilterExpression="#t = :t",
        ExpressionAttributeNames={"#t": "type"},
        ExpressionAttributeValues={":t": {"S": kind}},
    )
    return scan["Items"]


def test_a_replayed_customer_and_order_are_one_customer_one_order_one_invoice(tenant, replaying):
    key = tenant[1]
    status, customer = call(
        "POST", "/v1/customers", key, {"email": "r@example.com", "name": "R", "locale": "en", "currency": "usd"}
    )
    assert status == 201, customer
    body = {
        "customer_id": customer["id"],
        "currency": "usd",
        "collection_method": "send_invoice",
        "lines": [{"description": "Plan", "quantity": 1, "unit_amount": 5000}],
    }
    status, order = call("POST", "/v1/orders", key, body)
    assert status == 201, order
    assert "transact_write_items" in replaying.replayed
    assert len(items_of_type("customer")) == 1
    assert len(items_of_type("order")) == 1
    assert len(items_of_type("invoice")) == 1
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert invoice["number"].endswith("-000001") and invoice["total"] == 5000  # the counter moved once


def test_a_replayed_single_write_is_the_success_it_was(deps, replaying):
    store = deps.context.repo.store
    single = store.transaction()
    single.put_new({"pk": "T#x#THING#1", "sk": "THING", "type": "thing", "value": 1})
    store.commit(single)
    assert replaying.replayed == ["put_item"]
    assert store.get({"pk": "T#x#THING#1", "sk": "THING"})["value"] == 1


def test_a_counter_moved_by_another_writer_to_our_value_is_a_conflict(deps, tenant):
    """Two writers that read the same counter both mean to move it to n + 1: the second's transaction is refused on
    the counter, which holds its value, but its new items are not there: a conflict, not a replay."""
    from billing.domain.errors import ConcurrentModification

    store = deps.context.repo.store
    for value, thing in ((1, "first"), (1, "second")):
        tx = store.transaction()
        tx.set_counter({"pk": "T#x#SEQ", "sk": "SEQ"}, 0, value)
        tx.put_new({"pk": f"T#x#THING#{thing}", "sk": "THING", "type": "thing"})
        if thing == "first":
            store.commit(tx)
        else:
            with pytest.raises(ConcurrentModification):
                store.commit(tx)
    assert store.get({"pk": "T#x#THING#second", "sk": "THING"}) is None


def test_a_write_that_really_lost_its_race_is_still_a_conflict(deps, tenant):
    """The success reading is for our own write only: another writer's item under the same key is a conflict."""
    from billing.domain.errors import ConcurrentModification

    store = deps.context.repo.store
    first = store.transaction()
    first.put_new({"pk": "T#x#THING#1", "sk": "THING", "type": "thing", "value": "theirs"})
    store.commit(first)
    second = store.transaction()
    second.put_new({"pk": "T#x#THING#1", "sk": "THING", "type": "thing", "value": "ours"})
    with pytest.raises(ConcurrentModification):
        store.commit(second)
    both = store.transaction()
    both.put_new({"pk": "T#x#THING#2", "sk": "THING", "type": "thing", "value": "new"})
    both.put_new({"pk": "T#x#THING#1", "sk": "THING", "type": "thing", "value": "ours"})
    with pytest.raises(ConcurrentModification):
        store.commit(both)
    assert store.get({"pk": "T#x#THING#2", "sk": "THING"}) is None
