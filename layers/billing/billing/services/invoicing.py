"""Invoices: finalize with a gapless number, read, list, void."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain import numbering
from billing.observability import business_event
from billing.services import collections, customers
from billing.services.unit import Claim, Context, remember, retrying

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Invoice, Tenant


def take_number(ctx: Context, tx: Transaction, tenant_id: str, series: str, fmt: str) -> str:
    """The next number of a tenant's series (invoices, credit notes), with the counter moved inside ``tx``: the
    number is used exactly when what bears it is committed, so the series stays gapless."""
    return take_numbers(ctx, tx, tenant_id, series, fmt, 1)[0]


def take_numbers(
    ctx: Context,
    tx: Transaction,
    tenant_id: str,
    series: str,
    fmt: str,
    count: int,
    known: dict[str, int] | None = None,
) -> list[str]:
    """The next ``count`` numbers of a series with one move of its counter inside ``tx`` (a billing run numbers a
    batch of invoices with one write to the counter, not one hot write per invoice). ``known``: where the caller's
    own last committed move left the counter, per numbering period (the numbering writer's); read from it rather
    than from the table, and set to where this move takes it. The move is conditional on the counter's value
    either way: if someone else moved it since, the commit fails and the caller must drop ``known`` and retry."""
    if count == 0:
        return []
    now = ctx.clock.now()
    period = numbering.period_key(fmt, now)
    known = {} if known is None else known
    current = known[period] if period in known else ctx.repo.counter_value(tenant_id, series, period)
    ctx.repo.set_counter(tx, tenant_id, series, period, current, current + count)
    known[period] = current + count
    return [numbering.render(fmt, now, current + n) for n in range(1, count + 1)]


def finalize_into(ctx: Context, tx: Transaction, tenant: Tenant, draft: Invoice) -> Invoice:
    """Finalize ``draft`` inside ``tx`` with the next number of its series."""
    number = take_number(ctx, tx, tenant.id, draft.series, tenant.invoice_number_format)
    invoice, event = draft.finalize(number, ctx.clock.now())
    saved = ctx.repo.save_invoice(tx, invoice)
    ctx.repo.add_event(tx, keys.invoice(tenant.id, invoice.id), event)
    return saved


def get_invoice(ctx: Context, tenant_id: str, invoice_id: str) -> Invoice:
    return ctx.repo.invoice(tenant_id, invoice_id)


def list_invoices(
    ctx: Context, tenant_id: str, customer_id: str | None, status: str | None, limit: int, cursor: str | None
) -> tuple[list[Invoice], str | None]:
    return ctx.repo.invoices(tenant_id, customer_id, status, limit, cursor)


@retrying()
def void_invoice(ctx: Context, tenant_id: str, invoice_id: str, claim: Claim | None = None) -> Invoice:
    """Void the invoice; the customer's credit it took and what was paid on it (net of refunds) go back to the
    customer's credit. Its PaymentIntents are the caller's to cancel (``payments.void_invoice``)."""
    invoice = ctx.repo.invoice(tenant_id, invoice_id)
    now = ctx.clock.now()
    voided, event = invoice.void(now)
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_invoice(tx, voided)
    ctx.repo.add_event(tx, keys.invoice(tenant_id, invoice_id), event)
    collections.follow_invoice(ctx, tx, voided, now)  # its collection case, if open, resolves
    if returned := invoice.credit_applied + invoice.amount_paid - invoice.amount_refunded:
        customers.add_credit(
            ctx, tx, tenant_id, invoice.customer_id, returned, now, invoice_id=invoice_id, reason="invoice_voided"
        )
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("InvoiceVoided")
    return saved
