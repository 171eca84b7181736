"""DynamoDB adapter: typed items in, typed items out, and one ``TransactWriteItems`` per unit of work.

Each write in a transaction says what a failed condition means: a lost optimistic lock (the service re-reads and
retries) or a domain error to raise as is. Nothing here scans.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from billing.domain.errors import ConcurrentModification, ValidationFailed

_ser = TypeSerializer()
_de = TypeDeserializer()


def to_item(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in attrs.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


OnConflict = Callable[[], Exception]

BATCH_GET_LIMIT = 100  # keys per BatchGetItem, DynamoDB's limit
UNPROCESSED_ATTEMPTS = 5  # BatchGetItem calls for one chunk before its unprocessed keys are an error

# What this request read ahead (``DynamoStore.prefetch``): (table, pk, sk) -> (item or None, read consistently), and
# (table, query) -> the Query's answer. Per request (the API's middleware clears it) and per thread or task.
_held: ContextVar[dict[tuple[str, ...], Any] | None] = ContextVar("billing_prefetched", default=None)


class ReadsUnprocessed(Exception):
    """BatchGetItem left keys unprocessed (throttling) after every retry: the request fails as a throttle would."""


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

    def put_versioned(self, attrs: dict[str, Any], expected_version: int) -> None:
        """Replace an aggregate whose stored version must still be ``expected_version`` (0: must not exist)."""
        op: dict[str, Any] = {"TableName": self.table, "Item": to_item(attrs)}
        if expected_version == 0:
            op["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            op["ConditionExpression"] = "version = :expected"
            op["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
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
                values[f":a{i}"] = _ser.serialize(value)
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
        return seq is not None and _de.deserialize(seq) == _de.deserialize(op["ExpressionAttributeValues"][":new"])
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

    # --- reading ahead: one round trip for what a request will read ----------------------------------------------
    def read_many(self, keys: Iterable[dict[str, str]], consistent: bool = True) -> dict[tuple[str, str], Any]:
        """The items at ``keys`` by (pk, sk), None where there is none: one BatchGetItem per 100 keys. Keys DynamoDB
        leaves unprocessed (throttling) are asked again, with jittered back-off, at most ``UNPROCESSED_ATTEMPTS``
        calls per chunk; still unprocessed after that is ``ReadsUnprocessed``."""
        wanted = list(dict.fromkeys((k["pk"], k["sk"]) for k in keys))
        found: dict[tuple[str, str], Any] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            chunk = [{"pk": pk, "sk": sk} for pk, sk in wanted[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self.table: {"Keys": [to_item(k) for k in chunk], "ConsistentRead": consistent}}
            for attempt in range(UNPROCESSED_ATTEMPTS):
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    plain = from_item(item)
                    found[(plain["pk"], plain["sk"])] = plain
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt < UNPROCESSED_ATTEMPTS - 1:
                    time.sleep(random.uniform(0, 0.05 * 2**attempt))
            else:
                left = len(request.get(self.table, {}).get("Keys", []))
                raise ReadsUnprocessed(f"{left} keys unprocessed after {UNPROCESSED_ATTEMPTS} BatchGetItem calls")
        return found

    def prefetch(
        self,
        keys: Iterable[dict[str, str]],
        queries: Iterable[dict[str, Any]] = (),
        consistent: bool = True,
        known: dict[tuple[str, str], dict[str, Any] | None] | None = None,
    ) -> dict[tuple[str, str], Any]:
        """Read ahead, in one round trip, what this request will read: ``keys`` in one BatchGetItem and ``queries``
        (Query requests as ``query_request`` builds them) at the same time, on threads. Later ``get`` and
        ``run_query`` calls of the request are answered from it until the request ends (``forget``) or it commits.
        ``known``: items the caller holds already (a container cache), held for eventually consistent reads only."""
        keys, queries = list(keys), list(queries)
        held = dict(_held.get() or {})
        for (pk, sk), item in (known or {}).items():
            held[(self.table, pk, sk)] = (item, False)
        found: dict[tuple[str, str], Any] = {}
        if queries:
            with ThreadPoolExecutor(max_workers=len(queries) + 1) as pool:
                batch = pool.submit(self.read_many, keys, consistent) if keys else None
                answers = [pool.submit(self._query_pages, q) for q in queries]
                found = batch.result() if batch else {}
                for query, answer in zip(queries, answers, strict=True):
                    held[(self.table, _query_id(query))] = answer.result()
        elif keys:
            found = self.read_many(keys, consistent)
        for (pk, sk), item in found.items():
            held[(self.table, pk, sk)] = (item, consistent)
        _held.set(held)
        return found

    def forget(self) -> None:
        """End the read-ahead of this request: later reads go to DynamoDB."""
        _held.set(None)

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
        self.forget()  # what was read ahead is before this write: a retry, or a read after it, reads anew
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
            clauses = []
            for n, (name, value) in enumerate(sorted(filters.items())):
                kwargs["ExpressionAttributeNames"][f"#f{n}"] = name
                kwargs["ExpressionAttributeValues"][f":f{n}"] = {"S": value}
                clauses.append(f"#f{n} = :f{n}")
            kwargs["FilterExpression"] = " AND ".join(clauses)
        listing = f"{index or 'table'}:{pk_value}:{sorted((filters or {}).items())}" + (":asc" if ascending else "")
        if sort_between:
            listing += f":{sort_between}"
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, allowed_prefix, listing)
        answer = self.client.query(**kwargs)
        last = answer.get("LastEvaluatedKey")
        return Page([from_item(i) for i in answer.get("Items", [])], encode_cursor(last, listing) if last else None)


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
