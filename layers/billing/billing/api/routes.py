"""The storefront and finance API, version 1. Each route parses, calls one service, and answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from billing import bootstrap
from billing.api.door import Door, context, stripe
from billing.api.params import CREATED, Cursor, Id, Limit
from billing.domain.base_model import BaseModel
from billing.domain.dunning import DunningPolicy, PaymentPlan
from billing.domain.models import CreditNote, Customer, Invoice, Order
from billing.domain.payments import Payment
from billing.domain.plans import Plan, PlanRequest
from billing.domain.profile import SellerProfile
from billing.domain.subscriptions import Subscription
from billing.services import (
    customers,
    dashboard,
    documents,
    dunning,
    hosted_page,
    invoicing,
    orders,
    payments,
    portal,
    refunds,
    reports,
    settings,
    subscriptions,
)
from billing.services.commands import CreateCustomer, PlaceOrder, SellerProfileIn

router = APIGatewayHttpRouter()
door = Door(router)

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]


class InvoiceResource(Invoice):
    """An invoice as the API gives it: with the link to its hosted page."""

    hosted_invoice_url: str | None = Field(
        default=None,
        description="the invoice's hosted page, where the customer sees it and pays what is due (a bearer link, "
        "like Stripe's); null for a draft",
    )
    pdf_url: str | None = Field(
        default=None,
        description="`GET` it (with the API key) for the invoice's PDF, the legal document as issued; null until it "
        "is rendered, a few seconds after finalization",
    )


def _public_base_url() -> str | None:
    """Where the API is reached from outside: ``PUBLIC_BASE_URL`` (the local stack, a custom domain), or the host
    API Gateway was called at (the function cannot name its own HttpApi in template.yaml: a circular reference)."""
    if base := bootstrap.deps().env.get("PUBLIC_BASE_URL"):
        return base
    domain = router.current_event.request_context.domain_name
    return f"https://{domain}" if domain else None


def _resource(invoice: Invoice) -> InvoiceResource:
    base = _public_base_url()
    url = hosted_page.hosted_url(invoice, base)
    pdf = f"{base.rstrip('/')}/v1/invoices/{invoice.id}/pdf" if invoice.pdf_key and base else None
    return InvoiceResource(**dict(invoice), hosted_invoice_url=url, pdf_url=pdf)


class InvoiceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[InvoiceResource]
    has_more: bool
    next_cursor: str | None


class PaymentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Payment]


class CreditNoteList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CreditNote]


class PlanList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Plan]
    has_more: bool
    next_cursor: str | None


class SubscriptionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Subscription]
    has_more: bool
    next_cursor: str | None




# --- customers -------------------------------------------------------------------------------------------------
@router.post("/v1/customers", tags=["customers"], summary="Register a customer", responses=CREATED)
def create_customer(body: CreateCustomer) -> Response[Customer]:
    return door.post(201, lambda claim: customers.create_customer(context(), door.tenant(), body, claim))


@router.get("/v1/customers/<customer_id>", tags=["customers"], summary="Retrieve a customer")
def get_customer(customer_id: Id) -> Customer:
    return customers.get_customer(context(), door.tenant(), customer_id)


@router.post(
    "/v1/customers/<customer_id>/setup_intent",
    tags=["customers"],
    summary="A SetupIntent client secret for Stripe.js to save the customer's card",
)
def create_setup_intent(customer_id: Id) -> Response[payments.SetupIntent]:
    return door.post(
        200, lambda claim: payments.create_setup_intent(context(), stripe(), door.tenant(), customer_id, claim)
    )


# --- orders ----------------------------------------------------------------------------------------------------
@router.post(
    "/v1/customers/<customer_id>/portal_sessions",
    tags=["customers"],
    summary="Open the customer portal for a signed-in customer: a link that works for an hour",
    responses=CREATED,
)
def create_portal_session(customer_id: Id, body: portal.CreatePortalSession) -> Response[portal.PortalSession]:
    base = _public_base_url() or ""
    return door.post(201, lambda claim: portal.create_session(context(), door.tenant(), customer_id, body, base, claim))


@router.post(
    "/v1/dashboard_sessions",
    tags=["reports"],
    summary="Open the finance dashboard: a link that works for 30 minutes",
    description="A short-lived link to the tenant's finance dashboard (receivables aging, MRR movements, invoiced and "
    "collected, dunning, top overdue customers, each with its CSV), for a browser: the API key never goes into a "
    "URL. It needs the `read` scope only (billing.api.scopes): a reporting key can open it.",
    responses=CREATED,
)
def create_dashboard_session(
    body: dashboard.CreateDashboardSession | None = None,
) -> Response[dashboard.DashboardSession]:
    request = body or dashboard.CreateDashboardSession()
    base = _public_base_url() or ""
    return door.post(201, lambda claim: dashboard.create_session(context(), door.tenant(), request, base, claim))


@router.post(
    "/v1/orders",
    tags=["orders"],
    summary="Place an order; it becomes a finalized invoice unless held",
    responses=CREATED,
)
def place_order(body: PlaceOrder) -> Response[Order]:
    return door.post(201, lambda claim: orders.place_order(context(), door.tenant(), body, claim))


@router.get("/v1/orders/<order_id>", tags=["orders"], summary="Retrieve an order")
def get_order(order_id: Id) -> Order:
    return orders.get_order(context(), door.tenant(), order_id)


@router.post("/v1/orders/<order_id>/approve", tags=["orders"], summary="Approve an order held for review")
def approve_order(order_id: Id) -> Response[Order]:
    return door.post(200, lambda claim: orders.approve_order(context(), door.tenant(), order_id, claim))


@router.post("/v1/orders/<order_id>/cancel", tags=["orders"], summary="Cancel an order held for review")
def cancel_order(order_id: Id) -> Response[Order]:
    return door.post(200, lambda claim: orders.cancel_order(context(), door.tenant(), order_id, claim))


# --- invoices --------------------------------------------------------------------------------------------------
@router.get("/v1/invoices/<invoice_id>", tags=["invoices"], summary="Retrieve an invoice")
def get_invoice(invoice_id: Id) -> InvoiceResource:
    return _resource(invoicing.get_invoice(context(), door.tenant(), invoice_id))


def _pdf_responses(codes: list[str]) -> dict[int, Any]:
    return {
        302: {"description": "Found: `Location` is a presigned link to the PDF, valid for 5 minutes"},
        409: {
            "description": "The PDF is being rendered: ask again after `Retry-After` seconds (`pdf_not_ready`)"
            + (", or the invoice is a draft (`invoice_not_issued`)" if "invoice_not_issued" in codes else ""),
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
            "content": {
                "application/problem+json": {
                    "schema": {
                        "allOf": [
                            {"$ref": "#/components/schemas/Problem"},
                            {"type": "object", "properties": {"code": {"enum": codes}}},
                        ]
                    }
                }
            },
        },
    }


def _redirect(url: str) -> Response:
    return Response(302, "text/plain", "", {"Location": url, "Cache-Control": "no-store"})


@router.get(
    "/v1/invoices/<invoice_id>/pdf",
    tags=["invoices"],
    summary="The invoice's PDF, as issued: a redirect to a short-lived link",
    responses=_pdf_responses(["pdf_not_ready", "invoice_not_issued"]),
)
def get_invoice_pdf(invoice_id: Id) -> Response[None]:
    return _redirect(documents.invoice_link(context(), bootstrap.deps().documents, door.tenant(), invoice_id))


@router.get(
    "/v1/credit_notes/<credit_note_id>/pdf",
    tags=["invoices"],
    summary="The credit note's PDF: a redirect to a short-lived link",
    responses=_pdf_responses(["pdf_not_ready"]),
)
def get_credit_note_pdf(credit_note_id: Id) -> Response[None]:
    return _redirect(documents.credit_note_link(context(), bootstrap.deps().documents, door.tenant(), credit_note_id))


@router.get("/v1/invoices", tags=["invoices"], summary="List invoices, newest first, by customer and/or status")
def list_invoices(
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[InvoiceStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> InvoiceList:
    data, next_cursor = invoicing.list_invoices(context(), door.tenant(), customer_id, status, limit, cursor)
    return InvoiceList(data=[_resource(i) for i in data], has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get(
    "/v1/invoices/<invoice_id>/payments",
    tags=["invoices"],
    summary="The invoice's payment attempts, with Stripe ids, outcomes and decline codes",
)
def list_payments(invoice_id: Id) -> PaymentList:
    return PaymentList(data=payments.payments_of(context(), door.tenant(), invoice_id))


@router.post(
    "/v1/invoices/<invoice_id>/pay",
    tags=["invoices"],
    summary="Charge the invoice's amount due to the customer's saved card now",
)
def pay_invoice(invoice_id: Id) -> Response[Payment]:
    return door.post(200, lambda claim: payments.retry_now(context(), stripe(), door.tenant(), invoice_id, claim))


@router.post(
    "/v1/invoices/<invoice_id>/payment_intent",
    tags=["invoices"],
    summary="A PaymentIntent client secret to pay the invoice's amount due with Stripe.js",
)
def create_payment_intent(invoice_id: Id) -> Response[payments.PaymentIntentForInvoice]:
    return door.post(
        200, lambda claim: payments.payment_intent_for(context(), stripe(), door.tenant(), invoice_id, claim)
    )


@router.post(
    "/v1/invoices/<invoice_id>/refunds",
    tags=["invoices"],
    summary="Refund through Stripe (all that is refundable by default); a credit note records it",
    responses=CREATED,
)
def refund_invoice(invoice_id: Id, body: refunds.RefundRequest) -> Response[CreditNote]:
    return door.post(201, lambda claim: refunds.refund(context(), stripe(), door.tenant(), invoice_id, body, claim))


@router.get("/v1/invoices/<invoice_id>/credit_notes", tags=["invoices"], summary="The invoice's credit notes")
def list_credit_notes(invoice_id: Id) -> CreditNoteList:
    return CreditNoteList(data=refunds.credit_notes_of(context(), door.tenant(), invoice_id))


@router.post("/v1/invoices/<invoice_id>/void", tags=["invoices"], summary="Void an open invoice; it keeps its number")
def void_invoice(invoice_id: Id) -> Response[Invoice]:
    return door.post(200, lambda claim: payments.void_invoice(context(), door.tenant(), invoice_id, claim))


@router.get(
    "/v1/invoices/<invoice_id>/dunning",
    tags=["invoices"],
    summary="The invoice's dunning timeline: steps done and planned, emails sent, charges tried",
)
def get_dunning_timeline(invoice_id: Id) -> dunning.DunningTimeline:
    return dunning.timeline_of(context(), door.tenant(), invoice_id)


@router.post(
    "/v1/invoices/<invoice_id>/payment_plan",
    tags=["invoices"],
    summary="Agree instalments (or a later due date) for the amount due; dunning pauses while the plan is kept",
    responses=CREATED,
)
def agree_payment_plan(invoice_id: Id, body: dunning.PaymentPlanRequest) -> Response[PaymentPlan]:
    return door.post(201, lambda claim: dunning.agree_payment_plan(context(), door.tenant(), invoice_id, body, claim))


# --- plans and subscriptions ----------------------------------------------------------------------------------
@router.post("/v1/plans", tags=["subscriptions"], summary="Add a plan to the catalogue", responses=CREATED)
def create_plan(body: PlanRequest) -> Response[Plan]:
    return door.post(201, lambda claim: subscriptions.create_plan(context(), door.tenant(), body, claim))


@router.get("/v1/plans", tags=["subscriptions"], summary="The plan catalogue, oldest first")
def list_plans(limit: Limit = 20, cursor: Cursor = None) -> PlanList:
    data, next_cursor = subscriptions.list_plans(context(), door.tenant(), limit, cursor)
    return PlanList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/plans/<plan_id>", tags=["subscriptions"], summary="Retrieve a plan")
def get_plan(plan_id: Id) -> Plan:
    return subscriptions.get_plan(context(), door.tenant(), plan_id)


@router.post(
    "/v1/subscriptions",
    tags=["subscriptions"],
    summary="Start a subscription (trialing, active, or held for review)",
    responses=CREATED,
)
def create_subscription(body: subscriptions.CreateSubscription) -> Response[Subscription]:
    return door.post(201, lambda claim: subscriptions.create_subscription(context(), door.tenant(), body, claim))


@router.get("/v1/subscriptions", tags=["subscriptions"], summary="The tenant's subscriptions")
def list_subscriptions(limit: Limit = 20, cursor: Cursor = None) -> SubscriptionList:
    data, next_cursor = subscriptions.list_subscriptions(context(), door.tenant(), limit, cursor)
    return SubscriptionList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/subscriptions/<subscription_id>", tags=["subscriptions"], summary="Retrieve a subscription")
def get_subscription(subscription_id: Id) -> Subscription:
    return subscriptions.get_subscription(context(), door.tenant(), subscription_id)


@router.post(
    "/v1/subscriptions/<subscription_id>/change",
    tags=["subscriptions"],
    summary="Change plans or quantities; prorated (by the second or the day) on the next invoice",
)
def change_subscription(subscription_id: Id, body: subscriptions.ChangeSubscription) -> Response[Subscription]:
    return door.post(
        200, lambda claim: subscriptions.change_subscription(context(), door.tenant(), subscription_id, body, claim)
    )


@router.post(
    "/v1/subscriptions/<subscription_id>/cancel",
    tags=["subscriptions"],
    summary="Cancel at period end, or now with a prorated credit",
)
def cancel_subscription(subscription_id: Id, body: subscriptions.CancelSubscription) -> Response[Subscription]:
    return door.post(
        200, lambda claim: subscriptions.cancel_subscription(context(), door.tenant(), subscription_id, body, claim)
    )


@router.post(
    "/v1/subscriptions/<subscription_id>/approve",
    tags=["subscriptions"],
    summary="Approve a subscription held for review: its trial or billing starts",
)
def approve_subscription(subscription_id: Id) -> Response[Subscription]:
    return door.post(
        200, lambda claim: subscriptions.approve_subscription(context(), door.tenant(), subscription_id, claim)
    )


@router.post(
    "/v1/usage",
    tags=["subscriptions"],
    summary="Record metered usage, once per idempotency_key; up to an hour late lands in its own period",
)
def record_usage(body: subscriptions.RecordUsage) -> subscriptions.UsageRecord:
    return subscriptions.record_usage(context(), door.tenant(), body)


# --- settings --------------------------------------------------------------------------------------------------
@router.get("/v1/settings/profile", tags=["settings"], summary="The seller profile every invoice, PDF and page shows")
def get_profile() -> SellerProfile:
    return settings.profile(context(), door.tenant())


@router.put("/v1/settings/profile", tags=["settings"], summary="Replace the seller profile (logo: base64 PNG or SVG)")
def put_profile(body: SellerProfileIn) -> Response[SellerProfile]:
    return door.post(200, lambda claim: settings.replace_profile(context(), door.tenant(), body, claim))


@router.get("/v1/settings/dunning", tags=["settings"], summary="The tenant's dunning policy")
def get_dunning_policy() -> DunningPolicy:
    return settings.dunning_policy(context(), door.tenant())


@router.put("/v1/settings/dunning", tags=["settings"], summary="Replace the tenant's dunning policy")
def put_dunning_policy(body: DunningPolicy) -> Response[DunningPolicy]:
    return door.post(200, lambda claim: settings.replace_dunning_policy(context(), door.tenant(), body, claim))


@router.post(
    "/v1/settings/dunning/preview",
    tags=["settings"],
    summary="What a dunning policy (the current one by default) would do to an invoice; changes nothing",
)
def preview_dunning(body: settings.PreviewRequest) -> settings.Preview:
    return settings.preview(context(), door.tenant(), body)


# --- reports ---------------------------------------------------------------------------------------------------
ReportName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
Day = Annotated[str | None, Query(max_length=10, description="a day (YYYY-MM-DD) or a month (YYYY-MM), UTC")]


class ReportAnswer(BaseModel):
    """A report: what was asked, how fresh the facts are, and one list of rows per section (named in
    ``sections``). Amounts are integers in the minor unit of the row's ``currency``; rates are percent as text."""

    model_config = {"extra": "allow"}
    object: Literal["report"] = "report"
    report: str
    title: str
    from_: str = Field(alias="from")
    to: str
    as_of: str
    currency: str | None
    customer_id: str | None
    data_through: str | None = Field(description="the instant the exported facts run to (null before the first export)")
    sections: list[str]


