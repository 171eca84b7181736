"""One tenant's numbering rate: N drafts of one series numbered by its single writer, on moto in-process.

Setup (not measured): a tenant, one customer, and N draft invoices written as the billing run writes them (a
transaction per ``subscriptions.PER_TRANSACTION`` drafts with its one ``invoices.drafted`` event); the drafted events
handed by the outbox relay's handler (``functions.outbox_relay.app``, a stream batch of 100 records) to the FIFO
numbering queue.

Measured: the numbering queue drained as Lambda polls a FIFO queue (one batch of at most 10 messages in flight for a
message group, the next once it is done): ReceiveMessage, the writer's handler (``functions.invoice_numbering.app``)
with an SQS event carrying each message's ``MessageGroupId``, DeleteMessageBatch. Each counter move is recorded
(``invoice_numbering.Move``: how many numbers it assigned, its hold time from the counter's read to the transaction's
answer, its attempts), with the time spent inside DynamoDB calls during the hold (botocore hooks), the rest being
our code. Checked: every draft numbered once, the numbers gapless 1..N, the counter at N, one ``invoice.finalized``
event per invoice.

The rate on Lambda is worked out from those figures and stated assumptions (in the report).

    python -m bench.numbering [-n 4000] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

import bench.dynamodb_calls as calls  # sets the environment (region, fake keys, quiet Powertools) on import
from bench._doc import machine, table, update
from bench.billing_run import fast_moto
from billing import bootstrap
from billing.adapters import dynamodb, keys
from billing.adapters.clock import FixedClock
from billing.domain import numbering
from billing.domain.models import Invoice
from billing.domain.pricing import LineInput
from billing.services import customers, invoice_numbering, outbox, subscriptions, tenants
from billing.services.commands import CreateCustomer
from infra.local import template as tpl

NOW = datetime(2026, 11, 23, 12, 10, tzinfo=UTC)
QUEUES = ("NOTIFICATIONS", "COLLECTIONS", "DOCUMENTS", "WEBHOOK_EVENTS", "DUNNING")
LINES = [LineInput(description="Pro plan", quantity=1, unit_amount=4900)]
# Lambda, assumed as section 3 does: GetItem 4 ms, BatchGetItem of up to 100 items 10 ms, a TransactWriteItems of
# 100 items 40 ms, BatchWriteItems of 25 made in parallel 10 ms, a FIFO group's next batch received 20 ms after the
# last one's answer; our code's time is this machine's × 3 at 512 MB (≈ 0.3 vCPU) and × 1 at 1,769 MB (one vCPU).
GET_MS, BATCH_GET_MS, TRANSACTION_MS, WRITE_EVENTS_MS, NEXT_BATCH_MS = 4.0, 10.0, 40.0, 10.0, 20.0
BATCHES = (80, 800, 10_000)  # drafts in a writer's batch of 10 messages


@dataclass
class Timed:
    """A move, the time its hold spent inside DynamoDB calls, and the CPU time of our code in it."""

    move: invoice_numbering.Move
    in_calls: float
    code_cpu: float


@dataclass
class Run:
    drafts: int = 0
    messages: int = 0
    batches: list[tuple[float, float]] = field(default_factory=list)  # each writer invocation's start and end
    moves: list[Timed] = field(default_factory=list)
    setup_seconds: float = 0.0
    in_calls: float = 0.0  # of the writer's invocations, the time inside DynamoDB calls
    code_cpu: float = 0.0  # of the writer's invocations, the CPU time outside DynamoDB calls (ours and botocore's)
    problems: list[str] = field(default_factory=list)


class CallClock:
    """botocore hooks on the table's client: the intervals spent inside DynamoDB calls and the CPU time each took
    (per thread: the events of a move are written from a pool). Our code's share is CPU time, not wall time minus
    the calls: on a shared machine the wall clock mostly measures the neighbours."""

    def __init__(self, client: Any) -> None:
        self.spans: list[tuple[float, float]] = []
        self.cpu: list[tuple[float, float, int]] = []  # each call's start (wall), CPU time, thread
        self._started = threading.local()
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _before(self, **_: Any) -> None:
        self._started.at, self._started.cpu = time.perf_counter(), time.thread_time()

    def _after(self, **_: Any) -> None:
        self.spans.append((self._started.at, time.perf_counter()))
        self.cpu.append((self._started.at, time.thread_time() - self._started.cpu, threading.get_ident()))

    def cpu_inside(self, start: float, end: float, thread: int | None = None) -> float:
        """The CPU time of the calls started between ``start`` and ``end`` (of ``thread`` only, if given)."""
        return sum(cpu for at, cpu, ident in self.cpu if start <= at < end and thread in (None, ident))

    def inside(self, start: float, end: float) -> float:
        """The time between ``start`` and ``end`` that some DynamoDB call was under way (parallel calls once)."""
        total, reached = 0.0, start
        for a, b in sorted((max(a, start), min(b, end)) for a, b in self.spans if b > start and a < end):
            if b > reached:
                total += b - max(a, reached)
                reached = b
        return total


def stack() -> tuple[bootstrap.Deps, str]:
    template = tpl.load()
    boto3.client("dynamodb").create_table(**tpl.table_definition(template, "Table", calls.TABLE))
    sqs = boto3.client("sqs")
    env = {"TABLE_NAME": calls.TABLE, "EMAIL_FROM": "billing@example.com"}
    for name in QUEUES:
        env[f"{name}_QUEUE_URL"] = sqs.create_queue(QueueName=name.lower())["QueueUrl"]
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    env["NUMBERING_QUEUE_URL"] = sqs.create_queue(QueueName="numbering.fifo", Attributes=fifo)["QueueUrl"]
    deps = bootstrap.Deps(env=env)
    deps.__dict__["clock"] = FixedClock(NOW)
    bootstrap.use(deps)
    tenant, _ = tenants.create_tenant(deps.context, "Big Cloud")
    return deps, tenant.id


def write_drafts(deps: bootstrap.Deps, tenant_id: str, n: int) -> None:
    """N drafts, PER_TRANSACTION to a transaction with their invoices.drafted event, as the billing run writes them."""
    ctx = deps.context
    customer = customers.create_customer(
        ctx, tenant_id, CreateCustomer(email="big@example.com", name="Big Buyer", locale="en", currency="usd")
    )
    for start in range(0, n, subscriptions.PER_TRANSACTION):
        count = min(subscriptions.PER_TRANSACTION, n - start)
        drafts = [
            Invoice.draft(
                customer,
                LINES,
                NOW,
                collection_method="send_invoice",
                days_until_due=14,
                subscription_id=f"sub_bench{start + i:08}",
                period_index=0,
            )
            for i in range(count)
        ]
        tx = ctx.repo.transaction()
        for draft in drafts:
            ctx.repo.save_invoice(tx, draft)
        event = invoice_numbering.drafted_event(tenant_id, "default", [d.id for d in drafts], NOW)
        ctx.repo.add_event(tx, keys.invoice(tenant_id, drafts[0].id), event)
        ctx.repo.commit(tx)


def relay_drafted(deps: bootstrap.Deps) -> int:
    """The drafted events' outbox items (a scan: setup only) through the relay's handler, 100 records a batch."""
    from functions.outbox_relay import app as relay

    client = boto3.client("dynamodb")
    items, start = [], {}
    while True:
        page = client.scan(
            TableName=calls.TABLE,
            FilterExpression="event_type = :t",
            ExpressionAttributeValues={":t": {"S": numbering.DRAFTED}},
            **start,
        )
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    for n in range(0, len(items), 100):
        records = [calls.stream_event(item)["Records"][0] for item in items[n : n + 100]]
        event = {"Records": records}
        answer = relay.lambda_handler(event, calls.LambdaContext())
        if answer.get("batchItemFailures"):
            raise SystemExit(f"the relay failed: {answer}")
    return len(items)


def drain(deps: bootstrap.Deps, run: Run) -> None:
    from functions.invoice_numbering import app as writer

    sqs, url = boto3.client("sqs"), deps.env["NUMBERING_QUEUE_URL"]
    template = calls.sample("sqs_invoices_drafted.json")["Records"][0]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        records = [
            {
                **template,
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {**template["attributes"], **m["Attributes"]},
                "md5OfBody": m["MD5OfBody"],
            }
            for m in messages
        ]
        started, cpu = time.perf_counter(), time.process_time()
        answer = writer.lambda_handler({"Records": records}, calls.LambdaContext())
        run.batches.append((started, time.perf_counter()))
        run.code_cpu += time.process_time() - cpu
        if answer["batchItemFailures"]:
            raise SystemExit(f"the writer failed: {answer}")
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def recording_moves(run: Run, clock: CallClock, repo: Any) -> Any:
    """``invoice_numbering._move`` wrapped so each move and the DynamoDB time of its hold are kept: the hold ends
    when the move's transaction (its last commit) is answered. Its events, which the writer writes while the next
    move runs, are waited for here before the next move (``repo.writing_events``), so that no DynamoDB call of
    theirs overlaps our code and hides it from the split between moto's time and ours."""
    real, real_commit, real_writing = invoice_numbering._move, repo.commit, repo.writing_events
    answered = [0.0, 0.0]  # the last commit's answer: wall, this thread's CPU

    def writing_events(events: Any) -> Any:
        futures = real_writing(events)
        for future in futures:
            future.result()
        return futures

    def commit(tx: Any) -> None:
        try:
            real_commit(tx)
        finally:
            answered[:] = time.perf_counter(), time.thread_time()

    def move(*args: Any, **kwargs: Any) -> tuple[invoice_numbering.Move, Any]:
        cpu = time.thread_time()
        result, events = real(*args, **kwargs)
        start, end = answered[0] - result.held_seconds, answered[0]
        code = answered[1] - cpu - clock.cpu_inside(start, end, threading.get_ident())
        run.moves.append(Timed(result, clock.inside(start, end), code))
        return result, events

    invoice_numbering._move = move
    repo.commit = commit
    repo.writing_events = writing_events
    return real


