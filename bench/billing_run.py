"""A billing run of N subscriptions (default 10,000), all due in the same hourly run: wall time, invoices per second,
DynamoDB calls per invoice, and a check that every subscription got exactly one gaplessly numbered invoice.

Setup (not measured): 10 tenants (90 % of the subscriptions on one, the rest over 9 small ones), each with a monthly
flat plan and a monthly per-seat plan; N customers and N subscriptions created through the services
(``customers.create_customer``, ``subscriptions.create_subscription``) at the same instant, so every one is due in
the same run, the worst case. Half take seats too; half are ``charge_automatically``, half ``send_invoice``.

Measured: the hourly sweep through its handler (``functions.billing_run.app``), then the billing queue drained as
Lambda's SQS poller would: ReceiveMessage (10 at most), the invoice worker's handler
(``functions.invoice_worker.app``) with an SQS event shaped like events/sqs_billing.json, DeleteMessageBatch of
what succeeded, until the queue is empty. Two runs: the first invoices (period 0) and, a month later, the next
ones (period 1, which also closes period 0: its usage is summed). Then the same scheduled time again (a duplicate)
and the next hour (nothing due).

Three stacks: moto in-process (``mock_aws``, as bench/dynamodb_calls.py) with N subscriptions; the local stack's
moto server (``infra.local.aws.MotoServer``: HTTP on 127.0.0.1, requests served one at a time) with a smaller N;
and that server exactly as the local stack runs it, with a smaller N still. The first two replace what in moto
costs in proportion to the size of the table or of the queue, which DynamoDB's and SQS's costs do not
(``fast_moto``): TransactWriteItems deep-copies the whole table once per item of the transaction as its rollback
point (seconds per batch at a few hundred subscriptions); a Query on the table sorts every item of every partition
before it keeps the one asked for; SQS works out the queue's three approximate message counts (a pass over every
message each) for every message sent or received, and ReceiveMessage lists every visible message to take 10. The
replacements keep a copy of the items a transaction touches and put them back if it is cancelled (all or nothing,
as before), give a table Query only its partition, and skip those counts inside SendMessage/ReceiveMessage (they
are not part of the answer). Queries on an index still go through every item (moto keeps no index): the sweep's
time on moto grows with the table.
Calls are counted with
bench/dynamodb_calls.py's ``Recorder``, fed after the timed part from a tape of the botocore hooks (so the timing
pays only for appending to a list).

    python -m bench.billing_run [-n 10000] [--server-n 1000] [--as-is-n 50] [--no-doc]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import io
import json
import logging
import math
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import moto.dynamodb.models as moto_dynamodb
import moto.sqs.models as sqs_models
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

import bench.dynamodb_calls as calls  # sets the environment (region, fake keys, quiet Powertools) on import
from bench._doc import machine, table, update
from billing import bootstrap
from billing.adapters import keys
from billing.adapters.clock import FixedClock
from billing.adapters.dynamodb import from_item
from billing.domain.plans import PlanRequest
from billing.observability import metrics
from billing.services import customers, subscriptions, tenants
from billing.services.commands import CreateCustomer
from infra.local import aws as local_aws
from infra.local import template as tpl

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # every subscription is created (and anchored) here
TENANTS = 10  # one big (90 %), nine small
BIG_SHARE = 0.9
MONTHLY = {"unit": "month", "count": 1}
FLAT = {"name": "Pro", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "flat", "amount": 4900}]}
SEATS = {"name": "Seats", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 1200}]}


def after(instant: datetime) -> datetime:
    """The first hourly run (at :10, as template.yaml schedules it) at least RUN_DELAY after ``instant``."""
    at = instant + subscriptions.RUN_DELAY
    run = at.replace(minute=10, second=0, microsecond=0)
    return run if run >= at else run + timedelta(hours=1)


# --- moto at DynamoDB's and SQS's cost ------------------------------------------------------------------------------
@contextlib.contextmanager
def fast_moto() -> Any:
    """moto's ``transact_write_items`` with its rollback point taken from the items it touches, not from a deep
    copy of the whole table per item of the transaction. Same outcome: a cancelled transaction leaves every item it
    touched as it was (the stream records of a cancelled one stay: nothing reads the stream here). A Query on the
    table (not an index) that looks at its one partition, not at every item of the table, sorted. And SQS's
    SendMessage/ReceiveMessage without the queue's approximate counts they work out and do not use."""
    backend = moto_dynamodb.DynamoDBBackend
    original = backend.transact_write_items
    original_query = Table.query
    query_signature = inspect.signature(original_query)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = query_signature.bind(self, *args, **kwargs).arguments
        hash_key = asked["hash_key"]
        if asked.get("index_name") or hash_key is None or not self.range_key_attr:
            return original_query(self, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # the instance's, for this call: what the query goes through
        try:
            return original_query(self, *args, **kwargs)
        finally:
            del self.all_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            ((_, op),) = entry.items()
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") or op.get("Key", {})
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                where, key = (table.items[hash_key], range_key) if range_key else (table.items, hash_key)
                if item is None:
                    where.pop(key, None)
                else:
                    where[key] = item
            raise

    def deepcopy(x: Any, memo: Any = None) -> Any:  # a Table is "copied" as itself: the rollback is done above
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    # SQS: the approximate counts are worked out for every message sent or received (queue attributes), each a pass
    # over the whole queue; inside those two calls they are not used. ReceiveMessage takes the visible messages lazily.
    in_sqs_call = [False]
    counts = {
        name: sqs_models.Queue.__dict__[name]
        for name in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_not_visible",
            "approximate_number_of_messages_delayed",
        )
    }
    original_messages = sqs_models.Queue.__dict__["messages"]

    def skipped(real: property) -> property:
        return property(lambda queue: 0 if in_sqs_call[0] else real.fget(queue))

    def inside(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            in_sqs_call[0] = True
            try:
                return method(*args, **kwargs)
            finally:
                in_sqs_call[0] = False

        return call

    sqs_backend = sqs_models.SQSBackend
    sqs_originals = {name: getattr(sqs_backend, name) for name in ("send_message", "receive_message")}

    backend.transact_write_items = transact_write_items
    moto_dynamodb.copy = SimpleNamespace(deepcopy=deepcopy)
    Table.query = query
    for name, real in counts.items():
        setattr(sqs_models.Queue, name, skipped(real))
    # the real one takes len() of ``messages``, a generator below
    sqs_models.Queue.approximate_number_of_messages = property(
        lambda queue: 0 if in_sqs_call[0] else sum(1 for _ in queue.messages)
    )
    sqs_models.Queue.messages = property(lambda queue: (m for m in queue._messages if m.visible and not m.delayed))
    for name, method in sqs_originals.items():
        setattr(sqs_backend, name, inside(method))
    try:
        yield
    finally:
        backend.transact_write_items = original
        moto_dynamodb.copy = copy
        Table.query = original_query
        for name, real in counts.items():
            setattr(sqs_models.Queue, name, real)
        sqs_models.Queue.messages = original_messages
        for name, method in sqs_originals.items():
            setattr(sqs_backend, name, method)


# --- recording ----------------------------------------------------------------------------------------------------
@dataclass
class Tape:
    """botocore hooks that keep what each call carried and when; ``take()`` hands it to ``calls.Recorder``."""

    on: bool = False
    entries: list[tuple[float, str, Any, Any]] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}.*", self._before)
        client.meta.events.register(f"after-call.{service}.*", self._after)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.on:
            self.entries.append((time.perf_counter(), "before", model, params))

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.on:
            self.entries.append((time.perf_counter(), "after", model, parsed))

    def take(self) -> list[Recorded]:
        """The calls taped since the last ``take``, through ``calls.Recorder`` (operation, what, request units)."""
        entries, self.entries = self.entries, []
        recorder, out = calls.Recorder(on=True), []
        for n, (at, kind, model, payload) in enumerate(entries):
            if kind == "before":
                recorder.before(model=model, params=payload)
                body = json.loads(payload["body"] or b"{}") if model.service_model.service_name == "dynamodb" else {}
                out.append(Recorded(recorder.calls[-1], body, at))
            else:
                if model.service_model.service_name == "dynamodb":
                    recorder.after(model=model, parsed=payload)
                assert entries[n - 1][1] == "before", "calls are sequential"
                out[-1].seconds = at - out[-1].started
                out[-1].error = (payload.get("Error") or {}).get("Code", "")
        return out


