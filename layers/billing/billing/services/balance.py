"""The customer's balance: credits and debits made through the API, and the ledger of every movement.

A movement goes through ``customers.ledger`` (the one place the balance moves, with its ledger entry), in the
transaction that saves the customer; so the ledger's entries sum to ``credit_balance``.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from billing.adapters import keys
from billing.domain.balance import BalanceTransaction
from billing.domain.base_model import BaseModel
from billing.domain.errors import ValidationFailed
from billing.domain.models import DomainEvent
from billing.domain.pricing import MAX_AMOUNT
from billing.observability import business_event
from billing.services import customers
from billing.services.fields import Currency
from billing.services.unit import Claim, Context, remember, retrying


class CreateBalanceTransaction(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: int = Field(
        ge=-MAX_AMOUNT,
        le=MAX_AMOUNT,
        strict=True,
        description="minor units; positive: a credit to the customer, negative: a debit they owe",
    )
    currency: Currency
    description: str = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, min_length=1, max_length=200, examples=["goodwill", "service_outage"])


@retrying()
def create_balance_transaction(
    ctx: Context, tenant_id: str, customer_id: str, cmd: CreateBalanceTransaction, claim: Claim | None = None
) -> BalanceTransaction:
    """Credit (or debit) the customer's balance: taken off (or added to) their next invoices."""
    customer = ctx.repo.customer(tenant_id, customer_id)
    if cmd.currency != customer.currency:
        raise ValidationFailed(
            "currency_mismatch", f"customer {customer.id}'s balance is in {customer.currency}, not {cmd.currency}"
        )
    if cmd.amount == 0:
        raise ValidationFailed("balance_transaction_zero", "a balance transaction moves the balance: not by zero")
    now = ctx.clock.now()
    tx = ctx.repo.transaction()
    moved, entry = customers.ledger(
        ctx, tx, customer, cmd.amount, now, "adjustment", description=cmd.description, reason=cmd.reason
    )
    assert entry is not None
    ctx.repo.save_customer(tx, moved)
    ctx.repo.add_event(
        tx,
        keys.customer(tenant_id, customer_id),
        DomainEvent.new(
            "customer.balance_transaction_created",
            tenant_id,
            "customer",
            customer_id,
            now,
            balance_transaction_id=entry.id,
            amount=cmd.amount,
            currency=customer.currency,
            reason=cmd.reason,
            changes={"credit_balance": {"before": customer.credit_balance, "after": moved.credit_balance}},
        ),
    )
    remember(ctx, tx, tenant_id, claim, entry.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("BalanceTransactionCreated")
    return entry


def list_balance_transactions(
    ctx: Context, tenant_id: str, customer_id: str, limit: int, cursor: str | None
) -> tuple[list[BalanceTransaction], str | None]:
    ctx.repo.customer(tenant_id, customer_id)  # 404 for a customer of no one
    return ctx.repo.balance_transactions(tenant_id, customer_id, limit, cursor)
