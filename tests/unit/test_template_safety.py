"""What the template promises for safety (issue 11): the outbox relay reads the table's stream from its oldest record
(an event written before the mapping existed, on a new stack or a replaced mapping, is relayed, not skipped; the
local runtime reads the same way) and keeps what fails; traces hold no personal data or secrets."""

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


def test_traces_capture_neither_responses_nor_error_messages():
    """Issue 11, item 17: responses hold personal data and secrets (emails, addresses, client_secret, pay tokens)."""
    environment = tpl.load()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert environment["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    for function in tpl.resources(tpl.load(), "AWS::Serverless::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert variables.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false") == "false"
