"""Round trips per request through the real API handler, and the container's key cache: a warm container reads no
API key, a key revoked or expired elsewhere stops working within ``KEY_CACHE_TTL`` on the deps' clock."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing.adapters import keys
from billing.adapters.dynamodb import PARALLEL_ROUND
from billing.adapters.key_cache import KEY_CACHE_TTL
from billing.services.tenants import hash_key, key_id
from functions.api import app
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

CUSTOMER = {"email": "ana@example.com", "name": "Ana Lima", "locale": "en", "currency": "usd"}
ORDER_LINES = [{"description": "Pro plan", "quantity": 2, "unit_amount": 1999, "tax_rate_percent": "8.25"}]


def call(method: str, path: str, api_key: str, body: Any = None, headers: dict[str, str] | None = None):
    answer = app.lambda_handler(http_event(method, path, api_key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


class Trips:
    """The DynamoDB calls the handler's client makes, as round trips: a call of its own is one, the calls of one
    ``in_parallel`` fan are one (as bench/dynamodb_calls.py counts them)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb.*", self.record)

    def record(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, PARALLEL_ROUND.get()))

    def during(self, *request: Any) -> tuple[int, list[str], Any]:
        self.calls.clear()
        status, body = call(*request)
        solo = [name for name, fan in self.calls if fan is None]
        fans = {fan for _, fan in self.calls if fan is not None}
        return len(solo) + len(fans), [name for name, _ in self.calls], (status, body)


@pytest.fixture
def trips(deps) -> Trips:
    return Trips(deps.context.repo.store.client)


@pytest.fixture
def customer_id(key) -> str:
    status, body = call("POST", "/v1/customers", key, CUSTOMER)
    assert status == 201, body
    return body["id"]


def order(customer_id: str, **extra: Any) -> dict[str, Any]:
    base = {"customer_id": customer_id, "currency": "usd", "lines": ORDER_LINES, "collection_method": "send_invoice"}
    return {**base, "days_until_due": 14, **extra}


def set_key(tenant_id: str, api_key: str, **attrs: str) -> None:
    """What another container (issue 18's revoke, an expiry set by an admin) writes to the key item."""
    key = keys.api_key(tenant_id, key_id(hash_key(api_key)))
    names = {f"#{n}": n for n in attrs}
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
        UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in attrs),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{n}": {"S": v} for n, v in attrs.items()},
    )


# --- round trips -------------------------------------------------------------------------------------------------
def test_a_placed_order_takes_two_round_trips_with_a_warm_key_cache(trips, key, customer_id):
    count, calls, (status, body) = trips.during("POST", "/v1/orders", key, order(customer_id))
    assert status == 201 and body["status"] == "invoiced", body
    assert count <= 2, calls
    assert calls.count("TransactWriteItems") == 1 and calls.count("BatchGetItem") == 1, calls
    assert "GetItem" not in calls, calls


def item(key: str, customer_id: str, amount: int, description: str) -> dict[str, Any]:
    body = {"customer": customer_id, "currency": "usd", "amount": amount, "description": description}
    status, made = call("POST", "/v1/invoice_items", key, body)
    assert status == 201, made
    return made


def test_an_order_taking_pending_items_takes_two_round_trips(trips, key, customer_id):
    made = item(key, customer_id, 2_500, "Onboarding call")
    count, calls, (status, body) = trips.during("POST", "/v1/orders", key, order(customer_id))
    assert status == 201 and body["status"] == "invoiced", body
    assert count <= 2, calls  # the pending list's copies are billed as read: no second read of the items
    assert calls.count("BatchGetItem") == 1 and calls.count("TransactWriteItems") == 1, calls
    status, taken = call("GET", f"/v1/invoice_items/{made['id']}", key)
    assert (taken["status"], taken["invoice_id"]) == ("invoiced", body["invoice_id"])


def _change_item(tenant_id: str, item_id: str, **doc: Any) -> None:
    """Another writer changes the item (its doc and version) after the order's Query read it (a raw client:
    not the handler's, so not counted)."""
    client, key = boto3.client("dynamodb"), keys.invoice_item(tenant_id, item_id)
    stored = client.get_item(TableName=TABLE, Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}})["Item"]
    changed = {**json.loads(stored["doc"]["S"]), **doc}
    stored["doc"] = {"S": json.dumps(changed)}
    stored["version"] = {"N": str(int(stored["version"]["N"]) + 1)}
    stored["status"] = {"S": changed["status"]}
    client.put_item(TableName=TABLE, Item=stored)


def _between_query_and_write(deps, change):
    """Patch the repository's commit: ``change`` runs once, just before the first transaction is sent (after the
    request's Query of the pending list, as a stale index copy would be)."""
    repo, done = deps.context.repo, []
    real_commit = repo.commit

    def commit(tx):
        if not done:
            done.append(True)
            change()
        return real_commit(tx)

    repo.commit = commit
    return lambda: setattr(repo, "commit", real_commit)


