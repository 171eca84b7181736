"""``GET /v1/events``: the audit trail of the caller's tenant. No route edits or deletes an event."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.domain.base_model import BaseModel
from billing.outbound.envelope import Envelope
from billing.services import audit

router = APIGatewayHttpRouter()
# an ISO 8601 instant, to the minute or finer; the offset is required (the service says so when it is missing)
INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"


class EventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Envelope]
    has_more: bool
    next_cursor: str | None


@router.get(
    "/v1/events",
    summary="The audit trail: the tenant's events, newest first",
    description="Who (an API key's id, a job, a Stripe event, a portal customer), what (the type, the object and "
    "its version, `data.changes` before/after for a change) and when, for every change. Filters combine; a `type` "
    "filter may leave a page short while `has_more` is true. Events are never edited or deleted.",
    tags=["audit"],
)
def list_events(
    type_: Annotated[str | None, Query(alias="type", max_length=64, description="one catalog type")] = None,
    object_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")] = None,
    from_: Annotated[str | None, Query(alias="from", pattern=INSTANT, description="at or after (with offset)")] = None,
    to: Annotated[str | None, Query(pattern=INSTANT, description="at or before (ISO 8601 with its offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> EventList:
    tenant_id = router.context["tenant_id"]
    data, next_cursor = audit.events(
        bootstrap.deps().context, tenant_id, type_, object_id, from_, to, limit, cursor
    )
    return EventList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)
