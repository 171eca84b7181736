"""Customers in sync with a CRM, on moto through the API handler: list (by e-mail, by external id, archived),
PATCH (merge semantics, every refusal a problem that changes nothing), archive."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from billing import bootstrap
from billing.adapters import keys
from billing.adapters.dynamodb import from_item
from billing.services import tenants
from functions.api import app
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

pytestmark = pytest.mark.usefixtures("deps")

CUSTOMER = {"email": "ana@example.com", "name": "Ana Lima", "locale": "en", "currency": "usd"}


def call(method, path, api_key=None, body=None, query=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, api_key, body, headers, query), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def new_customer(key: str, **extra: Any) -> dict[str, Any]:
    status, body = call("POST", "/v1/customers", key, {**CUSTOMER, **extra})
    assert status == 201, body
    return body


def place_order(key: str, customer_id: str, currency: str = "usd") -> tuple[int, Any]:
    order = {
        "customer_id": customer_id,
        "currency": currency,
        "lines": [{"description": "Pro plan", "quantity": 1, "unit_amount": 1000}],
        "collection_method": "send_invoice",
    }
    return call("POST", "/v1/orders", key, order)


def raw_item(key_: dict[str, str]) -> dict[str, Any] | None:
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={k: {"S": v} for k, v in key_.items()}).get("Item")
    return from_item(item) if item else None


def events(tenant_id: str, customer_id: str, event_type: str) -> list[dict[str, Any]]:
    answer = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": keys.customer(tenant_id, customer_id)["pk"]}, ":p": {"S": "EVT#"}},
    )
    docs = [json.loads(i["doc"]["S"]) for i in answer["Items"]]
    return [d for d in docs if d["type"] == event_type]


# --- list ----------------------------------------------------------------------------------------------------------
def test_the_list_pages_newest_first_with_a_cursor(key, deps, clock):
    made = []
    for n in range(5):
        made.append(new_customer(key, email=f"c{n}@example.com")["id"])
        clock.advance(timedelta(seconds=1))  # ids sort by creation time
    status, first = call("GET", "/v1/customers", key, query={"limit": "2"})
    assert status == 200, first
    assert first["has_more"] is True and len(first["data"]) == 2
    seen = [c["id"] for c in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        status, page = call("GET", "/v1/customers", key, query={"limit": "2", "cursor": cursor})
        assert status == 200, page
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
    assert seen == sorted(made, reverse=True)


def test_email_and_external_id_are_exact_lookups(key):
    ana = new_customer(key, email="Ana@Example.com", external_id="crm-1")
    other = new_customer(key, email="bob@example.com", external_id="crm-2")
    status, by_email = call("GET", "/v1/customers", key, query={"email": "ana@example.com"})
    assert status == 200 and [c["id"] for c in by_email["data"]] == [ana["id"]]
    assert by_email["has_more"] is False and by_email["next_cursor"] is None
    status, by_ext = call("GET", "/v1/customers", key, query={"external_id": "crm-2"})
    assert status == 200 and [c["id"] for c in by_ext["data"]] == [other["id"]]
    status, both = call("GET", "/v1/customers", key, query={"external_id": "crm-2", "email": "ana@example.com"})
    assert status == 200 and both["data"] == []
    status, none = call("GET", "/v1/customers", key, query={"external_id": "crm-404"})
    assert status == 200 and none["data"] == []


def test_the_list_filters_archived_and_active(key):
    kept = new_customer(key, email="kept@example.com")
    gone = new_customer(key, email="gone@example.com")
    assert call("POST", f"/v1/customers/{gone['id']}/archive", key)[0] == 200
    _, archived = call("GET", "/v1/customers", key, query={"archived": "true"})
    _, active = call("GET", "/v1/customers", key, query={"archived": "false"})
    _, everyone = call("GET", "/v1/customers", key)
    assert [c["id"] for c in archived["data"]] == [gone["id"]]
    assert [c["id"] for c in active["data"]] == [kept["id"]]
    assert {c["id"] for c in everyone["data"]} == {kept["id"], gone["id"]}
    _, by_email = call("GET", "/v1/customers", key, query={"email": "gone@example.com", "archived": "false"})
    assert by_email["data"] == []


def test_the_list_is_the_tenants_own(key, deps):
    new_customer(key)
    from billing.services import tenants

    _, other_key = tenants.create_tenant(deps.context, "Other Co")
    status, page = call("GET", "/v1/customers", other_key)
    assert status == 200 and page["data"] == []
    status, page = call("GET", "/v1/customers", other_key, query={"email": "ana@example.com"})
    assert status == 200 and page["data"] == []


@pytest.mark.parametrize(
    "query, code",
    [
        ({"limit": "0"}, "invalid_request"),
        ({"limit": "101"}, "invalid_request"),
        ({"archived": "maybe"}, "invalid_request"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "invalid_cursor"),
        ({"status": "archived"}, "unknown_query_parameter"),
    ],
)
def test_bad_list_queries_are_problems(key, query, code):
    new_customer(key)
    status, body = call("GET", "/v1/customers", key, query=query)
    assert 400 <= status < 500 and body["code"] == code, body


# --- PATCH ---------------------------------------------------------------------------------------------------------
def test_a_patch_merges_the_fields_given_and_says_what_changed(key, tenant_id):
    ana = new_customer(key, address={"line1": "1 Main St", "city": "Lisbon", "country": "PT"}, metadata={"a": "1"})
    patch = {
        "name": "Ana M. Lima",
        "locale": "ru-RU",
        "timezone": "Europe/Moscow",
        "address": {"city": "Porto", "line2": None},
        "metadata": {"b": "2", "a": None},
    }
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, patch)
    assert status == 200, body
    assert body["name"] == "Ana M. Lima" and body["locale"] == "ru" and body["timezone"] == "Europe/Moscow"
    assert body["address"] == {
        "line1": "1 Main St",
        "line2": None,
        "city": "Porto",
        "state": None,
        "postal_code": None,
        "country": "PT",
    }
    assert body["metadata"] == {"b": "2"}
    assert body["email"] == "ana@example.com" and body["version"] == ana["version"] + 1
    (event,) = events(tenant_id, ana["id"], "customer.updated")
    assert event["actor"] == {"type": "api_key", "id": tenants.key_id(tenants.hash_key(key))}
    changes = event["data"]["changes"]
    assert set(changes) == {"name", "locale", "timezone", "address", "metadata"}
    assert changes["name"] == {"before": "Ana Lima", "after": "Ana M. Lima"}
    assert changes["metadata"] == {"before": {"a": "1"}, "after": {"b": "2"}}
    assert changes["address"]["before"]["city"] == "Lisbon" and changes["address"]["after"]["city"] == "Porto"
    assert call("GET", f"/v1/customers/{ana['id']}", key)[1] == body


def test_a_patch_that_changes_nothing_writes_nothing(key, tenant_id):
    ana = new_customer(key, metadata={"a": "1"})
    for patch in ({}, {"name": "Ana Lima"}, {"metadata": {"a": "1"}}, {"email": "ana@example.com"}):
        status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, patch)
        assert status == 200 and body["version"] == ana["version"], (patch, body)
    assert events(tenant_id, ana["id"], "customer.updated") == []


def test_an_email_change_moves_the_by_email_index(key, tenant_id):
    ana = new_customer(key)
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"email": "ana.lima@example.org"})
    assert status == 200 and body["email"] == "ana.lima@example.org"
    assert raw_item(keys.customer_by_email(tenant_id, "ana@example.com", ana["id"])) is None
    assert raw_item(keys.customer_by_email(tenant_id, "ana.lima@example.org", ana["id"])) is not None
    _, old = call("GET", "/v1/customers", key, query={"email": "ana@example.com"})
    _, new = call("GET", "/v1/customers", key, query={"email": "ANA.LIMA@example.org"})
    assert old["data"] == [] and [c["id"] for c in new["data"]] == [ana["id"]]


def test_an_external_id_change_moves_the_guard(key, tenant_id):
    ana = new_customer(key, external_id="crm-1")
    bob = new_customer(key, email="bob@example.com", external_id="crm-2")
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"external_id": "crm-2"})
    assert status == 409 and body["code"] == "duplicate_external_id" and body["existing_id"] == bob["id"]
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"external_id": "crm-9"})
    assert status == 200 and body["external_id"] == "crm-9"
    assert raw_item(keys.external_id(tenant_id, "customer", "crm-1")) is None
    assert raw_item(keys.external_id(tenant_id, "customer", "crm-9"))["owner_id"] == ana["id"]
    # the old id is free again: a new customer may take it
    assert new_customer(key, email="carl@example.com", external_id="crm-1")["external_id"] == "crm-1"
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"external_id": None})
    assert status == 200 and body["external_id"] is None
    assert raw_item(keys.external_id(tenant_id, "customer", "crm-9")) is None


def test_the_currency_changes_only_while_no_invoice_exists(key):
    ana = new_customer(key)
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"currency": "EUR"})
    assert status == 200 and body["currency"] == "eur"
    assert place_order(key, ana["id"], "eur")[0] == 201
    before = call("GET", f"/v1/customers/{ana['id']}", key)[1]
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"currency": "usd", "name": "X"})
    assert status == 409 and body["code"] == "customer_currency_locked", body
    assert call("GET", f"/v1/customers/{ana['id']}", key)[1] == before  # the name did not change either


def test_an_order_held_for_review_in_the_old_currency_is_refused_at_approval(key):
    ana = new_customer(key)
    order = {
        "customer_id": ana["id"],
        "currency": "usd",
        "lines": [{"description": "Trial", "quantity": 1, "unit_amount": 1000}],
        "collection_method": "send_invoice",
        "metadata": {"order_type": "trial"},
    }
    status, held = call("POST", "/v1/orders", key, order)
    assert status == 201 and held["status"] == "pending_review", held
    assert call("PATCH", f"/v1/customers/{ana['id']}", key, {"currency": "eur"})[0] == 200  # no invoice yet
    status, problem = call("POST", f"/v1/orders/{held['id']}/approve", key)
    assert status == 422 and problem["code"] == "currency_mismatch", problem
    assert call("GET", f"/v1/orders/{held['id']}", key)[1]["status"] == "pending_review"


@pytest.mark.parametrize(
    "patch",
    [
        {"email": "not-an-address"},
        {"email": None},
        {"name": ""},
        {"name": None},
        {"locale": "de"},
        {"timezone": "Mars/Olympus"},
        {"currency": "us"},
        {"address": {"country": "Portugal"}},
        {"address": {"planet": "Earth"}},
        {"metadata": {"k" * 41: "v"}},
        {"metadata": {"k": "v" * 501}},
        {"metadata": {f"k{n}": "v" for n in range(51)}},
        {"metadata": {"k": 1}},
        {"credit_balance": 100},
        {"stripe_customer_id": "cus_x"},
        {"status": "archived"},
        {"id": "cus_other"},
    ],
)
def test_each_bad_patch_is_a_problem_and_changes_nothing(key, tenant_id, patch):
    ana = new_customer(key)
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, patch)
    assert status == 422 and body["code"] in ("invalid_request", "unknown_timezone"), body
    assert call("GET", f"/v1/customers/{ana['id']}", key)[1] == ana
    assert events(tenant_id, ana["id"], "customer.updated") == []


def test_metadata_over_fifty_keys_after_the_merge_is_refused(key, tenant_id):
    ana = new_customer(key, metadata={f"k{n}": "v" for n in range(50)})
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"metadata": {"one_more": "v"}})
    assert status == 422 and body["code"] == "metadata_too_many_keys", body
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"metadata": {"one_more": "v", "k0": None}})
    assert status == 200 and len(body["metadata"]) == 50 and "k0" not in body["metadata"]


def test_patch_of_an_unknown_customer_is_404(key):
    status, body = call("PATCH", "/v1/customers/cus_nope", key, {"name": "X"})
    assert status == 404 and body["code"] == "customer_not_found"


def test_patch_body_must_be_json(key):
    ana = new_customer(key)
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, "{not json")
    assert status == 400 and body["code"] == "malformed_json"


class FakeStripe:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.updates: list[tuple[str, str, str, str]] = []

    def update_customer(self, stripe_customer_id, email, name, idempotency_key):
        if self.fail:
            raise ConnectionError("Stripe is down")
        self.updates.append((stripe_customer_id, email, name, idempotency_key))


def _link_stripe(deps, tenant_id, customer_id):
    repo = deps.context.repo
    customer = repo.customer(tenant_id, customer_id)
    tx = repo.transaction()
    repo.save_customer(tx, customer.model_copy(update={"stripe_customer_id": "cus_stripe_1"}))
    repo.commit(tx)


@pytest.mark.parametrize("down", [False, True])
def test_the_stripe_customer_follows_a_name_or_email_change_and_an_outage_fails_nothing(
    key, tenant_id, deps, monkeypatch, down
):
    ana = new_customer(key)
    _link_stripe(deps, tenant_id, ana["id"])
    fake = FakeStripe(fail=down)
    monkeypatch.setitem(deps.__dict__, "stripe", fake)
    status, body = call("PATCH", f"/v1/customers/{ana['id']}", key, {"name": "Ana M. Lima", "metadata": {"x": "y"}})
    assert status == 200 and body["name"] == "Ana M. Lima", body
    if not down:
        assert fake.updates == [("cus_stripe_1", "ana@example.com", "Ana M. Lima", f"customer-update-{ana['id']}-3")]
    # a change Stripe has no copy of calls nothing
    fake.updates.clear()
    assert call("PATCH", f"/v1/customers/{ana['id']}", key, {"timezone": "Asia/Tokyo"})[0] == 200
    assert fake.updates == []


# --- archive -------------------------------------------------------------------------------------------------------
def test_an_archived_customer_takes_no_new_order_or_subscription_but_its_invoices_go_on(key, tenant_id):
    ana = new_customer(key)
    status, order = place_order(key, ana["id"])
    assert status == 201, order
    status, archived = call("POST", f"/v1/customers/{ana['id']}/archive", key)
    assert status == 200 and archived["status"] == "archived" and archived["archived_at"], archived
    assert call("GET", f"/v1/customers/{ana['id']}", key)[1]["archived_at"] == archived["archived_at"]
    status, body = place_order(key, ana["id"])
    assert status == 409 and body["code"] == "customer_archived", body
    status, plan = call(
        "POST",
        "/v1/plans",
        key,
        {
            "name": "Pro",
            "interval": {"unit": "month", "count": 1},
            "prices": [{"currency": "usd", "scheme": "flat", "amount": 4900}],
        },
    )
    assert status == 201, plan
    status, body = call(
        "POST", "/v1/subscriptions", key, {"customer_id": ana["id"], "items": [{"plan_id": plan["id"]}]}
    )
    assert status == 409 and body["code"] == "customer_archived", body
    # its open invoice is still there and still payable
    status, invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)
    assert status == 200 and invoice["status"] == "open"
    (event,) = events(tenant_id, ana["id"], "customer.archived")
    assert event["data"]["changes"]["status"] == {"before": "active", "after": "archived"}
    # archiving twice is refused by the state machine; unarchiving brings it back
    status, body = call("POST", f"/v1/customers/{ana['id']}/archive", key)
    assert status == 409 and body["code"] == "customer_archive_not_allowed", body
    status, body = call("POST", f"/v1/customers/{ana['id']}/unarchive", key)
    assert status == 200 and body["status"] == "active" and body["archived_at"] is None
    assert place_order(key, ana["id"])[0] == 201


def test_unarchiving_an_active_customer_is_refused(key):
    ana = new_customer(key)
    status, body = call("POST", f"/v1/customers/{ana['id']}/unarchive", key)
    assert status == 409 and body["code"] == "customer_unarchive_not_allowed"
    assert call("GET", f"/v1/customers/{ana['id']}", key)[1] == ana


def test_archive_replays_with_its_idempotency_key(key):
    ana = new_customer(key)
    headers = {"Idempotency-Key": "archive-ana"}
    first = call("POST", f"/v1/customers/{ana['id']}/archive", key, headers=headers)
    again = call("POST", f"/v1/customers/{ana['id']}/archive", key, headers=headers)
    assert first == again and first[0] == 200


def test_a_customer_saved_before_the_list_existed_is_listed_once_saved_again(key, tenant_id, deps):
    ana = new_customer(key)
    # as an item written before this change: no list attributes
    client = boto3.client("dynamodb")
    client.update_item(
        TableName=TABLE,
        Key={k: {"S": v} for k, v in keys.customer(tenant_id, ana["id"]).items()},
        UpdateExpression="REMOVE gsi2pk, gsi2sk, gsi3pk, gsi3sk",
    )
    assert call("GET", "/v1/customers", key)[1]["data"] == []
    assert call("PATCH", f"/v1/customers/{ana['id']}", key, {"name": "Ana M."})[0] == 200
    assert [c["id"] for c in call("GET", "/v1/customers", key)[1]["data"]] == [ana["id"]]
    assert bootstrap.deps() is deps


def test_the_backfill_lists_the_customers_saved_before_the_list_existed(key, tenant_id, deps, monkeypatch, capsys):
    from infra import admin

    old = [new_customer(key, email=f"old{n}@example.com") for n in range(3)]
    client = boto3.client("dynamodb")
    for customer in old[:2]:  # as items written before this change: no list attributes
        client.update_item(
            TableName=TABLE,
            Key={k: {"S": v} for k, v in keys.customer(tenant_id, customer["id"]).items()},
            UpdateExpression="REMOVE gsi2pk, gsi2sk, gsi3pk, gsi3sk",
        )
    assert [c["id"] for c in call("GET", "/v1/customers", key)[1]["data"]] == [old[2]["id"]]
    monkeypatch.setenv("TABLE_NAME", TABLE)
    capsys.readouterr()  # the metrics the requests above printed
    assert admin.main(["backfill-customer-lists"]) == 0
    assert json.loads(capsys.readouterr().out) == {"customers_listed": 2}
    listed = call("GET", "/v1/customers", key, query={"archived": "false"})[1]["data"]
    assert {c["id"] for c in listed} == {c["id"] for c in old}
    assert admin.main(["backfill-customer-lists"]) == 0  # again: nothing left to do
    assert json.loads(capsys.readouterr().out) == {"customers_listed": 0}
