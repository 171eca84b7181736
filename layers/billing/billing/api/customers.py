"""Customers in sync with a CRM: list (by e-mail, by external id, by archive state), update, archive."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, LazyStripe, context
from billing.api.params import Cursor, Id, Limit
from billing.domain.base_model import BaseModel
from billing.domain.models import Customer
from billing.services import customers
from billing.services.commands import UpdateCustomer

router = APIGatewayHttpRouter()
door = Door(router)


class CustomerList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Customer]
    has_more: bool
    next_cursor: str | None


@router.get(
    "/v1/customers",
    tags=["customers"],
    summary="The tenant's customers, newest first; or the ones with an e-mail or an external id",
    description="`email` and `external_id` are exact lookups (every match on one page); `archived` keeps only "
    "archived (`true`) or active (`false`) customers. A customer registered before the list existed appears once "
    "it is saved again (docs/api.md).",
)
def list_customers(
    limit: Limit = 20,
    cursor: Cursor = None,
    email: Annotated[str | None, Query(min_length=3, max_length=254)] = None,
    external_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    archived: Annotated[bool | None, Query()] = None,
) -> CustomerList:
    data, next_cursor = customers.list_customers(context(), door.tenant(), limit, cursor, email, external_id, archived)
    return CustomerList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.patch(
    "/v1/customers/<customer_id>",
    tags=["customers"],
    summary="Update a customer (JSON merge): name, email, address, locale, timezone, metadata, external_id; "
    "currency while it has no invoice",
)
def update_customer(customer_id: Id, body: UpdateCustomer) -> Customer:
    return customers.update_customer(context(), LazyStripe(), door.tenant(), customer_id, body)


@router.post(
    "/v1/customers/<customer_id>/archive",
    tags=["customers"],
    summary="Archive a customer: no new orders or subscriptions; invoices, payments and dunning go on",
)
def archive_customer(customer_id: Id) -> Response[Customer]:
    return door.post(200, lambda claim: customers.archive_customer(context(), door.tenant(), customer_id, claim))


@router.post("/v1/customers/<customer_id>/unarchive", tags=["customers"], summary="Bring an archived customer back")
def unarchive_customer(customer_id: Id) -> Response[Customer]:
    return door.post(200, lambda claim: customers.unarchive_customer(context(), door.tenant(), customer_id, claim))
