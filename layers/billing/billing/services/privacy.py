"""A customer's personal data: everything held about it (export), and its erasure (tombstones where the law keeps
the record, deletion where it does not). The rules of what is erased are billing.domain.erasure's; this module
walks the table and Stripe with them.

Erasure is one idempotent operation. Every place is tombstoned first (invoices' bill-to copies, each invoice's
partition, the customer's partition with its events, mail log and idempotency answers, the sign-in requests and
the suppression entry of each of its addresses, the Stripe customer), the customer item last, in one transaction
with its e-mail index, its external id guard and the ``customer.erased`` event. A crash half-way leaves the customer
as it was (its data still there to find the rest by) and a retry does it all again; tombstones are not personal
data, so what was done already changes nothing. Once the customer is erased, another erasure answers it as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from billing.adapters import keys
from billing.domain import erasure
from billing.domain.balance import BalanceTransaction
from billing.domain.base_model import BaseModel
from billing.domain.events import DomainEvent
from billing.domain.models import CreditNote, Customer, Invoice
from billing.domain.payments import Payment
from billing.domain.subscriptions import Subscription
from billing.observability import business_event, logger
from billing.services.commands import EraseCustomer
from billing.services.unit import Claim, Context, remember, retrying

SKIP = frozenset({"customer", "invoice"})  # saved as models, by this module: never rewritten as raw items


class Email(BaseModel):
    """An e-mail logged for an event (its body is never stored)."""

    cause_event_id: str
    kind: str
    to: str
    subject: str
    locale: str | None = None
    sent_at: str | None = None
    message_id: str | None = None
    skipped: str | None = None


class InvoiceRecord(BaseModel):
    invoice: Invoice = Field(description="with its bill-to copy as issued")
    payments: list[Payment]
    credit_notes: list[CreditNote]
    emails: list[Email]
    events: list[DomainEvent]


class StripeIds(BaseModel):
    customer_id: str | None = Field(description="the customer at Stripe")
    default_payment_method: str | None


class CustomerExport(BaseModel):
    """Everything held about one customer, machine-readable (``GET /v1/customers/{id}/export``)."""

    object: str = "customer_export"
    exported_at: datetime
    customer: Customer
    invoices: list[InvoiceRecord]
    balance_transactions: list[BalanceTransaction]
    subscriptions: list[Subscription]
    events: list[DomainEvent] = Field(description="the customer's own events (audit trail), oldest first")
    stripe: StripeIds


def export_customer(ctx: Context, tenant_id: str, customer_id: str) -> CustomerExport:
    customer = ctx.repo.customer(tenant_id, customer_id)
    records = []
    for invoice in ctx.repo.customer_invoices_all(tenant_id, customer_id):
        partition = ctx.repo.partition_items(keys.invoice(tenant_id, invoice.id))
        records.append(
            InvoiceRecord(
                invoice=invoice,
                payments=[_doc(Payment, i) for i in partition if i.get("type") == "payment"],
                credit_notes=[_doc(CreditNote, i) for i in partition if i.get("type") == "credit_note"],
                emails=[_email(i) for i in partition if i.get("type") == "mail"],
                events=[DomainEvent.model_validate_json(i["doc"]) for i in partition if i.get("type") == "event"],
            )
        )
    own = ctx.repo.partition_items(keys.customer(tenant_id, customer_id))
    return CustomerExport(
        exported_at=ctx.clock.now(),
        customer=customer,
        invoices=records,
        balance_transactions=[_doc(BalanceTransaction, i) for i in own if i.get("type") == "balance_transaction"],
        subscriptions=ctx.repo.customer_subscriptions(tenant_id, customer_id),
        events=[DomainEvent.model_validate_json(i["doc"]) for i in own if i.get("type") == "event"],
        stripe=StripeIds(
            customer_id=customer.stripe_customer_id, default_payment_method=customer.default_payment_method
        ),
    )


def _doc[M: BaseModel](model: type[M], item: dict[str, Any]) -> M:
    return model.model_validate_json(item["doc"])


def _email(item: dict[str, Any]) -> Email:
    _, cause, kind = item["sk"].split("#", 2)
    fields = {k: item.get(k) for k in ("to", "subject", "locale", "sent_at", "message_id", "skipped")}
    return Email(
        cause_event_id=cause, kind=kind, **{**fields, "to": fields["to"] or "", "subject": fields["subject"] or ""}
    )


@retrying()
def erase_customer(
    ctx: Context, gateway: Any, tenant_id: str, customer_id: str, cmd: EraseCustomer, claim: Claim | None = None
) -> Customer:
    """Erase the customer's personal data (module docstring); the erased customer. Refused (409) while something
    is still billed, money is owed or a dispute is open (``erasure.refusal``; ``force`` lifts the last two: the
    caller checked it is an admin key's)."""
    customer = ctx.repo.customer(tenant_id, customer_id)
    if customer.status == "erased":
        return customer  # done before: the same answer
    invoices = ctx.repo.customer_invoices_all(tenant_id, customer_id)
    refused = erasure.refusal(customer, invoices, ctx.repo.customer_subscriptions(tenant_id, customer_id), cmd.force)
    if refused:
        raise refused
    now = ctx.clock.now()
    own = keys.customer(tenant_id, customer_id)
    personal = erasure.personal_of(customer, ctx.repo.events(own), cmd.keep_metadata)
    erased, event = customer.erase(now, cmd.keep_metadata)
    answer = erased.model_copy(update={"version": customer.version + 1}).model_dump(mode="json")

    def answered(body: Any) -> Any:
        return erasure.erased_answer(body, personal, answer)

    for invoice in invoices:
        _erase_invoice(ctx, invoice, personal, answered)
    ctx.repo.erase_partition(own, personal, answered, SKIP)
    for address in sorted(personal.addresses):
        ctx.repo.erase_address(tenant_id, address, personal)
    if customer.stripe_customer_id:
        gateway.delete_customer(customer.stripe_customer_id)
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, erased)
    for address in sorted(personal.addresses):
        ctx.repo.delete_email_index(tx, tenant_id, address, customer_id)
    if customer.external_id:
        ctx.repo.release_external_id(tx, tenant_id, "customer", customer.external_id)
    ctx.repo.add_event(tx, own, event)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("CustomerErased")
    logger.info("customer erased", extra={"customer_id": customer_id, "invoices": len(invoices), "forced": cmd.force})
    return saved


@retrying()
def _erase_invoice(ctx: Context, invoice: Invoice, personal: erasure.Personal, answered: Any) -> None:
    """The invoice's bill-to copy tombstoned (a versioned save: numbers, lines, amounts, dates, tax unchanged), then
    everything in its partition: payments, credit notes, its mail log, its events."""
    current = ctx.repo.invoice(invoice.tenant_id, invoice.id)
    if not erasure.is_erased_invoice(current):
        tx = ctx.repo.transaction()
        ctx.repo.save_invoice(tx, erasure.erased_invoice(current))
        ctx.repo.commit(tx)
    ctx.repo.erase_partition(keys.invoice(invoice.tenant_id, invoice.id), personal, answered, SKIP)
