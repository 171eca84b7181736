"""API keys: made (the secret shown once), listed, revoked, rolled. Every route here needs the ``admin`` scope
(billing.api.scopes)."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, context
from billing.api.params import CREATED, Cursor, Id, Limit
from billing.domain.api_keys import NewApiKey
from billing.domain.base_model import BaseModel
from billing.services import api_keys
from billing.services.api_keys import ApiKeyResource, IssuedApiKey, RollApiKey, RolledApiKey

router = APIGatewayHttpRouter()
door = Door(router)


class ApiKeyList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ApiKeyResource]
    has_more: bool
    next_cursor: str | None


@router.post(
    "/v1/api_keys",
    tags=["api keys"],
    summary="Make an API key with the scopes it needs (its secret is in this answer only)",
    description="Scopes: `read` (every GET), `write` (customers, orders, subscriptions, usage), `payments` (pay, "
    "refund, void, credit notes, payment plans, collections), `admin` (keys, settings, webhook endpoints, the "
    "catalogue). A storefront's key needs `write` (with `read` for its own lookups); a reporting key `read` only.",
    responses=CREATED,
)
def create_api_key(body: NewApiKey) -> Response[IssuedApiKey]:
    return door.post(201, lambda claim: api_keys.create_api_key(context(), door.tenant(), body, claim))


@router.get("/v1/api_keys", tags=["api keys"], summary="The tenant's API keys, newest first (never their secrets)")
def list_api_keys(limit: Limit = 20, cursor: Cursor = None) -> ApiKeyList:
    found, next_cursor = api_keys.list_api_keys(context(), door.tenant(), limit, cursor)
    return ApiKeyList(data=found, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/api_keys/<api_key_id>", tags=["api keys"], summary="Retrieve an API key (never its secret)")
def get_api_key(api_key_id: Id) -> ApiKeyResource:
    return api_keys.get_api_key(context(), door.tenant(), api_key_id)


@router.post(
    "/v1/api_keys/<api_key_id>/revoke",
    tags=["api keys"],
    summary="Revoke an API key: refused within seconds on every container (the key cache's TTL)",
)
def revoke_api_key(api_key_id: Id) -> Response[ApiKeyResource]:
    return door.post(200, lambda claim: api_keys.revoke_api_key(context(), door.tenant(), api_key_id, claim))


@router.post(
    "/v1/api_keys/<api_key_id>/roll",
    tags=["api keys"],
    summary="Roll an API key: a new secret now, the old one valid for the overlap chosen, then dead",
)
def roll_api_key(api_key_id: Id, body: RollApiKey) -> Response[RolledApiKey]:
    return door.post(200, lambda claim: api_keys.roll_api_key(context(), door.tenant(), api_key_id, body, claim))
