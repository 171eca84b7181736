"""The billing run's drafts numbered by one writer per tenant and series, on moto through the real handlers: the
invoice worker drafts, the outbox relay routes invoices.drafted to the FIFO numbering queue, the writer numbers.
Numbers stay gapless per tenant and series across several moves, interleaved with orders that number inline, under
redelivery, a writer that crashes before its commit, and partial failures of a FIFO batch."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.domain import numbering
from billing.services import invoice_numbering, subscriptions, tenants
from functions.api import app as api
from functions.invoice_numbering import app as writer
from functions.invoice_worker import app as invoice_worker
from functions.outbox_relay import app as relay
from tests.integration.billing_pages import sweep
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.numbering import (
    NO_FAILURES,
    drafted_events,
    numbering_event,
    receive_batch,
    relay_drafts,
    run_numbering,
)
from tests.integration.test_subscriptions import FLAT, START, after, customer, plan, subscribe
from tests.integration.test_workers import (
    call,
    outbox,
    place_invoice,
    receive_all,
    set_clock,
    sqs_bodies_event,
    sqs_event,
    stream_event,
)

pytestmark = pytest.mark.usefixtures("deps")


def subscribers(key: str, count: int) -> list[str]:
    pro = plan(key, FLAT)
    customers = [customer(key, email=f"c{n}@example.com") for n in range(count)]
    for cus in customers:
        subscribe(key, cus, [{"plan_id": pro}])
    return customers


def all_invoices(key: str) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = listing(key, "/v1/invoices", query)
        found += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def listing(key: str, path: str, query: dict[str, str]) -> dict[str, Any]:
    answer = api.lambda_handler(http_event("GET", path, key, query=query), FakeLambdaContext())
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def gapless(invoices: list[dict[str, Any]]) -> list[str]:
    numbers = sorted(i["number"] for i in invoices)
    assert numbers == [f"INV-2026-{n:06}" for n in range(1, len(invoices) + 1)]
    return numbers


def drafts_of_the_run(deps: Deps, clock, count: int) -> None:
    """The billing run and its invoice worker, without the numbering step."""
    set_clock(clock, after(START))
    assert sweep(deps, clock.now())["fanned_out"] == count
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    for n in range(0, len(messages), 10):
        answer = invoice_worker.lambda_handler(sqs_event("sqs_billing.json", messages[n : n + 10]), FakeLambdaContext())
        assert answer == NO_FAILURES


def counter(deps: Deps, tenant_id: str) -> int:
    return deps.context.repo.counter_value(tenant_id, "default", "2026")


def test_the_billing_transaction_writes_drafts_and_one_drafted_event_and_no_counter(deps, clock, key, tenant_id):
    subscribers(key, 3)
    drafts_of_the_run(deps, clock, 3)
    invoices = all_invoices(key)
    assert {(i["status"], i["number"]) for i in invoices} == {("draft", None)}
    assert counter(deps, tenant_id) == 0
    (drafted,) = [e for i in invoices for e in outbox(keys.invoice(tenant_id, i["id"]), numbering.DRAFTED)]
    event = json.loads(drafted["doc"]["S"])
    assert sorted(event["data"]["invoice_ids"]) == sorted(i["id"] for i in invoices)
    assert event["data"]["series"] == "default"
    # a draft cannot be voided (the invoice state machine: only the writer moves a billing-run draft on)
    status, problem = call("POST", f"/v1/invoices/{invoices[0]['id']}/void", key, {})
    assert status == 409, problem
    assert relay_drafts(deps) == 1
    run_numbering(deps)
    invoices = all_invoices(key)
    gapless(invoices)
    assert {i["status"] for i in invoices} == {"open"}
    for invoice in invoices:  # what follows finalization keys off its event, as for an order's invoice
        assert len(outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")) == 1


def test_numbers_stay_gapless_over_several_moves_interleaved_with_orders_numbering_inline(
    deps, clock, key, tenant_id, monkeypatch
):
    customers = subscribers(key, 60)
    drafts_of_the_run(deps, clock, 60)
    # the run's pages pack each shard's subscriptions 8 to a message; the worker bills transactions of up to 8
    # (PER_TRANSACTION), each with one drafted event: at least 60 / 8
    assert relay_drafts(deps) >= 8
    monkeypatch.setattr(invoice_numbering, "PER_MOVE", 25)  # the relay sends the 60 drafts as one message
    # an order numbers inline between the writer's counter read and its commit, before each of its first moves:
    # the writer's conditional counter write loses and the move is read again and retried
    repo, real_commit, orders, raced = deps.context.repo, deps.context.repo.commit, [], set()

    def an_order_first(tx):
        invoices = frozenset(op["Put"]["Item"]["pk"]["S"] for op in tx.items if "Put" in op)
        puts = [op["Put"]["Item"] for op in tx.items if "Put" in op]
        writing = any(  # a move: the counter and invoices, no event (an order's own write has its events)
            "Update" in op and op["Update"]["Key"]["pk"]["S"].startswith(f"T#{tenant_id}#SEQ#") for op in tx.items
        ) and not any(item["sk"]["S"].startswith("EVT#") for item in puts)
        if writing and len(orders) < 2 and invoices not in raced:  # once per move
            raced.add(invoices)
            repo.commit = real_commit
            try:
                orders.append(place_invoice(key, customers[0])["number"])
            finally:
                repo.commit = an_order_first
        return real_commit(tx)

    moves = []
    real_group = invoice_numbering.number_group

    def recording(*args, **kwargs):
        outcome = real_group(*args, **kwargs)
        moves.extend(outcome.moves)
        return outcome

    monkeypatch.setattr(invoice_numbering, "number_group", recording)
    repo.commit = an_order_first
    try:
        run_numbering(deps)
    finally:
        repo.commit = real_commit
    invoices = all_invoices(key)
    assert len(invoices) == 62
    gapless(invoices)
    assert len(orders) == 2 and counter(deps, tenant_id) == 62
    # one message of 60 drafts: moves of 25, 25 and 10, the first two retried once each after losing to an order
    assert [m.numbers for m in moves] == [25, 25, 10]
    assert [m.attempts for m in moves][:2] == [2, 2]
    assert set(m.attempts for m in moves[2:]) <= {1}
    for invoice in invoices:
        assert len(outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")) == 1


def test_a_redelivered_numbering_message_changes_nothing(deps, clock, key, tenant_id):
    subscribers(key, 4)
    drafts_of_the_run(deps, clock, 4)
    relay_drafts(deps)
    messages = receive_batch(deps.env["NUMBERING_QUEUE_URL"])
    event = numbering_event(messages)
    assert writer.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES
    before = {i["id"]: i for i in all_invoices(key)}
    assert writer.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES  # SQS delivered it again
    after_redelivery = {i["id"]: i for i in all_invoices(key)}
    assert after_redelivery == before and counter(deps, tenant_id) == 4
    gapless(list(before.values()))
    for invoice_id in before:
        assert len(outbox(keys.invoice(tenant_id, invoice_id), "invoice.finalized")) == 1


def test_a_writer_that_crashes_before_its_commit_leaves_the_sequence_gapless_once_redelivered(
    deps, clock, key, tenant_id
):
    subscribers(key, 12)
    drafts_of_the_run(deps, clock, 12)
    relay_drafts(deps)
    repo, real_commit = deps.context.repo, deps.context.repo.commit

    def crash(tx):
        raise RuntimeError("the writer's container died")

    url = deps.env["NUMBERING_QUEUE_URL"]
    messages = receive_batch(url)
    repo.commit = crash
    try:
        answer = writer.lambda_handler(numbering_event(messages), FakeLambdaContext())
    finally:
        repo.commit = real_commit
    assert len(answer["batchItemFailures"]) == len(messages) == 1  # the group's drafted events went as one message
    assert {i["status"] for i in all_invoices(key)} == {"draft"} and counter(deps, tenant_id) == 0
    assert receive_batch(url) == []  # backed off: the group waits, in order
    sqs = boto3.client("sqs")
    for message in messages:  # the back-off is over
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    redelivered = receive_batch(url)
    assert [m["MessageId"] for m in redelivered] == [m["MessageId"] for m in messages]
    assert writer.lambda_handler(numbering_event(redelivered), FakeLambdaContext()) == NO_FAILURES
    invoices = all_invoices(key)
    gapless(invoices)
    assert counter(deps, tenant_id) == 12


def drafted_message(tenant_id: str, invoice_ids: list[str], group: str | None = None) -> dict[str, Any]:
    event = invoice_numbering.drafted_event(tenant_id, "default", invoice_ids, START)
    return event.model_dump(mode="json"), group or numbering.writer_group(tenant_id, "default")


def fifo_event(*payloads: tuple[Any, str]) -> dict[str, Any]:
    event = sqs_bodies_event("sqs_invoices_drafted.json", *[body for body, _ in payloads])
    for record, (_, group) in zip(event["Records"], payloads, strict=True):
        record["attributes"]["MessageGroupId"] = group
    return event


def test_a_fifo_batch_fails_a_groups_message_and_every_later_one_of_that_group_only(deps, clock, key, tenant_id):
    other, other_key = tenants.create_tenant(deps.context, "Globex")
    subscribers(key, 3)
    pro = plan(other_key, FLAT)
    for n in range(2):
        subscribe(other_key, customer(other_key, email=f"o{n}@example.com"), [{"plan_id": pro}])
    set_clock(clock, after(START))
    ours = subscriptions.bill_subscriptions(deps.context, tenant_id, [s["id"] for s in _subs(key)]).billed
    theirs = subscriptions.bill_subscriptions(deps.context, other.id, [s["id"] for s in _subs(other_key)]).billed
    a, b, c = (x.invoice_id for x in ours)
    d, e = (x.invoice_id for x in theirs)
    event = fifo_event(
        drafted_message(tenant_id, [a]),
        drafted_message(other.id, [d]),
        ("not a drafted event", numbering.writer_group(tenant_id, "default")),  # malformed: fails, and holds back
        drafted_message(tenant_id, [b, c]),  # the rest of its group, to keep the group's order
        drafted_message(other.id, [e]),
    )
    ids = [r["messageId"] for r in event["Records"]]
    answer = writer.lambda_handler(event, FakeLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[2]}, {"itemIdentifier": ids[3]}]}
    numbered = {i["id"]: i["number"] for i in all_invoices(key)}
    assert numbered == {a: "INV-2026-000001", b: None, c: None}  # a's message came before the malformed one
    assert sorted(i["number"] for i in all_invoices(other_key)) == ["INV-2026-000001", "INV-2026-000002"]


def test_a_move_that_fails_after_another_committed_fails_only_the_messages_it_had_not_finished(
    deps, clock, key, tenant_id, monkeypatch
):
    subscribers(key, 52)
    set_clock(clock, after(START))
    subs = _subs(key)
    billed = []
    for start in range(0, len(subs), 8):
        outcome = subscriptions.bill_subscriptions(deps.context, tenant_id, [s["id"] for s in subs[start : start + 8]])
        billed.append([b.invoice_id for b in outcome.billed])
    assert [len(b) for b in billed] == [8, 8, 8, 8, 8, 8, 4]
    monkeypatch.setattr(invoice_numbering, "RETRIES", 1)
    monkeypatch.setattr(invoice_numbering, "PER_MOVE", 49)  # two moves for the batch's 52 drafts
    real_commit, commits = deps.context.repo.commit, []

    def second_move_fails(tx):
        commits.append(tx)
        if len(commits) == 2:
            raise RuntimeError("DynamoDB unavailable")
        return real_commit(tx)

    deps.context.repo.commit = second_move_fails
    event = fifo_event(*(drafted_message(tenant_id, ids) for ids in billed))
    try:
        answer = writer.lambda_handler(event, FakeLambdaContext())
    finally:
        deps.context.repo.commit = real_commit
    # the first move numbered 49: six messages (48 drafts) whole, the seventh's first draft; it and later: failed
    ids = [r["messageId"] for r in event["Records"]]
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids[6]}]}
    assert counter(deps, tenant_id) == 49
    answer = writer.lambda_handler(event, FakeLambdaContext())  # redelivered whole: the rest is numbered
    assert answer == NO_FAILURES
    gapless(all_invoices(key))


def test_a_moves_events_written_while_the_next_move_runs_hold_its_messages_back_when_they_fail(
    deps, clock, key, tenant_id, monkeypatch
):
    """The first move's events fail to write in the background while the second move commits: no message is done
    (each from the first on waits, FIFO), and the redelivery numbers nothing again and writes every event once."""
    subscribers(key, 24)
    set_clock(clock, after(START))
    subs = _subs(key)
    bill = subscriptions.bill_subscriptions
    billed = [
        [b.invoice_id for b in bill(deps.context, tenant_id, [s["id"] for s in chunk]).billed]
        for chunk in (subs[0:8], subs[8:16], subs[16:24])
    ]
    monkeypatch.setattr(invoice_numbering, "PER_MOVE", 12)  # two moves: messages 1 and half of 2, then the rest
    from concurrent.futures import Future

    repo, real_write, writes, first = deps.context.repo, deps.context.repo.writing_events, [], Future()

    def first_fails(events):  # the first move's write is still under way when the second move commits, then fails
        writes.append(len(events))
        if len(writes) == 1:
            return [first]
        first.set_exception(RuntimeError("BatchWriteItem failed"))
        return real_write(events)

    event = fifo_event(*(drafted_message(tenant_id, ids) for ids in billed))
    repo.writing_events = first_fails
    try:
        answer = writer.lambda_handler(event, FakeLambdaContext())
    finally:
        repo.writing_events = real_write
    assert writes == [12, 12]  # the second move ran
    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    invoices = all_invoices(key)
    gapless(invoices)
    assert counter(deps, tenant_id) == 24
    assert writer.lambda_handler(event, FakeLambdaContext()) == NO_FAILURES  # redelivered whole
    assert all_invoices(key) == invoices and counter(deps, tenant_id) == 24
    for invoice in invoices:
        assert len(outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")) == 1


def _subs(key: str) -> list[dict[str, Any]]:
    return sorted(listing(key, "/v1/subscriptions", {"limit": "100"})["data"], key=lambda s: s["id"])


def _dies(*args, **kwargs):
    raise RuntimeError("the writer's container died after the move")


def _fails_later(*args, **kwargs):
    from concurrent.futures import Future

    future = Future()  # the events' BatchWriteItem, started while the next move runs, fails
    future.set_exception(RuntimeError("BatchWriteItem failed"))
    return [future]


@pytest.mark.parametrize("failure", [_dies, _fails_later], ids=["dies before writing", "the write fails later"])
def test_a_writer_that_crashes_after_its_move_before_the_events_writes_them_once_redelivered(
    deps, clock, key, tenant_id, failure
):
    subscribers(key, 10)
    drafts_of_the_run(deps, clock, 10)
    relay_drafts(deps)
    repo, real_write = deps.context.repo, deps.context.repo.writing_events

    messages = receive_batch(deps.env["NUMBERING_QUEUE_URL"])
    repo.writing_events = failure
    try:
        answer = writer.lambda_handler(numbering_event(messages), FakeLambdaContext())
    finally:
        repo.writing_events = real_write
    assert len(answer["batchItemFailures"]) == 1  # the message stays: the events are not written yet
    invoices = all_invoices(key)
    gapless(invoices)  # the move committed
    assert all(outbox(keys.invoice(tenant_id, i["id"]), "invoice.finalized") == [] for i in invoices)

    assert writer.lambda_handler(numbering_event(messages), FakeLambdaContext()) == NO_FAILURES  # redelivered
    assert writer.lambda_handler(numbering_event(messages), FakeLambdaContext()) == NO_FAILURES  # and once more
    assert all_invoices(key) == invoices and counter(deps, tenant_id) == 10  # nothing numbered again
    for invoice in invoices:
        (item,) = outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")
        event = json.loads(item["doc"]["S"])
        assert event["data"] == {"number": invoice["number"]} and event["object_version"] == invoice["version"]
        assert event["actor"] == {"type": "job", "id": "invoice_numbering"}


def test_the_relay_sends_a_stream_batchs_drafted_events_of_a_series_as_one_message_and_the_same_batch_once(
    deps, clock, key, tenant_id, monkeypatch
):
    from billing.services import outbox as relay_rules

    subscribers(key, 20)
    set_clock(clock, after(START))
    subs, sizes = [s["id"] for s in _subs(key)], [8, 2, 8, 2]
    for start, size in zip([0, 8, 10, 18], sizes, strict=True):  # four billing transactions' drafted events
        assert len(subscriptions.bill_subscriptions(deps.context, tenant_id, subs[start : start + size]).billed) == size
    monkeypatch.setattr(relay_rules, "DRAFTS_TOGETHER", 12)  # at most 12 drafts to a message
    found: dict[int, list[dict[str, Any]]] = {8: [], 2: []}
    for image in drafted_events(deps):
        found[len(json.loads(image["doc"]["S"])["data"]["invoice_ids"])].append(image)
    images = [found[8][0], found[2][0], found[8][1], found[2][1]]  # as the stream might order them
    for _ in range(2):  # the stream hands the relay the same batch again: the queue keeps each message once
        assert relay.lambda_handler(stream_event(*images), FakeLambdaContext()) == NO_FAILURES
    messages = receive_batch(deps.env["NUMBERING_QUEUE_URL"])
    drafted = [json.loads(m["Body"]) for m in messages]
    in_order = [i for image in images for i in json.loads(image["doc"]["S"])["data"]["invoice_ids"]]
    assert [len(d["data"]["invoice_ids"]) for d in drafted] == [10, 10]  # 8 + 2 twice: a third 8 would pass 12
    assert [i for d in drafted for i in d["data"]["invoice_ids"]] == in_order
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {numbering.writer_group(tenant_id, "default")}
    assert writer.lambda_handler(numbering_event(messages), FakeLambdaContext()) == NO_FAILURES
    gapless(all_invoices(key))
