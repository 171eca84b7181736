"""Tax rates (``/v1/tax_rates``) and the tenant's tax settings (``/v1/settings/tax``). Thin routes: parse, call one
service of billing.services.taxes, answer; POSTs and the PUT take an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, context
from billing.domain.base_model import BaseModel
from billing.domain.tax import TaxRate, TaxSettings
from billing.services import taxes
from billing.services.taxes import CreateTaxRate, TaxSettingsIn, UpdateTaxRate

router = APIGatewayHttpRouter()
door = Door(router)

TaxRateId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
TAGS = ["taxes"]


class TaxRateList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TaxRate]
    has_more: bool
    next_cursor: str | None


@router.post(
    "/v1/tax_rates",
    tags=TAGS,
    summary="Create a tax rate: display name, jurisdiction, percentage (up to 4 decimals), inclusive or not",
    responses={201: {"description": "Created"}},
)
def create_tax_rate(body: CreateTaxRate) -> Response[TaxRate]:
    return door.post(201, lambda claim: taxes.create_tax_rate(context(), door.tenant(), body, claim))


@router.get(
    "/v1/tax_rates",
    tags=TAGS,
    summary="The tenant's tax rates, oldest first; `active=true|false` keeps the active or the archived ones",
)
def list_tax_rates(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    active: Annotated[bool | None, Query()] = None,
) -> TaxRateList:
    data, next_cursor = taxes.list_tax_rates(context(), door.tenant(), limit, cursor, active)
    return TaxRateList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/tax_rates/<tax_rate_id>", tags=TAGS, summary="Retrieve a tax rate")
def get_tax_rate(tax_rate_id: TaxRateId) -> TaxRate:
    return taxes.get_tax_rate(context(), door.tenant(), tax_rate_id)


@router.post(
    "/v1/tax_rates/<tax_rate_id>",
    tags=TAGS,
    summary="Rename a tax rate or archive/unarchive it (`display_name`, `active`); nothing else ever changes",
    description="Any other field is 422 `tax_rate_immutable`: create a new rate and archive this one. A rate the "
    "tax settings name cannot be archived (409 `tax_rate_in_use`).",
)
def update_tax_rate(tax_rate_id: TaxRateId, body: UpdateTaxRate) -> Response[TaxRate]:
    return door.post(200, lambda claim: taxes.update_tax_rate(context(), door.tenant(), tax_rate_id, body, claim))


@router.get("/v1/settings/tax", tags=["settings"], summary="The tenant's tax settings: default rate, rules by place")
def get_tax_settings() -> TaxSettings:
    return taxes.tax_settings(context(), door.tenant())


@router.put(
    "/v1/settings/tax",
    tags=["settings"],
    summary="Replace the tenant's tax settings (default rate; rules by customer country and region)",
)
def put_tax_settings(body: TaxSettingsIn) -> Response[TaxSettings]:
    return door.post(200, lambda claim: taxes.replace_tax_settings(context(), door.tenant(), body, claim))
