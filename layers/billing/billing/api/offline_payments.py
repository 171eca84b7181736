"""Payments received outside Stripe (from the ERP or the finance team): record one, reverse one."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.api import idempotency
from billing.api.routes import CREATED, Id
from billing.domain.payments import Payment
from billing.services import offline_payments
from billing.services.commands import RecordPayment, ReversePayment
from billing.services.unit import Context

router = APIGatewayHttpRouter()
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


class _Stripe:
    """The Stripe gateway, built (and the SDK imported) only if the use case calls it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(bootstrap.deps().stripe, name)


def _ctx() -> Context:
    return bootstrap.deps().context


def _tenant() -> str:
    return router.context["tenant_id"]


def _post(status: int, action: Any) -> Response:
    event = router.current_event
    return idempotency.run(
        _ctx(),
        _tenant(),
        event.headers or {},
        event.http_method,
        event.path,
        event.body,
        status,
        lambda claim: action(claim).model_dump(mode="json"),
    )


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
    return _post(
        201,
        lambda claim: offline_payments.record_payment(_ctx(), _Stripe(), _tenant(), invoice_id, body, claim),
    )


@router.post(
    "/v1/invoices/<invoice_id>/payments/<payment_id>/reverse",
    tags=["invoices"],
    summary="Reverse a payment received outside Stripe (a bounced check, a recalled wire): owed again, never deleted",
)
def reverse_payment(invoice_id: Id, payment_id: PaymentId, body: ReversePayment) -> Response[Payment]:
    return _post(
        200,
        lambda claim: offline_payments.reverse_payment(_ctx(), _tenant(), invoice_id, payment_id, body, claim),
    )
