"""The outbox relay reads the table's stream from its oldest record (issue 11, item 15): an event written before the
mapping existed (a new stack, a replaced mapping) is relayed, not skipped. The local runtime reads the same way."""

from __future__ import annotations

from infra.local import template as tpl


def stream_sources():
    for name, function in tpl.resources(tpl.load(), "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                yield name, event["Properties"]


def test_every_stream_consumer_starts_at_the_oldest_record():
    sources = dict(stream_sources())
    assert sources, "the template has no stream consumer"
    assert {name: p["StartingPosition"] for name, p in sources.items()} == {name: "TRIM_HORIZON" for name in sources}


def test_every_stream_consumer_keeps_what_fails():
    for _, properties in stream_sources():
        assert properties["DestinationConfig"]["OnFailure"]["Destination"]
        assert properties["MaximumRetryAttempts"] >= 1 and properties["BisectBatchOnFunctionError"] is True
