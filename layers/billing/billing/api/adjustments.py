"""One-off charges, credit adjustments and add-ons (issue 16): invoice items, the customer's balance ledger,
credit notes without refund, and a subscription's items one at a time."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing.api.door import Door, context
from billing.api.params import CREATED, Cursor, Id, Limit
from billing.domain.balance import BalanceTransaction
from billing.domain.base_model import BaseModel
from billing.domain.invoice_items import InvoiceItem
from billing.domain.models import CreditNote
from billing.domain.proration import Granularity
from billing.domain.subscriptions import Subscription
from billing.services import addons, balance, credit_notes, invoice_items

router = APIGatewayHttpRouter()
door = Door(router)


class InvoiceItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[InvoiceItem]
    has_more: bool
    next_cursor: str | None


class BalanceTransactionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[BalanceTransaction]
    has_more: bool
    next_cursor: str | None


# --- invoice items -----------------------------------------------------------------------------------------------
@router.post(
    "/v1/invoice_items",
    tags=["invoice items"],
    summary="A one-off charge or credit for the customer's next invoice, or invoiced now on its own",
    description="Pending until the customer's next invoice (an order's or a subscription period's, whichever is "
    "drafted first) takes it, exactly once; `invoice_now: true` invoices it at once, alone (finalized, numbered, "
    "charged to a saved card or sent). `amount` (negative: a credit line) or `price` (a plan's price or a unit "
    "amount, times a quantity), in the customer's currency.",
    responses=CREATED,
)
def create_invoice_item(body: invoice_items.CreateInvoiceItem) -> Response[InvoiceItem]:
    return door.post(201, lambda claim: invoice_items.create_invoice_item(context(), door.tenant(), body, claim))


@router.get(
    "/v1/invoice_items",
    tags=["invoice items"],
    summary="Invoice items, newest first: a customer's (pending ones, or the others), or the tenant's",
)
def list_invoice_items(
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    customer: Annotated[str | None, Query(min_length=1, max_length=64, description="the same as customer_id")] = None,
    pending: Annotated[bool | None, Query()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> InvoiceItemList:
    whose = customer_id or customer
    data, next_cursor = invoice_items.list_invoice_items(context(), door.tenant(), whose, pending, limit, cursor)
    return InvoiceItemList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/v1/invoice_items/<invoice_item_id>", tags=["invoice items"], summary="Retrieve an invoice item")
def get_invoice_item(invoice_item_id: Id) -> InvoiceItem:
    return invoice_items.get_invoice_item(context(), door.tenant(), invoice_item_id)


@router.delete(
    "/v1/invoice_items/<invoice_item_id>",
    tags=["invoice items"],
    summary="Delete a pending invoice item (409 `invoice_item_invoiced` once an invoice took it)",
)
def delete_invoice_item(invoice_item_id: Id) -> Response[InvoiceItem]:
    return door.post(
        200, lambda claim: invoice_items.delete_invoice_item(context(), door.tenant(), invoice_item_id, claim)
    )


# --- the customer's balance --------------------------------------------------------------------------------------
@router.post(
    "/v1/customers/<customer_id>/balance_transactions",
    tags=["customers"],
    summary="Credit (positive) or debit (negative) the customer's balance, taken off or added to the next invoices",
    responses=CREATED,
)
def create_balance_transaction(customer_id: Id, body: balance.CreateBalanceTransaction) -> Response[BalanceTransaction]:
    return door.post(
        201, lambda claim: balance.create_balance_transaction(context(), door.tenant(), customer_id, body, claim)
    )


@router.get(
    "/v1/customers/<customer_id>/balance_transactions",
    tags=["customers"],
    summary="The customer's balance ledger, newest first: every movement of its credit balance",
    description="Every movement since the ledger exists (issue 16): adjustments, credit taken off invoices, "
    "overpayments, voided invoices, credit notes to the balance, reversed payments; the entries sum to "
    "`credit_balance`.",
)
def list_balance_transactions(customer_id: Id, limit: Limit = 20, cursor: Cursor = None) -> BalanceTransactionList:
    data, next_cursor = balance.list_balance_transactions(context(), door.tenant(), customer_id, limit, cursor)
    return BalanceTransactionList(data=data, has_more=next_cursor is not None, next_cursor=next_cursor)


# --- credit notes without refund -----------------------------------------------------------------------------------
@router.post(
    "/v1/invoices/<invoice_id>/credit_notes",
    tags=["invoices"],
    summary="A credit note without refund: lowers what an open invoice owes, or credits the customer's balance",
    description="`credit_to: invoice` (an open invoice): the amount due goes down, never below nothing (422 "
    "`credit_exceeds_amount_due`); credited in full, the invoice is paid by the credit note and dunning stops. "
    "`credit_to: balance` (any finalized invoice, open or paid): the customer's balance takes the amount, for the "
    "next invoices. Numbered in the credit note series; the credit notes of an invoice, refunds included, never "
    "exceed its total (422 `credit_exceeds_invoice_total`). A taxed invoice's credit is split into net and tax in "
    "the invoice's proportions.",
    responses=CREATED,
)
def issue_credit_note(invoice_id: Id, body: credit_notes.IssueCredit) -> Response[CreditNote]:
    return door.post(201, lambda claim: credit_notes.issue_credit(context(), door.tenant(), invoice_id, body, claim))


# --- add-ons: a subscription's items one at a time ----------------------------------------------------------------
@router.post(
    "/v1/subscriptions/<subscription_id>/items",
    tags=["subscriptions"],
    summary="Attach an add-on plan (same interval, priced in the subscription's currency); prorated",
    description="The other items stay as they are; in a paid period the add-on's share of the period's rest waits "
    "on the next invoice (`proration`: by the second, the default, or by the day).",
)
def add_subscription_item(subscription_id: Id, body: addons.AddItem) -> Response[Subscription]:
    return door.post(200, lambda claim: addons.add_item(context(), door.tenant(), subscription_id, body, claim))


@router.post(
    "/v1/subscriptions/<subscription_id>/items/<plan_id>",
    tags=["subscriptions"],
    summary="Change the quantity of one of the subscription's plans, the others kept; prorated",
)
def update_subscription_item(subscription_id: Id, plan_id: Id, body: addons.UpdateItem) -> Response[Subscription]:
    return door.post(
        200, lambda claim: addons.update_item(context(), door.tenant(), subscription_id, plan_id, body, claim)
    )


@router.delete(
    "/v1/subscriptions/<subscription_id>/items/<plan_id>",
    tags=["subscriptions"],
    summary="Remove one plan from the subscription (409 `last_item` for its last); prorated",
)
def remove_subscription_item(
    subscription_id: Id, plan_id: Id, proration: Annotated[Granularity, Query()] = "second"
) -> Response[Subscription]:
    return door.post(
        200,
        lambda claim: addons.remove_item(context(), door.tenant(), subscription_id, plan_id, proration, claim),
    )
