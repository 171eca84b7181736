"""Invoice items: one-off charges and credits that the customer's next invoice picks up exactly once, or that are
invoiced at once on an invoice of their own.

The pick-up is ``take_pending``, the one function every place that drafts an invoice calls (orders, the billing
run): it reads the customer's pending items (one Query of their pending list, then each item read consistently),
drafts the invoice with their lines, and moves each item to ``invoiced`` with that invoice's id in the invoice's own
transaction, conditional on the item's version. Two invoices drafted at once for one customer cannot both take an
item: the second transaction fails on the item's version and its use case runs again, finding the item taken.

An order (``from_index``) bills the copies the pending list's Query returned (gsi2 projects every attribute), with
no second read: its transaction is conditional on each item's version and status as the copy has them, so a copy
that lags its item (changed, taken or deleted since) fails the condition, and the use case's retry
(``@retrying``, ``unit.retried``) reads the items themselves. Never a bill at an old version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.invoice_items import MAX_PENDING, MAX_PER_INVOICE, InvoiceItem, ItemPeriod
from billing.domain.models import Customer, Invoice
from billing.domain.plans import amount_for
from billing.domain.pricing import MAX_AMOUNT, LineInput
from billing.observability import business_event
from billing.services import customers, taxes
from billing.services.fields import Currency
from billing.services.invoicing import finalize_into
from billing.services.unit import Claim, Context, remember, retried, retrying

TRANSACTION_LIMIT = 100  # DynamoDB's writes per TransactWriteItems
DEFAULT_DAYS_UNTIL_DUE = 30  # a one-off invoice sent to a customer without a saved card (as orders default)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PriceIn(_Strict):
    """A plan's price in the item's currency (``plan_id``), or a unit amount, times a quantity."""

    plan_id: str | None = Field(default=None, min_length=1, max_length=64)
    unit_amount: int | None = Field(default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True)
    quantity: int = Field(default=1, ge=1, le=1_000_000, strict=True)

    @model_validator(mode="after")
    def _one(self) -> PriceIn:
        if (self.plan_id is None) == (self.unit_amount is None):
            raise ValueError("give exactly one of plan_id and unit_amount")
        return self


class PeriodIn(_Strict):
    start: datetime
    end: datetime


class CreateInvoiceItem(_Strict):
    customer_id: str = Field(
        min_length=1,
        max_length=64,
        validation_alias=AliasChoices("customer_id", "customer"),
        description="the customer (also accepted as `customer`)",
    )
    amount: int | None = Field(
        default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT, strict=True, description="minor units; negative: a credit line"
    )
    price: PriceIn | None = None
    currency: Currency
    description: str = Field(min_length=1, max_length=500)
    tax_rate_id: str | None = Field(default=None, min_length=1, max_length=64)
    period: PeriodIn | None = None
    discountable: bool | None = Field(default=None, description="default: true for a charge, false for a credit")
    metadata: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50
    )
    invoice_now: bool = Field(default=False, description="invoice it now, alone, instead of on the next invoice")

    @model_validator(mode="after")
    def _amount_or_price(self) -> CreateInvoiceItem:
        if (self.amount is None) == (self.price is None):
            raise ValueError("give exactly one of amount and price")
        return self


# --- the pick-up -----------------------------------------------------------------------------------------------
def take_pending(
    ctx: Context,
    tx: Transaction,
    customer: Customer,
    draft: Callable[[list[LineInput]], Invoice],
    limit: int = MAX_PER_INVOICE,
    from_index: bool = False,
) -> Invoice:
    """The invoice ``draft`` makes with the customer's pending items' lines added (``draft`` gets them, at most
    ``limit``, oldest first), each item moved to ``invoiced`` with the invoice's id inside ``tx``, on its version.
    An item another invoice of the same transaction took already is left to it. ``from_index``: bill the pending
    list's copies, on their version and status (the caller is ``@retrying``: a lagging copy makes it run again,
    and the retry reads the items themselves)."""
    items = _pending(ctx, tx, customer, min(limit, MAX_PER_INVOICE), from_index and not retried())
    invoice = draft([item.line() for item in items])
    now = ctx.clock.now()
    for item in items:
        taken, event = item.invoiced(invoice.id, now)
        ctx.repo.save_invoice_item(tx, taken, read_status=item.status)
        ctx.repo.add_event(tx, keys.invoice_item(item.tenant_id, item.id), event)
    if items:
        business_event("InvoiceItemsInvoiced", len(items))
    return invoice


def room(tx: Transaction, reserved: int) -> int:
    """How many items a transaction holding ``tx`` and ``reserved`` more writes can still take (two writes each:
    the item and its event)."""
    return max(0, (TRANSACTION_LIMIT - len(tx.items) - reserved) // 2)


def _pending(ctx: Context, tx: Transaction, customer: Customer, limit: int, from_index: bool) -> list[InvoiceItem]:
    if limit <= 0:
        return []
    written = {op["Put"]["Item"]["pk"]["S"] for op in tx.items if "Put" in op}
    found: list[InvoiceItem] = []
    if from_index:  # the index's copies: the transaction's conditions on their version and status decide
        listed = ctx.repo.pending_invoice_items(customer.tenant_id, customer.id, MAX_PENDING)
    else:
        ids = ctx.repo.pending_invoice_item_ids(customer.tenant_id, customer.id, MAX_PENDING)
        listed = ctx.repo.invoice_items_by_id(customer.tenant_id, ids)  # the index may lag: the item decides
    for item in listed:
        if keys.invoice_item(customer.tenant_id, item.id)["pk"] in written:  # another invoice's of this tx
            continue
        if item.status == "pending" and item.currency == customer.currency:
            found.append(item)
        if len(found) == limit:
            break
    return found


# --- the use cases -----------------------------------------------------------------------------------------------
@retrying()
def create_invoice_item(
    ctx: Context, tenant_id: str, cmd: CreateInvoiceItem, claim: Claim | None = None
) -> InvoiceItem:
    """A pending item for the customer's next invoice; with ``invoice_now``, invoiced at once on its own invoice."""
    customer = ctx.repo.customer(tenant_id, cmd.customer_id).ensure_active()
    if customer.currency != cmd.currency:
        raise ValidationFailed(
            "currency_mismatch", f"customer {customer.id} is billed in {customer.currency}, not {cmd.currency}"
        )
    unit_amount, quantity, plan_id = _amounts(ctx, tenant_id, cmd)
    if cmd.tax_rate_id:
        taxes.usable_rate(ctx, tenant_id, cmd.tax_rate_id)  # 422 unless it exists and is active
    now = ctx.clock.now()
    item, created = InvoiceItem.create(
        tenant_id,
        customer.id,
        customer.currency,
        cmd.description,
        unit_amount,
        quantity,
        now,
        discountable=cmd.discountable,
        plan_id=plan_id,
        tax_rate_id=cmd.tax_rate_id,
        period=ItemPeriod(**cmd.period.model_dump()) if cmd.period else None,
        metadata=cmd.metadata,
    )
    tx = ctx.repo.transaction()
    ctx.repo.add_event(tx, keys.invoice_item(tenant_id, item.id), created)
    if cmd.invoice_now:
        saved = _invoice_now(ctx, tx, tenant_id, customer, item, now)
    else:
        if len(ctx.repo.pending_invoice_item_ids(tenant_id, customer.id, MAX_PENDING)) >= MAX_PENDING:
            raise Conflict("too_many_pending_items", f"a customer has at most {MAX_PENDING} pending invoice items")
        saved = ctx.repo.save_invoice_item(tx, item)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("InvoiceItemCreated")
    return saved