@router.get(
    "/v1/reports/<report_name>",
    tags=["reports"],
    summary="A finance report (aging, mrr, revenue, collections, statement) as JSON, or one section as CSV "
    "with Accept: text/csv",
    responses={
        200: {
            "description": "The report (docs/reports.md defines every figure)",
            "content": {
                "application/json": {"model": ReportAnswer},
                "text/csv": {"schema": {"type": "string", "description": "one section: a header row, then rows"}},
            },
        }
    },
)
def get_report(
    report_name: ReportName,
    from_: Annotated[str | None, Query(alias="from", max_length=10, description="first day or month (UTC)")] = None,
    to: Day = None,
    as_of: Day = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
    customer_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")] = None,
    section: Annotated[str | None, Query(max_length=32, description="the section a CSV answer holds")] = None,
) -> Response[str]:
    question = reports.window(
        context(),
        door.tenant(),
        report_name,
        from_=from_,
        to=to,
        as_of=as_of,
        currency=currency,
        customer_id=customer_id,
    )
    answer = reports.run(bootstrap.deps().facts.open(door.tenant()), report_name, question)
    reports.section_of(answer, section)  # an unknown section is refused whichever way the answer goes
    accept = next((v for k, v in (router.current_event.headers or {}).items() if k.lower() == "accept"), "")
    if "text/csv" in accept:
        headers = {"Content-Disposition": f'attachment; filename="{reports.csv_file_name(answer, section)}"'}
        return Response(200, "text/csv; charset=utf-8", reports.as_csv(answer, section), headers=headers)
    return Response(200, "application/json", ReportAnswer.model_validate(answer).model_dump_json(by_alias=True))
