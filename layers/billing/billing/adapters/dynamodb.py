"""DynamoDB adapter: typed items in, typed items out, and one ``TransactWriteItems`` per unit of work.

Each write in a transaction says what a failed condition means: a lost optimistic lock (the service re-reads and
retries) or a domain error to raise as is. Nothing here scans.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from billing.domain.errors import ConcurrentModification, ValidationFailed

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


@cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's attribute-value codec, built on first use: importing it imports boto3 (its session, s3transfer),
    ≈40 ms that a function's INIT need not pay (docs/benchmarks.md, section 1)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _serialize(value: Any) -> dict[str, Any]:
    return _codec()[0].serialize(value)


def _deserialize(value: dict[str, Any]) -> Any:
    return _codec()[1].deserialize(value)


def to_item(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in attrs.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserialize(v) for k, v in item.items()}


OnConflict = Callable[[], Exception]

# What this request read ahead (``DynamoStore.prefetch``): (table, pk, sk) -> (item or None, read consistently), and
# (table, query) -> the Query's answer. None outside a request's ``read_scope`` (nothing is held there: a worker's
# next message never sees this one's reads); emptied by every commit.
_held: contextvars.ContextVar[dict[tuple[str, ...], Any] | None] = contextvars.ContextVar("prefetched", default=None)


@dataclass
class Transaction:
    """Writes that commit together or not at all (at most 100, DynamoDB's limit)."""

    table: str
    items: list[dict[str, Any]] = field(default_factory=list)
    on_conflict: list[OnConflict] = field(default_factory=list)

    def _add(self, op: dict[str, Any], on_conflict: OnConflict | None) -> None:
        self.items.append(op)
        self.on_conflict.append(on_conflict or ConcurrentModification)

    def put_new(self, attrs: dict[str, Any], on_conflict: OnConflict | None = None) -> None:
        """Create an item that must not exist yet."""
        op = {"TableName": self.table, "Item": to_item(attrs), "ConditionExpression": "attribute_not_exists(pk)"}
        self._add({"Put": op}, on_conflict)

    def put_versioned(self, attrs: dict[str, Any], expected_version: int, expected_status: str | None = None) -> None:
        """Replace an aggregate whose stored version must still be ``expected_version`` (0: must not exist) and,
        if given, whose stored ``status`` attribute must still be ``expected_status``."""
        op: dict[str, Any] = {"TableName": self.table, "Item": to_item(attrs)}
        if expected_version == 0:
            op["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            op["ConditionExpression"] = "version = :expected"
            op["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
            if expected_status is not None:
                op["ConditionExpression"] += " AND #status = :status"
                op["ExpressionAttributeNames"] = {"#status": "status"}
                op["ExpressionAttributeValues"][":status"] = {"S": expected_status}
        self._add({"Put": op}, None)

    def put_if_unchanged(self, attrs: dict[str, Any], name: str, old: Any) -> None:
        """Rewrite an item whose ``name`` attribute must still be ``old`` (None: the item must still exist); an
        erasure's tombstones, which no concurrent change may lose or be lost to."""
        op: dict[str, Any] = {"TableName": self.table, "Item": to_item(attrs)}
        if old is None:
            op["ConditionExpression"] = "attribute_exists(pk)"
        else:
            op["ConditionExpression"] = "#n = :old"
            op["ExpressionAttributeNames"] = {"#n": name}
            op["ExpressionAttributeValues"] = {":old": _serialize(old)}
        self._add({"Put": op}, None)

    def delete(self, key: dict[str, str]) -> None:
        """Remove an index or guard item (never an aggregate: those keep their record), whether or not it is there."""
        self._add({"Delete": {"TableName": self.table, "Key": to_item(key)}}, None)

    def set_counter(self, key: dict[str, str], expected: int, new: int) -> None:
        """Move a sequence counter from ``expected`` to ``new``; fails if another writer moved it first."""
        op: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item(key),
            "UpdateExpression": "SET seq = :new",
            "ExpressionAttributeValues": {":new": {"N": str(new)}},
        }
        if expected == 0:
            op["ConditionExpression"] = "attribute_not_exists(seq)"
        else:
            op["ConditionExpression"] = "seq = :expected"
            op["ExpressionAttributeValues"][":expected"] = {"N": str(expected)}
        self._add({"Update": op}, None)

    def add_one(self, key: dict[str, str], limit: int | None, on_conflict: OnConflict, **attrs: Any) -> None:
        """Count one more on the counter item ``key`` (created at 1), refused with ``on_conflict`` if it is at
        ``limit`` already: an ``ADD`` with a condition, never a read-modify-write, so concurrent counts are exact."""
        values: dict[str, Any] = {":one": {"N": "1"}}
        names = {"#n": "n"}
        expression = "ADD #n :one"
        if attrs:
            sets = []
            for i, (name, value) in enumerate(sorted(attrs.items())):
                names[f"#a{i}"] = name
                values[f":a{i}"] = _serialize(value)
                sets.append(f"#a{i} = :a{i}")
            expression += " SET " + ", ".join(sets)
        op: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if limit is not None:
            op["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :limit"
            values[":limit"] = {"N": str(limit)}
        self._add({"Update": op}, on_conflict)

    def check_version(self, key: dict[str, str], version: int, on_conflict: OnConflict | None = None) -> None:
        """Commit only if the item at ``key`` is still at ``version`` (it is read, not written)."""
        op = {
            "TableName": self.table,
            "Key": to_item(key),
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": {"N": str(version)}},
        }
        self._add({"ConditionCheck": op}, on_conflict)


_ALL_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def _token(items: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:36]


def _written_already(kind: str, op: dict[str, Any], stored: dict[str, Any] | None) -> bool:
    """Whether ``stored`` (the item a failed condition found) is what ``op`` writes: our own earlier write. Values
    are compared as DynamoDB reads them (a number is equal whatever its spelling)."""
    if not stored:
        return False
    if kind == "Put":
        return from_item(stored) == from_item(op["Item"])
    if kind == "Update" and ":new" in op["ExpressionAttributeValues"]:  # a sequence counter's move (set_counter)
        seq = stored.get("seq")
        return seq is not None and _deserialize(seq) == _deserialize(op["ExpressionAttributeValues"][":new"])
    return False


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    cursor: str | None


class DynamoStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def transaction(self) -> Transaction:
        return Transaction(self.table)

    def get(self, key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
        """The item at ``key``: what this request read ahead for it (``prefetch``) if that read was at least as
        consistent as asked, else one GetItem."""
        held = (_held.get() or {}).get((self.table, key["pk"], key["sk"]))
        if held is not None and (held[1] or not consistent):
            return dict(held[0]) if held[0] is not None else None
        answer = self.client.get_item(TableName=self.table, Key=to_item(key), ConsistentRead=consistent)
        return from_item(answer["Item"]) if "Item" in answer else None

    def touch(self, key: dict[str, str], attr: str, at: str, unless_since: str) -> None:
        """Set the ISO time ``attr`` of an existing item to ``at``, unless it is at ``unless_since`` or later
        already (a last-used mark: at most one write per interval, none for an item gone)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item(key),
                UpdateExpression="SET #at = :at",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#at) OR #at < :since)",
                ExpressionAttributeNames={"#at": attr},
                ExpressionAttributeValues={":at": {"S": at}, ":since": {"S": unless_since}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def add_counts(self, key: dict[str, str], counts: dict[str, int], expires_at: int) -> dict[str, int]:
        """Add ``counts`` to the item's number attributes (made at 0 if absent; the item too), set its TTL, and
        answer the attributes' new values: one ``UpdateItem``, exact under any concurrency."""
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values = {f":c{i}": {"N": str(n)} for i, n in enumerate(counts.values())}
        answer = self.client.update_item(
            TableName=self.table,
            Key=to_item(key),
            UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counts))) + " SET expires_at = :ttl",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":ttl": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        new = from_item(answer.get("Attributes", {}))
        return {name: int(new.get(name, 0)) for name in counts}

    def get_many(self, keys: list[dict[str, str]], consistent: bool = True) -> list[dict[str, Any]]:
        """The items at ``keys`` that exist, in one ``BatchGetItem`` per hundred keys (DynamoDB's limit), made in
        parallel; keys it leaves unprocessed (throttling, the 16 MB answer limit) are asked again until none is
        left."""

        def read(chunk: list[dict[str, str]]) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            pending: dict[str, Any] = {self.table: {"Keys": [to_item(k) for k in chunk], "ConsistentRead": consistent}}
            for attempt in range(20):
                answer = self.client.batch_get_item(RequestItems=pending)
                found += [from_item(item) for item in answer.get("Responses", {}).get(self.table, [])]
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    return found
                time.sleep(min(0.5, 0.01 * 2**attempt))
            raise ConcurrentModification("BatchGetItem left keys unprocessed")

        unique = list({json.dumps(k, sort_keys=True): k for k in keys}.values())
        chunks = [unique[start : start + 100] for start in range(0, len(unique), 100)]
        return [item for found in in_parallel(read, chunks) for item in found]

    def put_many(self, items: list[dict[str, Any]]) -> None:
        """Put ``items`` unconditionally, in ``BatchWriteItem`` requests of 25 (DynamoDB's limit) made in parallel;
        items it leaves unprocessed (throttling) are sent again until none is left."""
        for future in self.putting(items):
            future.result()

    def putting(self, items: list[dict[str, Any]]) -> list[Future[None]]:
        """``put_many`` started, not waited for: the caller takes each request's outcome from its future."""

        def write(chunk: list[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": to_item(item)}} for item in chunk]}
            for attempt in range(20):
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    return
                time.sleep(min(0.5, 0.01 * 2**attempt))
            raise ConcurrentModification("BatchWriteItem left items unprocessed")

        return started(write, [items[start : start + 25] for start in range(0, len(items), 25)])

    def prefetch(
        self,
        keys: Iterable[dict[str, str]],
        queries: Iterable[dict[str, Any]] = (),
        known: dict[tuple[str, str], dict[str, Any] | None] | None = None,
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Read ahead, in one round trip, what this request will read: ``keys`` in one strongly consistent
        ``get_many`` and ``queries`` (Query requests, as ``run_query`` takes them) at the same time (``in_parallel``).
        Inside a ``read_scope`` the request's later ``get`` and ``run_query`` calls are answered from it until the
        scope ends or a commit (what was read before a write is not reread after it, nor by a retry); outside one
        nothing is held. ``known``: items the caller holds already (the container's key cache), held as eventually
        consistent reads (a strongly consistent ``get`` of one still goes to DynamoDB). Returns what ``keys`` found
        by (pk, sk), None where nothing is."""
        keys, queries = list(keys), list(queries)
        jobs: list[Callable[[], Any]] = [lambda: self.get_many(keys)] if keys else []
        jobs += [lambda q=q: self._query_pages(q) for q in queries]
        answers = in_parallel(lambda job: job(), jobs)
        found: dict[tuple[str, str], dict[str, Any] | None] = {(k["pk"], k["sk"]): None for k in keys}
        for item in answers.pop(0) if keys else []:
            found[(item["pk"], item["sk"])] = item
        if _held.get() is None:
            return found
        held = dict(_held.get() or {})
        held |= {(self.table, pk, sk): (item, False) for (pk, sk), item in (known or {}).items()}
        held |= {(self.table, pk, sk): (item, True) for (pk, sk), item in found.items()}
        held |= {(self.table, _query_id(q)): answer for q, answer in zip(queries, answers, strict=True)}
        _held.set(held)
        return found

    @contextmanager
    def read_scope(self) -> Iterator[None]:
        """One request's read-ahead (the API's middleware opens one per request): what ``prefetch`` reads in it is
        held until it ends."""
        token = _held.set({})
        try:
            yield
        finally:
            _held.reset(token)

    def run_query(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of the Query ``request`` (raw items): as read ahead by ``prefetch``, else queried now."""
        answer = (_held.get() or {}).get((self.table, _query_id(request)))
        return answer if answer is not None else self._query_pages(request)

    def _query_pages(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        query, items = dict(request), []
        while True:
            page = self.client.query(**query)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page or "Limit" in request:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def commit(self, tx: Transaction) -> None:
        """Write ``tx`` all or nothing. A single write goes as a plain conditional write (half the write units).

        A write that committed but whose answer was lost is sent again by the SDK, and its condition then fails on
        our own write. So a failed condition is read against the item DynamoDB returns (``ALL_OLD``): a single put
        that finds exactly the item it writes, or a transaction whose every write is refused finding exactly what
        it writes, is the success it was, never a lost race that would make the use case run again with new ids.
        A transaction also carries a ``ClientRequestToken`` derived from its content, which makes DynamoDB itself
        answer such a retry (within ten minutes) as a success."""
        if not tx.items:
            return
        if _held.get():  # what was read ahead is before this write: a retry, or a read after it, reads anew
            _held.set({})
        ops = [{kind: {**op, **_ALL_OLD} for kind, op in item.items()} for item in tx.items]
        if len(ops) == 1:
            ((kind, op),) = ops[0].items()
            call = {"Put": self.client.put_item, "Update": self.client.update_item, "Delete": self.client.delete_item}[
                kind
            ]
            try:
                call(**op)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                # a counter alone at the value we meant could be another writer's move: only a whole item tells
                if kind != "Put" or not _written_already(kind, op, error.response.get("Item")):
                    raise tx.on_conflict[0]() from error
            return
        try:
            self.client.transact_write_items(TransactItems=ops, ClientRequestToken=_token(tx.items))
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            # A retry of a committed transaction is refused on every write (each is conditional), each finding
            # exactly what it writes. One write accepted, or one finding something else: a real conflict.
            if len(reasons) == len(ops) and all(
                reason.get("Code") == "ConditionalCheckFailed"
                and _written_already(*next(iter(op.items())), reason.get("Item"))
                for reason, op in zip(reasons, ops, strict=True)
            ):
                return
            for reason, on_conflict in zip(reasons, tx.on_conflict, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise on_conflict() from error
            # Cancelled for another reason (a conflicting transaction in flight): same as a lost lock.
            raise ConcurrentModification(str(reasons)) from error

    def query(
        self,
        index: str | None,
        pk_name: str,
        pk_value: str,
        limit: int,
        cursor: str | None,
        allowed_prefix: str,
        filters: dict[str, str] | None = None,
        ascending: bool = False,
        sort_between: tuple[str, str, str] | None = None,
    ) -> Page:
        """One page of an index partition, newest (highest sort key) first unless ``ascending``, with an opaque
        cursor bound to ``allowed_prefix``; ``sort_between``: (sort key name, low, high), the sort key's range."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": pk_value}},
            "ScanIndexForward": ascending,
            "Limit": limit,
        }
        if sort_between:
            name, low, high = sort_between
            kwargs["KeyConditionExpression"] += " AND #sk BETWEEN :low AND :high"
            kwargs["ExpressionAttributeNames"]["#sk"] = name
            kwargs["ExpressionAttributeValues"].update({":low": {"S": low}, ":high": {"S": high}})
        if index:
            kwargs["IndexName"] = index
        if filters:
            _filter(kwargs, filters)
        listing = f"{index or 'table'}:{pk_value}:{sorted((filters or {}).items())}" + (":asc" if ascending else "")
        if sort_between:
            listing += f":{sort_between}"
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, allowed_prefix, listing)
        answer = self.client.query(**kwargs)
        last = answer.get("LastEvaluatedKey")
        return Page([from_item(i) for i in answer.get("Items", [])], encode_cursor(last, listing) if last else None)

    def query_shards(
        self,
        index: str,
        pk_name: str,
        sk_name: str,
        partitions: list[str],
        limit: int,
        cursor: str | None,
        filters: dict[str, str] | None = None,
        ascending: bool = False,
        sort_between: tuple[str, str] | None = None,
    ) -> Page:
        """One page of a write-sharded list (billing.adapters.keys.LIST_SHARDS), newest (highest sort key) first
        unless ``ascending``: one Query of at most ``limit`` per shard, all in parallel (one round trip), merged by
        sort key. The sort keys are unique, so one of them is every shard's position: the cursor is a sort key, bound
        to this listing, and the next page reads each shard past it. ``sort_between``: (low, high), the sort key's
        range; ``filters``: attribute equalities applied after ``Limit``, as ``query`` does, so a page may be short
        while more follow.

        A shard that stopped at ``Limit`` has read its part of the list only down to its last key (LastEvaluatedKey);
        the page never goes past the least advanced of those, so no shard's unread items are ever skipped."""
        listing = f"{index}:{pk_name}:{','.join(partitions)}:{sorted((filters or {}).items())}"
        listing += f":{'asc' if ascending else 'desc'}:{sort_between}"
        after = decode_position(cursor, listing) if cursor else None
        low, high = sort_between or (None, None)
        if after is not None:  # clamp the range to the position (the position may be any string: a tampered one)
            if ascending:
                low = after if low is None or after > low else low
            else:
                high = after if high is None or after < high else high
            if low is not None and high is not None and low > high:
                return Page([], None)
        if low is not None and high is not None:
            condition, values = "#pk = :pk AND #sk BETWEEN :low AND :high", {":low": low, ":high": high}
        elif after is not None:  # a position and no range: past it
            condition, values = f"#pk = :pk AND #sk {'>' if ascending else '<'} :after", {":after": after}
        else:
            condition, values = "#pk = :pk", {}
        # BETWEEN includes the position itself (dropped below): one more per shard keeps full pages full
        per_shard = limit + 1 if after is not None and ":low" in values else limit

        def one(partition: str) -> tuple[list[dict[str, Any]], str | None]:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": {"#pk": pk_name, **({"#sk": sk_name} if values else {})},
                "ExpressionAttributeValues": {
                    ":pk": {"S": partition},
                    **{name: {"S": value} for name, value in values.items()},
                },
                "ScanIndexForward": ascending,
                "Limit": per_shard,
            }
            if filters:
                _filter(kwargs, filters)
            answer = self.client.query(**kwargs)
            stopped = answer.get("LastEvaluatedKey")
            return [from_item(i) for i in answer.get("Items", [])], stopped[sk_name]["S"] if stopped else None

        shards = in_parallel(one, partitions)
        merged = sorted(
            (item for items, _ in shards for item in items if item[sk_name] != after),
            key=lambda i: i[sk_name],
            reverse=not ascending,
        )
        stops = [stop for _, stop in shards if stop is not None]
        # the least advanced shard that stopped: everything up to it (and only that) is read in every shard
        frontier = (min(stops) if ascending else max(stops)) if stops else None
        ready = [
            i for i in merged if frontier is None or (i[sk_name] <= frontier if ascending else i[sk_name] >= frontier)
        ]
        page = ready[:limit]
        if len(page) == limit and (len(merged) > limit or frontier is not None):
            position: str | None = page[-1][sk_name]
        else:
            position = frontier
        return Page(page, encode_position(position, listing) if position is not None else None)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_rounds = itertools.count(1)
_POOL_NAME = "billing-dynamodb"
PARALLEL_CALLS = 16  # threads for one request's parallel reads (boto3 clients are thread-safe)
# Which ``in_parallel`` call a DynamoDB call is part of (None: a call of its own): bench/dynamodb_calls.py counts
# the calls of one as one round trip.
PARALLEL_ROUND: contextvars.ContextVar[int | None] = contextvars.ContextVar("parallel_round", default=None)


def in_parallel[T, R](call: Callable[[T], R], args: Iterable[T]) -> list[R]:
    """``call`` on each of ``args`` on a pool of threads made at first use (not in INIT, not in a snapshot), in
    order; each runs in a copy of the caller's context (its actor, its logger's keys). An error is raised here. Called
    from one of the pool's own threads it runs the calls one after another (a pool waiting on itself could stall)."""
    args = list(args)
    if _here(args):
        return [call(arg) for arg in args]
    return [future.result() for future in started(call, args)]


def started[T, R](call: Callable[[T], R], args: Iterable[T]) -> list[Future[R]]:
    """``call`` on each of ``args`` started on the pool, as ``in_parallel`` runs them, without waiting: the caller
    goes on and takes each answer (or error) from its future. A single call, or one from a pool thread, runs here
    and now (its future is done on return)."""
    global _pool
    args = list(args)
    if _here(args):
        return [_done(call, arg) for arg in args]
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415  (not in INIT: the first listing's)

            _pool = ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix=_POOL_NAME)
    round_id = next(_rounds)
    futures = []
    for arg in args:
        context = contextvars.copy_context()
        context.run(PARALLEL_ROUND.set, round_id)
        futures.append(_pool.submit(context.run, call, arg))
    return futures


def _here(args: list[Any]) -> bool:
    """Whether calls on ``args`` run in the caller's thread: one call, or a caller that is a pool thread itself."""
    return len(args) <= 1 or threading.current_thread().name.startswith(_POOL_NAME)


def _done[T, R](call: Callable[[T], R], arg: T) -> Future[R]:
    from concurrent.futures import Future  # noqa: PLC0415  (not in INIT)

    future: Future[R] = Future()
    try:
        future.set_result(call(arg))
    except BaseException as error:  # noqa: BLE001  (handed to the caller through the future, as the pool does)
        future.set_exception(error)
    return future


POSITION_LENGTH = 512  # longer than any sort key a sharded list holds (ids, ``<tenant>#<invoice>``)


def encode_position(sort_key: str, listing: str) -> str:
    """The cursor of a sharded list: the last sort key given, bound to the listing (its partitions) it continues."""
    body = {"a": sort_key, "l": _listing_tag(listing)}
    return base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode().rstrip("=")


def decode_position(cursor: str, listing: str) -> str:
    """The sort key a sharded list's cursor names; refused unless this listing gave it out. The listing names the
    tenant's own partitions, so a cursor can only move within the caller's list."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if isinstance(body, dict) and body.get("l") == _listing_tag(listing):
            after = body.get("a")
            if isinstance(after, str) and 0 < len(after.encode()) <= POSITION_LENGTH:
                return after
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed("invalid_cursor", "the cursor is not one this API gave out")


def _filter(kwargs: dict[str, Any], filters: dict[str, str]) -> None:
    """Add attribute equalities to a Query as its FilterExpression."""
    clauses = []
    for n, (name, value) in enumerate(sorted(filters.items())):
        kwargs["ExpressionAttributeNames"][f"#f{n}"] = name
        kwargs["ExpressionAttributeValues"][f":f{n}"] = {"S": value}
        clauses.append(f"#f{n} = :f{n}")
    kwargs["FilterExpression"] = " AND ".join(clauses)


def _query_id(request: dict[str, Any]) -> str:
    return json.dumps(request, sort_keys=True)


def _listing_tag(listing: str) -> str:
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def encode_cursor(key: dict[str, Any], listing: str) -> str:
    """An opaque cursor: the start key, bound to the listing (index, partition, filters) it continues."""
    body = {"k": key, "l": _listing_tag(listing)}
    return base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, allowed_prefix: str, listing: str) -> dict[str, Any]:
    """The key a cursor names; refused unless it came from this same listing and belongs to the caller's tenant."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("l") != _listing_tag(listing):
            raise ValueError("a cursor of another listing")
        key = body.get("k")
        ok = (
            isinstance(key, dict)
            and key
            and all(isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in key.values())
        )
        if ok and all(v["S"].startswith(allowed_prefix) for k, v in key.items() if k.endswith("pk")):
            return key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ValidationFailed("invalid_cursor", "the cursor is not one this API gave out")
