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
from billing.services.tenants import hash_key
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
    key = keys.api_key(tenant_id, hash_key(api_key))
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
    set_key(tenant_id, api_key, expires_at=expiry.isoformat())
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
