"""The write-sharded lists' keys (billing.adapters.keys): every entry a writer makes is in one of the partitions its
reader queries, the shards are even over ids, the per-customer list stays one partition; and the parallel reads
(billing.adapters.dynamodb.in_parallel) keep their order, the caller's context, and its errors."""

from __future__ import annotations

import contextvars
from collections import Counter

import pytest

from billing.adapters import keys
from billing.adapters.dynamodb import decode_position, encode_position, in_parallel, started
from billing.domain.errors import ValidationFailed

IDS = [f"in_01JE{n:022d}" for n in range(8000)]


def test_every_entry_is_on_a_partition_its_listing_reads():
    for invoice_id in IDS[:200]:
        attrs = keys.invoice_index_attrs("ten_a", "cus_1", "open", invoice_id)
        assert attrs["gsi3pk"] in keys.invoice_lists("ten_a")
        assert attrs["gsi2pk"] in keys.invoice_lists("ten_a", "open")
        assert attrs["gsi2pk"] not in keys.invoice_lists("ten_a", "paid") + keys.invoice_lists("ten_b", "open")
        assert attrs["gsi1pk"] == keys.customer_invoices("ten_a", "cus_1")  # a customer's own list: one partition
        assert keys.subscription_list_attrs("ten_a", invoice_id)["gsi3pk"] in keys.subscription_lists("ten_a")
        assert keys.attention_index_attrs("2026-12-07", "ten_a", invoice_id)["gsi4pk"] in keys.attention_days(
            "2026-12-07"
        )
    partitions = keys.invoice_lists("ten_a") + keys.subscription_lists("ten_a") + keys.attention_days("2026-12-07")
    assert len(set(partitions)) == 3 * keys.LIST_SHARDS


def test_the_shards_are_even_over_ids_and_stable():
    counts = Counter(keys.list_shard(i) for i in IDS)
    assert sorted(counts) == list(range(keys.LIST_SHARDS))
    expected = len(IDS) / keys.LIST_SHARDS
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts
    assert keys.list_shard("in_01JE0000000000000000000042") == keys.list_shard("in_01JE0000000000000000000042")


def test_a_sharded_lists_entries_of_an_invoice_share_its_shard():
    """All of an invoice's index entries are in the same shard number, so a change of status moves it between the
    same shard of two status lists."""
    for invoice_id in IDS[:50]:
        shard = str(keys.list_shard(invoice_id))
        before = keys.invoice_index_attrs("t", "c", "draft", invoice_id)
        after = keys.invoice_index_attrs("t", "c", "open", invoice_id)
        assert before["gsi2pk"].rsplit("#", 1)[1] == after["gsi2pk"].rsplit("#", 1)[1] == shard
        assert before["gsi3pk"] == after["gsi3pk"]


ACTOR = contextvars.ContextVar("actor", default=None)


def test_in_parallel_keeps_the_order_the_context_and_the_error():
    token = ACTOR.set("api_key:abc")
    try:
        assert in_parallel(lambda n: (n * n, ACTOR.get()), range(40)) == [(n * n, "api_key:abc") for n in range(40)]
    finally:
        ACTOR.reset(token)
    assert in_parallel(lambda n: n, []) == [] and in_parallel(lambda n: n + 1, [1]) == [2]

    def fails_on_3(n: int) -> int:
        if n == 3:
            raise RuntimeError("shard 3")
        return n

    with pytest.raises(RuntimeError, match="shard 3"):
        in_parallel(fails_on_3, range(8))
    # a call it runs may itself read in parallel: with every thread of the pool busy, it does not wait on itself
    nested = in_parallel(lambda n: sum(in_parallel(lambda m: m, range(n))), range(40))
    assert nested == [n * (n - 1) // 2 for n in range(40)]


def test_started_calls_run_while_the_caller_goes_on_and_hand_back_answers_and_errors_through_their_futures():
    import threading

    release = threading.Event()

    def waits(n: int) -> int:
        if n == 3:
            raise RuntimeError("call 3")
        release.wait(5)
        return n * 10

    futures = started(waits, range(5))
    assert not any(f.done() for f in futures[:3])  # under way: the caller was not kept waiting
    release.set()
    assert [f.result() for f in (futures[0], futures[1], futures[2], futures[4])] == [0, 10, 20, 40]
    assert isinstance(futures[3].exception(), RuntimeError)
    (one,) = started(lambda n: n + 1, [1])  # a single call runs here and now
    assert one.done() and one.result() == 2
    # from a pool thread, each runs at once in that thread (a pool waiting on itself could stall)
    assert in_parallel(lambda n: all(f.done() for f in started(lambda m: m, range(n))), range(20)) == [True] * 20


def test_a_position_round_trips_and_only_in_its_own_listing():
    cursor = encode_position("in_01JE42", "gsi3:gsi3pk:T#a#INV#0,T#a#INV#1:desc")
    assert decode_position(cursor, "gsi3:gsi3pk:T#a#INV#0,T#a#INV#1:desc") == "in_01JE42"
    with pytest.raises(ValidationFailed):
        decode_position(cursor, "gsi3:gsi3pk:T#b#INV#0,T#b#INV#1:desc")
