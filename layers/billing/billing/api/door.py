"""What every route module of the API shares: the use cases' context, the caller's tenant, Stripe built only when a
use case calls it, and idempotent POSTs (an ``Idempotency-Key`` claim written with the change it answers for)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.api import idempotency
from billing.services.unit import Context


def context() -> Context:
    return bootstrap.deps().context


def stripe() -> Any:
    return bootstrap.deps().stripe


class LazyStripe:
    """The Stripe gateway for a use case that may not call it: built (and the SDK imported) on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(stripe(), name)


class Door:
    """A router's view of the request: whose it is, and how a POST answers once per Idempotency-Key."""

    def __init__(self, router: APIGatewayHttpRouter) -> None:
        self.router = router

    def tenant(self) -> str:
        return self.router.context["tenant_id"]

    def scopes(self) -> frozenset[str]:
        """The scopes of the request's API key (billing.api.scopes): a route whose option needs more checks them."""
        return self.router.context.get("scopes") or frozenset()

    def post(self, status: int, action: Any) -> Response:
        event = self.router.current_event
        return idempotency.run(
            context(),
            self.tenant(),
            event.headers or {},
            event.http_method,
            event.path,
            event.body,
            status,
            lambda claim: action(claim).model_dump(mode="json", by_alias=True),
        )
