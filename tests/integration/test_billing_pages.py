"""The billing run's paged fan-out on moto, through the real handlers (functions/billing_run starts the run,
functions/billing_pages pages each shard): tiny pages so that shards take several, every due subscription fanned out
exactly once, and each crash point resumed with every period billed once."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.services import billing_run, subscriptions, tenants
from functions.invoice_worker import app as invoice_worker
from tests.integration.billing_pages import (
    NO_FAILURES,
    drain_pages,
    receive_pages,
    run_page,
    run_record,
    start_run,
)
from tests.integration.conftest import FakeLambdaContext, all_failed, sample_event
from tests.integration.numbering import number_drafts
from tests.integration.test_subscriptions import FLAT, START, after, customer, invoices_of, plan, subscribe
from tests.integration.test_workers import receive_all, set_clock, sqs_bodies_event, sqs_event

pytestmark = pytest.mark.usefixtures("deps")
BIG, SMALL = 18, 2  # 90 % of the run on one tenant


@pytest.fixture
def due(deps: Deps, clock, tenant: tuple[str, str]) -> dict[str, Any]:
    """Twenty subscriptions due in the first run after START (18 of one tenant, 2 of another), pages of 1 entry."""
    deps.env["BILLING_PAGE_SIZE"] = "1"
    other, other_key = tenants.create_tenant(deps.context, "Small Co")
    found: dict[str, list[str]] = {}
    customers: dict[str, str] = {}
    for (tenant_id, api_key), count in (((tenant[0], tenant[1]), BIG), ((other.id, other_key), SMALL)):
        pro, cus = plan(api_key, FLAT), customer(api_key)
        found[tenant_id] = [subscribe(api_key, cus, [{"plan_id": pro}])["id"] for _ in range(count)]
        customers[tenant_id] = cus
    when = after(START)
    set_clock(clock, when)
    keys_by_tenant = {tenant[0]: tenant[1], other.id: other_key}
    return {"subs": found, "when": when, "customers": customers, "keys": keys_by_tenant}


def fanned(messages: list[dict[str, Any]]) -> Counter:
    """(tenant, subscription) -> how many times the billing queue's messages name it; each message one tenant's,
    at most PER_TRANSACTION ids."""
    seen: Counter = Counter()
    for message in messages:
        body = json.loads(message["Body"])
        assert 1 <= len(body["subscription_ids"]) <= subscriptions.PER_TRANSACTION
        seen.update((body["tenant_id"], s) for s in body["subscription_ids"])
    return seen


def expected(due: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t, s) for t, subs in due["subs"].items() for s in subs}


def bill(deps: Deps, messages: list[dict[str, Any]]) -> None:
    for n in range(0, len(messages), 10):
        batch = sqs_event("sqs_billing.json", messages[n : n + 10])
        assert invoice_worker.lambda_handler(batch, FakeLambdaContext()) == NO_FAILURES
    number_drafts(deps)


def one_invoice_per_period(due: dict[str, Any]) -> None:
    for tenant_id, subs in due["subs"].items():
        invoices = invoices_of(due["keys"][tenant_id], due["customers"][tenant_id])
        assert sorted(i["subscription_id"] for i in invoices) == sorted(subs)
        assert {i["period_index"] for i in invoices} == {0}
        assert sorted(i["number"] for i in invoices) == [f"INV-2026-{n:06}" for n in range(1, len(subs) + 1)]


def finished(deps: Deps, started: dict[str, Any], count: int) -> dict[str, Any]:
    record = run_record(deps, started)
    assert record["finished_at"] and int(record["fanned_out"]) == count
    assert {int(s) for s in record["done_shards"]} == set(range(keys.BILLING_SHARDS)) and record["seeded"]
    assert all(p["done"] for p in record["shards"].values())
    return record


def test_every_due_subscription_is_fanned_out_exactly_once_over_pages_of_every_shard(deps, due):
    started = start_run(due["when"])
    busy = {keys.billing_shard(s) for _, s in expected(due)}  # a shard with nothing due takes no page
    assert started == {"scheduled_time": due["when"].isoformat(), "duplicate": False, "shards": len(busy)}
    assert {json.loads(m["Body"])["shard"] for m in receive_pages(deps, keep=True)} == busy
    record = run_record(deps, started)
    assert record["seeded"] is True and "finished_at" not in record  # started, not finished: the pages follow
    pages = drain_pages(deps)
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    seen = fanned(messages)
    assert set(seen) == expected(due) and set(seen.values()) == {1}
    record = finished(deps, started, BIG + SMALL)
    per_shard = Counter(keys.billing_shard(s) for _, s in expected(due))
    # a page of one entry: a shard of k due entries takes k pages (and an empty last one where DynamoDB cannot tell
    # that the k-th was the last: it gives a LastEvaluatedKey whenever Limit stopped it); an empty shard one page
    assert {int(s) for s in record["shards"]} == set(per_shard)
    for shard, progress in record["shards"].items():
        k = per_shard[int(shard)]
        assert k <= int(progress["page"]) <= k + 1 and int(progress["sent"]) == k
    assert pages == sum(int(p["page"]) for p in record["shards"].values()) >= BIG + SMALL
    assert max(per_shard.values()) >= 2  # several pages a shard
    assert int(record["messages"]) == len(messages)
    bill(deps, messages)
    one_invoice_per_period(due)


def test_a_page_packs_a_tenants_subscriptions_eight_to_a_message(deps, due):
    deps.env["BILLING_PAGE_SIZE"] = "1000"
    start_run(due["when"])
    drain_pages(deps)
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    seen = fanned(messages)
    assert set(seen) == expected(due) and set(seen.values()) == {1}
    # each shard's one page: a tenant's ids of the shard in one message (at most 8), never two tenants in one
    by_shard_tenant = Counter((keys.billing_shard(s), t) for t, s in expected(due))
    assert len(messages) == sum(-(-n // subscriptions.PER_TRANSACTION) for n in by_shard_tenant.values())
    assert billing_run.pack([("t1", f"s{n}") for n in range(17)] + [("t2", "x")]) == [
        {"tenant_id": "t1", "subscription_ids": [f"s{n}" for n in range(8)]},
        {"tenant_id": "t1", "subscription_ids": [f"s{n}" for n in range(8, 16)]},
        {"tenant_id": "t1", "subscription_ids": ["s16"]},
        {"tenant_id": "t2", "subscription_ids": ["x"]},
    ]


def busiest_first(deps: Deps, due: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first page message of the shard with the most due entries, and the other page messages."""
    per_shard = Counter(keys.billing_shard(s) for _, s in expected(due))
    shard = per_shard.most_common(1)[0][0]
    pages = receive_pages(deps)
    (first,) = [m for m in pages if json.loads(m["Body"])["shard"] == shard]
    return first, [m for m in pages if m is not first]


