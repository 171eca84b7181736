"""Failed messages come back later and later (billing.backoff): enough to outlast a day of SES or Stripe outage
before a message reaches its DLQ, jittered so a burst does not return as a burst (issue 11, item 14)."""

from __future__ import annotations

import random

from billing import backoff
from infra.local import template as tpl


def test_the_delays_grow_to_the_sqs_maximum_and_stay_within_the_jitter():
    rng = random.Random(7)
    for receive_count, base in [(1, 30), (2, 120), (3, 480), (4, 1920), (5, 7680), (6, 30720), (7, 43200), (30, 43200)]:
        for _ in range(50):
            seconds = backoff.delay(receive_count, rng)
            assert 0.8 * base <= seconds <= min(1.2 * base, 43200)
    assert len({backoff.delay(3, rng) for _ in range(50)}) > 10  # jittered, not one instant


def test_a_message_is_kept_more_than_a_day_before_its_dead_letter_queue():
    queues = tpl.resources(tpl.load(), "AWS::SQS::Queue")
    work = {name: q["Properties"] for name, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert work
    for name, properties in work.items():
        receives = properties["RedrivePolicy"]["maxReceiveCount"]
        shortest = sum(0.8 * min(43200, 30 * 4 ** (n - 1)) for n in range(1, receives))
        assert shortest > 24 * 3600, name
        assert properties["MessageRetentionPeriod"] > shortest, name


class Sqs:
    def __init__(self):
        self.changed = []

    def change_message_visibility(self, **request):
        self.changed.append(request)


def test_only_the_failed_messages_are_backed_off_by_how_often_they_came():
    event = {
        "Records": [
            {
                "messageId": "a",
                "receiptHandle": "ra",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123:q",
                "attributes": {"ApproximateReceiveCount": "3"},
            },
            {
                "messageId": "b",
                "receiptHandle": "rb",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123:q",
                "attributes": {"ApproximateReceiveCount": "1"},
            },
        ]
    }
    sqs = Sqs()
    response = {"batchItemFailures": [{"itemIdentifier": "a"}]}
    assert backoff.back_off(sqs, event, response) is response
    [changed] = sqs.changed
    assert (changed["QueueUrl"], changed["ReceiptHandle"]) == ("https://sqs.us-east-1.amazonaws.com/123/q", "ra")
    assert 384 <= changed["VisibilityTimeout"] <= 576
