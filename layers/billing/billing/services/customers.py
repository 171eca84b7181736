"""Customers of a tenant: registered, kept in sync with the tenant's CRM (list, update, archive), and credited."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from billing.adapters import keys
from billing.domain.balance import BalanceTransaction, entry_type
from billing.domain.errors import ConcurrentModification, Conflict
from billing.domain.ids import new_id
from billing.domain.models import Customer, DomainEvent, Invoice
from billing.domain.tax import check_tax_status
from billing.observability import business_event, logger
from billing.services.unit import Claim, Context, remember, retrying

if TYPE_CHECKING:  # the request bodies, for typing only: the billing run's workers never import them
    from billing.services.commands import CreateCustomer, UpdateCustomer


@retrying()
def create_customer(ctx: Context, tenant_id: str, cmd: CreateCustomer, claim: Claim | None = None) -> Customer:
    if cmd.external_id and (owner := ctx.repo.external_owner(tenant_id, "customer", cmd.external_id)):
        raise Conflict(
            "duplicate_external_id", f"customer {owner} already has external_id {cmd.external_id}", existing_id=owner
        )
    check_tax_status(cmd.tax_exempt, cmd.tax_ids)  # reverse charge needs a tax id (422)
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


def list_customers(
    ctx: Context,
    tenant_id: str,
    limit: int,
    cursor: str | None,
    email: str | None = None,
    external_id: str | None = None,
    archived: bool | None = None,
) -> tuple[list[Customer], str | None]:
    """A page of the tenant's customers, newest first; by ``email`` or ``external_id`` an exact lookup on its own
    key (every match on one page), never a filter over the list."""
    if email is None and external_id is None:
        return ctx.repo.customers(tenant_id, limit, cursor, archived)
    found: list[Customer] | None = None
    if external_id is not None:
        owner = ctx.repo.external_owner(tenant_id, "customer", external_id)
        found = [ctx.repo.customer(tenant_id, owner)] if owner else []
    if email is not None:
        by_email = ctx.repo.customers_by_email(tenant_id, email)
        found = by_email if found is None else [c for c in found if c.id in {b.id for b in by_email}]
    if archived is not None:
        found = [c for c in found or [] if (c.status == "archived") == archived]
    return sorted(found or [], key=lambda c: c.id, reverse=True), None  # every match: a handful, never a list


@retrying()
def update_customer(ctx: Context, gateway: Any, tenant_id: str, customer_id: str, cmd: UpdateCustomer) -> Customer:
    """Apply a PATCH: a versioned write of what changed and its ``customer.updated`` event (``data.changes``), the
    e-mail index and the external-id guard moved in the same transaction. A PATCH that changes nothing writes
    nothing. Stripe's copy of the name and e-mail follows after the commit (``_sync_stripe``)."""
    customer = ctx.repo.customer(tenant_id, customer_id).ensure_not_erased()
    updated, changes = customer.patched(cmd.patch())
    if not changes:
        return customer
    check_tax_status(updated.tax_exempt, updated.tax_ids)  # reverse charge needs a tax id (422)
    if "currency" in changes and (
        customer.credit_balance
        or ctx.repo.customer_has_invoice(tenant_id, customer_id)
        or ctx.repo.customer_has_subscription(tenant_id, customer_id)
    ):
        raise Conflict(
            "customer_currency_locked",
            f"customer {customer_id} has invoices, subscriptions or credit in {customer.currency}: its currency stays",
            currency=customer.currency,
        )
    tx = ctx.repo.transaction()
    if "external_id" in changes:
        if updated.external_id and (owner := ctx.repo.external_owner(tenant_id, "customer", updated.external_id)):
            raise Conflict(
                "duplicate_external_id",
                f"customer {owner} already has external_id {updated.external_id}",
                existing_id=owner,
            )
        if customer.external_id:
            ctx.repo.release_external_id(tx, tenant_id, "customer", customer.external_id)
        if updated.external_id:
            ctx.repo.claim_external_id(tx, tenant_id, "customer", updated.external_id, customer_id)
    saved = ctx.repo.save_customer(tx, updated)
    if "email" in changes:
        ctx.repo.move_customer_email(tx, customer, updated)
    now = ctx.clock.now()
    event = DomainEvent.new("customer.updated", tenant_id, "customer", customer_id, now, changes=changes)
    ctx.repo.add_event(tx, keys.customer(tenant_id, customer_id), event)
    ctx.repo.commit(tx)
    business_event("CustomerUpdated")
    if saved.stripe_customer_id and ({"name", "email"} & set(changes)):
        _sync_stripe(gateway, saved)
    return saved


def _sync_stripe(gateway: Any, customer: Customer) -> None:
    """Stripe's customer takes the new name and e-mail. Best effort, after the commit: a Stripe outage never fails
    the change (it is logged; the next change sends the current name and e-mail again). The idempotency key is the
    customer's version, so a retried request does not repeat it."""
    try:
        gateway.update_customer(
            customer.stripe_customer_id,
            customer.email,
            customer.name,
            f"customer-update-{customer.id}-{customer.version}",
        )
    except Exception:
        logger.exception("could not update the customer at Stripe", extra={"customer_id": customer.id})


