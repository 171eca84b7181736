"""The composition root: builds a function's dependencies once per cold start, from its environment.

Tests hand in their own with ``use(...)`` instead of patching module globals. boto3 is imported and its clients
created on first use (``Deps.client``), so nothing connects, and nothing pays for boto3, at import time. Each part
imports its adapter where it is built (the one documented lazy point of every function's imports): a function pays
at INIT only for the modules its handler imports itself, not for every adapter and the ~160 models the repository
reads (docs/benchmarks.md, section 1; tests/unit/test_cold_start.py holds it). Locally, ``AWS_ENDPOINT_URL``
(read by boto3 itself) points them at moto. Under SnapStart, billing.snapstart drops what this module built
(``reset``) after a restore, so no client, session or credential crosses a snapshot.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from billing.adapters import secrets

if TYPE_CHECKING:
    from billing.adapters.analytics import BucketFacts
    from billing.adapters.document_store import DocumentStore
    from billing.adapters.messaging import EventBridgeBus, SesMailer, SqsPublisher
    from billing.adapters.rate_limiter import RateLimiter
    from billing.adapters.stripe_gateway import StripeGateway
    from billing.adapters.webhook_http import WebhookSender
    from billing.services.unit import Clock, Context
    from billing.services.webhook_endpoints import Webhooks


@dataclass
class Deps:
    """Everything a handler needs. Each part is built on first use and kept for the life of the container."""

    env: dict[str, str]

    def client(self, service: str, **config: Any) -> Any:
        """A client of boto3's default session (``config``: botocore ``Config`` options). boto3 is imported here,
        the one lazy point: ≈40 ms of imports paid at a function's first AWS call (or before its SnapStart
        snapshot), not by every INIT."""
        import boto3

        if config:
            from botocore.config import Config

            return boto3.client(service, config=Config(**config))
        return boto3.client(service)

    @cached_property
    def clock(self) -> Clock:
        from billing.adapters.clock import OffsetFileClock, SystemClock

        path = self.env.get("BILLING_CLOCK_FILE")
        return OffsetFileClock(path) if path else SystemClock()

    @cached_property
    def context(self) -> Context:
        from billing.adapters.dynamodb import DynamoStore
        from billing.adapters.repository import Repository
        from billing.services.unit import Context

        # no client-side parameter validation: DynamoDB validates every request itself, and botocore's walk of a
        # 100-item transaction or batch costs more than our code building it (bench/numbering.py)
        client = self.client("dynamodb", parameter_validation=False)
        return Context(repo=Repository(DynamoStore(client, self.env["TABLE_NAME"])), clock=self.clock)

    @cached_property
    def publisher(self) -> SqsPublisher:
        from billing.adapters.messaging import SqsPublisher

        return SqsPublisher(self.client("sqs"))

    @cached_property
    def event_bus(self) -> EventBridgeBus | None:
        """The stack's event bus (``EVENT_BUS_NAME``: the outbox relay's); None where none is named."""
        from billing.adapters.messaging import EventBridgeBus

        name = self.env.get("EVENT_BUS_NAME")
        return EventBridgeBus(self.client("events"), name) if name else None

    @cached_property
    def stripe(self) -> StripeGateway:
        """Stripe with the secret key from SSM (``STRIPE_API_BASE`` points it at localstripe locally)."""
        from billing.adapters.stripe_gateway import StripeGateway  # stripe is heavy: only where it is used

        return StripeGateway(secrets.secret(self.env["STRIPE_SECRET_KEY_PARAM"]), self.env.get("STRIPE_API_BASE"))

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Request rate limits per tenant, source address and pay link (``<KIND>_RATE_LIMIT`` overrides a default),
        counted in the table (billing.adapters.rate_limiter)."""
        from billing.adapters.rate_limiter import RateLimiter, limits_from

        return RateLimiter(self.context.repo.store, limits_from(self.env))

    def webhook_secrets(self) -> list[str]:
        """Every signing secret accepted now (several during a rotation); cached by Powertools for 5 minutes."""
        return secrets.secret_list(self.env["STRIPE_WEBHOOK_SECRETS_PARAM"])

    @cached_property
    def documents(self) -> DocumentStore:
        from billing.adapters.document_store import DocumentStore

        # SigV4 links (S3's only signature in most regions; SigV2 links are refused there)
        client = self.client("s3", signature_version="s3v4")
        return DocumentStore(client, self.env["DOCUMENTS_BUCKET"])

    @cached_property
    def facts(self) -> BucketFacts:
        """The reports' facts: the analytics bucket's latest export (Athena's for a tenant past the line, where the
        stack names its workgroup)."""
        from billing.adapters.analytics import BucketFacts

        workgroup, database = self.env.get("ATHENA_WORKGROUP"), self.env.get("GLUE_DATABASE")
        athena = (self.client("athena"), workgroup, database) if workgroup and database else None
        return BucketFacts(self.client("s3"), self.env["ANALYTICS_BUCKET"], athena)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Tenant webhook endpoints: their store, the queue that carries attempts, and the URL policy
        (``WEBHOOKS_ALLOW_LOCAL=true`` only on the local stack: http and loopback targets)."""
        from billing.adapters.webhook_store import WebhookStore
        from billing.services.webhook_endpoints import Webhooks

        store = WebhookStore(self.context.repo.store)
        allow_local = self.env.get("WEBHOOKS_ALLOW_LOCAL", "false").lower() == "true"
        return Webhooks(store, self.publisher, self.env.get("WEBHOOK_EVENTS_QUEUE_URL", ""), allow_local)

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        """The HTTP side of deliveries; its timeout is 15 s (``WEBHOOK_TIMEOUT_SECONDS`` shortens it locally)."""
        from billing.adapters.webhook_http import TIMEOUT_SECONDS, WebhookSender

        timeout = float(self.env.get("WEBHOOK_TIMEOUT_SECONDS") or TIMEOUT_SECONDS)
        return WebhookSender(allow_local=self.webhooks.allow_local, timeout=min(timeout, TIMEOUT_SECONDS))

    @cached_property
    def mailer(self) -> SesMailer:
        from billing.adapters.messaging import SesMailer

        return SesMailer(self.client("ses"), self.env["EMAIL_FROM"], self.env.get("SES_CONFIGURATION_SET") or None)


_deps: Deps | None = None


def deps() -> Deps:
    global _deps
    if _deps is None:
        _deps = Deps(env=dict(os.environ))
    return _deps


def reset() -> None:
    """Forget every client, session and credential built so far (after a SnapStart restore): rebuilt on next use."""
    global _deps
    _deps = None
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None  # the session caches the credentials it resolved


def use(replacement: Deps | None) -> None:
    """Install ``replacement`` as the dependencies of every handler in this process (``None``: rebuild lazily)."""
    global _deps
    _deps = replacement