def test_a_redelivered_or_duplicated_page_message_sends_no_page_again(deps, due):
    started = start_run(due["when"])
    first, others = busiest_first(deps, due)
    assert run_page(first) == NO_FAILURES
    sent = receive_all(deps.env["BILLING_QUEUE_URL"])
    (following,) = receive_pages(deps)  # the shard's next page
    assert len(fanned(sent)) == 1 and json.loads(following["Body"])["page"] == 1

    # the same message again (SQS redelivers it: same id): its page is recorded, only its next page is sent
    assert run_page(first) == NO_FAILURES
    assert receive_all(deps.env["BILLING_QUEUE_URL"]) == []
    (again,) = receive_pages(deps)
    assert json.loads(again["Body"]) == json.loads(following["Body"])
    # a copy of it (another message id): nothing at all; the message that recorded the page carries on
    copy = {**first, "MessageId": "another-copy"}
    assert run_page(copy) == NO_FAILURES
    assert receive_all(deps.env["BILLING_QUEUE_URL"]) == [] and receive_pages(deps) == []
    # the two next-page messages: one pages on, the other finds its page recorded and sends nothing
    for message in [following, again, *others]:
        assert run_page(message) == NO_FAILURES
    drain_pages(deps)
    rest = receive_all(deps.env["BILLING_QUEUE_URL"])
    seen = fanned(sent + rest)
    assert set(seen) == expected(due) and set(seen.values()) == {1}
    finished(deps, started, BIG + SMALL)


def test_a_crash_between_sending_a_page_and_recording_it_resends_the_page_and_bills_each_period_once(
    deps, due, monkeypatch
):
    started = start_run(due["when"])
    first, others = busiest_first(deps, due)
    repo, crashes = deps.context.repo, []
    real_record = repo.record_page

    def crash_once(*args, **kwargs):
        if not crashes:
            crashes.append(args)
            raise RuntimeError("the function timed out after sending its page")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(repo, "record_page", crash_once)
    event_answer = run_page(first)
    assert event_answer == {"batchItemFailures": [{"itemIdentifier": first["MessageId"]}]}
    sent_before_crash = receive_all(deps.env["BILLING_QUEUE_URL"])
    assert len(fanned(sent_before_crash)) == 1 and receive_pages(deps) == []  # sent, not recorded, no next page
    assert str(json.loads(first["Body"])["shard"]) not in run_record(deps, started)["shards"]  # still at page 0

    assert run_page(first) == NO_FAILURES  # SQS delivers it again: the page is sent again (at least once)
    for message in others:
        assert run_page(message) == NO_FAILURES
    drain_pages(deps)
    rest = receive_all(deps.env["BILLING_QUEUE_URL"])
    seen = fanned(sent_before_crash + rest)
    assert set(seen) == expected(due) and sorted(seen.values()).count(2) == 1  # the resent page's one entry
    finished(deps, started, BIG + SMALL)  # fanned_out counts recorded pages: the page resent is counted once
    bill(deps, sent_before_crash + rest)  # the invoice worker absorbs the copy: one invoice per period
    one_invoice_per_period(due)


