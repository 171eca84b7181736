"""Payments received outside Stripe (from the ERP or the finance team): record one, reverse one."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, LazyStripe, context
from billing.api.params import CREATED, Id
from billing.domain.payments import Payment
from billing.services import offline_payments
from billing.services.commands import RecordPayment, ReversePayment

router = APIGatewayHttpRouter()
door = Door(router)
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


@router.post(
    "/v1/invoices/<invoice_id>/payments",
    tags=["invoices"],
    summary="Record a payment received outside Stripe (bank transfer, cash, check); once per (method, reference)",
    description="Counts as a Stripe payment does: partial or full, an overpayment to the customer's credit, the "
    "receipt e-mail, dunning stops when paid. The same (method, reference) again answers the same payment if the "
    "request is the same, else 409 `payment_reference_used`.",
    responses=CREATED,
)
def record_payment(invoice_id: Id, body: RecordPayment) -> Response[Payment]:
    return door.post(
        201,
        lambda claim: offline_payments.record_payment(context(), LazyStripe(), door.tenant(), invoice_id, body, claim),
    )


@router.post(
    "/v1/invoices/<invoice_id>/payments/<payment_id>/reverse",
    tags=["invoices"],
    summary="Reverse a payment received outside Stripe (a bounced check, a recalled wire): owed again, never deleted",
)
def reverse_payment(invoice_id: Id, payment_id: PaymentId, body: ReversePayment) -> Response[Payment]:
    return door.post(
        200,
        lambda claim: offline_payments.reverse_payment(context(), door.tenant(), invoice_id, payment_id, body, claim),
    )
