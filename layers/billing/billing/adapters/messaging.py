"""Outbound messaging adapters: SQS for work, SES for email."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any


@dataclass
class SqsPublisher:
    client: Any

    def send(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        """Send JSON messages, ten to a request; raise if SQS refused any, so the caller's batch is retried."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(n), "MessageBody": json.dumps(m, default=str)} for n, m in enumerate(chunk)]
            answer = self.client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} messages: {answer['Failed'][0]}")

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
