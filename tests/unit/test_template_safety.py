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


def test_an_operator_hears_before_anything_reaches_a_dead_letter_queue():
    """Issue 11, item 14: alarms on every function's errors, the API's 5xx, the relay's iterator age and the age of
    the oldest message of every work queue, all to the alarm topic."""
    template = tpl.load()
    alarms = [a["Properties"] for a in tpl.resources(template, "AWS::CloudWatch::Alarm").values()]

    def watched(metric: str) -> list:
        return [d["Value"] for a in alarms if a["MetricName"] == metric for d in a["Dimensions"]]

    functions = tpl.resources(template, "AWS::Serverless::Function")
    assert sorted(v["Ref"] for v in watched("Errors")) == sorted(functions)
    assert [v["Ref"] for v in watched("5xx")] == ["HttpApi"]
    assert [v["Ref"] for v in watched("IteratorAge")] == ["OutboxRelayFunction"]
    queues = [n for n, q in tpl.resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    assert sorted(v["Fn::GetAtt"][0] for v in watched("ApproximateAgeOfOldestMessage")) == sorted(queues)
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)
