"""A customer's personal data: its export and its erasure (billing.services.privacy; docs/api.md, "Export and
erasure")."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, LazyStripe, context
from billing.api.params import Id
from billing.domain.errors import Forbidden
from billing.domain.models import Customer
from billing.services import privacy
from billing.services.commands import EraseCustomer

router = APIGatewayHttpRouter()
door = Door(router)
FORCE_SCOPE = "admin"


@router.get(
    "/v1/customers/<customer_id>/export",
    tags=["customers"],
    summary="Everything held about a customer, machine-readable (an admin key: personal data in bulk)",
    description="The customer, each invoice with its bill-to copy, payments, credit notes, e-mails logged and "
    "events, the balance ledger, subscriptions, the customer's own events and its Stripe ids (docs/api.md).",
)
def export_customer(customer_id: Id) -> privacy.CustomerExport:
    return privacy.export_customer(context(), door.tenant(), customer_id)


@router.post(
    "/v1/customers/<customer_id>/erase",
    tags=["customers"],
    summary="Erase a customer's personal data: tombstones everywhere, invoices' numbers, amounts and tax kept",
    description="Refused (409) while a subscription is not canceled or an invoice is a draft, and while money is "
    "owed (`customer_owes_money`) or a dispute is open (`customer_dispute_open`) unless `force` is given by an "
    "admin-scoped key (any other key asking `force` gets 403 `insufficient_scope`). Idempotent: erasing an erased "
    "customer answers it as it is (docs/api.md).",
)
def erase_customer(customer_id: Id, body: EraseCustomer | None = None) -> Response[Customer]:
    body = body or EraseCustomer()
    if body.force and FORCE_SCOPE not in door.scopes():
        raise Forbidden(
            detail=f"this API key lacks the scope {FORCE_SCOPE}, which an erasure with force needs",
            required_scope=FORCE_SCOPE,
        )
    return door.post(
        200, lambda claim: privacy.erase_customer(context(), LazyStripe(), door.tenant(), customer_id, body, claim)
    )
