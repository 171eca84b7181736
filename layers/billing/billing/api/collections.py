"""Collection cases (``/v1/collection_cases``): the human side of dunning. Thin routes: parse, call one service of
billing.services.collections, answer; POSTs take an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, context
from billing.domain.base_model import BaseModel
from billing.domain.collections import AssignRequest, CaseStatus, NoteRequest, PromiseRequest, ResolveRequest
from billing.services import collections
from billing.services.collections import CollectionCaseResource, Sort

router = APIGatewayHttpRouter()
door = Door(router)

CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
TAGS = ["collection_cases"]


class CollectionCaseList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CollectionCaseResource]
    has_more: bool
    next_cursor: str | None


@router.get(
    "/v1/collection_cases",
    tags=TAGS,
    summary="The tenant's collection cases, of a status or all, oldest first (age) or largest first (amount)",
    description="One page per call (`limit`, `cursor`). `sort=age` (default): oldest opened first; `sort=amount`: "
    "the largest amount due at opening first (compared in minor units, whatever the currency). The invoice's "
    "amount due now is in `GET /v1/collection_cases/{collection_case_id}`.",
)
def list_collection_cases(
    status: Annotated[CaseStatus | None, Query()] = None,
    sort: Annotated[Sort, Query()] = "age",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> CollectionCaseList:
    found, next_cursor = collections.list_cases(context(), door.tenant(), status, sort, limit, cursor)
    return CollectionCaseList(data=found, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get(
    "/v1/collection_cases/<collection_case_id>", tags=TAGS, summary="A collection case, with its invoice's state now"
)
def get_collection_case(collection_case_id: CaseId) -> CollectionCaseResource:
    return collections.get_case(context(), door.tenant(), collection_case_id)


@router.post("/v1/collection_cases/<collection_case_id>/assign", tags=TAGS, summary="Assign the case to a person")
def assign_collection_case(collection_case_id: CaseId, body: AssignRequest) -> Response[CollectionCaseResource]:
    return door.post(200, lambda claim: collections.assign(context(), door.tenant(), collection_case_id, body, claim))


@router.post(
    "/v1/collection_cases/<collection_case_id>/notes", tags=TAGS, summary="Add a note to the case (notes are kept)"
)
def add_collection_case_note(collection_case_id: CaseId, body: NoteRequest) -> Response[CollectionCaseResource]:
    return door.post(200, lambda claim: collections.add_note(context(), door.tenant(), collection_case_id, body, claim))


@router.post(
    "/v1/collection_cases/<collection_case_id>/promise_to_pay",
    tags=TAGS,
    summary="Record a promise to pay by a date: dunning pauses until then and resumes by itself if it is broken",
)
def record_promise_to_pay(collection_case_id: CaseId, body: PromiseRequest) -> Response[CollectionCaseResource]:
    return door.post(
        200, lambda claim: collections.record_promise(context(), door.tenant(), collection_case_id, body, claim)
    )


@router.post(
    "/v1/collection_cases/<collection_case_id>/resolve",
    tags=TAGS,
    summary="Resolve the case (paid, payment_plan, written_off, disputed, other)",
)
def resolve_collection_case(collection_case_id: CaseId, body: ResolveRequest) -> Response[CollectionCaseResource]:
    return door.post(200, lambda claim: collections.resolve(context(), door.tenant(), collection_case_id, body, claim))
