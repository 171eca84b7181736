"""The hot lists are write-sharded (billing.adapters.keys.LIST_SHARDS): a tenant's invoices (all, and by status), its
subscriptions, and the attention index's days. A listing reads every shard and merges them by id: its pages cross
shards newest first, with the contract of an unsharded listing (order, limit, has_more, cursor); a tampered cursor
is a problem, never a crash nor another tenant's page; the dunning sweep finds the invoices of every shard."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from billing.adapters import keys
from billing.adapters.dynamodb import to_item
from billing.services import tenants
from functions.dunning_sweep import app as sweep_handler
from tests.integration.conftest import FakeLambdaContext, sample_event
from tests.integration.test_api import call, order_body
from tests.integration.test_subscriptions import SEATS, customer, plan, subscribe
from tests.integration.test_workers import receive_all, set_clock

pytestmark = pytest.mark.usefixtures("deps")


@pytest.fixture
def invoice_ids(key: str, clock) -> list[str]:
    """Invoices of one customer, oldest first, at least one in every shard (and at least 12)."""
    customer_id = customer(key)
    ids: list[str] = []
    while len({keys.list_shard(i) for i in ids}) < keys.LIST_SHARDS or len(ids) < 12:
        assert len(ids) < 100, "ids do not spread over the shards"
        clock.advance(timedelta(seconds=1))
        status, order, _ = call("POST", "/v1/orders", key, order_body(customer_id))
        assert status == 201, order
        ids.append(order["invoice_id"])
    return ids


def walk(key: str, path: str, limit: int, **query: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a listing, following its cursor: the ids in order, and the pages."""
    ids, pages, cursor = [], [], None
    while True:
        params = {"limit": str(limit), **query, **({"cursor": cursor} if cursor else {})}
        status, page, _ = call("GET", path, key, query=params)
        assert status == 200, page
        pages.append(page)
        ids += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids, pages
        assert len(pages) < 50


def test_invoice_listings_page_across_every_shard_newest_first(key, invoice_ids):
    newest_first = list(reversed(invoice_ids))
    for query in ({}, {"status": "open"}):
        seen, pages = walk(key, "/v1/invoices", 5, **query)
        assert seen == newest_first, query
        assert all(len(page["data"]) == 5 and page["next_cursor"] for page in pages[:-1])
        assert pages[-1]["next_cursor"] is None
    status, page, _ = call("GET", "/v1/invoices", key, query={"limit": "100"})
    assert [i["id"] for i in page["data"]] == newest_first and page["has_more"] is False
    status, page, _ = call("GET", "/v1/invoices", key, query={"limit": str(len(invoice_ids))})
    assert len(page["data"]) == len(invoice_ids) and page["has_more"] is False  # exact: every shard told it


def test_an_invoice_changing_status_moves_between_the_shards_of_its_status(key, invoice_ids):
    voided = invoice_ids[3]
    status, invoice, _ = call("POST", f"/v1/invoices/{voided}/void", key)
    assert status == 200 and invoice["status"] == "void", invoice
    assert walk(key, "/v1/invoices", 4, status="open")[0] == [i for i in reversed(invoice_ids) if i != voided]
    assert walk(key, "/v1/invoices", 4, status="void")[0] == [voided]
    assert walk(key, "/v1/invoices", 4)[0] == list(reversed(invoice_ids))


