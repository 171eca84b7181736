"""Failed SQS messages come back later and later, not every 180 s: an SES or Stripe outage of a day leaves its work
in the queue, not in the dead-letter queues.

A worker reports its failed messages (``batchItemFailures``); each one's visibility is then set from how many times
it was received: 30 s, 2 min, 8 min, 32 min, about 2 h, 8.5 h, then SQS's 12 h maximum, each ±20 % so that a
burst of failures does not come back as a burst. With the queues' ``maxReceiveCount`` of 10 a message is tried for
about two days before it lands in its DLQ (docs/deploy.md, "Redriving a dead-letter queue").
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.exceptions import ClientError

from billing.observability import logger

FIRST = 30  # seconds before the first retry
FACTOR = 4
MAX = 12 * 3600  # SQS's longest visibility timeout
JITTER = 0.2


def delay(receive_count: int, rng: random.Random | None = None) -> int:
    """Seconds until a message received ``receive_count`` times comes back."""
    base = min(MAX, FIRST * FACTOR ** max(0, receive_count - 1))
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    return max(1, min(MAX, round(jittered)))


def queue_url(record: dict[str, Any]) -> str:
    _, _, _, region, account, name = record["eventSourceARN"].split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def back_off(sqs: Any, event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Set each failed message's visibility by ``delay``; ``response`` is returned as is. A message whose
    visibility cannot be changed comes back after the queue's own timeout, as before."""
    failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
    for record in event.get("Records", []):
        if record.get("messageId") not in failed:
            continue
        receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
        try:
            sqs.change_message_visibility(
                QueueUrl=queue_url(record),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=delay(receive_count),
            )
        except ClientError:
            logger.exception("could not back off a failed message", extra={"message_id": record.get("messageId")})
    return response


def sqs_processor(model: Any = None) -> BatchProcessor:
    """A batch processor that reports a wholly failed batch as failures (to back off), not as an exception."""
    return BatchProcessor(event_type=EventType.SQS, model=model, raise_on_entire_batch_failure=False)


def process(
    sqs: Any, event: dict[str, Any], record_handler: Callable[..., Any], processor: BatchProcessor, context: Any
) -> dict[str, Any]:
    """Powertools' partial batch processing, with the failed messages backed off."""
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return back_off(sqs, event, response)
