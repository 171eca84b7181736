"""A billing run of N subscriptions (default 10,000; ``-n 100000`` and several sizes at once supported), all due in
the same hourly run: wall time per phase, DynamoDB and SQS calls per invoice, the numbering writer's counter moves
(numbers per move, hold time), the most-written keys, and checks that every subscription got exactly one gaplessly
numbered invoice and that nothing was lost.

Setup (not measured): 10 tenants (90 % of the subscriptions on one, the rest over 9 small ones), each with a monthly
flat plan and a monthly per-seat plan through the services; N customers and N subscriptions by ``fast_setup``: the
same domain objects and repository calls as ``customers.create_customer`` and ``subscriptions.create_subscription``,
their writes put straight into moto's table (``Stack.check_fast_setup`` holds them to the services' items at 10).

Measured: the hourly sweep through its handler (``functions.billing_run.app``), then ``Stack.drain``: every SQS event
source of template.yaml whose queue the run fills, handed to its function's handler as Lambda's poller would
(ReceiveMessage ≤ 10 with a FIFO queue's MessageGroupId in the attributes, DeleteMessageBatch of what succeeded), and
the table's stream through the relay's filter to ``functions.outbox_relay``, until nothing moves; the relay's
downstream queues (notifications, collections, documents, webhooks) are counted and emptied. One or two periods
(``--periods``); then the same scheduled time again (a duplicate), the next hour (nothing due) and a redelivered
batch.

Three stacks: moto in-process (``mock_aws``) with N subscriptions; the local stack's moto server with a smaller N;
that server as it comes with a smaller N still. The first two run inside ``fast_moto``: moto's costs that grow with
the table or the queue (PATCHED) replaced, inside this script only. Calls are counted with bench/dynamodb_calls.py's
``Recorder``, fed after the timed part from a tape of the botocore hooks.

    python -m bench.billing_run [-n 10000 ...] [--periods 1|2] [--server-n 1000] [--as-is-n 50] [--profile F] [--no-doc]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib
import inspect
import io
import json
import logging
import math
import os
import re
import statistics
import sys
import threading
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
from moto.dynamodb.models.table import StreamShard, Table

import bench.dynamodb_calls as calls  # sets the environment (region, fake keys, quiet Powertools) on import
from bench._doc import machine, table, update
from billing import bootstrap
from billing.adapters import keys
from billing.adapters.clock import FixedClock
from billing.adapters.dynamodb import DynamoStore, from_item
from billing.adapters.repository import Repository
from billing.domain.ids import new_id
from billing.domain.models import Customer, DomainEvent
from billing.domain.plans import PlanRequest
from billing.domain.subscriptions import Subscription, SubscriptionItem
from billing.observability import metrics
from billing.services import customers, invoice_numbering, outbox, subscriptions, tenants
from billing.services.commands import CreateCustomer
from billing.services.unit import Context
from infra.local import aws as local_aws
from infra.local import patterns
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
# What each patch replaces (moto 5.2.5, in this process, inside ``fast_moto`` only), for the report.
PATCHED = [
    "TransactWriteItems: the rollback point is a copy of the items the transaction names and the stream's length "
    "(moto deep-copies the whole table once per item of the transaction)",
    "Query on the table: the items of its one partition (moto lists and sorts every item of the table first)",
    "Query on an index: the items whose index partition key is the one asked, from a map of index key → item keys "
    "kept up to date from every write's stream record (moto goes through every item of the table: no index)",
    "SQS SendMessage/ReceiveMessage: without the queue's three approximate counts (a pass over every message each, "
    "not part of the answer); ReceiveMessage takes the visible messages lazily",
    "pure functions that moto and botocore work out again on every request, remembered: moto's "
    "`camelcase_to_underscores` (≈ 15 calls per SQS request for the queue's attribute names) and its list of a "
    "response class's methods (`method_names_from_class`, an `inspect` pass per request), botocore's "
    "`sanitize_user_agent_string_component` (≈ 90 calls per request for the same User-Agent)",
]


@contextlib.contextmanager
def remembered() -> Any:
    """The pure functions of PATCHED's last line behind a cache, in every module that imported them, undone on exit."""
    import botocore.useragent as useragent
    import moto.core.responses as moto_responses
    import moto.core.utils as moto_utils

    swaps = []
    for module, name in [
        (moto_utils, "camelcase_to_underscores"),
        (moto_responses, "method_names_from_class"),
        (useragent, "sanitize_user_agent_string_component"),
    ]:
        real = getattr(module, name)
        if hasattr(real, "cache_info"):
            continue  # the local stack's own patch (infra.local.aws.action_names_looked_up_once) is in place
        cached = functools.cache(real)
        for other in list(sys.modules.values()):
            if getattr(other, "__name__", "").startswith(("moto", "botocore")) and getattr(other, name, None) is real:
                setattr(other, name, cached)
                swaps.append((other, name, real))
    try:
        yield
    finally:
        for module, name, real in swaps:
            setattr(module, name, real)


def _index_hash_attrs(table: Table) -> dict[str, str]:
    """Index name → its partition key attribute."""
    return {
        index.name: next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
        for index in table.global_indexes
    }


def _index_map(table: Table) -> dict[tuple[str, Any], set[tuple[Any, Any]]]:
    """(index attribute, value) → the table keys of the items that had that value when written. Entries are added
    on every write and checked (and dropped when stale) when a Query reads them, so a write that changed or deleted
    an item, or a rolled-back transaction, never makes a Query answer wrong."""
    found = table.__dict__.get("bench_index")
    if found is None:
        found = table.__dict__["bench_index"] = {}
        table.__dict__["bench_index_attrs"] = set(_index_hash_attrs(table).values())
        for item in _all_items(table):
            _index_add(table, item)
    return found


def _all_items(table: Table) -> Any:
    for partition in table.items.values():
        yield from (partition.values() if table.range_key_attr else [partition])


def _index_add(table: Table, item: Any) -> None:
    index = table.__dict__.get("bench_index")
    if index is None:
        return
    for name in table.__dict__["bench_index_attrs"]:
        value = item.attrs.get(name)
        if value is not None:
            index.setdefault((name, value.value), set()).add((item.hash_key, item.range_key))


def _index_candidates(table: Table, name: str, value: Any) -> list[Any]:
    keys_ = _index_map(table).get((name, value.value))
    if not keys_:
        return []
    live, stale = [], []
    for hash_key, range_key in keys_:
        partition = table.items.get(hash_key)
        item = partition.get(range_key) if partition is not None and range_key is not None else partition
        current = item.attrs.get(name) if item is not None else None
        if current is not None and current.value == value.value:
            live.append(item)
        else:
            stale.append((hash_key, range_key))
    keys_.difference_update(stale)
    return live