@pytest.mark.parametrize("changed", ["amount", "deleted"])
def test_an_item_changed_after_the_query_is_never_billed_at_its_old_version(
    deps, trips, tenant, key, customer_id, changed
):
    made = item(key, customer_id, 2_500, "Onboarding call")
    new = {"amount": 3_000, "unit_amount": 3_000} if changed == "amount" else {"status": "deleted"}
    undo = _between_query_and_write(deps, lambda: _change_item(tenant[0], made["id"], **new))
    try:
        count, calls, (status, body) = trips.during("POST", "/v1/orders", key, order(customer_id))
    finally:
        undo()
    assert status == 201 and body["status"] == "invoiced", body
    # the first transaction lost on the item's version; the retry read the items themselves (consistently)
    assert calls.count("TransactWriteItems") == 2, calls
    assert calls[calls.index("TransactWriteItems") + 1 :].count("BatchGetItem") >= 1, calls
    status, invoice = call("GET", f"/v1/invoices/{body['invoice_id']}", key)
    billed = [ln["amount"] for ln in invoice["lines"] if ln.get("invoice_item_id") == made["id"]]
    assert billed == ([3_000] if changed == "amount" else []), invoice["lines"]
    status, stored = call("GET", f"/v1/invoice_items/{made['id']}", key)
    expected = ("invoiced", body["invoice_id"]) if changed == "amount" else ("deleted", None)
    assert (stored["status"], stored["invoice_id"]) == expected


def held(key: str, customer_id: str) -> dict[str, Any]:
    status, body = call("POST", "/v1/orders", key, order(customer_id, metadata={"order_type": "trial"}))
    assert status == 201 and body["status"] == "pending_review", body
    return body


def test_approving_an_order_takes_two_round_trips_its_id_naming_its_customer(trips, key, customer_id):
    made = item(key, customer_id, 700, "Late fee")
    placed = held(key, customer_id)
    assert placed["id"].endswith(customer_id.removeprefix("cus_"))  # the plan knows the customer from the path
    count, calls, (status, body) = trips.during("POST", f"/v1/orders/{placed['id']}/approve", key)
    assert status == 200 and body["status"] == "invoiced", body
    assert count <= 2, calls  # order, customer, both discounts, counter / tax book / pending items; then the Tx
    assert calls.count("BatchGetItem") == 1 and calls.count("TransactWriteItems") == 1, calls
    assert "GetItem" not in calls, calls
    status, invoice = call("GET", f"/v1/invoices/{body['invoice_id']}", key)
    assert [ln["amount"] for ln in invoice["lines"] if ln.get("invoice_item_id") == made["id"]] == [700]


def test_an_order_id_without_its_customer_is_still_approved_reading_the_customer_after_it(
    deps, trips, tenant, key, customer_id
):
    placed = held(key, customer_id)
    older = "ord_" + placed["id"].split("_")[1]  # an id as orders had before they carried their customer
    client, old_key, new_key = (
        boto3.client("dynamodb"),
        keys.order(tenant[0], older),
        keys.order(*[tenant[0], placed["id"]]),
    )
    stored = client.get_item(TableName=TABLE, Key={"pk": {"S": new_key["pk"]}, "sk": {"S": new_key["sk"]}})["Item"]
    doc = {**json.loads(stored["doc"]["S"]), "id": older}
    client.put_item(
        TableName=TABLE,
        Item={**stored, "pk": {"S": old_key["pk"]}, "sk": {"S": old_key["sk"]}, "doc": {"S": json.dumps(doc)}},
    )
    count, calls, (status, body) = trips.during("POST", f"/v1/orders/{older}/approve", key)
    assert status == 200 and body["status"] == "invoiced" and body["id"] == older, body
    assert count == 3, calls  # the dependent read: the customer, its discount and pending items after the order


def test_an_order_id_naming_another_customer_reads_nothing_wrong(trips, key, customer_id):
    placed = held(key, customer_id)
    _, other = call("POST", "/v1/customers", key, {**CUSTOMER, "email": "bo@example.com"})
    forged = placed["id"].rsplit("_", 1)[0] + "_" + other["id"].removeprefix("cus_")
    status, problem = call("POST", f"/v1/orders/{forged}/approve", key)
    assert status == 404 and problem["code"] == "order_not_found"


def test_voiding_an_invoice_takes_two_round_trips(trips, key, customer_id):
    _, placed = call("POST", "/v1/orders", key, order(customer_id))
    count, calls, (status, body) = trips.during("POST", f"/v1/invoices/{placed['invoice_id']}/void", key)
    assert status == 200 and body["status"] == "void", body
    assert count <= 2, calls  # the invoice, then its Tx: the open PaymentIntents are the collector's (invoice.voided)
    assert calls == ["BatchGetItem", "TransactWriteItems"], calls


def test_an_idempotent_order_with_an_external_id_still_takes_two(trips, key, customer_id):
    body = order(customer_id, external_id="shop-ord-1")
    count, calls, (status, _) = trips.during("POST", "/v1/orders", key, body, {"Idempotency-Key": "ord-1"})
    assert status == 201
    assert count <= 2, calls
    count, calls, (status, _) = trips.during("POST", "/v1/orders", key, body, {"Idempotency-Key": "ord-1"})
    assert status == 201 and count == 1, calls  # the replay: its claim came in the one BatchGetItem


