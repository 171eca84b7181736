"""The local runtime counts an SQS message's ``DelaySeconds`` on the stack's clock (infra.local.aws.DelayedMessages):
a delayed ``SendMessage`` is held with its due instant, answered as SQS would, and handed back due-first; one with no
delay goes to moto as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from billing.adapters.clock import FixedClock
from infra.local.aws import DelayedMessages

T0 = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


def test_a_delayed_send_is_held_until_its_instant_on_the_stacks_clock():
    clock = FixedClock(T0)
    held = DelayedMessages(clock)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    held.register(session)
    sqs = session.client("sqs")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    answer = sqs.send_message(QueueUrl=url, MessageBody='{"n": 1}', DelaySeconds=900)  # no request leaves
    assert answer["MessageId"].startswith("held-")
    clock.advance(timedelta(seconds=10))
    sqs.send_message(QueueUrl=url, MessageBody='{"n": 2}', DelaySeconds=5)
    assert held.next_due() == T0 + timedelta(seconds=15)
    assert held.pop() == {"QueueUrl": url, "MessageBody": '{"n": 2}'}
    assert held.next_due() == T0 + timedelta(seconds=900)
    assert held.pop()["MessageBody"] == '{"n": 1}'
    assert held.next_due() is None


def test_a_send_without_a_delay_is_not_held():
    held = DelayedMessages(FixedClock(T0))
    assert held.hold(context={"local_send_message": {"QueueUrl": "u", "MessageBody": "b", "DelaySeconds": 0}}) is None
    assert held.hold(context={"local_send_message": {"QueueUrl": "u", "MessageBody": "b"}}) is None
    assert held.next_due() is None
