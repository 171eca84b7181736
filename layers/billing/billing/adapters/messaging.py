"""Outbound messaging adapters: SQS for work, SES for email, EventBridge for events out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

from billing.adapters.dynamodb import in_parallel


@dataclass
class SqsPublisher:
    client: Any

    def send(
        self, queue_url: str, messages: list[dict[str, Any]], fifo: list[tuple[str, str]] | None = None
    ) -> None:
        """Send JSON messages, ten to a request; raise if SQS refused any, so the caller's batch is retried. To a
        FIFO queue, ``fifo`` gives each message's (MessageGroupId, MessageDeduplicationId)."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries: list[dict[str, Any]] = [
                {"Id": str(n), "MessageBody": json.dumps(m, default=str)} for n, m in enumerate(chunk)
            ]
            if fifo is not None:
                for entry, (group, dedup) in zip(entries, fifo[start : start + 10], strict=True):
                    entry.update(MessageGroupId=group, MessageDeduplicationId=dedup)
            answer = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} messages: {answer['Failed'][0]}")

    def send_parallel(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        """Send JSON messages to a standard queue, ten to a SendMessageBatch, the batches in parallel (one round trip
        for up to ``PARALLEL_CALLS`` batches: a billing page's hundred messages); raise if SQS refused any. Not for a
        FIFO queue: parallel batches have no order."""
        chunks = [messages[start : start + 10] for start in range(0, len(messages), 10)]
        in_parallel(lambda chunk: self.send(queue_url, chunk), chunks)

    def send_later(self, queue_url: str, message: dict[str, Any], delay_seconds: int) -> None:
        """Send one JSON message that becomes visible after ``delay_seconds`` (SQS's 0 to 900; more is cut to 900:
        a consumer that gets it early sends it on). The local runtime counts the delay on the stack's clock."""
        delay = max(0, min(900, int(delay_seconds)))
        self.client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, default=str), DelaySeconds=delay)


def source(display_name: str, address: str) -> str:
    """The From header SES takes: the display name quoted or, outside ASCII, RFC 2047 encoded (SES refuses a raw
    ``"云账单" <…>``), whatever quotes or brackets the tenant's name holds."""
    return formataddr((display_name, address), charset="utf-8")


@dataclass
class SesMailer:
    client: Any
    sender: str
    configuration_set: str | None = None  # its event destination reports bounces and complaints

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        sender_name: str,
        reply_to: str | None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Send one email; ``tags`` (SES message tags) come back in the bounce or complaint notification."""
        extra: dict[str, Any] = {"ConfigurationSetName": self.configuration_set} if self.configuration_set else {}
        answer = self.client.send_email(
            **extra,
            Tags=[{"Name": name, "Value": value} for name, value in (tags or {}).items()],
            Source=source(sender_name, self.sender),
            Destination={"ToAddresses": [to]},
            ReplyToAddresses=[reply_to] if reply_to else [],
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
            },
        )
        return answer["MessageId"]


# EventBridge's limits on one PutEvents request: ten entries, 256 KB in all.
PUT_EVENTS_ENTRIES, PUT_EVENTS_BYTES = 10, 256 * 1024


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it (its time as 14 bytes, then the UTF-8 of its text fields)."""
    texts = [entry.get("Source", ""), entry.get("DetailType", ""), entry.get("Detail", ""), *entry.get("Resources", [])]
    return 14 + sum(len(text.encode()) for text in texts)


@dataclass
class EventBridgeBus:
    """Puts entries on one event bus; an entry it refuses is sent again, and what is still refused raises."""

    client: Any
    bus_name: str
    attempts: int = 3

    def put(self, entries: list[dict[str, Any]]) -> int:
        batches: list[list[dict[str, Any]]] = []
        size = 0
        for entry in entries:
            entry = {**entry, "EventBusName": self.bus_name}
            grown = size + entry_size(entry)
            if not batches or len(batches[-1]) == PUT_EVENTS_ENTRIES or grown > PUT_EVENTS_BYTES:
                batches.append([])
                grown = entry_size(entry)
            batches[-1].append(entry)
            size = grown
        for batch in batches:
            self._put_batch(batch)
        return len(entries)

    def _put_batch(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(self.attempts):
            answer = self.client.put_events(Entries=batch)
            if not answer.get("FailedEntryCount"):
                return
            # the answer's entries are in the request's order; a failed one has an ErrorCode instead of an EventId
            failed = [entry for entry, result in zip(batch, answer["Entries"], strict=True) if result.get("ErrorCode")]
            errors = [r for r in answer["Entries"] if r.get("ErrorCode")]
            batch = failed
            if attempt < self.attempts - 1:
                time.sleep(0.1 * 2**attempt)
        raise RuntimeError(f"EventBridge refused {len(batch)} events: {errors[0]}")
