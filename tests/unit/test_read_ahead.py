"""Reading ahead (billing.adapters.dynamodb): ``get_many`` asks again for what BatchGetItem leaves unprocessed;
``prefetch`` answers the request's later reads only inside its ``read_scope``, and never after a commit; the key
cache (billing.adapters.key_cache) keeps an entry ``KEY_CACHE_TTL`` on the clock it is given. A stub client."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.adapters.dynamodb import DynamoStore, to_item
from billing.adapters.key_cache import KEY_CACHE_TTL, KeyCache
from billing.domain.errors import ConcurrentModification
from billing.services.tenants import key_usable

TABLE = "t"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class StubClient:
    """A table of items by (pk, sk); BatchGetItem leaves the first ``unprocessed`` keys of each call unprocessed
    (as DynamoDB does under throttling) while ``throttled`` calls remain."""

    def __init__(self, items: list[dict[str, str]], throttled: int = 0, unprocessed: int = 1) -> None:
        self.items = {(i["pk"], i["sk"]): i for i in items}
        self.throttled, self.unprocessed = throttled, unprocessed
        self.calls: list[str] = []
        self.lock = threading.Lock()  # get_many asks in parallel

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        with self.lock:
            return self._batch_get_item(RequestItems)

    def _batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.calls.append("BatchGetItem")
        request = RequestItems[TABLE]
        asked = [(k["pk"]["S"], k["sk"]["S"]) for k in request["Keys"]]
        left = asked[: self.unprocessed] if self.throttled > 0 else []
        self.throttled -= 1
        answer: dict[str, Any] = {
            "Responses": {TABLE: [to_item(self.items[k]) for k in asked if k not in left and k in self.items]}
        }
        if left:
            keys = [to_item({"pk": pk, "sk": sk}) for pk, sk in left]
            answer["UnprocessedKeys"] = {TABLE: {"Keys": keys, "ConsistentRead": request["ConsistentRead"]}}
        return answer

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:  # noqa: N803
        self.calls.append("GetItem")
        found = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": to_item(found)} if found else {}

    def put_item(self, **_: Any) -> dict[str, Any]:
        self.calls.append("PutItem")
        return {}

    update_item = delete_item = put_item


ITEMS = [{"pk": f"T#a#CUS#{n}", "sk": "CUSTOMER", "doc": f"customer {n}"} for n in range(3)]
KEYS = [{"pk": i["pk"], "sk": i["sk"]} for i in ITEMS]


def test_keys_left_unprocessed_are_asked_again_until_none_is_left():
    client = StubClient(ITEMS, throttled=2)
    found = DynamoStore(client, TABLE).get_many([*KEYS, {"pk": "T#a#CUS#none", "sk": "CUSTOMER"}])
    assert sorted(i["doc"] for i in found) == ["customer 0", "customer 1", "customer 2"]
    assert client.calls == ["BatchGetItem"] * 3


def test_more_than_a_hundred_keys_are_read_in_parallel_batches_each_asking_again_for_what_it_left():
    many = [{"pk": f"T#a#INV#{n:03}", "sk": "INVOICE", "doc": f"invoice {n}"} for n in range(250)]
    client = StubClient(many, throttled=2)  # two of the three batches' first answers leave a key unprocessed
    keys = [{"pk": i["pk"], "sk": i["sk"]} for i in many]
    found = DynamoStore(client, TABLE).get_many([*keys, *keys[:10]])  # a key asked twice is read once
    assert sorted(i["doc"] for i in found) == sorted(i["doc"] for i in many)
    assert client.calls.count("BatchGetItem") == 5


def test_keys_unprocessed_after_every_attempt_fail_the_read_as_a_throttle_would(monkeypatch):
    monkeypatch.setattr("billing.adapters.dynamodb.time.sleep", lambda _: None)
    client = StubClient(ITEMS, throttled=10_000)
    with pytest.raises(ConcurrentModification):
        DynamoStore(client, TABLE).get_many(KEYS)


def test_what_was_read_ahead_answers_the_request_inside_its_scope_only():
    client = StubClient(ITEMS)
    store = DynamoStore(client, TABLE)
    with store.read_scope():
        found = store.prefetch([*KEYS, {"pk": "T#a#CUS#none", "sk": "CUSTOMER"}])
        assert found[("T#a#CUS#none", "CUSTOMER")] is None
        assert store.get(KEYS[0])["doc"] == "customer 0"
        assert store.get({"pk": "T#a#CUS#none", "sk": "CUSTOMER"}) is None  # a miss read ahead is an answer too
        assert client.calls == ["BatchGetItem"]
    assert store.get(KEYS[0])["doc"] == "customer 0"
    assert client.calls == ["BatchGetItem", "GetItem"]  # the scope ended: read anew

    client.calls.clear()
    store.prefetch(KEYS)  # outside a scope: nothing is held (a worker's next message must not see it)
    store.get(KEYS[0])
    assert client.calls == ["BatchGetItem", "GetItem"]


def test_a_commit_ends_the_read_ahead_so_a_retry_reads_anew():
    client = StubClient(ITEMS)
    store = DynamoStore(client, TABLE)
    with store.read_scope():
        store.prefetch(KEYS)
        tx = store.transaction()
        tx.put_new({"pk": "T#a#CUS#9", "sk": "CUSTOMER"})
        store.commit(tx)
        store.get(KEYS[0])
    assert client.calls == ["BatchGetItem", "PutItem", "GetItem"]


def test_a_cached_item_answers_only_eventually_consistent_reads():
    client = StubClient(ITEMS)
    store = DynamoStore(client, TABLE)
    with store.read_scope():
        store.prefetch([], known={(KEYS[1]["pk"], KEYS[1]["sk"]): {**ITEMS[1], "doc": "as cached"}})
        assert store.get(KEYS[1], consistent=False)["doc"] == "as cached"
        assert client.calls == []
        assert store.get(KEYS[1], consistent=True)["doc"] == "customer 1"
        assert client.calls == ["GetItem"]


def test_a_cache_entry_lives_the_ttl_on_the_clock_it_is_given():
    cache = KeyCache()
    cache.put("T#a#KEY#1", NOW, {"pk": "T#a#KEY#1"}, {"pk": "T#a"})
    assert cache.get("T#a#KEY#1", NOW + KEY_CACHE_TTL - timedelta(microseconds=1)) is not None
    assert cache.get("T#a#KEY#1", NOW + KEY_CACHE_TTL) is None
    cache.put("T#a#KEY#1", NOW, {"pk": "T#a#KEY#1"}, {"pk": "T#a"})
    assert cache.get("T#a#KEY#1", NOW - timedelta(seconds=1)) is None  # a clock moved back: stale, not forever
    cache.put("T#a#KEY#1", NOW, {"pk": "T#a#KEY#1"}, {"pk": "T#a"})
    cache.written({"T#a"})  # this container wrote the tenant: the entry goes at once
    assert cache.get("T#a#KEY#1", NOW) is None


def test_a_key_is_usable_until_its_revocation_or_its_expiry():
    key = {"pk": "T#a#KEY#1", "sk": "APIKEY"}
    assert key_usable(key, NOW)
    assert not key_usable(None, NOW)
    assert not key_usable({**key, "revoked": True}, NOW)
    assert key_usable({**key, "revoked_at": (NOW + timedelta(seconds=1)).isoformat()}, NOW)
    assert not key_usable({**key, "revoked_at": NOW.isoformat()}, NOW)
    assert key_usable({**key, "key_expires_at": (NOW + timedelta(seconds=1)).isoformat()}, NOW)
    assert not key_usable({**key, "key_expires_at": NOW.isoformat()}, NOW)