@retrying()
def archive_customer(ctx: Context, tenant_id: str, customer_id: str, claim: Claim | None = None) -> Customer:
    """Archived: no new orders or subscriptions (409 ``customer_archived``); invoices, payments, dunning and the
    portal go on. Archiving an archived customer is refused (409, the state machine's)."""
    return _move(ctx, tenant_id, customer_id, "archive", claim)


@retrying()
def unarchive_customer(ctx: Context, tenant_id: str, customer_id: str, claim: Claim | None = None) -> Customer:
    return _move(ctx, tenant_id, customer_id, "unarchive", claim)


def _move(ctx: Context, tenant_id: str, customer_id: str, action: str, claim: Claim | None) -> Customer:
    customer = ctx.repo.customer(tenant_id, customer_id).ensure_not_erased()
    now = ctx.clock.now()
    moved, event = customer.archive(now) if action == "archive" else customer.unarchive(now)
    event.data["changes"] = {
        "status": {"before": customer.status, "after": moved.status},
        "archived_at": {
            "before": customer.archived_at.isoformat() if customer.archived_at else None,
            "after": moved.archived_at.isoformat() if moved.archived_at else None,
        },
    }
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_customer(tx, moved)
    ctx.repo.add_event(tx, keys.customer(tenant_id, customer_id), event)
    remember(ctx, tx, tenant_id, claim, saved.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event("CustomerArchived" if action == "archive" else "CustomerUnarchived")
    return saved


def backfill_lists(ctx: Context) -> int:
    """Put every customer saved before the customer lists existed on them (saved again as it is: the save adds the
    list keys); how many. An operator's command over a Scan, safe to run again or alongside traffic (a customer
    changed meanwhile is on the lists already)."""
    done = 0
    for customer in ctx.repo.unlisted_customers():
        tx = ctx.repo.transaction()
        ctx.repo.save_customer(tx, customer)
        try:
            ctx.repo.commit(tx)
        except ConcurrentModification:
            continue  # saved by a request meanwhile: listed by that save
        done += 1
    return done


def add_credit(ctx: Context, tx: Any, tenant_id: str, customer_id: str, amount: int, now: datetime, **why: Any) -> None:
    """Add ``amount`` to the customer's credit (taken off their next invoices) inside ``tx``, with the event saying
    why (``invoice_id``, ``reason``) and its entry in the balance ledger."""
    customer = ctx.repo.customer(tenant_id, customer_id)
    moved, _ = ledger(ctx, tx, customer, amount, now, entry_type(why.get("reason")), **_refs(why))
    ctx.repo.save_customer(tx, moved)
    ctx.repo.add_event(
        tx,
        keys.customer(tenant_id, customer_id),
        DomainEvent.new("customer.credit_added", tenant_id, "customer", customer_id, now, amount=amount, **why),
    )


def deduct_credit(
    ctx: Context, tx: Any, tenant_id: str, customer_id: str, amount: int, now: datetime, **why: Any
) -> None:
    """Take ``amount`` off the customer's credit inside ``tx`` (a reversed payment had brought it). Credit already
    spent leaves the balance below zero: a debit, added to the customer's next invoice."""
    customer = ctx.repo.customer(tenant_id, customer_id)
    after = customer.credit_balance - amount
    moved, _ = ledger(ctx, tx, customer, -amount, now, entry_type(why.get("reason")), **_refs(why))
    ctx.repo.save_customer(tx, moved)
    ctx.repo.add_event(
        tx,
        keys.customer(tenant_id, customer_id),
        DomainEvent.new(
            "customer.credit_deducted",
            tenant_id,
            "customer",
            customer_id,
            now,
            amount=amount,
            changes={"credit_balance": {"before": customer.credit_balance, "after": after}},
            **why,
        ),
    )


def _refs(why: dict[str, Any]) -> dict[str, Any]:
    return {k: why[k] for k in ("invoice_id", "credit_note_id", "description", "reason") if why.get(k)}


def ledger(
    ctx: Context, tx: Any, customer: Customer, amount: int, now: datetime, type_: str, **refs: Any
) -> tuple[Customer, BalanceTransaction | None]:
    """The one place a customer's credit balance moves: ``customer`` with ``amount`` added to its balance (the
    caller saves it, once per transaction) and the movement's entry in its ledger, written inside ``tx`` (none for
    nothing). So the ledger's entries sum to the balance."""
    after = customer.credit_balance + amount
    entry = None
    if amount:
        entry = BalanceTransaction(
            id=new_id("cbtxn", now),
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            currency=customer.currency,
            amount=amount,
            ending_balance=after,
            type=type_,
            created_at=now,
            **refs,
        )
        ctx.repo.add_balance_transaction(tx, entry)
    return customer.model_copy(update={"credit_balance": after}), entry


def invoice_credit(ctx: Context, tx: Any, customer: Customer, invoice: Invoice, now: datetime) -> Customer:
    """``customer`` as an invoice just drafted for them leaves it (unsaved; the caller saves it once): the credit it
    took off, and a credit-heavy invoice's excess kept as credit, each an entry of the ledger in ``tx``."""
    moved, _ = ledger(ctx, tx, customer, -invoice.credit_applied, now, "applied_to_invoice", invoice_id=invoice.id)
    return ledger(ctx, tx, moved, invoice.excess_credit, now, "invoice_excess_credit", invoice_id=invoice.id)[0]