@contextlib.contextmanager
def fast_moto() -> Any:
    """The patches of ``PATCHED``, undone on exit. Same answers as moto's: a cancelled transaction leaves every
    item it touched as it was and its stream records are taken back; a Query still checks and sorts, with moto's
    own code, the items it is given."""
    backend = moto_dynamodb.DynamoDBBackend
    original = backend.transact_write_items
    original_query = Table.query
    original_add = StreamShard.add
    query_signature = inspect.signature(original_query)

    query_lock = threading.Lock()

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        asked = query_signature.bind(self, *args, **kwargs).arguments
        index_name = asked.get("index_name")
        conditions = asked.get("hash_key_conditions") or []
        hash_key = asked["hash_key"]
        if index_name and len(conditions) == 1 and conditions[0][1].type == "S":
            name, value = conditions[0]
            candidates = _index_candidates(self, name, value)
        elif not index_name and hash_key is not None and self.range_key_attr:
            candidates = list(self.items.get(hash_key, {}).values())
        else:
            return original_query(self, *args, **kwargs)
        candidates.sort(key=lambda i: (i.hash_key, i.range_key))  # moto's order of the table's items
        with query_lock:  # parallel Queries (a sharded list, the run's start) would share the instance's override
            self.all_items = lambda: candidates  # the instance's, for this call: what the query goes through
            try:
                return original_query(self, *args, **kwargs)
            finally:
                del self.all_items

    def add(self: Any, old: Any, new: Any) -> None:
        original_add(self, old, new)
        if new is not None:
            _index_add(self.table, new)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved, streams = [], []
        for entry in transact_items:
            ((_, op),) = entry.items()
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") or op.get("Key", {})
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
            if table.stream_shard is not None and all(table is not t for t, _ in streams):
                streams.append((table, len(table.stream_shard.items)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                where, key = (table.items[hash_key], range_key) if range_key else (table.items, hash_key)
                if item is None:
                    where.pop(key, None)
                else:
                    where[key] = item
                    _index_add(table, item)
            for table, length in streams:
                del table.stream_shard.items[length:]
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
    StreamShard.add = add
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
        with remembered():
            yield
    finally:
        backend.transact_write_items = original
        moto_dynamodb.copy = copy
        Table.query = original_query
        StreamShard.add = original_add
        for name, real in counts.items():
            setattr(sqs_models.Queue, name, real)
        sqs_models.Queue.messages = original_messages
        for name, method in sqs_originals.items():
            setattr(sqs_backend, name, method)


# --- recording ----------------------------------------------------------------------------------------------------
@dataclass
class Tape:
    """botocore hooks that keep what each call carried and when; ``grab()`` takes what was taped so far and
    ``recorded()`` hands it to ``calls.Recorder`` (after the timed part)."""

    on: bool = False
    entries: list[tuple[float, str, Any, Any]] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{service}.*", self._before)
        client.meta.events.register(f"after-call.{service}.*", self._after)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.on:
            self.entries.append((time.perf_counter(), "before", model, params, threading.get_ident()))

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self.on:
            self.entries.append((time.perf_counter(), "after", model, parsed, threading.get_ident()))

    def grab(self) -> list[tuple[float, str, Any, Any]]:
        entries, self.entries = self.entries, []
        return entries

    def take(self) -> list[Recorded]:
        return recorded(self.grab())


def recorded(entries: list[tuple[float, str, Any, Any]]) -> list[Recorded]:
    """The taped calls through ``calls.Recorder`` (operation, what, request units); a BatchGetItem is named by the
    kinds of the items it asks for and its read units counted from what came back (strongly consistent)."""
    recorder, out = calls.Recorder(on=True), []
    open_calls: dict[int, Recorded] = {}  # per thread: calls made at once (billing.adapters.dynamodb.in_parallel)
    for at, kind, model, payload, thread in entries:
        dynamo = model.service_model.service_name == "dynamodb"
        if kind == "before":
            recorder.before(model=model, params=payload)
            recorder.pending.clear()
            body = json.loads(payload["body"] or b"{}") if dynamo else {}
            out.append(Recorded(recorder.calls[-1], body, at))
            open_calls[thread] = out[-1]
            if dynamo and model.name == "BatchGetItem":
                asked = [k for t in body["RequestItems"].values() for k in t["Keys"]]
                out[-1].call.what = f"BatchGet[{len(asked)}: {calls.collapse([calls.kind_of(k) for k in asked])}]"
            if dynamo and model.name == "BatchWriteItem":
                puts = [w.get("PutRequest", {}).get("Item", {}) for t in body["RequestItems"].values() for w in t]
                out[-1].call.what = f"BatchWrite[{len(puts)}: {calls.collapse([calls.kind_of(i) for i in puts])}]"
                out[-1].call.write_units = sum(max(1, math.ceil(calls.item_size(i) / 1024)) for i in puts)
        else:
            mine = open_calls.pop(thread)
            if dynamo:
                recorder.pending[threading.get_ident()] = mine.call
                recorder.after(model=model, parsed=payload)
                if model.name == "BatchGetItem":
                    got = [i for items in payload.get("Responses", {}).values() for i in items]
                    mine.call.read_units = sum(max(1, math.ceil(calls.item_size(i) / 4096)) for i in got)
            mine.seconds = at - mine.started
            mine.error = (payload.get("Error") or {}).get("Code", "")
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
@dataclass
class QueueSource:
    """An SQS event source of template.yaml: its queue and the function Lambda's poller hands its batches to."""

    queue: str  # logical id
    url: str
    arn: str
    function: str
    batch_size: int
    fifo: bool


@dataclass
class StreamSource:
    function: str
    batch_size: int
    filters: list[dict[str, Any]]

    def passes(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(patterns.matches(f, record) for f in self.filters)


class Capture(DynamoStore):
    """A store whose commits keep the transaction's writes instead of sending them (the fast setup)."""

    def __init__(self, table: str) -> None:
        super().__init__(None, table)
        self.ops: list[dict[str, Any]] = []

    def commit(self, tx: Any) -> None:
        self.ops.extend(tx.items)


class Stack:
    """Every table and queue of template.yaml (``infra.local.aws.provision``), the functions' environment (all of
    them in one, as the local runtime does), their SQS and stream event sources, a fixed clock, the tapes."""

    def __init__(self, label: str) -> None:
        self.label = label
        template = tpl.load()
        stage = "bench-" + re.sub(r"[^a-z0-9]+", "-", label).strip("-")
        self.provisioned = local_aws.provision(template, stage)
        self.table = self.provisioned.refs["Table"]
        functions = {f.logical_id: f for f in tpl.functions(template)}
        env: dict[str, str] = {}
        for function in functions.values():
            resolved = tpl.resolve(function.environment, self.provisioned.refs, self.provisioned.attrs)
            env.update({k: str(v) for k, v in resolved.items()})
        self.env = {**os.environ, **env}
        os.environ.update(env)  # Powertools reads its settings at import
        self.modules = {fid: f for fid, f in functions.items()}
        arn_to_queue = {self.provisioned.attrs[(q, "Arn")]: q for q in self.provisioned.queue_urls}
        self.queues: list[QueueSource] = []
        self.streams: list[StreamSource] = []
        for fid, function in functions.items():
            for event in function.events.values():
                props = tpl.resolve(event.get("Properties", {}), self.provisioned.refs, self.provisioned.attrs)
                if event["Type"] == "SQS":
                    queue = arn_to_queue[props["Queue"]]
                    fifo = bool(template["Resources"][queue]["Properties"].get("FifoQueue"))
                    url = self.provisioned.queue_urls[queue]
                    self.queues.append(
                        QueueSource(queue, url, props["Queue"], fid, int(props.get("BatchSize", 10)), fifo)
                    )
                elif event["Type"] == "DynamoDB" and props["Stream"] == self.provisioned.stream_arns["Table"]:
                    filters = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
                    self.streams.append(StreamSource(fid, int(props.get("BatchSize", 100)), filters))
        # The relay's standard queues act on a finalized invoice after the run (emails, documents, webhooks,
        # collections): their messages are counted, not consumed. The FIFO numbering queue is part of the run.
        self.downstream = {self.env[q] for q in outbox.ROUTES if q not in outbox.FIFO_GROUPS}
        self.run_queues = [q for q in self.queues if q.url not in self.downstream]
        self.clock = FixedClock(START)
        self.deps = bootstrap.Deps(env=self.env)
        self.deps.__dict__["clock"] = self.clock  # as the tests' deps fixture does
        bootstrap.use(self.deps)
        self.tape, self.poller_tape = Tape(), Tape()  # the handlers' clients; the poller's own SQS calls
        self.tape.attach(self.deps.context.repo.store.client)
        self.tape.attach(self.deps.publisher.client)
        if self.deps.event_bus is not None:
            self.tape.attach(self.deps.event_bus.client)
        self.sqs = boto3.client("sqs")
        self.poller_tape.attach(self.sqs)
        self.handlers: dict[str, Any] = {}
        self.tenants: list[str] = []
        self.expected: dict[str, int] = {}  # subscription id -> its invoice total
        self.moves: list[invoice_numbering.Move] = []
        self.downstream_counts: dict[str, int] = {}
        self.delivered = 0  # subscriptions the billing queue's messages named (a paged sweep's fan-out)
        real = invoice_numbering.number_group

        def number_group(*args: Any, **kwargs: Any) -> Any:  # the moves' figures (the handler logs only counts)
            outcome = real(*args, **kwargs)
            self.moves += outcome.moves
            return outcome

        invoice_numbering.number_group = number_group

    def handler(self, fid: str) -> Any:
        if fid not in self.handlers:
            function = self.modules[fid]
            self.handlers[fid] = getattr(importlib.import_module(function.module), function.handler)
        return self.handlers[fid]

    def moto_table(self) -> Any:
        return moto_dynamodb.dynamodb_backends[local_aws.ACCOUNT][local_aws.REGION].get_table(self.table)

    def moto_queue(self, url: str) -> Any:
        return sqs_models.sqs_backends[local_aws.ACCOUNT][local_aws.REGION].queues[url.rstrip("/").rpartition("/")[2]]

    # setup: not measured
    def populate(self, n: int) -> None:
        """Tenants and plans through the services; customers and subscriptions by ``fast_setup``."""
        big = round(n * BIG_SHARE)
        shares = [big] + [(n - big) // (TENANTS - 1) + (1 if i < (n - big) % (TENANTS - 1) else 0) for i in range(9)]
        k = 0
        for t, share in enumerate(shares):
            tenant, plans = self.tenant_with_plans("Big Co" if t == 0 else f"Small Co {t}")
            self.tenants.append(tenant.id)
            ops: list[dict[str, Any]] = []
            for _ in range(share):
                customer_cmd, sub_cmd, total = commands(k, plans)
                ops += fast_setup(self.clock, self.table, tenant, plans, customer_cmd, sub_cmd, self.expected, total)
                k += 1
                if len(ops) > 5000:
                    self.write(ops)
                    ops = []
            self.write(ops)
        self.forget_stream()

    def tenant_with_plans(self, name: str) -> tuple[Any, dict[str, Any]]:
        ctx = self.deps.context
        tenant, _ = tenants.create_tenant(ctx, name)
        pro = subscriptions.create_plan(ctx, tenant.id, PlanRequest.model_validate(FLAT))
        seats = subscriptions.create_plan(ctx, tenant.id, PlanRequest.model_validate(SEATS))
        return ctx.repo.tenant(tenant.id), {"pro": pro, "seats": seats}

    def write(self, ops: list[dict[str, Any]]) -> None:
        """The captured writes, straight into moto's table (each a Put of a new item)."""
        table = self.moto_table()
        for op in ops:
            ((kind, body),) = op.items()
            assert kind == "Put", op
            table.put_item(body["Item"])

    def forget_stream(self) -> None:
        """The setup's stream records are not the run's: the relay starts after them."""
        shard = self.moto_table().stream_shard
        if shard is not None:
            del shard.items[:]

    def check_fast_setup(self, n: int = 10) -> str:
        """``n`` customers and subscriptions through the services and ``n`` through ``fast_setup`` with the same
        commands, on a tenant of their own: the items must be the same, field by field, but for the ids."""
        ctx = self.deps.context
        tenant, plans = self.tenant_with_plans("Check Co")
        before = {id(i) for i in _all_items(self.moto_table())}
        translate: dict[str, str] = {}
        for k in range(n):
            customer_cmd, sub_cmd, _ = commands(k, plans)
            cus = customers.create_customer(ctx, tenant.id, customer_cmd)
            cmd = subscriptions.CreateSubscription.model_validate({"customer_id": cus.id, **sub_cmd})
            sub = subscriptions.create_subscription(ctx, tenant.id, cmd)
            translate[cus.id], translate[sub.id] = f"cus#{k}", f"sub#{k}"
        by_services = [i for i in _all_items(self.moto_table()) if id(i) not in before]
        before |= {id(i) for i in by_services}
        made: dict[str, int] = {}
        ops: list[dict[str, Any]] = []
        for k in range(n):
            customer_cmd, sub_cmd, total = commands(k, plans)
            ops += fast_setup(self.clock, self.table, tenant, plans, customer_cmd, sub_cmd, made, total)
        self.write(ops)
        fast = [i for i in _all_items(self.moto_table()) if id(i) not in before]
        ids = [i for i in made]  # subscription ids in order; their customers from the items
        for k, sub_id in enumerate(ids):
            translate[sub_id] = f"sub#{k}"
        for item in fast:
            attrs = item.to_json()["Attributes"]
            if attrs.get("type", {}).get("S") == "subscription":
                doc = json.loads(attrs["doc"]["S"])
                translate[doc["customer_id"]] = translate[doc["id"]].replace("sub#", "cus#")
        table = self.moto_table()  # the check's tenant goes: its subscriptions are not the run's
        for item in [i for i in _all_items(table) if tenant.id in i.hash_key.value]:
            table.delete_item(item.hash_key, item.range_key)
        self.forget_stream()

        def normal(items: list[Any]) -> list[str]:
            out = []
            for item in items:
                text = json.dumps(item.to_json()["Attributes"], sort_keys=True)
                text = re.sub(r"(?:cus|sub)_[0-9A-Za-z]{26}", lambda m: translate.get(m.group(0), "?"), text)
                text = re.sub(r"evt_[0-9A-Za-z]{26}", "evt_…", text)
                # a sharded list's shard is worked out from the id (keys.list_shard): it goes with the id
                out.append(re.sub(r'("gsi\dpk": \{"S": "[^"]*#)[0-9]+"', r'\1k"', text))
            return sorted(out)

        a, b = normal(by_services), normal(fast)
        assert len(a) == len(b) and "?" not in "".join(a + b), (len(a), len(b))
        for x, y in zip(a, b, strict=True):
            assert x == y, f"fast setup differs from the services:\n{x}\n{y}"
        kinds = Counter(json.loads(x)["sk"]["S"].split("#")[0] for x in a)
        return (
            f"fast setup writes what the services write: {n} customers and {n} subscriptions through "
            f"`customers.create_customer` / `subscriptions.create_subscription` and {n} of each by the bench's "
            f"fast path, {len(a)} items each ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
            "identical field by field but for the ids (and the list shards worked out from them)"
        )

    # the run: measured
    def run(self, when: datetime, label: str) -> Run:
        self.clock.at = when
        out = Run(label, when)
        event = {**calls.sample("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
        self.tape.grab(), self.poller_tape.grab()
        self.moves.clear()
        self.downstream_counts = {}
        self.tape.on = True
        t0 = time.perf_counter()
        swept = self.handler("BillingRunFunction")(event, calls.LambdaContext())
        out.sweep_seconds = time.perf_counter() - t0
        self.tape.on = False
        out.sweep_calls = self.tape.take()
        self.delivered = 0
        out.phases = self.drain()
        out.fanned_out = swept.get("fanned_out", self.delivered)  # a paged sweep answers with its shards
        out.moves = list(self.moves)
        out.downstream = dict(self.downstream_counts)
        return out

    def drain(self) -> dict[str, Phase]:
        """Every queue of the run and the table's stream until nothing moves: each SQS event source's batches (as
        Lambda's poller: ReceiveMessage ≤ 10 with the FIFO group in the attributes, the handler, DeleteMessageBatch
        of what succeeded), the stream's new records through the filters to the relay (≤ its batch size), then the
        relay's downstream queues counted and emptied."""
        phases: dict[str, Phase] = {}
        self.started, self.polls = time.perf_counter(), 0
        while True:
            moved = 0
            for source in self.run_queues:
                phase = phases.setdefault(source.function, Phase(source.function, source.queue))
                while self.visible(source.url):
                    moved += self.poll(source, phase)
            for source in self.streams:
                phase = phases.setdefault(source.function, Phase(source.function, "Table stream"))
                moved += self.relay(source, phase)
            for url in self.downstream:
                queue = self.moto_queue(url)
                if queue._messages:
                    name = next(q for q, u in self.provisioned.queue_urls.items() if u == url)
                    self.downstream_counts[name] = self.downstream_counts.get(name, 0) + len(queue._messages)
                    queue._messages.clear()
            if not moved:
                break
        for phase in phases.values():
            phase.calls = recorded(phase.raw)
            phase.poller_calls = recorded(phase.poller_raw)
            phase.raw = phase.poller_raw = []
        return phases

    def visible(self, url: str) -> bool:
        return any(True for _ in self.moto_queue(url).messages)

    def poll(self, source: QueueSource, phase: Phase) -> int:
        self.poller_tape.on = True
        p0 = time.perf_counter()
        got = self.sqs.receive_message(
            QueueUrl=source.url,
            MaxNumberOfMessages=min(10, source.batch_size),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        phase.poller_seconds += time.perf_counter() - p0
        messages = got.get("Messages", [])
        self.polls += 1
        if self.polls % 1000 == 0:
            progress(
                f"[{self.label}] {time.perf_counter() - self.started:.0f} s: {source.function} "
                f"{phase.messages:,} messages, {len(self.moves):,} counter moves"
            )
        if not messages:
            self.poller_tape.on = False
            phase.poller_raw += self.poller_tape.grab()
            return 0
        records = [sqs_record(source, m) for m in messages]
        self.tape.on = True
        h0 = time.perf_counter()
        answer = self.handler(source.function)({"Records": records}, calls.LambdaContext())
        phase.handler_seconds.append(time.perf_counter() - h0)
        self.tape.on = False
        phase.raw += self.tape.grab()
        failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
        phase.failed += len(failed)
        phase.messages += len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        p0 = time.perf_counter()
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            self.sqs.delete_message_batch(QueueUrl=source.url, Entries=entries)
        phase.poller_seconds += time.perf_counter() - p0
        self.poller_tape.on = False
        phase.poller_raw += self.poller_tape.grab()
        if source.queue == "BillingQueue":
            bodies = [json.loads(m["Body"]) for m in messages]
            # a tenant per subscription billed (a message packs up to 8 of one tenant): the batch's tenants, and
            # how many invoices each
            ids = [(b.get("tenant_id", ""), b.get("subscription_ids") or [b.get("subscription_id")]) for b in bodies]
            phase.batches.append([tenant for tenant, subs in ids for _ in subs])
            self.delivered += sum(len(b.get("subscription_ids") or [b.get("subscription_id")]) for b in bodies)
        if failed:
            raise RuntimeError(f"{source.function}: {len(failed)} message(s) failed")
        return len(messages)

    def relay(self, source: StreamSource, phase: Phase) -> int:
        """The stream's records since the last read, those the filters pass in batches of the mapping's size (the
        stream is read from moto's shard in this process, as infra.local.aws.stream_records does; read records are
        dropped from the shard to keep memory flat)."""
        shard = self.moto_table().stream_shard
        p0 = time.perf_counter()
        new = [r.record for r in shard.items]
        del shard.items[:]
        records = [{**r, "eventSourceARN": self.provisioned.stream_arns["Table"]} for r in new if source.passes(r)]
        phase.poller_seconds += time.perf_counter() - p0
        phase.stream_records += len(new)
        for start in range(0, len(records), source.batch_size):
            batch = records[start : start + source.batch_size]
            self.tape.on = True
            h0 = time.perf_counter()
            answer = self.handler(source.function)({"Records": batch}, calls.LambdaContext())
            phase.handler_seconds.append(time.perf_counter() - h0)
            self.tape.on = False
            phase.raw += self.tape.grab()
            phase.messages += len(batch)
            failed = (answer or {}).get("batchItemFailures", [])
            if failed:
                raise RuntimeError(f"{source.function}: {len(failed)} record(s) failed")
        return len(records)

    def sweep_only(self, when: datetime) -> tuple[dict[str, Any], list[Recorded]]:
        self.clock.at = when
        event = {**calls.sample("scheduler_billing_run.json"), "scheduled_time": when.isoformat()}
        self.tape.grab()
        self.tape.on = True
        try:
            answer = self.handler("BillingRunFunction")(event, calls.LambdaContext())
            taken = self.tape.take()
        finally:
            self.tape.on = False
        self.delivered = 0
        self.drain()  # a paged sweep's pages fan out through their own queue
        return {**answer, "fanned_out": answer.get("fanned_out", self.delivered)}, taken

    def redeliver(self, subscription_ids: list[str]) -> list[Recorded]:
        """A batch of messages the worker already processed, delivered again (SQS is at least once)."""
        source = next(q for q in self.run_queues if q.queue == "BillingQueue")
        tenant_of = {sid: t for t, sid in self.subscription_tenants()}
        template = calls.sample("sqs_billing.json")["Records"][0]
        messages = [
            {
                "MessageId": f"again-{i}",
                "ReceiptHandle": f"again-{i}",
                "Body": json.dumps({"tenant_id": tenant_of[s], "subscription_id": s}),
                "MD5OfBody": "",
                "Attributes": {**template["attributes"], "ApproximateReceiveCount": "2"},
            }
            for i, s in enumerate(subscription_ids)
        ]
        self.tape.grab()
        self.tape.on = True
        answer = self.handler(source.function)(
            {"Records": [sqs_record(source, m) for m in messages]}, calls.LambdaContext()
        )
        self.tape.on = False
        assert answer == {"batchItemFailures": []}, answer
        return self.tape.take()

    # reading back (not measured)
    def items(self, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every item of these types, read from moto's backend (a Scan on moto goes through the whole table once per
        1 MB page)."""
        out = []
        for item in _all_items(self.moto_table()):
            kind = item.attrs.get("type")
            if kind is not None and kind.value in kinds:
                out.append(from_item(item.to_json()["Attributes"]))
        return out

    def subscription_tenants(self) -> list[tuple[str, str]]:
        return [(json.loads(i["doc"])["tenant_id"], json.loads(i["doc"])["id"]) for i in self.items(("subscription",))]


def commands(k: int, plans: dict[str, Any]) -> tuple[CreateCustomer, dict[str, Any], int]:
    """The k-th customer and subscription (half with seats, a quarter ``send_invoice``) and its invoice's total."""
    customer = CreateCustomer(email=f"c{k}@example.com", name=f"Customer {k}", locale="en", currency="usd")
    items = [{"plan_id": plans["pro"].id}] + ([{"plan_id": plans["seats"].id, "quantity": 1 + k % 5}] if k % 2 else [])
    method = {"collection_method": "send_invoice", "days_until_due": 30} if k % 4 >= 2 else {}
    return customer, {"items": items, **method}, 4900 + (1200 * (1 + k % 5) if k % 2 else 0)


def fast_setup(
    clock: FixedClock,
    table: str,
    tenant: Any,
    plans: dict[str, Any],
    customer_cmd: CreateCustomer,
    sub_body: dict[str, Any],
    expected: dict[str, int],
    total: int,
) -> list[dict[str, Any]]:
    """The writes of ``customers.create_customer`` and ``subscriptions.create_subscription`` for one customer and
    its subscription (no external id, coupon or tax rate: what this bench's commands use), built with the same
    domain objects and repository calls, without the services' reads (tenant, customer, plans: known here) and
    committed into a ``Capture`` instead of a TransactWriteItems each. ``Stack.check_fast_setup`` holds it to the
    services' items."""
    ctx = Context(repo=Repository(Capture(table)), clock=clock)
    now = clock.now()
    customer = Customer(id=new_id("cus", now), tenant_id=tenant.id, created_at=now, **customer_cmd.model_dump())
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, customer)
    ctx.repo.index_customer_email(tx, customer)
    event = DomainEvent.new("customer.created", tenant.id, "customer", customer.id, now)
    ctx.repo.add_event(tx, keys.customer(tenant.id, customer.id), event)
    ctx.repo.commit(tx)
    sub_cmd = subscriptions.CreateSubscription.model_validate({"customer_id": customer.id, **sub_body})
    by_id = {p.id: p for p in plans.values()}
    chosen = [by_id[i.plan_id] for i in sub_cmd.items]
    items = [SubscriptionItem.of(p, saved.currency, i.quantity) for p, i in zip(chosen, sub_cmd.items, strict=True)]
    trial_days = sub_cmd.trial_days if sub_cmd.trial_days is not None else max(p.trial_days for p in chosen)
    sub, events = Subscription.create(
        tenant.id,
        saved.id,
        saved.currency,
        items,
        now,
        timezone=saved.timezone,
        billing_anchor=sub_cmd.billing_anchor,
        trial_days=trial_days,
        collection_method=sub_cmd.collection_method,
        days_until_due=sub_cmd.days_until_due,
        metadata=sub_cmd.metadata,
        review_reason=tenant.review_rule.reason(sub_cmd.metadata),
    )
    subscriptions._save(ctx, sub, events, None)
    expected[sub.id] = total
    return ctx.repo.store.ops


def sqs_record(source: QueueSource, m: dict[str, Any]) -> dict[str, Any]:
    """One SQS record as Lambda's poller hands it over (a FIFO queue's MessageGroupId is in its attributes)."""
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": source.arn,
        "awsRegion": local_aws.REGION,
    }


# --- one run's figures ----------------------------------------------------------------------------------------------
@dataclass
class Phase:
    """One function's part of a run: its batches' handler times, the poller's (or the stream read's) time around
    them, and the calls it made."""

    function: str
    source: str
    handler_seconds: list[float] = field(default_factory=list)
    poller_seconds: float = 0.0
    messages: int = 0
    failed: int = 0
    stream_records: int = 0
    batches: list[list[str]] = field(default_factory=list)  # the billing queue's: tenant of each message
    raw: list[Any] = field(default_factory=list)
    poller_raw: list[Any] = field(default_factory=list)
    calls: list[Recorded] = field(default_factory=list)
    poller_calls: list[Recorded] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.handler_seconds) + self.poller_seconds


@dataclass
class Run:
    label: str
    at: datetime
    fanned_out: int = 0
    sweep_seconds: float = 0.0
    sweep_calls: list[Recorded] = field(default_factory=list)
    phases: dict[str, Phase] = field(default_factory=dict)
    moves: list[Any] = field(default_factory=list)
    downstream: dict[str, int] = field(default_factory=dict)  # messages the relay left for the downstream queues
    invoices: int = 0  # made by this run, counted from the table afterwards

    def phase(self, function: str) -> Phase:
        return self.phases.get(function) or Phase(function, "")

    @property
    def worker(self) -> Phase:
        return self.phase("InvoiceWorkerFunction")

    @property
    def numbering(self) -> Phase:
        return self.phase("InvoiceNumberingFunction")

    @property
    def seconds(self) -> float:
        return self.sweep_seconds + sum(p.seconds for p in self.phases.values())

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.phases.values())

    def dynamo(self, which: list[Recorded]) -> list[Recorded]:
        return [c for c in which if c.call.service == "dynamodb"]

    def transactions(self) -> list[Recorded]:
        return [c for p in self.phases.values() for c in p.calls if c.op == "TransactWriteItems"]


# --- analysis helpers ---------------------------------------------------------------------------------------------
GSIS = ("gsi1", "gsi2", "gsi3", "gsi4")
PHASES = [  # the functions of a run, in the order the work flows (a function not in the template is left out)
    ("BillingPagesFunction", "billing pages"),
    ("InvoiceWorkerFunction", "invoice worker"),
    ("OutboxRelayFunction", "outbox relay"),
    ("InvoiceNumberingFunction", "numbering writer"),
]


def phase_name(function: str) -> str:
    return dict(PHASES).get(function, function)


def ordered(phases: dict[str, Phase]) -> list[Phase]:
    known = [f for f, _ in PHASES]
    return sorted(phases.values(), key=lambda p: known.index(p.function) if p.function in known else len(known))


def tx_writes(recorded_calls: list[Recorded]) -> list[tuple[str, dict[str, Any]]]:
    """(kind, DynamoDB item or key) of every write in these calls' transactions and batch writes."""
    out = []
    for c in recorded_calls:
        if c.op == "BatchWriteItem":  # written outside a transaction (the numbering writer's events)
            for writes in c.body["RequestItems"].values():
                out += [
                    (calls.kind_of(w["PutRequest"]["Item"]), w["PutRequest"]["Item"])
                    for w in writes
                    if "PutRequest" in w
                ]
            continue
        if c.op != "TransactWriteItems":
            continue
        for entry in c.body["TransactItems"]:
            ((_, op),) = entry.items()
            item = op.get("Item") or op.get("Key", {})
            out.append((calls.kind_of(item), item))
    return out


def sizes_by_kind(recorded_calls: list[Recorded]) -> dict[str, float]:
    sizes: dict[str, list[int]] = defaultdict(list)
    for kind, item in tx_writes(recorded_calls):
        sizes[kind].append(calls.item_size(item))
    return {k: statistics.mean(v) for k, v in sizes.items()}


def gsi_write_units(recorded_calls: list[Recorded]) -> float:
    """Index writes the transactions cause (every index projects ALL: 1 WRU per KB of the item per index entry
    written; an entry whose index key changes costs a delete of the old entry too: the subscription's billing-index
    entry moves every period, an invoice's status entry when it is numbered)."""
    units = 0.0
    for kind, item in tx_writes(recorded_calls):
        kb = max(1, math.ceil(calls.item_size(item) / 1024))
        for gsi in GSIS:
            if f"{gsi}pk" in item:
                moved = (kind == "SUBSCRIPTION" and gsi == "gsi4") or (kind == "INVOICE" and gsi == "gsi2")
                units += kb * (2 if moved else 1)
    return units


def hot_keys(recorded_calls: list[Recorded], top: int = 8) -> list[tuple[str, str, int]]:
    """The partition keys (table and indexes) written most often: (where, key, writes)."""
    counts: Counter[tuple[str, str]] = Counter()
    for _, item in tx_writes(recorded_calls):
        counts[("table", item["pk"]["S"])] += 1
        for gsi in GSIS:
            if f"{gsi}pk" in item:
                counts[(gsi, item[f"{gsi}pk"]["S"])] += 1
    return [(where, key, n) for (where, key), n in counts.most_common(top)]


def shorten(key: str, names: dict[str, str]) -> str:
    for tenant_id, name in names.items():
        key = key.replace(tenant_id, name)
    return re.sub(r"(inv|sub|cus)_[0-9A-Za-z]{26}", r"\1_…", key)


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
    check_seconds: list[float]
    runs: list[Run]
    duplicate: dict[str, Any]
    duplicate_calls: list[Recorded]
    next_hour: dict[str, Any]
    next_hour_calls: list[Recorded]
    redelivered_calls: list[Recorded]
    checks: list[str]
    tenant_names: dict[str, str]
    big_tenant_invoices: int
    patched: list[str]


def bench(stack_label: str, n: int, periods: int, fast: bool) -> Result:
    """Set up, run, check; Powertools' metrics (EMF, flushed every 100 values even when disabled) go nowhere."""
    with contextlib.redirect_stdout(io.StringIO()):
        stack = Stack(stack_label)
        try:
            return _bench(stack, n, periods, PATCHED if fast else [])
        finally:
            bootstrap.use(None)


def _bench(stack: Stack, n: int, periods: int, patched: list[str]) -> Result:
    t0 = time.perf_counter()
    checks = [stack.check_fast_setup()]
    stack.populate(n)
    metrics.clear_metrics()
    setup = time.perf_counter() - t0
    progress(f"[{stack.label}] setup of {n} subscriptions: {setup:.1f} s")
    names = {t: ("big" if i == 0 else f"small{i}") for i, t in enumerate(stack.tenants)}
    check_seconds = []

    runs = []
    first_at = after(START)
    first = stack.run(first_at, "period 0 (first invoices)")
    runs.append(first)
    progress(f"[{stack.label}] run 1: {first.seconds:.1f} s " + phases_line(first))
    c0 = time.perf_counter()
    checks += check(stack, first, 1)
    check_seconds.append(time.perf_counter() - c0)
    duplicate, duplicate_calls = stack.sweep_only(first_at)
    next_hour, next_hour_calls = stack.sweep_only(first_at + timedelta(hours=1))
    assert duplicate["duplicate"] is True and duplicate["fanned_out"] == 0, duplicate
    assert next_hour["duplicate"] is False and next_hour["fanned_out"] == 0, next_hour
    checks.append("the same scheduled time again: a duplicate, nothing fanned out")
    checks.append("the next hour: 0 subscriptions fanned out")
    some = list(stack.expected)[:10]
    redelivered = stack.redeliver(some)
    assert not [c for c in redelivered if c.op not in ("GetItem", "BatchGetItem")], "a redelivered batch wrote"
    checks.append("a batch of 10 billing messages delivered again: read, nothing written")
    if periods >= 2:
        second_at = after(START.replace(month=12))  # monthly from 23 Nov 12:00 UTC: the next period starts 23 Dec
        second = stack.run(second_at, "period 1 (a month later)")
        runs.append(second)
        progress(f"[{stack.label}] run 2: {second.seconds:.1f} s " + phases_line(second))
        c0 = time.perf_counter()
        checks += check(stack, second, 2)
        check_seconds.append(time.perf_counter() - c0)
    big = sum(1 for t in first.worker.batches for x in t if x == stack.tenants[0])
    return Result(
        stack.label,
        n,
        setup,
        check_seconds,
        runs,
        duplicate,
        duplicate_calls,
        next_hour,
        next_hour_calls,
        redelivered,
        dedupe(checks),
        names,
        big,
        patched,
    )


def phases_line(r: Run) -> str:
    return (
        f"(sweep {r.sweep_seconds:.1f} s, "
        + ", ".join(f"{phase_name(p.function)} {p.seconds:.1f} s" for p in ordered(r.phases) if p.messages)
        + ")"
    )


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check(stack: Stack, r: Run, periods: int) -> list[str]:
    """Everything the run must have done, read back from the table and the queues."""
    n = len(stack.expected)
    assert r.fanned_out == n, f"fanned out {r.fanned_out}, expected {n}"
    assert r.failed == 0, f"{r.failed} messages failed"
    for source in stack.run_queues:
        assert not stack.moto_queue(source.url)._messages, f"{source.queue} not empty"
    assert not stack.moto_table().stream_shard.items, "stream records not relayed"
    ours = set(stack.tenants)
    found = [
        i for i in stack.items(("invoice", "subscription", "event")) if json.loads(i["doc"]).get("tenant_id") in ours
    ]
    invoices = [json.loads(i["doc"]) for i in found if i["type"] == "invoice"]
    subs = [json.loads(i["doc"]) for i in found if i["type"] == "subscription"]
    finalized = [i for i in found if i["type"] == "event" and i["event_type"] == "invoice.finalized"]
    drafted = [json.loads(i["doc"]) for i in found if i["type"] == "event" and i["event_type"] == "invoices.drafted"]
    assert len(invoices) == n * periods, f"{len(invoices)} invoices, expected {n * periods}"
    r.invoices = n
    by_sub: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in invoices:
        by_sub[inv["subscription_id"]].append(inv)
    assert set(by_sub) == set(stack.expected)
    for sub_id, invs in by_sub.items():
        assert sorted(i["period_index"] for i in invs) == list(range(periods)), (sub_id, invs)
        assert {i["total"] for i in invs} == {stack.expected[sub_id]}, (sub_id, [i["total"] for i in invs])
        assert all(i["status"] == "open" for i in invs), [i["status"] for i in invs]
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
    in_drafted = Counter(i for d in drafted for i in d["data"]["invoice_ids"])
    assert set(in_drafted) == {i["id"] for i in invoices} and set(in_drafted.values()) == {1}
    numbered = sum(m.numbers for m in r.moves)
    assert numbered == n, f"the moves numbered {numbered}, expected {n}"
    repo = stack.deps.context.repo
    assert sum(len(repo.subscriptions_due(s, "2100-01-01T00:00:00Z")) for s in range(keys.BILLING_SHARDS)) == n
    return [
        f"{n * periods:,} invoices for {n:,} subscriptions after {periods} run(s): exactly one per subscription "
        "and period, each with its plan's total, all numbered (open)",
        "invoice numbers gapless per tenant and series (INV-2026-000001 … as many as the tenant has), each "
        "tenant's counter at its count; the run's counter moves numbered exactly the run's drafts",
        "every draft named by exactly one invoices.drafted event; one invoice.finalized event per invoice",
        f"every subscription at period {periods} (current_period_index), back on the billing index for its next run",
        f"nothing lost: the sweep fanned out exactly {n:,}; no batch failed; every queue of the run empty and every "
        "stream record relayed at the end",
    ]


# --- the report ----------------------------------------------------------------------------------------------------
def ops_count(recorded_calls: list[Recorded]) -> Counter[str]:
    return Counter(c.op for c in recorded_calls)


def report(results: list[Result]) -> str:
    parts = [
        f"Machine: {machine()}. Subscriptions: 90 % on one tenant (`big`), 10 % over 9 small ones; a monthly flat "
        "plan (49.00) for all, plus a per-seat plan (12.00 × 1–5) for half; all created at the same instant, so "
        "every one is due in the same hourly run. The sweep and every function after it are their real handlers "
        "(template.yaml's SQS and stream event sources); each queue is drained as Lambda's poller does "
        "(ReceiveMessage ≤ 10, the handler, DeleteMessageBatch), the table's stream handed to the outbox relay in "
        "batches of its mapping's size through its filter; one batch at a time, one worker each."
    ]
    rows = []
    for res in results:
        rows.append([res.stack, f"{res.n:,}", "setup (not measured)", "", f"{res.setup_seconds:.1f}", "", "", "", ""])
        for r in res.runs:
            rows.append(
                [
                    res.stack,
                    f"{res.n:,}",
                    r.label,
                    "sweep",
                    f"{r.sweep_seconds:.1f}",
                    "1",
                    f"{r.fanned_out:,}",
                    "",
                    per(r.sweep_seconds * 1000, r.invoices),
                ]
            )
            for p in ordered(r.phases):
                if not p.messages:
                    continue
                rows.append(
                    [
                        res.stack,
                        f"{res.n:,}",
                        r.label,
                        phase_name(p.function),
                        f"{p.seconds:.1f}",
                        f"{len(p.handler_seconds):,}",
                        f"{p.messages:,}",
                        f"{statistics.median(p.handler_seconds) * 1000:.0f}",
                        per(p.seconds * 1000, r.invoices),
                    ]
                )
            rows.append(
                [
                    res.stack,
                    f"{res.n:,}",
                    r.label,
                    "**the run**",
                    f"**{r.seconds:.1f}**",
                    "",
                    "",
                    "",
                    f"**{per(r.seconds * 1000, r.invoices)}** ({r.invoices / r.seconds:.0f} invoices/s)",
                ]
            )
        for r, s in zip(res.runs, res.check_seconds, strict=False):
            rows.append([res.stack, f"{res.n:,}", f"checks of {r.label}", "", f"{s:.1f}", "", "", "", ""])
    parts.append("**Wall time** per phase (seconds; one worker per function, batches one after another):")
    parts.append(
        table(
            ["stack", "subscriptions", "run", "phase", "s", "batches", "messages", "median batch ms", "ms per invoice"],
            rows,
            "llllrrrrr",
        )
    )
    parts.append(
        "A phase's seconds are its handler's, summed over its batches, plus the poller's ReceiveMessage and "
        "DeleteMessageBatch around them (Lambda's poller makes those, not the function); the relay's include "
        "reading the stream. `messages`: SQS messages, or stream records for the relay (those its filter passes)."
    )

    # calls per invoice
    order = ["GetItem", "BatchGetItem", "Query", "TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem"]
    rows = []
    for res in results:
        for r in res.runs:
            for p in ordered(r.phases):
                dyn = r.dynamo(p.calls)
                if not dyn:
                    continue
                counts = ops_count(dyn)
                sizes = [len(c.body["TransactItems"]) for c in dyn if c.op == "TransactWriteItems"]
                rows.append(
                    [
                        res.stack,
                        r.label,
                        phase_name(p.function),
                        *[per(counts.get(o, 0), r.invoices) for o in order],
                        per(len(dyn), r.invoices),
                        f"{statistics.mean(sizes):.1f} ({min(sizes)}–{max(sizes)})" if sizes else "·",
                        per(sum(c.call.read_units for c in dyn), r.invoices),
                        per(sum(c.call.write_units for c in dyn), r.invoices),
                        per(gsi_write_units(dyn), r.invoices),
                        sum(1 for c in dyn if c.error),
                    ]
                )
    parts.append("**DynamoDB calls per invoice** (per phase; the sweep is below):")
    parts.append(
        table(
            ["stack", "run", "phase", *order, "all", "items per Tx (min–max)", "≈RRU", "≈WRU", "≈GSI WRU", "errors"],
            rows,
            "lll" + "r" * 13,
        )
    )
    parts.append(
        "≈RRU/≈WRU as in section 2 (GetItem and BatchGetItem 1 RRU per 4 KB per item strongly consistent, 0.5 "
        "eventually; transactional writes 2 WRU per KB per item). ≈GSI WRU: what the indexes add (all four project "
        "ALL: 1 WRU per KB per index entry written, 2 for an entry that moves: the subscription's billing-index "
        "entry, the invoice's status entry when numbered). `errors`: calls refused (a lost optimistic lock would "
        "show here)."
    )

    # numbering
    rows = []
    for res in results:
        for r in res.runs:
            if not r.moves:
                continue
            numbers = [m.numbers for m in r.moves]
            held = [m.held_seconds * 1000 for m in r.moves]
            retried = sum(1 for m in r.moves if m.attempts > 1)
            p = r.numbering
            rows.append(
                [
                    res.stack,
                    r.label,
                    f"{sum(numbers):,}",
                    f"{len(numbers):,}",
                    f"{statistics.mean(numbers):.1f} ({min(numbers)}–{max(numbers)})",
                    f"{statistics.median(held):.1f}",
                    f"{statistics.mean(held):.1f}",
                    f"{max(held):.1f}",
                    f"{sum(held) / 1000:.1f}",
                    f"{sum(numbers) / (sum(held) / 1000):.0f}",
                    f"{sum(numbers) / p.seconds:.0f}" if p.seconds else "·",
                    retried,
                ]
            )
    parts.append(
        "**Numbering** (`services/invoice_numbering.py`: one writer per tenant and series, a FIFO message group; "
        f"each move of the counter numbers up to {invoice_numbering.PER_MOVE} drafts; figures from each `Move`):"
    )
    parts.append(
        table(
            [
                "stack",
                "run",
                "numbered",
                "counter moves",
                "numbers per move (min–max)",
                "hold ms median",
                "hold ms mean",
                "hold ms max",
                "held s (sum)",
                "numbers/s while held",
                "numbers/s (phase)",
                "moves retried",
            ],
            rows,
            "ll" + "r" * 10,
        )
    )
    parts.append(
        "Hold time: from the move's start (the counter's read sent) to its transaction answered, as "
        "`Move.held_seconds` measures it. `numbers/s while held` is the ceiling one writer per series reaches when "
        "the counter is the only thing it waits on; `numbers/s (phase)` includes the drafts' BatchGetItem, our "
        "code between moves and the poller."
    )

    res = biggest(results)
    r = res.runs[0]
    worker = r.worker
    groups = Counter(len(set(b)) for b in worker.batches)
    typical = first_batch(worker.calls, "TransactWriteItems")
    parts.append(f"**One batch in detail** ({res.stack}, {r.label}):")
    if typical:
        parts.append(
            "Invoice worker, ten subscriptions of one tenant: `" + calls.collapse([c.call.what for c in typical]) + "`"
        )
    numbering_batch = first_batch(r.numbering.calls, "TransactWriteItems")
    if numbering_batch:
        parts.append(
            "Numbering writer, ten drafted messages of one group: `"
            + calls.collapse([c.call.what for c in numbering_batch])
            + "`"
        )
    sizes = sizes_by_kind([c for p in r.phases.values() for c in p.calls])
    parts.append(
        f"Billing batches: {len(worker.batches):,} of ≤ 10 messages; tenants per batch: "
        + ", ".join(f"{k} tenant{'s' if k > 1 else ''} × {v:,}" for k, v in sorted(groups.items()))
        + f". Worker transactions: {ops_count(worker.calls).get('TransactWriteItems', 0):,} (≤ "
        f"{subscriptions.PER_TRANSACTION} subscriptions of one tenant each, one invoices.drafted event each). "
        "Mean item sizes written: " + ", ".join(f"{k} {v:,.0f} B" for k, v in sorted(sizes.items())) + "."
    )
    inside = sum(c.seconds for c in worker.calls)
    handler = sum(worker.handler_seconds)
    if handler:
        parts.append(
            f"Where the worker's time goes ({res.stack}, {r.label}): {inside / handler:.0%} inside the AWS calls "
            f"(moto, botocore), {1 - inside / handler:.0%} in our code and Powertools "
            f"({(handler - inside) / len(worker.handler_seconds) * 1000:.1f} ms per batch)."
        )

    # sweep
    rows = []
    for res in results:
        for label, recorded_calls, note in [
            *[(f"sweep, {r.label}", r.sweep_calls, f"{r.fanned_out:,} fanned out") for r in res.runs],
            ("same scheduled time again", res.duplicate_calls, "duplicate"),
            ("the next hour", res.next_hour_calls, f"{res.next_hour['fanned_out']} fanned out"),
            ("a batch of 10 redelivered", res.redelivered_calls, "nothing written"),
        ]:
            dyn = [c for c in recorded_calls if c.call.service == "dynamodb"]
            sqs = [c for c in recorded_calls if c.call.service == "sqs"]
            queried = sum(int(m.group(1)) for c in dyn if (m := re.search(r"\((\d+) items\)", c.call.what)))
            rows.append(
                [
                    res.stack,
                    label,
                    note,
                    *[ops_count(dyn).get(o, 0) or "·" for o in ("GetItem", "Query", "PutItem")],
                    f"{queried:,}" if queried else "·",
                    len(sqs) or "·",
                    f"{sum(c.seconds for c in recorded_calls if c.op == 'Query') * 1000:.0f}",
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
            sent = ops_count([c for c in r.sweep_calls if c.call.service == "sqs"])
            for p in r.phases.values():
                sent += ops_count([c for c in p.calls if c.call.service == "sqs"])
            polled = Counter()
            for p in r.phases.values():
                polled += ops_count(p.poller_calls)
            events = sum(ops_count(p.calls).get("PutEvents", 0) for p in r.phases.values())
            total = sum(sent.values()) + sum(polled.values())
            rows.append(
                [
                    res.stack,
                    r.label,
                    f"{sent.get('SendMessageBatch', 0):,}",
                    f"{polled.get('ReceiveMessage', 0):,}",
                    f"{polled.get('DeleteMessageBatch', 0):,}",
                    per(total, r.invoices),
                    f"{events:,}",
                    ", ".join(f"{q} {v:,}" for q, v in sorted(r.downstream.items())) or "·",
                ]
            )
    parts.append("**SQS and EventBridge requests** (the run's functions and their pollers):")
    parts.append(
        table(
            [
                "stack",
                "run",
                "SendMessageBatch",
                "ReceiveMessage",
                "DeleteMessageBatch",
                "SQS per invoice",
                "PutEvents",
                "left for the downstream queues (counted, not consumed)",
            ],
            rows,
            "llrrrrrl",
        )
    )
    res = biggest(results)
    r = res.runs[0]
    parts.append(
        f"**Most-written partition keys** ({res.stack}, {r.label}, every phase; `big` = the tenant with "
        f"{res.big_tenant_invoices:,} of the {r.invoices:,} invoices; `…#<k>`: one of the "
        f"{keys.LIST_SHARDS} shards of a list):"
    )
    parts.append(
        table(
            ["where", "partition key", "writes in the run"],
            [
                [w, f"`{shorten(k, res.tenant_names)}`", f"{c:,}"]
                for w, k, c in hot_keys([c for p in r.phases.values() for c in p.calls])
            ],
            "llr",
        )
    )
    patched = [res.stack for res in results if res.patched]
    if patched:
        parts.append(f"**moto, patched inside this bench** (`fast_moto`; {', '.join(patched)}):")
        parts.append("\n".join(f"- {p}" for p in PATCHED))
    if as_is := [res.stack for res in results if not res.patched]:
        parts.append(f"**{', '.join(as_is)}**: moto exactly as it comes.")
    for res in results:
        parts.append(
            f"**Checks, {res.stack}** ({res.n:,} subscriptions, {len(res.runs)} run(s), setup "
            f"{res.setup_seconds:.0f} s not counted):"
        )
        parts.append("\n".join(f"- ✓ {c}" for c in res.checks))
    return "\n\n".join(parts)


def biggest(results: list[Result]) -> Result:
    """The in-process result with the most subscriptions (the detail sections' run)."""
    return max((r for r in results if r.patched), key=lambda r: r.n, default=results[0])


def first_batch(recorded_calls: list[Recorded], marker: str) -> list[Recorded] | None:
    """The calls of the first batch whose calls reach ``marker`` with the biggest such call (a whole batch), cut
    at each handler invocation by the tenant's GetItem that opens it."""
    batches: list[list[Recorded]] = []
    for c in recorded_calls:
        if c.call.what.startswith("Get TENANT") and (not batches or any(x.op == marker for x in batches[-1])):
            batches.append([])
        if batches:
            batches[-1].append(c)
    full = [b for b in batches if any(x.op == marker for x in b)]
    if not full:
        return None
    biggest = max(len(b) for b in full)
    return next(b for b in full if len(b) == biggest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n",
        type=int,
        nargs="+",
        default=[10_000],
        help="subscriptions on moto in-process (default 10,000); several: one stack each, to compare per invoice",
    )
    parser.add_argument("--periods", type=int, default=2, choices=(1, 2), help="billing runs: 1 or 2 (default)")
    parser.add_argument(
        "--server-n", type=int, default=1_000, help="subscriptions on the local stack's moto server (0: skip)"
    )
    parser.add_argument(
        "--as-is-n", type=int, default=50, help="subscriptions on the moto server as the local stack runs it (0: skip)"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the in-process stack's bench into FILE")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the moto server's line per request
    results = []
    with mock_aws(), fast_moto():
        for n in args.n:
            label = "in-process moto" if len(args.n) == 1 else f"in-process moto, {n:,}"
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                results.append(profiler.runcall(bench, label, n, args.periods, True))
                profiler.dump_stats(args.profile)
            else:
                results.append(bench(label, n, args.periods, True))
    for label, n, fast in [("moto server", args.server_n, True), ("moto server, as is", args.as_is_n, False)]:
        if not n:
            continue
        server = local_aws.MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        try:
            with fast_moto() if fast else contextlib.nullcontext():
                results.append(bench(label, n, args.periods, fast))
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)
            server.stop()
    body = report(results)
    print(body)
    if not args.no_doc:
        update("bench.billing_run", body)


if __name__ == "__main__":
    main()