def check(deps: bootstrap.Deps, tenant_id: str, n: int) -> list[str]:
    ctx, problems = deps.context, []
    client = boto3.client("dynamodb")
    invoices, finalized, start = [], 0, {}
    while True:
        page = client.scan(TableName=calls.TABLE, **start)
        for item in page["Items"]:
            if item["sk"]["S"] == "INVOICE":
                invoices.append(item)
            elif item.get("event_type", {}).get("S") == "invoice.finalized":
                finalized += 1
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    numbers = sorted(json.loads(i["doc"]["S"])["number"] or "" for i in invoices)
    fmt = ctx.repo.tenant(tenant_id).invoice_number_format
    expected = [numbering.render(fmt, NOW, k) for k in range(1, n + 1)]
    if len(invoices) != n:
        problems.append(f"{len(invoices)} invoices, {n} drafted")
    if numbers != sorted(expected):
        problems.append("the numbers are not 1..N without a gap or a repeat")
    if (counter := ctx.repo.counter_value(tenant_id, "default", numbering.period_key(fmt, NOW))) != n:
        problems.append(f"the counter is at {counter}, not {n}")
    if finalized != n:
        problems.append(f"{finalized} invoice.finalized events for {n} invoices")
    return problems


def measure(n: int) -> Run:
    run = Run(drafts=n)
    with mock_aws(), fast_moto():
        deps, tenant_id = stack()
        started = time.perf_counter()
        write_drafts(deps, tenant_id, n)
        run.messages = relay_drafted(deps)
        run.setup_seconds = time.perf_counter() - started
        clock = CallClock(deps.context.repo.store.client)
        real = recording_moves(run, clock, deps.context.repo)
        try:
            drain(deps, run)
        finally:
            invoice_numbering._move = real
            del deps.context.repo.commit  # the instances' wrappers: the class's methods again
            del deps.context.repo.writing_events
        run.in_calls = sum(clock.inside(a, b) for a, b in run.batches)
        run.code_cpu -= sum(clock.cpu_inside(a, b) for a, b in run.batches)
        run.problems = check(deps, tenant_id, n)
    return run


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(run: Run) -> str:
    moves = run.moves
    numbers = [t.move.numbers for t in moves]
    held = [t.move.held_seconds for t in moves]
    wall = sum(b - a for a, b in run.batches)
    # our code (and botocore's), per number: in the hold, and in the whole invocation
    hold_ms = sum(t.code_cpu for t in moves) / sum(numbers) * 1000
    all_ms = run.code_cpu / sum(numbers) * 1000
    local = table(
        ["measured (moto in-process)", "value"],
        [
            ["drafts (one tenant, one series)", f"{run.drafts:,}"],
            ["drafted events → FIFO messages (the relay's, merged per stream batch)", f"{run.messages:,}"],
            ["writer invocations (≤ 10 messages each)", f"{len(run.batches):,}"],
            ["counter moves", f"{len(moves):,}"],
            ["numbers per move: max, mean", f"{max(numbers)}, {statistics.mean(numbers):.1f}"],
            ["moves that were retried", sum(1 for t in moves if t.move.attempts > 1)],
            ["hold per move, median / p95 (ms)", f"{ms(statistics.median(held))} / {ms(_p95(held))}"],
            ["  of which inside DynamoDB calls (moto), median (ms)", ms(statistics.median(t.in_calls for t in moves))],
            ["our code per number, CPU: in the hold / in the whole invocation (ms)", f"{hold_ms:.3f} / {all_ms:.3f}"],
            ["numbers a second here (moto's time included)", f"{sum(numbers) / wall:,.0f}"],
            ["checks", "; ".join(run.problems) or "gapless 1..N, each draft numbered once, counter = N, N events"],
        ],
    )
    rows = []
    for memory, factor in (("512 MB (× 3)", 3), ("1,769 MB (× 1)", 1)):
        hold = TRANSACTION_MS + invoice_numbering.PER_MOVE * hold_ms * factor
        row = [memory, f"{hold:.0f}"]
        for drafts in BATCHES:
            row.append(f"{drafts / batch_ms(drafts, all_ms * factor) * 1000:,.0f}")
        rows.append(row)
    paper = table(
        ["writer memory (our code ×)", "hold per move of 99 (ms)"]
        + [f"numbers/s, {b:,} drafts a batch" for b in BATCHES],
        rows,
    )
    return (
        f"{machine()}; setup {run.setup_seconds:.0f} s. The events of each move are written before the next move "
        f"here (the bench waits for them), so that moto's time and ours separate cleanly; the writer itself writes "
        f"them while the next move runs.\n\n{local}\n\n"
        f"On Lambda, per tenant and series: GetItem {GET_MS:.0f} ms, BatchGetItem of 100 {BATCH_GET_MS:.0f} ms, a "
        f"100-item TransactWriteItems {TRANSACTION_MS:.0f} ms, a move's events in parallel BatchWriteItems "
        f"{WRITE_EVENTS_MS:.0f} ms, the group's next batch {NEXT_BATCH_MS:.0f} ms after the last answer, and our code "
        f"per number as measured here times the factor (one vCPU or less: our code, in whatever thread, runs one "
        f"after another). A writer's batch of 10 messages = the next batch + its drafts read "
        f"({dynamodb.PARALLEL_CALLS} BatchGetItems of 100 at a time) + the counter read once (each later move "
        f"starts from where the last one left it) + per {invoice_numbering.PER_MOVE} drafts a move (its events are "
        f"written during the next move: only the last move's are waited for) + our code; {BATCHES[0]} drafts is 10 "
        f"messages of one billing transaction's 8 (nothing merged), {BATCHES[-1]:,} ten of the relay's fullest "
        f"({outbox.DRAFTS_TOGETHER:,}):\n\n{paper}"
    )


def batch_ms(drafts: int, code_ms_per_number: float) -> float:
    """A writer's batch of ``drafts`` on Lambda, on paper (the model the table above states)."""
    moves = math.ceil(drafts / invoice_numbering.PER_MOVE)
    reads = math.ceil(math.ceil(drafts / 100) / dynamodb.PARALLEL_CALLS) * BATCH_GET_MS
    calls = reads + GET_MS + moves * TRANSACTION_MS + WRITE_EVENTS_MS
    return NEXT_BATCH_MS + calls + drafts * code_ms_per_number


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=4000, help="drafts to number (default 4,000)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    run = measure(args.n)
    text = report(run)
    print(text)
    if not args.no_doc:
        update("bench.numbering", text)
    if run.problems:
        raise SystemExit("checks failed: " + "; ".join(run.problems))


if __name__ == "__main__":
    main()