def test_a_crash_between_recording_a_page_and_sending_the_next_resends_only_the_next_page_message(
    deps, due, monkeypatch
):
    started = start_run(due["when"])
    first, others = busiest_first(deps, due)
    publisher, crashes = deps.publisher, []
    real_send = publisher.send

    def crash_on_next_page(queue_url, messages, *args, **kwargs):
        if queue_url == deps.env["BILLING_PAGE_QUEUE_URL"] and not crashes:
            crashes.append(messages)
            raise RuntimeError("the function died after recording its page")
        return real_send(queue_url, messages, *args, **kwargs)

    monkeypatch.setattr(publisher, "send", crash_on_next_page)
    assert all_failed(run_page(first), {"Records": [{"messageId": first["MessageId"]}]})
    sent = receive_all(deps.env["BILLING_QUEUE_URL"])
    assert len(fanned(sent)) == 1 and receive_pages(deps) == []
    shard = json.loads(first["Body"])["shard"]
    assert run_record(deps, started)["shards"][str(shard)]["page"] == 1  # recorded

    assert run_page(first) == NO_FAILURES  # delivered again: the page is not sent again, its next page is
    assert receive_all(deps.env["BILLING_QUEUE_URL"]) == []
    (following,) = receive_pages(deps)
    assert json.loads(following["Body"])["page"] == 1
    for message in [following, *others]:
        assert run_page(message) == NO_FAILURES
    drain_pages(deps)
    seen = fanned(sent + receive_all(deps.env["BILLING_QUEUE_URL"]))
    assert set(seen) == expected(due) and set(seen.values()) == {1}
    finished(deps, started, BIG + SMALL)


def test_a_repeated_firing_starts_nothing_and_a_firing_that_crashed_before_its_pages_is_completed_by_its_retry(
    deps, due, monkeypatch
):
    publisher, real = deps.publisher, deps.publisher.send_parallel

    def crash(*args, **kwargs):
        raise RuntimeError("SQS was unreachable")

    monkeypatch.setattr(publisher, "send_parallel", crash)
    with pytest.raises(RuntimeError):
        start_run(due["when"])  # the record is put, no page sent: the scheduler retries the firing
    monkeypatch.setattr(publisher, "send_parallel", real)
    busy = {keys.billing_shard(s) for _, s in expected(due)}
    assert start_run(due["when"])["shards"] == len(busy)  # not seeded yet: the retry seeds it
    assert {json.loads(m["Body"])["shard"] for m in receive_pages(deps)} == busy

    again = start_run(due["when"])
    assert again == {"scheduled_time": due["when"].isoformat(), "duplicate": True, "shards": 0}
    assert receive_pages(deps) == []


def test_an_entry_written_under_eight_shards_is_still_found(deps, due):
    """BILLING_SHARDS went from 8 to 32 without a backfill: an entry on BILL#<h % 8> is on a partition the run reads."""
    tenant_id, (sub_id, *_) = next(iter(due["subs"].items()))
    sub = deps.context.repo.subscription(tenant_id, sub_id)
    old_shard = int(hashlib.sha256(sub_id.encode()).hexdigest(), 16) % 8  # billing_shard as it was
    item_key = keys.subscription(tenant_id, sub.id)
    deps.context.repo.store.client.update_item(
        TableName=deps.context.repo.store.table,
        Key={k: {"S": v} for k, v in item_key.items()},
        UpdateExpression="SET gsi4pk = :old",
        ExpressionAttributeValues={":old": {"S": keys.billing_partition(old_shard)}},
    )
    start_run(due["when"])
    drain_pages(deps)
    seen = fanned(receive_all(deps.env["BILLING_QUEUE_URL"]))
    assert set(seen) == expected(due) and set(seen.values()) == {1}


def test_a_run_with_nothing_due_is_finished_as_it_starts(deps, clock):
    started = start_run(after(START))
    assert started["shards"] == 0 and receive_pages(deps) == []
    record = run_record(deps, started)
    assert record["finished_at"] and int(record["fanned_out"]) == 0 and len(record["done_shards"]) == 32


def test_the_invoice_worker_takes_packed_and_single_messages(deps, due):
    (tenant_id, subs), (other_id, other_subs) = due["subs"].items()
    packed = {"tenant_id": tenant_id, "subscription_ids": subs[:8]}
    single = {"tenant_id": other_id, "subscription_id": other_subs[0]}
    event = sqs_bodies_event("sqs_billing.json", packed, single, {"tenant_id": tenant_id, "subscription_ids": []})
    answer = invoice_worker.lambda_handler(event, FakeLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][2]["messageId"]}]}  # no id: malformed
    repo = deps.context.repo
    billed = {s for t in (tenant_id, other_id) for s in due["subs"][t] if repo.subscription(t, s).current_period_index}
    assert billed == {*subs[:8], other_subs[0]}


def test_the_page_sample_is_what_the_page_function_parses():
    body = json.loads(sample_event("sqs_billing_page.json")["Records"][0]["body"])
    page = billing_run.PageMessage.model_validate(body)
    assert page.scheduled_time == datetime.fromisoformat("2026-12-07T04:10:00+00:00") and page.cursor
