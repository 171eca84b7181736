"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) over the exact body,
by the ``standardwebhooks`` package: one ``v1,`` signature per secret in force, space-separated, so that during a
secret's rotation a receiver holding either the old or the new secret verifies the same request."""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 random bits


def new_secret() -> str:
    """A signing secret as the spec writes it: ``whsec_`` and the base64 of 24 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def headers(message_id: str, timestamp: datetime, body: str, signing_secrets: list[str]) -> dict[str, str]:
    """The three headers of a delivery of ``body`` sent at ``timestamp`` (UTC, to the second), signed with every
    secret of ``signing_secrets`` (at least one)."""
    if not signing_secrets:
        raise ValueError("a webhook is signed with at least one secret")
    at = timestamp.astimezone(UTC).replace(tzinfo=None)  # the library reads a naive time as UTC
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in signing_secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
