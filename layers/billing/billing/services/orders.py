"""Orders: placed by a storefront, held for review by tenant rule, turned into a finalized invoice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain import ids
from billing.domain.coupons import Discount
from billing.domain.errors import Conflict, NotFound, ValidationFailed
from billing.domain.invoice_items import MAX_PENDING
from billing.domain.models import Customer, DomainEvent, Invoice, Order, Tenant
from billing.domain.pricing import LineInput
from billing.observability import business_event
from billing.services import coupons, customers, invoice_items, taxes
from billing.services.commands import PlaceOrder
from billing.services.invoicing import finalize_into
from billing.services.unit import Claim, Context, remember, retrying

METRICS = {
    "order.invoiced": ("OrderPlaced", "InvoiceFinalized"),
    "order.pending_review": ("OrderPlaced", "OrderHeldForReview"),
    "order.approved": ("OrderApproved", "InvoiceFinalized"),
    "order.canceled": ("OrderCanceled",),
}


Reads = tuple[list[dict[str, str]], list[dict[str, Any]]]  # keys to get, Query requests to run


def invoicing_reads(ctx: Context, tenant_id: str, customer_id: str) -> Reads:
    """What invoicing an order reads of its customer: the customer and its discount (keys), and its pending invoice
    items (a Query): read ahead together (``Repository.read_ahead``) by a placed order's plan (billing.api.reads)
    and by an approval, once the order has named its customer."""
    customer = keys.customer(tenant_id, customer_id)
    pending = ctx.repo.pending_invoice_items_request(tenant_id, customer_id, MAX_PENDING)
    return [customer, keys.discount(customer)], [pending]


def _tenant(ctx: Context, tenant_id: str) -> Tenant:
    tenant = ctx.repo.tenant(tenant_id)
    if tenant is None:
        raise NotFound("tenant_not_found", f"no tenant {tenant_id}")
    return tenant


def _discount_in_effect(
    ctx: Context, order: Order, customer: Customer, now: datetime, own: tuple[Discount | None, int] | None
) -> tuple[Discount | None, int, dict[str, str]]:
    """The discount on the order's invoice: its own coupon's (``own``: redeemed in this transaction, else read),
    else its customer's in effect now; with its version and where it is."""
    store = coupons.store(ctx)
    order_key = keys.order(order.tenant_id, order.id)
    mine, version = own if own is not None else store.discount(order_key)
    if mine is not None:
        return mine, version, order_key
    customer_key = keys.customer(order.tenant_id, customer.id)
    theirs, version = store.discount(customer_key)
    if theirs is not None and theirs.in_effect(now):
        return theirs, version, customer_key
    return None, 0, order_key


def _invoice(
    ctx: Context,
    tx: Transaction,
    tenant: Tenant,
    order: Order,
    action: str,
    customer: Customer | None = None,
    own: tuple[Discount | None, int] | None = None,
) -> Order:
    """Draft and finalize the order's invoice, and move the order to invoiced, all inside ``tx``."""
    moved = order.transition(action, ctx.clock.now())  # refuses an illegal action before any work
    customer = customer or ctx.repo.customer(tenant.id, order.customer_id)
    if customer.currency != order.currency:  # the customer's currency changed while the order waited for review
        raise ValidationFailed(
            "currency_mismatch", f"customer {customer.id} is billed in {customer.currency}, not {order.currency}"
        )
    now = ctx.clock.now()
    lines = taxes.apply_taxes(ctx, tenant.id, customer, order.lines)  # each line's rate, as it stands now
    discount, version, key = _discount_in_effect(ctx, order, customer, now, own)
    discounts = [discount.as_input(order.currency)] if discount else []

    def draft(pending: list[LineInput]) -> Invoice:  # the customer's pending invoice items come along
        # an item's rate was chosen when it was made: it bills at it, as a subscription bills at its plans'
        taxed = taxes.apply_taxes(ctx, tenant.id, customer, pending, archived_ok=True) if pending else []
        billed = order.model_copy(update={"lines": [*lines, *taxed]})
        return Invoice.draft_for(billed, customer, now, discounts=discounts)

    # the pending list's copies, on their version and status (a lagging copy: the @retrying use case reads again)
    taken = invoice_items.take_pending(ctx, tx, customer, draft, from_index=True)
    invoice = finalize_into(ctx, tx, tenant, taken)
    if discount is not None:  # an order's coupon discounts its one invoice; a customer's goes on unless once
        used, ended = discount.after_invoice(None, now)
        if discount.order_id or ended:
            coupons.store(ctx).save_discount(tx, key, used, version)
            ended_event = used._event("discount.ended", now, invoices=used.invoices, invoice_id=invoice.id)
            ctx.repo.add_event(tx, key, ended_event)
    # the customer's credit is used up by this invoice (or its excess credit kept), in the same transaction
    moved_credit = customers.invoice_credit(ctx, tx, customer, invoice, now)
    if moved_credit.credit_balance != customer.credit_balance:
        ctx.repo.save_customer(tx, moved_credit)
    return moved.model_copy(update={"invoice_id": invoice.id})