@dataclass
class Recorded:
    call: calls.Call
    body: dict[str, Any]
    started: float
    seconds: float = 0.0
    error: str = ""

    @property
    def op(self) -> str:
        return self.call.operation


# --- the stack ----------------------------------------------------------------------------------------------------
class Stack:
    """The table and the billing queue from template.yaml, the handlers' dependencies, a fixed clock, the tapes."""

    def __init__(self, label: str) -> None:
        self.label = label
        template = tpl.load()
        self.table = "billing-bench-" + re.sub(r"[^a-z]+", "-", label)
        boto3.client("dynamodb").create_table(**tpl.table_definition(template, "Table", self.table))
        visibility = str(template["Resources"]["BillingQueue"]["Properties"]["VisibilityTimeout"])
        self.sqs = boto3.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="billing", Attributes={"VisibilityTimeout": visibility})[
            "QueueUrl"
        ]
        env = {**os.environ, "TABLE_NAME": self.table, "BILLING_QUEUE_URL": self.queue}
        self.clock = FixedClock(START)
        self.deps = bootstrap.Deps(env=env)
        self.deps.__dict__["clock"] = self.clock  # as the tests' deps fixture does
        bootstrap.use(self.deps)
        self.tape, self.poller_tape = Tape(), Tape()  # the handlers' clients; the poller's own SQS calls
        self.tape.attach(self.deps.context.repo.store.client)
        self.tape.attach(self.deps.publisher.client)
        self.poller_tape.attach(self.sqs)
        from functions.billing_run import app as billing_run  # imported once the environment is in place
        from functions.invoice_worker import app as invoice_worker

        self.billing_run, self.invoice_worker = billing_run, invoice_worker
        self.tenants: list[str] = []
        self.expected: dict[str, int] = {}  # subscription id -> its invoice total

    # setup: not measured
    def populate(self, n: int) -> None:
        ctx = self.deps.context
        big = round(n * BIG_SHARE)
        shares = [big] + [(n - big) // (TENANTS - 1) + (1 if i < (n - big) % (TENANTS - 1) else 0) for i in range(9)]
        k = 0
        for t, share in enumerate(shares):
            tenant, _ = tenants.create_tenant(ctx, "Big Co" if t == 0 else f"Small Co {t}")
            self.tenants.append(tenant.id)
            pro = subscriptions.create_plan(ctx, tenant.id, PlanRequest.model_validate(FLAT)).id
            seats = subscriptions.create_plan(ctx, tenant.id, PlanRequest.model_validate(SEATS)).id
            for _ in range(share):
                cus = customers.create_customer(
                    ctx,
                    tenant.id,
                    CreateCustomer(email=f"c{k}@example.com", name=f"Customer {k}", locale="en", currency="usd"),
                )
                items = [{"plan_id": pro}] + ([{"plan_id": seats, "quantity": 1 + k % 5}] if k % 2 else [])
                method = {"collection_method": "send_invoice", "days_until_due": 30} if k % 4 >= 2 else {}
                cmd = subscriptions.CreateSubscription.model_validate({"customer_id": cus.id, "items": items, **method})
                sub = subscriptions.create_subscription(ctx, tenant.id, cmd)
                self.expected[sub.id] = 4900 + (1200 * (1 + k % 5) if k % 2 else 0)
                k += 1

    # the run: measured
    def run(self, when: datetime, label: str) -> Run:
        self.clock.at = when
        out = Run(label, when)
        event = {**calls.sample("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
        self.tape.take(), self.poller_tape.take()
        self.tape.on = True
        t0 = time.perf_counter()
        swept = self.billing_run.lambda_handler(event, calls.LambdaContext())
        out.sweep_seconds = time.perf_counter() - t0
        self.tape.on = False
        out.fanned_out = swept["fanned_out"]
        out.sweep_calls = self.tape.take()
        template = calls.sample("sqs_billing.json")["Records"][0]
        self.poller_tape.on = True
        t0 = time.perf_counter()
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"])
            messages = got.get("Messages", [])
            if not messages:
                break
            sqs_event = {"Records": [record(template, m) for m in messages]}
            self.tape.on = True
            h0 = time.perf_counter()
            answer = self.invoice_worker.lambda_handler(sqs_event, calls.LambdaContext())
            out.handler_seconds.append(time.perf_counter() - h0)
            self.tape.on = False
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            out.failed += len(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                self.sqs.delete_message_batch(QueueUrl=self.queue, Entries=entries)
            out.batches.append([json.loads(m["Body"])["tenant_id"] for m in messages])
        out.worker_seconds = time.perf_counter() - t0
        self.poller_tape.on = False
        out.worker_calls = self.tape.take()
        out.poller_calls = self.poller_tape.take()
        return out

    def sweep_only(self, when: datetime) -> tuple[dict[str, Any], list[Recorded]]:
        self.clock.at = when
        event = {**calls.sample("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
        self.tape.take()
        self.tape.on = True
        try:
            return self.billing_run.lambda_handler(event, calls.LambdaContext()), self.tape.take()
        finally:
            self.tape.on = False

    def redeliver(self, subscription_ids: list[str]) -> list[Recorded]:
        """A batch of messages the worker already processed, delivered again (SQS is at least once)."""
        template = calls.sample("sqs_billing.json")["Records"][0]
        tenant_of = {sid: t for t, sid in self.subscription_tenants()}
        body = [json.dumps({"tenant_id": tenant_of[s], "subscription_id": s}) for s in subscription_ids]
        event = {
            "Records": [
                {**template, "messageId": f"again-{i}", "body": b, "attributes": dict(template["attributes"])}
                for i, b in enumerate(body)
            ]
        }
        self.tape.take()
        self.tape.on = True
        answer = self.invoice_worker.lambda_handler(event, calls.LambdaContext())
        self.tape.on = False
        assert answer == {"batchItemFailures": []}, answer
        return self.tape.take()

    # reading back (not measured)
    def items(self, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every item of these types, read from moto's backend (in this process, the server's too): a Scan on moto
        goes through the whole table once per 1 MB page."""
        table = moto_dynamodb.dynamodb_backends[local_aws.ACCOUNT][local_aws.REGION].get_table(self.table)
        found = (from_item(item.to_json()["Attributes"]) for item in table.all_items())
        return [item for item in found if item.get("type") in kinds]

    def subscription_tenants(self) -> list[tuple[str, str]]:
        return [(json.loads(i["doc"])["tenant_id"], json.loads(i["doc"])["id"]) for i in self.items(("subscription",))]


def record(template: dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    """One SQS record as the Lambda poller hands it over, from a received message (as the tests' ``sqs_event``)."""
    return {
        **template,
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "md5OfBody": m["MD5OfBody"],
        "attributes": {**template["attributes"], **m.get("Attributes", {})},
    }


# --- one run's figures ----------------------------------------------------------------------------------------------
@dataclass
class Run:
    label: str
    at: datetime
    fanned_out: int = 0
    sweep_seconds: float = 0.0
    worker_seconds: float = 0.0
    handler_seconds: list[float] = field(default_factory=list)
    failed: int = 0
    batches: list[list[str]] = field(default_factory=list)
    sweep_calls: list[Recorded] = field(default_factory=list)
    worker_calls: list[Recorded] = field(default_factory=list)
    poller_calls: list[Recorded] = field(default_factory=list)
    invoices: int = 0  # made by this run, counted from the table afterwards

    def dynamo(self, which: list[Recorded]) -> list[Recorded]:
        return [c for c in which if c.call.service == "dynamodb"]

    def transactions(self) -> list[Recorded]:
        return [c for c in self.worker_calls if c.op == "TransactWriteItems"]

    def critical_section_ms(self) -> list[float]:
        """Per batch: from sending the counter's GetItem to the answer of the transaction that moves it (the time
        the tenant's counter is 'held': another worker of the tenant that reads it meanwhile will lose)."""
        spans, counter_read = [], None
        for c in self.worker_calls:
            if c.op == "GetItem" and c.call.what.startswith("Get COUNTER"):
                counter_read = c.started
            elif c.op == "TransactWriteItems" and counter_read is not None:
                spans.append((c.started + c.seconds - counter_read) * 1000)
                counter_read = None
        return spans


# --- analysis helpers ---------------------------------------------------------------------------------------------
GSIS = ("gsi1", "gsi2", "gsi3", "gsi4")


def tx_writes(r: Run) -> list[tuple[str, dict[str, Any]]]:
    """(kind, DynamoDB item or key) of every write in the run's transactions."""
    out = []
    for c in r.transactions():
        for entry in c.body["TransactItems"]:
            ((_, op),) = entry.items()
            item = op.get("Item") or op.get("Key", {})
            out.append((calls.kind_of(item), item))
    return out


def sizes_by_kind(r: Run) -> dict[str, float]:
    sizes: dict[str, list[int]] = defaultdict(list)
    for kind, item in tx_writes(r):
        sizes[kind].append(calls.item_size(item))
    return {k: statistics.mean(v) for k, v in sizes.items()}


def gsi_write_units(r: Run) -> float:
    """Index writes the transactions cause (every index projects ALL: 1 WRU per KB of the item per index entry
    written; an entry whose index key changes costs a delete of the old entry too: the subscription's billing-index
    entry moves every period)."""
    units = 0.0
    for kind, item in tx_writes(r):
        kb = max(1, math.ceil(calls.item_size(item) / 1024))
        for gsi in GSIS:
            if f"{gsi}pk" in item:
                moved = kind == "SUBSCRIPTION" and gsi == "gsi4"
                units += kb * (2 if moved else 1)
    return units


def hot_keys(r: Run, top: int = 6) -> list[tuple[str, str, int]]:
    """The partition keys (table and indexes) that the run wrote most often: (where, key, writes)."""
    counts: Counter[tuple[str, str]] = Counter()
    for _, item in tx_writes(r):
        counts[("table", item["pk"]["S"])] += 1
        for gsi in GSIS:
            if f"{gsi}pk" in item:
                counts[(gsi, item[f"{gsi}pk"]["S"])] += 1
    return [(where, key, n) for (where, key), n in counts.most_common(top)]


def shorten(key: str, names: dict[str, str]) -> str:
    for tenant_id, name in names.items():
        key = key.replace(tenant_id, name)
    return re.sub(r"(inv|sub|cus)_[0-9A-Z]{26}", r"\1_…", key)


def per(n: float, d: float) -> str:
    return f"{n / d:.2f}" if d else "·"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- a whole bench on one stack -------------------------------------------------------------------------------------
@dataclass
class Result:
    stack: str
    n: int
    setup_seconds: float
    runs: list[Run]
    duplicate: dict[str, Any]
    duplicate_calls: list[Recorded]
    next_hour: dict[str, Any]
    next_hour_calls: list[Recorded]
    redelivered_calls: list[Recorded]
    checks: list[str]
    tenant_names: dict[str, str]
    big_tenant_invoices: int


def bench(stack: Stack, n: int) -> Result:
    """Set up, run twice, check; Powertools' metrics (EMF, flushed every 100 values even when disabled) go nowhere."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _bench(stack, n)


def _bench(stack: Stack, n: int) -> Result:
    t0 = time.perf_counter()
    stack.populate(n)
    metrics.clear_metrics()
    setup = time.perf_counter() - t0
    progress(f"[{stack.label}] setup of {n} subscriptions: {setup:.1f} s")
    names = {t: ("big" if i == 0 else f"small{i}") for i, t in enumerate(stack.tenants)}

    first_at = after(START)
    first = stack.run(first_at, "period 0 (first invoices)")
    progress(f"[{stack.label}] run 1: sweep {first.sweep_seconds:.1f} s, workers {first.worker_seconds:.1f} s")
    checks = check(stack, first, 1)
    duplicate, duplicate_calls = stack.sweep_only(first_at)
    next_hour, next_hour_calls = stack.sweep_only(first_at + timedelta(hours=1))
    assert duplicate["duplicate"] is True and duplicate["fanned_out"] == 0, duplicate
    assert next_hour["duplicate"] is False and next_hour["fanned_out"] == 0, next_hour
    checks.append("the same scheduled time again: a duplicate, nothing fanned out")
    checks.append("the next hour: 0 subscriptions fanned out")
    some = list(stack.expected)[:10]
    redelivered = stack.redeliver(some)
    assert not [c for c in redelivered if c.op != "GetItem"], "a redelivered batch wrote"
    second_at = after(START.replace(month=12))  # monthly from 23 Nov 12:00 UTC: the next period starts 23 Dec
    second = stack.run(second_at, "period 1 (a month later)")
    progress(f"[{stack.label}] run 2: sweep {second.sweep_seconds:.1f} s, workers {second.worker_seconds:.1f} s")
    checks += check(stack, second, 2)
    big = sum(1 for t in first.batches for x in t if x == stack.tenants[0])
    return Result(
        stack.label,
        n,
        setup,
        [first, second],
        duplicate,
        duplicate_calls,
        next_hour,
        next_hour_calls,
        redelivered,
        dedupe(checks),
        names,
        big,
    )


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check(stack: Stack, r: Run, periods: int) -> list[str]:
    """Everything the run must have done, read back from the table."""
    n = len(stack.expected)
    assert r.fanned_out == n, f"fanned out {r.fanned_out}, expected {n}"
    assert r.failed == 0, f"{r.failed} messages failed"
    found = stack.items(("invoice", "subscription", "event"))
    invoices = [json.loads(i["doc"]) for i in found if i["type"] == "invoice"]
    subs = [json.loads(i["doc"]) for i in found if i["type"] == "subscription"]
    finalized = [i for i in found if i["type"] == "event" and i["event_type"] == "invoice.finalized"]
    assert len(invoices) == n * periods, f"{len(invoices)} invoices, expected {n * periods}"
    r.invoices = n
    by_sub: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in invoices:
        by_sub[inv["subscription_id"]].append(inv)
    assert set(by_sub) == set(stack.expected)
    for sub_id, invs in by_sub.items():
        assert sorted(i["period_index"] for i in invs) == list(range(periods)), (sub_id, invs)
        assert {i["total"] for i in invs} == {stack.expected[sub_id]}, (sub_id, [i["total"] for i in invs])
        assert all(i["status"] == "open" for i in invs)
    per_tenant: dict[str, list[str]] = defaultdict(list)
    for inv in invoices:
        per_tenant[inv["tenant_id"]].append(inv["number"])
    for tenant_id, numbers in per_tenant.items():
        want = [f"INV-2026-{k:06}" for k in range(1, len(numbers) + 1)]
        assert sorted(numbers) == want, f"tenant {tenant_id}: numbers not gapless"
        counter = stack.deps.context.repo.counter_value(tenant_id, "default", "2026")
        assert counter == len(numbers), (tenant_id, counter, len(numbers))
    assert len(subs) == n and all(s["current_period_index"] == periods for s in subs)
    assert len(finalized) == n * periods
    repo = stack.deps.context.repo
    assert sum(len(repo.subscriptions_due(s, "2100-01-01T00:00:00Z")) for s in range(keys.BILLING_SHARDS)) == n
    return [
        f"{n * periods:,} invoices for {n:,} subscriptions after {periods} run(s): exactly one per subscription "
        "and period, each with its plan's total",
        "invoice numbers gapless per tenant (INV-2026-000001 … as many as the tenant has), each tenant's counter "
        "at its count",
        f"every subscription at period {periods} (current_period_index), back on the billing index for its next run",
        f"one invoice.finalized outbox event per invoice; no batch failed; the sweep fanned out exactly {n:,}",
    ]


# --- the report ----------------------------------------------------------------------------------------------------
def ops_count(recorded: list[Recorded]) -> Counter[str]:
    return Counter(c.op for c in recorded)


def report(results: list[Result]) -> str:
    parts = [
        f"Machine: {machine()}. Subscriptions: 90 % on one tenant (`big`), 10 % over 9 small ones; a monthly flat "
        "plan (49.00) for all, plus a per-seat plan (12.00 × 1–5) for half; all created at the same instant, so "
        "every one is due in the same hourly run. The sweep and the invoice worker are their real handlers; the "
        "queue is drained as Lambda's poller does (ReceiveMessage ≤ 10, handler, DeleteMessageBatch), one batch at "
        "a time."
    ]
    rows = []
    for res in results:
        for r in res.runs:
            handler = sum(r.handler_seconds)
            rows.append(
                [
                    res.stack,
                    f"{res.n:,}",
                    r.label,
                    f"{r.fanned_out:,}",
                    f"{r.sweep_seconds:.2f}",
                    f"{handler:.1f}",
                    f"{r.worker_seconds - handler:.1f}",
                    f"{r.sweep_seconds + r.worker_seconds:.1f}",
                    f"{r.invoices / handler:.0f}",
                    f"{r.invoices / (r.sweep_seconds + r.worker_seconds):.0f}",
                    f"{statistics.median(r.handler_seconds) * 1000:.0f}",
                ]
            )
    parts.append("**Wall time** (seconds; one worker, batches one after another):")
    parts.append(
        table(
            [
                "stack",
                "subscriptions",
                "run",
                "fanned out",
                "sweep s",
                "worker handler s",
                "poller s",
                "total s",
                "invoices/s (handler)",
                "invoices/s (total)",
                "median batch ms",
            ],
            rows,
            "lllrrrrrrrr",
        )
    )
    parts.append(
        "`worker handler s`: the invoice worker's handler, summed over batches; `poller s`: the ReceiveMessage and "
        "DeleteMessageBatch calls around it (Lambda's poller makes them, not the function); `invoices/s (total)` "
        "counts the sweep and the poller too."
    )

    # calls per invoice
    order = ["GetItem", "Query", "TransactWriteItems", "PutItem", "UpdateItem"]
    rows = []
    for res in results:
        for r in res.runs:
            dyn = r.dynamo(r.worker_calls)
            counts = ops_count(dyn)
            txs = r.transactions()
            sizes = [len(c.body["TransactItems"]) for c in txs]
            rru = sum(c.call.read_units for c in dyn)
            wru = sum(c.call.write_units for c in dyn)
            rows.append(
                [
                    res.stack,
                    r.label,
                    *[per(counts.get(o, 0), r.invoices) for o in order],
                    per(len(dyn), r.invoices),
                    f"{statistics.mean(sizes):.1f} ({min(sizes)}–{max(sizes)})" if sizes else "·",
                    per(rru, r.invoices),
                    per(wru, r.invoices),
                    per(gsi_write_units(r), r.invoices),
                    sum(1 for c in dyn if c.error),
                ]
            )
    parts.append("**DynamoDB calls per invoice** (the invoice worker; the sweep is below):")
    parts.append(
        table(
            ["stack", "run", *order, "all", "items per Tx (min–max)", "≈RRU", "≈WRU", "≈GSI WRU", "errors"],
            rows,
            "ll" + "r" * 11,
        )
    )
    parts.append(
        "≈RRU/≈WRU as in section 2 (GetItem 1 RRU per 4 KB strongly consistent, 0.5 eventually; transactional "
        "writes 2 WRU per KB per item). ≈GSI WRU: what the indexes add (all four project ALL: 1 WRU per KB per "
        "index entry written, 2 for an entry that moves: the subscription's billing-index entry). `errors`: calls "
        "refused (a lost optimistic lock would show here)."
    )

    res = results[0]
    r = res.runs[0]
    groups = Counter(len(set(b)) for b in r.batches)
    txs = r.transactions()
    biggest = max(len(c.body["TransactItems"]) for c in txs)
    typical = next(
        (
            batch
            for batch in split_batches(r.worker_calls)
            if [len(c.body["TransactItems"]) for c in batch if c.op == "TransactWriteItems"] == [biggest]
        ),
        None,
    )
    sizes = sizes_by_kind(r)
    parts.append(f"**One batch in detail** ({res.stack}, {r.label}: ten subscriptions of one tenant):")
    if typical:
        parts.append("`" + calls.collapse([c.call.what for c in typical]) + "`")
    parts.append(
        f"Batches: {len(r.batches):,} of ≤ 10 messages; tenants per batch: "
        + ", ".join(f"{k} tenant{'s' if k > 1 else ''} × {v:,}" for k, v in sorted(groups.items()))
        + f" (the sweep sends a shard's subscriptions in index order: due time, then tenant). "
        f"Transactions: {len(txs):,} = counter moves, one per tenant per batch. Mean item sizes written: "
        + ", ".join(f"{k} {v:,.0f} B" for k, v in sorted(sizes.items()))
        + "."
    )
    crit = r.critical_section_ms()
    inside = sum(c.seconds for c in r.worker_calls)
    handler = sum(r.handler_seconds)
    parts.append(
        f"Where the worker's time goes ({res.stack}, {r.label}): {inside / handler:.0%} inside the AWS calls "
        f"(moto, botocore), {1 - inside / handler:.0%} in our code and Powertools "
        f"({(handler - inside) / len(r.batches) * 1000:.1f} ms per batch). The tenant's counter is held (its "
        f"GetItem sent → the transaction's answer) {statistics.median(crit):.1f} ms per batch (median; "
        f"{ms(sum(crit) / 1000 / len(crit))} ms mean), of which {crit_cpu(r):.1f} ms is our code between the read "
        "and the transaction."
    )

    # sweep
    rows = []
    for res in results:
        for label, recorded, note in [
            *[(f"sweep, {r.label}", r.sweep_calls, f"{r.fanned_out:,} fanned out") for r in res.runs],
            ("same scheduled time again", res.duplicate_calls, "duplicate"),
            ("the next hour", res.next_hour_calls, f"{res.next_hour['fanned_out']} fanned out"),
            ("a batch of 10 redelivered", res.redelivered_calls, "nothing written"),
        ]:
            dyn = [c for c in recorded if c.call.service == "dynamodb"]
            sqs = [c for c in recorded if c.call.service == "sqs"]
            queried = sum(int(m.group(1)) for c in dyn if (m := re.search(r"\((\d+) items\)", c.call.what)))
            rows.append(
                [
                    res.stack,
                    label,
                    note,
                    *[ops_count(dyn).get(o, 0) or "·" for o in ("GetItem", "Query", "PutItem")],
                    f"{queried:,}" if queried else "·",
                    len(sqs) or "·",
                    f"{sum(c.seconds for c in recorded if c.op == 'Query') * 1000:.0f}",
                    f"{sum(c.seconds for c in sqs) * 1000:.0f}",
                ]
            )
    parts.append("**The sweep and the duplicates:**")
    parts.append(
        table(
            [
                "stack",
                "call",
                "answer",
                "GetItem",
                "Query",
                "PutItem",
                "index entries read",
                "SQS SendMessageBatch",
                "Query ms",
                "SQS ms",
            ],
            rows,
            "lll" + "r" * 7,
        )
    )
    rows = []
    for res in results:
        for r in res.runs:
            poller = ops_count(r.poller_calls)
            rows.append(
                [
                    res.stack,
                    r.label,
                    f"{ops_count(r.sweep_calls).get('SendMessageBatch', 0):,}",
                    f"{poller.get('ReceiveMessage', 0):,}",
                    f"{poller.get('DeleteMessageBatch', 0):,}",
                    per(
                        ops_count(r.sweep_calls).get("SendMessageBatch", 0)
                        + poller.get("ReceiveMessage", 0)
                        + poller.get("DeleteMessageBatch", 0),
                        r.invoices,
                    ),
                ]
            )
    parts.append("**SQS requests:**")
    parts.append(
        table(
            ["stack", "run", "SendMessageBatch (sweep)", "ReceiveMessage", "DeleteMessageBatch", "per invoice"],
            rows,
            "llrrrr",
        )
    )
    res = results[0]
    parts.append(
        f"**Most-written partition keys** ({res.stack}, {res.runs[0].label}; `big` = the tenant with "
        f"{res.big_tenant_invoices:,} of the {res.runs[0].invoices:,} invoices):"
    )
    parts.append(
        table(
            ["where", "partition key", "writes in the run"],
            [[w, f"`{shorten(k, res.tenant_names)}`", f"{c:,}"] for w, k, c in hot_keys(res.runs[0])],
            "llr",
        )
    )
    for res in results:
        parts.append(f"**Checks, {res.stack}** ({res.n:,} subscriptions, setup {res.setup_seconds:.0f} s not counted):")
        parts.append("\n".join(f"- ✓ {c}" for c in res.checks))
    return "\n\n".join(parts)


def split_batches(recorded: list[Recorded]) -> list[list[Recorded]]:
    """The worker's calls cut per batch: each batch starts with the tenant's GetItem."""
    batches: list[list[Recorded]] = []
    for c in recorded:
        if c.call.what.startswith("Get TENANT") and (
            not batches or any(x.op == "TransactWriteItems" for x in batches[-1])
        ):
            batches.append([])
        if batches:
            batches[-1].append(c)
    return batches


def crit_cpu(r: Run) -> float:
    """Median ms between the counter GetItem's answer and sending the transaction (our code, in the window)."""
    gaps, read_done = [], None
    for c in r.worker_calls:
        if c.op == "GetItem" and c.call.what.startswith("Get COUNTER"):
            read_done = c.started + c.seconds
        elif c.op == "TransactWriteItems" and read_done is not None:
            gaps.append((c.started - read_done) * 1000)
            read_done = None
    return statistics.median(gaps) if gaps else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="subscriptions on moto in-process (default 10,000)")
    parser.add_argument(
        "--server-n", type=int, default=1_000, help="subscriptions on the local stack's moto server (0: skip)"
    )
    parser.add_argument(
        "--as-is-n", type=int, default=50, help="subscriptions on the moto server as the local stack runs it (0: skip)"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the moto server's line per request
    results = []
    with mock_aws(), fast_moto():
        try:
            results.append(bench(Stack("in-process moto"), args.n))
        finally:
            bootstrap.use(None)
    for label, n, fast in [("moto server", args.server_n, True), ("moto server, as is", args.as_is_n, False)]:
        if not n:
            continue
        server = local_aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        try:
            with fast_moto() if fast else contextlib.nullcontext():
                results.append(bench(Stack(label), n))
        finally:
            bootstrap.use(None)
            os.environ.pop("AWS_ENDPOINT_URL", None)
            server.stop()
    body = report(results)
    print(body)
    if not args.no_doc:
        update("bench.billing_run", body)


if __name__ == "__main__":
    main()