def _amounts(ctx: Context, tenant_id: str, cmd: CreateInvoiceItem) -> tuple[int, int, str | None]:
    """(unit amount, quantity, plan id) of the item asked for."""
    if cmd.amount is not None:
        return cmd.amount, 1, None
    price = cmd.price
    assert price is not None
    if price.plan_id is None:
        assert price.unit_amount is not None
        return price.unit_amount, price.quantity, None
    plan_price = ctx.repo.plan(tenant_id, price.plan_id).price_for(cmd.currency)
    if plan_price.scheme == "per_unit":
        return plan_price.amount or 0, price.quantity, price.plan_id
    return amount_for(plan_price, price.quantity), 1, price.plan_id  # flat or tiered: one line of the whole


def _invoice_now(
    ctx: Context, tx: Transaction, tenant_id: str, customer: Customer, item: InvoiceItem, now: datetime
) -> InvoiceItem:
    """Invoice ``item`` alone, now: finalized, numbered and collected as any invoice (charged to the customer's
    saved card, else sent with the default days to pay); the customer's credit is taken off as on any invoice."""
    if item.amount <= 0:
        raise ValidationFailed(
            "invoice_now_needs_a_charge",
            "a credit is not invoiced on its own: leave it pending, or credit the balance",
        )
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    card = customer.default_payment_method is not None
    draft = Invoice.draft(
        customer,
        taxes.apply_taxes(ctx, tenant_id, customer, [item.line()]),
        now,
        collection_method="charge_automatically" if card else "send_invoice",
        days_until_due=None if card else DEFAULT_DAYS_UNTIL_DUE,
    )
    invoice = finalize_into(ctx, tx, tenant, draft)
    moved = customers.invoice_credit(ctx, tx, customer, invoice, now)
    if moved.credit_balance != customer.credit_balance:
        ctx.repo.save_customer(tx, moved)
    taken, event = item.invoiced(invoice.id, now)
    ctx.repo.add_event(tx, keys.invoice_item(tenant_id, item.id), event)
    business_event("InvoiceFinalized")
    return ctx.repo.save_invoice_item(tx, taken)


def get_invoice_item(ctx: Context, tenant_id: str, item_id: str) -> InvoiceItem:
    return ctx.repo.invoice_item(tenant_id, item_id)


def list_invoice_items(
    ctx: Context, tenant_id: str, customer_id: str | None, pending: bool | None, limit: int, cursor: str | None
) -> tuple[list[InvoiceItem], str | None]:
    if pending and customer_id is None:
        raise ValidationFailed("pending_needs_customer", "list pending items of one customer: give customer")
    return ctx.repo.invoice_items(tenant_id, customer_id, pending, limit, cursor)


@retrying()
def delete_invoice_item(ctx: Context, tenant_id: str, item_id: str, claim: Claim | None = None) -> InvoiceItem:
    """Delete a pending item (409 ``invoice_item_invoiced`` once an invoice took it); it keeps its record."""
    item = ctx.repo.invoice_item(tenant_id, item_id)
    deleted, event = item.delete(ctx.clock.now())
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_invoice_item(tx, deleted)
    ctx.repo.add_event(tx, keys.invoice_item(tenant_id, item_id), event)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("InvoiceItemDeleted")
    return saved