def _save(ctx: Context, tx: Transaction, order: Order, event_type: str, claim: Claim | None) -> Order:
    saved = ctx.repo.save_order(tx, order)
    event = DomainEvent.new(
        event_type,
        order.tenant_id,
        "order",
        order.id,
        order.updated_at,
        status=order.status,
        invoice_id=order.invoice_id,
    )
    ctx.repo.add_event(tx, keys.order(order.tenant_id, order.id), event)
    remember(ctx, tx, order.tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    for metric in METRICS[event_type]:
        business_event(metric)
    return saved


@retrying()
def place_order(ctx: Context, tenant_id: str, cmd: PlaceOrder, claim: Claim | None = None) -> Order:
    tenant = _tenant(ctx, tenant_id)
    customer = ctx.repo.customer(tenant_id, cmd.customer_id).ensure_active()
    if customer.currency != cmd.currency:
        raise ValidationFailed(
            "currency_mismatch", f"customer {customer.id} is billed in {customer.currency}, not {cmd.currency}"
        )
    if cmd.external_id and (owner := ctx.repo.external_owner(tenant_id, "order", cmd.external_id)):
        raise Conflict(
            "duplicate_external_id", f"order {owner} already has external_id {cmd.external_id}", existing_id=owner
        )
    for rate_id in sorted(taxes.rate_ids_of(cmd.lines)):  # refused at once, even for an order held for review
        taxes.usable_rate(ctx, tenant_id, rate_id)
    now = ctx.clock.now()
    order = Order(
        id=ids.order_id(now, cmd.customer_id),  # carries its customer's id: an approval reads both at once
        tenant_id=tenant_id,
        created_at=now,
        updated_at=now,
        **cmd.model_dump(exclude={"coupon", "promotion_code"}),
    )
    tx = ctx.repo.transaction()
    if cmd.external_id:
        ctx.repo.claim_external_id(tx, tenant_id, "order", cmd.external_id, order.id)
    own = None
    if cmd.coupon is not None or cmd.promotion_code is not None:  # redeemed in the order's own transaction
        ref = coupons.ApplyDiscount(coupon=cmd.coupon, promotion_code=cmd.promotion_code)
        key = keys.order(tenant_id, order.id)
        subtotal = sum(line.quantity * line.unit_amount for line in cmd.lines)
        plans = [getattr(line, "plan_id", None) for line in cmd.lines]  # an order line names no plan (yet)
        discount = coupons.redeem(
            ctx, tx, customer, ref, target_key=key, order_id=order.id, amount=subtotal, plan_ids=plans
        )
        own = (discount, 0)
    if reason := tenant.review_rule.reason(order.metadata):
        order = order.transition("hold_for_review", now, review_reason=reason)
        if own is not None:  # kept for the invoice the approval makes
            coupons.store(ctx).save_discount(tx, keys.order(tenant_id, order.id), own[0], 0)
        return _save(ctx, tx, order, "order.pending_review", claim)
    # a new order has no discount of its own but the one redeemed above: nothing to read for it
    invoiced = _invoice(ctx, tx, tenant, order, "place", customer, own or (None, 0))
    return _save(ctx, tx, invoiced, "order.invoiced", claim)


@retrying()
def approve_order(ctx: Context, tenant_id: str, order_id: str, claim: Claim | None = None) -> Order:
    tenant = _tenant(ctx, tenant_id)
    order = ctx.repo.order(tenant_id, order_id)
    if ids.customer_of_order(order_id) != order.customer_id:
        # an order id that does not carry its customer (placed before ids did): what invoicing reads of the
        # customer comes in one more round trip, not three; else the route's read plan read it with the order
        ctx.repo.read_ahead(*invoicing_reads(ctx, tenant_id, order.customer_id))
    tx = ctx.repo.transaction()
    return _save(ctx, tx, _invoice(ctx, tx, tenant, order, "approve"), "order.approved", claim)


@retrying()
def cancel_order(ctx: Context, tenant_id: str, order_id: str, claim: Claim | None = None) -> Order:
    order = ctx.repo.order(tenant_id, order_id).transition("cancel", ctx.clock.now())
    return _save(ctx, ctx.repo.transaction(), order, "order.canceled", claim)


def get_order(ctx: Context, tenant_id: str, order_id: str) -> Order:
    return ctx.repo.order(tenant_id, order_id)