def _cursor(body: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_a_tampered_cursor_is_a_problem_and_another_tenants_cursor_is_refused(deps, key, invoice_ids):
    cursor = call("GET", "/v1/invoices", key, query={"limit": "3"})[1]["next_cursor"]
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [
        _cursor({**body, "l": "0" * 16}),  # another listing's tag
        _cursor({**body, "a": ""}),  # an empty position: DynamoDB would refuse it
        _cursor({**body, "a": 7}),
        _cursor({**body, "a": "x" * 600}),
        _cursor({"a": body["a"]}),
        _cursor([body]),
        cursor[:-4],
        "not base64 at all!",
    ]
    for bad in forged:
        status, problem, _ = call("GET", "/v1/invoices", key, query={"limit": "3", "cursor": bad})
        assert (status, problem["code"]) == (422, "invalid_cursor"), bad
    # the status listing's cursor does not continue the listing of all invoices, nor the other way round
    open_cursor = call("GET", "/v1/invoices", key, query={"limit": "3", "status": "open"})[1]["next_cursor"]
    assert call("GET", "/v1/invoices", key, query={"limit": "3", "cursor": open_cursor})[0] == 422
    assert call("GET", "/v1/invoices", key, query={"limit": "3", "status": "open", "cursor": cursor})[0] == 422
    # another tenant's cursor is refused on this tenant's list
    _, other_key = tenants.create_tenant(deps.context, "Other Cloud")
    other_customer = customer(other_key)
    for _ in range(2):
        call("POST", "/v1/orders", other_key, order_body(other_customer))
    other = call("GET", "/v1/invoices", other_key, query={"limit": "1"})[1]["next_cursor"]
    assert other is not None
    status, problem, _ = call("GET", "/v1/invoices", key, query={"limit": "1", "cursor": other})
    assert (status, problem["code"]) == (422, "invalid_cursor")


def test_a_position_edited_by_hand_only_moves_within_the_callers_own_list(key, invoice_ids):
    """The position is the last id given (one id places every shard): an edited one is a place in the caller's own
    list, never a way out of it."""
    cursor = call("GET", "/v1/invoices", key, query={"limit": "3"})[1]["next_cursor"]
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    newest_first = list(reversed(invoice_ids))
    moved = _cursor({**body, "a": newest_first[7]})
    status, page, _ = call("GET", "/v1/invoices", key, query={"limit": "3", "cursor": moved})
    assert status == 200 and [i["id"] for i in page["data"]] == newest_first[8:11]
    past_the_end = _cursor({**body, "a": "in_"})
    status, page, _ = call("GET", "/v1/invoices", key, query={"limit": "3", "cursor": past_the_end})
    assert status == 200 and page["data"] == [] and page["has_more"] is False


def test_the_subscription_listing_pages_across_shards_newest_first(key, clock):
    seats, customer_id = plan(key, SEATS), customer(key)
    ids = []
    for _ in range(10):
        clock.advance(timedelta(seconds=1))
        ids.append(subscribe(key, customer_id, [{"plan_id": seats, "quantity": 1}])["id"])
    assert len({keys.list_shard(i) for i in ids}) > 1
    seen, pages = walk(key, "/v1/subscriptions", 3)
    assert seen == list(reversed(ids)) and [len(p["data"]) for p in pages] == [3, 3, 3, 1]


def test_the_dunning_sweep_finds_the_invoices_of_every_shard_of_a_day(deps, clock, key, invoice_ids):
    days = {call("GET", f"/v1/invoices/{i}", key)[1]["dunning"]["attention_on"] for i in invoice_ids}
    assert len(days) == 1 and None not in days
    (day,) = days
    found = deps.context.repo.invoices_needing_attention(day)
    assert sorted(i for _, i in found) == sorted(invoice_ids)
    assert {keys.list_shard(i) for _, i in found} == set(range(keys.LIST_SHARDS))
    when = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9, minutes=5)
    set_clock(clock, when)
    swept = sweep_handler.lambda_handler(
        {**sample_event("scheduler_dunning_sweep.json"), "scheduled_time": when.isoformat()}, FakeLambdaContext()
    )
    assert swept["fanned_out"] == len(invoice_ids)
    sent = [json.loads(m["Body"])["invoice_id"] for m in receive_all(deps.env["DUNNING_QUEUE_URL"])]
    assert sorted(sent) == sorted(invoice_ids)


def test_a_merged_walk_gives_every_item_once_in_order_whatever_the_filter_range_and_page(deps):
    """``DynamoStore.query_shards`` against the plain answer (the items, filtered, in range, sorted), for pages of
    every size, both directions, with and without a range and a filter that leaves shards stopping at ``Limit``
    with few matches: nothing skipped, nothing twice, pages never longer than ``limit``."""
    store = deps.context.repo.store
    shuffled = random.Random(17)
    partitions = [f"T#syn#LIST#{k}" for k in range(4)]
    items = []
    for n in range(90):
        item = {"pk": f"T#syn#X#{n}", "sk": "X", "gsi3pk": shuffled.choice(partitions), "gsi3sk": f"{n:04d}"}
        item["kind"] = "rare" if shuffled.random() < 0.15 else "common"
        items.append(item)
    for item in items:
        store.client.put_item(TableName=store.table, Item=to_item(item))
    for limit, ascending, filters, between in [
        (1, False, None, None),
        (4, False, None, None),
        (7, True, None, None),
        (3, False, {"kind": "rare"}, None),
        (2, True, {"kind": "rare"}, None),
        (5, False, None, ("0010", "0070")),
        (2, True, {"kind": "rare"}, ("0005", "0080")),
        (3, False, {"kind": "common"}, ("0020", "0060~")),
    ]:
        expected = sorted(
            (i["gsi3sk"] for i in items if not filters or i["kind"] == filters["kind"])
            if between is None
            else (
                i["gsi3sk"]
                for i in items
                if between[0] <= i["gsi3sk"] <= between[1] and (not filters or i["kind"] == filters["kind"])
            ),
            reverse=not ascending,
        )
        seen, cursor, pages = [], None, 0
        while True:
            page = store.query_shards(
                "gsi3", "gsi3pk", "gsi3sk", partitions, limit, cursor, filters, ascending, between
            )
            assert len(page.items) <= limit
            seen += [i["gsi3sk"] for i in page.items]
            cursor, pages = page.cursor, pages + 1
            if cursor is None:
                break
            assert pages < 200
        assert seen == expected, (limit, ascending, filters, between)
