"""infra/local/patterns.py: the event-pattern subset the local runtime applies as Lambda event filters (literal
lists, ``prefix``, ``exists``, nested objects), first with the outbox relay's filter from template.yaml."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.local import template as tpl
from infra.local.patterns import matches

EVENTS = Path(__file__).resolve().parents[2] / "events"


def relay_filter() -> dict[str, Any]:
    events = tpl.load()["Resources"]["OutboxRelayFunction"]["Properties"]["Events"]
    (stream,) = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
    (only,) = stream["FilterCriteria"]["Filters"]
    return json.loads(only["Pattern"])


def stream_record() -> dict[str, Any]:
    """The INSERT of an event item, as events/dynamodb_stream_event_item.json records it."""
    return json.loads((EVENTS / "dynamodb_stream_event_item.json").read_text())["Records"][0]


def with_item(record: dict[str, Any], sk: str, **attrs: str) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    image = {"pk": record["dynamodb"]["Keys"]["pk"], "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}
    changed["dynamodb"]["Keys"]["sk"] = {"S": sk}
    changed["dynamodb"]["NewImage"] = image
    return changed


# --- the outbox relay's filter ---------------------------------------------------------------------------------------
def test_the_relay_filter_takes_the_insert_of_an_event_item():
    assert matches(relay_filter(), stream_record())


@pytest.mark.parametrize("event_name", ["MODIFY", "REMOVE"])
def test_the_relay_filter_skips_anything_but_an_insert(event_name):
    record = {**stream_record(), "eventName": event_name}
    assert not matches(relay_filter(), record)


@pytest.mark.parametrize(
    ("sk", "attrs"),
    [
        ("CUSTOMER", {"type": "customer", "doc": "{}"}),
        ("INVOICE", {"type": "invoice", "doc": "{}", "status": "open"}),
        ("ORDER", {"type": "order", "doc": "{}"}),
        ("MAIL#evt_1#invoice_issued", {"type": "mail"}),
        ("RUN#2026-12-08T00:05:00+00:00", {"type": "schedule_run"}),
        ("evt#2026-11-23T12:00:00+00:00#evt_1", {"type": "event"}),  # prefixes are case-sensitive
        ("XEVT#2026-11-23T12:00:00+00:00#evt_1", {"type": "event"}),
    ],
)
def test_the_relay_filter_skips_the_insert_of_any_other_item(sk, attrs):
    assert not matches(relay_filter(), with_item(stream_record(), sk, **attrs))


def test_the_relay_filter_takes_any_event_items_insert():
    record = with_item(stream_record(), "EVT#2026-11-23T12:00:00+00:00#evt_2", type="event", doc="{}")
    assert matches(relay_filter(), record)


def test_the_relay_filter_needs_the_new_image():
    keys_only = copy.deepcopy(stream_record())
    del keys_only["dynamodb"]["NewImage"]  # what a KEYS_ONLY stream, or a REMOVE, carries
    assert not matches(relay_filter(), keys_only)
    number_sk = copy.deepcopy(stream_record())
    number_sk["dynamodb"]["NewImage"]["sk"] = {"N": "1"}  # same name, another DynamoDB type
    assert not matches(relay_filter(), number_sk)


# --- literal lists ---------------------------------------------------------------------------------------------------
def test_a_literal_list_is_any_of():
    pattern = {"eventName": ["INSERT", "MODIFY"]}
    assert matches(pattern, {"eventName": "INSERT"})
    assert matches(pattern, {"eventName": "MODIFY"})
    assert not matches(pattern, {"eventName": "REMOVE"})
    assert not matches(pattern, {"eventName": "insert"})


def test_literals_keep_their_json_type():
    assert matches({"n": [5]}, {"n": 5})
    assert not matches({"n": [5]}, {"n": "5"})
    assert not matches({"s": ["5"]}, {"s": 5})
    assert matches({"v": [None]}, {"v": None})
    assert not matches({"v": [None]}, {})
    assert matches({"b": [False]}, {"b": False})
    assert not matches({"b": [False]}, {"b": None})


def test_every_key_must_match_and_other_keys_are_ignored():
    pattern = {"a": ["1"], "b": ["2"]}
    assert matches(pattern, {"a": "1", "b": "2", "c": "anything"})
    assert not matches(pattern, {"a": "1", "b": "3"})
    assert not matches(pattern, {"a": "1"})
    assert matches({}, {"anything": "at all"})


# --- prefix ----------------------------------------------------------------------------------------------------------
def test_prefix():
    pattern = {"sk": [{"prefix": "EVT#"}]}
    assert matches(pattern, {"sk": "EVT#2026"})
    assert matches(pattern, {"sk": "EVT#"})
    assert not matches(pattern, {"sk": "EVT"})
    assert not matches(pattern, {"sk": "evt#2026"})
    assert not matches(pattern, {"sk": " EVT#2026"})
    assert not matches(pattern, {})
    assert not matches(pattern, {"sk": None})
    assert not matches(pattern, {"sk": {"S": "EVT#2026"}})  # a prefix is for strings only
    assert not matches({"n": [{"prefix": "1"}]}, {"n": 12})


def test_a_prefix_among_literals():
    pattern = {"sk": ["CUSTOMER", {"prefix": "EVT#"}]}
    assert matches(pattern, {"sk": "CUSTOMER"})
    assert matches(pattern, {"sk": "EVT#1"})
    assert not matches(pattern, {"sk": "INVOICE"})


# --- exists ----------------------------------------------------------------------------------------------------------
def test_exists():
    assert matches({"a": [{"exists": True}]}, {"a": "x"})
    assert matches({"a": [{"exists": True}]}, {"a": None})  # present, though null
    assert matches({"a": [{"exists": True}]}, {"a": ""})
    assert not matches({"a": [{"exists": True}]}, {"b": "x"})
    assert matches({"a": [{"exists": False}]}, {"b": "x"})
    assert not matches({"a": [{"exists": False}]}, {"a": "x"})


def test_exists_in_a_nested_object():
    pattern = {"dynamodb": {"OldImage": [{"exists": False}]}}
    assert matches(pattern, {"dynamodb": {"NewImage": {}}})
    assert not matches(pattern, {"dynamodb": {"OldImage": {}, "NewImage": {}}})


# --- nested objects and missing keys ---------------------------------------------------------------------------------
def test_nested_objects_match_level_by_level():
    pattern = {"dynamodb": {"NewImage": {"type": {"S": ["event"]}, "sk": {"S": [{"prefix": "EVT#"}]}}}}
    event = {"dynamodb": {"NewImage": {"type": {"S": "event"}, "sk": {"S": "EVT#1"}, "doc": {"S": "{}"}}}}
    assert matches(pattern, event)
    event["dynamodb"]["NewImage"]["type"] = {"S": "mail"}
    assert not matches(pattern, event)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"dynamodb": {}},
        {"dynamodb": {"NewImage": {}}},
        {"dynamodb": {"NewImage": {"sk": {}}}},
        {"dynamodb": "not an object"},
        {"dynamodb": {"NewImage": {"sk": "EVT#1"}}},  # the value where an object is expected
        {"dynamodb": {"NewImage": {"sk": {"S": None}}}},
        {"dynamodb": ["EVT#1"]},
    ],
)
def test_a_missing_or_misshapen_level_does_not_match(event):
    assert not matches({"dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "EVT#"}]}}}}, event)


def test_an_object_pattern_never_equals_a_scalar_and_a_list_pattern_never_equals_an_object():
    assert not matches({"a": {"b": ["1"]}}, {"a": "1"})
    assert not matches({"a": ["1"]}, {"a": {"b": "1"}})


# --- array and boolean semantics, as AWS has them ---------------------------------------------------------
def test_an_array_in_the_event_matches_when_any_element_does():
    assert matches(
        {"resources": ["arn:aws:sqs:us-east-1:123456789012:q"]},
        {"resources": ["x", "arn:aws:sqs:us-east-1:123456789012:q"]},
    )
    assert matches({"tags": [{"prefix": "billing-"}]}, {"tags": ["ops", "billing-dev"]})


def test_a_boolean_is_not_a_number():
    assert not matches({"a": [1]}, {"a": True})
    assert not matches({"a": [True]}, {"a": 1})


def test_an_operator_the_local_runtime_does_not_know_is_an_error_not_a_silent_miss():
    with pytest.raises(ValueError, match="anything-but"):
        matches({"a": [{"anything-but": ["x"]}]}, {"a": "y"})
