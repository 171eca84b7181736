"""The webhook endpoints API: ``/v1/webhook_endpoints`` and each endpoint's deliveries, retry and replay."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.api.door import Door, context
from billing.domain.base_model import BaseModel
from billing.services import webhook_endpoints as hooks

router = APIGatewayHttpRouter()
door = Door(router)

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
DeliveryStatus = Literal["pending", "succeeded", "failed", "given_up"]
CREATED: dict[int, Any] = {201: {"description": "Created"}}
ACCEPTED: dict[int, Any] = {202: {"description": "Accepted: the attempt is queued"}}
TAGS = ["webhooks"]


class WebhookEndpointList(BaseModel):
    object: Literal["list"] = "list"
    data: list[hooks.WebhookEndpointResource]
    has_more: bool
    next_cursor: str | None


class WebhookDeliveryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[hooks.WebhookDeliveryResource]
    has_more: bool
    next_cursor: str | None


def _hooks() -> hooks.Webhooks:
    return bootstrap.deps().webhooks


@router.post(
    "/v1/webhook_endpoints",
    tags=TAGS,
    summary="Add a webhook endpoint; the answer holds its signing secret, shown this once",
    responses=CREATED,
)
def create_webhook_endpoint(body: hooks.CreateWebhookEndpoint) -> Response[hooks.WebhookEndpointWithSecret]:
    return door.post(201, lambda claim: hooks.create_endpoint(context(), _hooks(), door.tenant(), body, claim))


@router.get("/v1/webhook_endpoints", tags=TAGS, summary="The tenant's webhook endpoints, newest first")
def list_webhook_endpoints(limit: Limit = 20, cursor: Cursor = None) -> WebhookEndpointList:
    data, next_cursor = hooks.list_endpoints(context(), _hooks(), door.tenant(), limit, cursor)
    return WebhookEndpointList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/webhook_endpoints/<webhook_endpoint_id>", tags=TAGS, summary="Retrieve a webhook endpoint")
def get_webhook_endpoint(webhook_endpoint_id: Id) -> hooks.WebhookEndpointResource:
    return hooks.get_endpoint(context(), _hooks(), door.tenant(), webhook_endpoint_id)


@router.patch(
    "/v1/webhook_endpoints/<webhook_endpoint_id>",
    tags=TAGS,
    summary="Change a webhook endpoint's URL, event types or description, or disable or enable it",
)
def update_webhook_endpoint(
    webhook_endpoint_id: Id, body: hooks.UpdateWebhookEndpoint
) -> hooks.WebhookEndpointResource:
    return hooks.update_endpoint(context(), _hooks(), door.tenant(), webhook_endpoint_id, body)


@router.delete("/v1/webhook_endpoints/<webhook_endpoint_id>", tags=TAGS, summary="Delete a webhook endpoint")
def delete_webhook_endpoint(webhook_endpoint_id: Id) -> hooks.DeletedWebhookEndpoint:
    return hooks.delete_endpoint(context(), _hooks(), door.tenant(), webhook_endpoint_id)


@router.post(
    "/v1/webhook_endpoints/<webhook_endpoint_id>/roll_secret",
    tags=TAGS,
    summary="A new signing secret (shown this once); the current one still signs for expires_in_hours (24)",
)
def roll_webhook_secret(
    webhook_endpoint_id: Id, body: hooks.RollSecret | None = None
) -> Response[hooks.WebhookEndpointWithSecret]:
    request = body or hooks.RollSecret()
    return door.post(
        200, lambda claim: hooks.roll_secret(context(), _hooks(), door.tenant(), webhook_endpoint_id, request, claim)
    )


@router.get(
    "/v1/webhook_endpoints/<webhook_endpoint_id>/deliveries",
    tags=TAGS,
    summary="The endpoint's deliveries, newest event first: status, attempts, response codes",
)
def list_webhook_deliveries(
    webhook_endpoint_id: Id,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> WebhookDeliveryList:
    data, next_cursor = hooks.list_deliveries(
        context(), _hooks(), door.tenant(), webhook_endpoint_id, status, limit, cursor
    )
    return WebhookDeliveryList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.post(
    "/v1/webhook_endpoints/<webhook_endpoint_id>/deliveries/<webhook_delivery_id>/retry",
    tags=TAGS,
    summary="Send a delivery again, now (one attempt)",
    responses=ACCEPTED,
)
def retry_webhook_delivery(webhook_endpoint_id: Id, webhook_delivery_id: Id) -> Response[hooks.WebhookDeliveryResource]:
    return door.post(
        202,
        lambda claim: hooks.retry_delivery(
            context(), _hooks(), door.tenant(), webhook_endpoint_id, webhook_delivery_id, claim
        ),
    )


@router.post(
    "/v1/webhook_endpoints/<webhook_endpoint_id>/replay",
    tags=TAGS,
    summary="Send again the endpoint's deliveries of the events of a time window",
    responses=ACCEPTED,
)
def replay_webhooks(webhook_endpoint_id: Id, body: hooks.ReplayRequest) -> Response[hooks.ReplayAnswer]:
    return door.post(
        202, lambda claim: hooks.replay(context(), _hooks(), door.tenant(), webhook_endpoint_id, body, claim)
    )
