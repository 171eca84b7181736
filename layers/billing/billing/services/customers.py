"""Customers of a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.adapters import keys
from billing.domain.errors import Conflict
from billing.domain.ids import new_id
from billing.domain.models import Customer, DomainEvent
from billing.observability import business_event
from billing.services.commands import CreateCustomer
from billing.services.unit import Claim, Context, remember, retrying


@retrying()
def create_customer(ctx: Context, tenant_id: str, cmd: CreateCustomer, claim: Claim | None = None) -> Customer:
    if cmd.external_id and (owner := ctx.repo.external_owner(tenant_id, "customer", cmd.external_id)):
        raise Conflict(
            "duplicate_external_id", f"customer {owner} already has external_id {cmd.external_id}", existing_id=owner
        )
    now = ctx.clock.now()
    customer = Customer(id=new_id("cus", now), tenant_id=tenant_id, created_at=now, **cmd.model_dump())
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, customer)
    ctx.repo.index_customer_email(tx, customer)  # the portal's sign-in by e-mail finds the customer by it
    if cmd.external_id:
        ctx.repo.claim_external_id(tx, tenant_id, "customer", cmd.external_id, customer.id)
    event = DomainEvent.new("customer.created", tenant_id, "customer", customer.id, now)
    ctx.repo.add_event(tx, keys.customer(tenant_id, customer.id), event)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("CustomerCreated")
    return saved


def get_customer(ctx: Context, tenant_id: str, customer_id: str) -> Customer:
    return ctx.repo.customer(tenant_id, customer_id)


def add_credit(ctx: Context, tx: Any, tenant_id: str, customer_id: str, amount: int, now: datetime, **why: Any) -> None:
    """Add ``amount`` to the customer's credit (taken off their next invoices) inside ``tx``, with the event saying
    why (``invoice_id``, ``reason``)."""
    customer = ctx.repo.customer(tenant_id, customer_id)
    ctx.repo.save_customer(tx, customer.model_copy(update={"credit_balance": customer.credit_balance + amount}))
    ctx.repo.add_event(
        tx,
        keys.customer(tenant_id, customer_id),
        DomainEvent.new("customer.credit_added", tenant_id, "customer", customer_id, now, amount=amount, **why),
    )