def test_reading_a_customer_takes_one_round_trip_warm_or_cold(deps, trips, key, customer_id):
    count, calls, (status, body) = trips.during("GET", f"/v1/customers/{customer_id}", key)
    assert status == 200 and body["id"] == customer_id
    assert count <= 1, calls
    deps.context.repo.key_cache.clear()  # a new container: the key and the tenant join the customer's batch
    count, calls, (status, _) = trips.during("GET", f"/v1/customers/{customer_id}", key)
    assert status == 200 and count == 1 and calls == ["BatchGetItem"], calls


def test_a_wrong_key_costs_one_batch_get_and_no_query(trips, tenant, customer_id):
    wrong = f"bk_{tenant[0]}.not-the-secret"
    count, calls, (status, _) = trips.during("POST", "/v1/orders", wrong, order(customer_id))
    assert status == 401 and calls == ["BatchGetItem"], calls


def test_a_warm_container_reads_no_api_key(trips, key, customer_id):
    count, calls, (status, _) = trips.during("GET", "/v1/invoices", key, None)
    assert status == 200
    assert count == 1 and "BatchGetItem" not in calls and "GetItem" not in calls, calls


# --- the key cache -----------------------------------------------------------------------------------------------
def test_a_revoked_key_is_refused_once_the_cache_entry_is_older_than_the_ttl(deps, tenant, customer_id):
    tenant_id, api_key = tenant
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 200  # cached now
    set_key(tenant_id, api_key, revoked_at=deps.clock.now().isoformat())
    deps.clock.advance(KEY_CACHE_TTL - timedelta(milliseconds=1))
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 200  # within the TTL: the cached item
    deps.clock.advance(timedelta(milliseconds=1))
    status, body = call("GET", f"/v1/customers/{customer_id}", api_key)
    assert status == 401 and body["code"] == "invalid_api_key", body
    deps.clock.advance(KEY_CACHE_TTL * 10)  # a refused key is not cached: it stays refused
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 401


def test_a_key_revoked_before_it_is_cached_is_refused_at_once(deps, tenant):
    tenant_id, api_key = tenant
    set_key(tenant_id, api_key, revoked_at=deps.clock.now().isoformat())
    status, body = call("POST", "/v1/customers", api_key, CUSTOMER)
    assert status == 401 and body["code"] == "invalid_api_key"


def test_a_key_revoked_from_a_later_instant_works_until_then(deps, tenant, customer_id):
    tenant_id, api_key = tenant
    set_key(tenant_id, api_key, revoked_at=(deps.clock.now() + timedelta(hours=1)).isoformat())
    deps.clock.advance(KEY_CACHE_TTL)
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 200


def test_an_expired_key_is_refused_at_its_expiry_even_from_the_cache(deps, tenant, customer_id):
    tenant_id, api_key = tenant
    expiry = deps.clock.now() + KEY_CACHE_TTL + timedelta(seconds=2)
    set_key(tenant_id, api_key, key_expires_at=expiry.isoformat())
    deps.clock.advance(KEY_CACHE_TTL)  # the entry cached before the expiry was set is stale: the item is read
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 200  # cached now, expiry included
    deps.clock.at = expiry  # sooner than that entry's TTL: the cached item itself says no
    status, body = call("GET", f"/v1/customers/{customer_id}", api_key)
    assert status == 401 and body["code"] == "invalid_api_key"


def test_the_cache_answers_only_the_key_it_holds(deps, tenant, customer_id):
    tenant_id, api_key = tenant
    assert call("GET", f"/v1/customers/{customer_id}", api_key)[0] == 200
    other = f"bk_{tenant_id}.not-the-secret"
    status, _ = call("GET", f"/v1/customers/{customer_id}", other)
    assert status == 401
    assert call("GET", f"/v1/customers/{customer_id}", f"bk_ten_nosuch.{api_key.split('.')[1]}")[0] == 401


# --- outside input -----------------------------------------------------------------------------------------------
def test_ids_too_long_to_be_keys_are_not_read_ahead_and_get_a_4xx(key, customer_id):
    long = "x" * 3000  # DynamoDB refuses a key over 2 KB: read ahead, it would be a 500
    status, _ = call("GET", f"/v1/customers/{long}", key)
    assert 400 <= status < 500
    status, _ = call("POST", "/v1/orders", key, order(long))
    assert 400 <= status < 500
    body = {"customer_id": customer_id, "items": [{"plan_id": long}], "collection_method": "send_invoice"}
    assert 400 <= call("POST", "/v1/subscriptions", key, body)[0] < 500
    status, problem = call("GET", f"/v1/customers/{customer_id}", f"bk_{long}.secret")
    assert status == 401 and problem["code"] == "invalid_api_key"


def test_every_read_plan_names_a_route_of_the_api():
    from billing.api.app import include_all, resolver
    from billing.api.reads import PLANS

    include_all()  # the resolver includes each router on its concern's first request
    routes = {(r.method, r.path) for r in resolver._static_routes + resolver._dynamic_routes}
    assert set(PLANS) <= routes, set(PLANS) - routes  # a renamed route would silently lose its plan
