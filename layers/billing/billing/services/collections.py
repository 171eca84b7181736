"""Collection cases: what a dunning step ``escalate`` opens for a person to chase (billing.domain.collections).

Each change is one transaction: the case, its event (in the case's partition) and, for a promise to pay, the
invoice's dunning paused or resumed with it. The dunning worker opens a case inside its step's own transaction
(``open_for_step``) and settles a promise whose day is over (billing.services.dunning); an invoice that is paid,
voided or written off resolves its open case in the write that moved it (``follow_invoice``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from billing.adapters import keys
from billing.adapters.dynamodb import Transaction
from billing.domain import collections as cases
from billing.domain.collections import CaseStatus, CollectionCase
from billing.domain.errors import Conflict, NotFound
from billing.observability import business_event
from billing.services.unit import Claim, Context, remember, retrying

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Invoice

Sort = Literal["age", "amount"]


class CollectionCaseResource(CollectionCase):
    """A case as the API gives it; a single case also says where its invoice is now."""

    invoice_status: str | None = Field(default=None, description="the invoice's status now (a single case only)")
    invoice_amount_due: int | None = Field(default=None, description="what the invoice owes now (a single case only)")


def open_for_step(ctx: Context, tx: Transaction, invoice: Invoice, step_id: str, now: datetime) -> str | None:
    """Open the invoice's case inside the step's transaction ``tx``: its id, or None when the invoice has one
    already (a case is opened once per invoice, whatever happened to it since)."""
    case_id = cases.case_id_for(invoice.id)
    if invoice.dunning.case_id or ctx.repo.collection_case(invoice.tenant_id, case_id) is not None:
        return None
    case, event = cases.open_case(invoice, step_id, now)
    ctx.repo.save_collection_case(tx, case)
    ctx.repo.add_event(tx, keys.collection_case(case.tenant_id, case.id), event)
    business_event("CollectionCaseOpened")
    return case.id


def follow_invoice(ctx: Context, tx: Transaction, invoice: Invoice, now: datetime) -> None:
    """An invoice that left collection (paid, voided, written off) resolves its case, if it has one still open,
    inside the write that moved it (``tx``)."""
    if not invoice.dunning.case_id or (found := cases.resolution_of_invoice(invoice)) is None:
        return
    case = ctx.repo.collection_case(invoice.tenant_id, invoice.dunning.case_id)
    if case is None or case.status == "resolved":
        return
    code, note = found
    resolved, event = cases.resolve(case, code, note, now, by="system")
    ctx.repo.save_collection_case(tx, resolved)
    ctx.repo.add_event(tx, keys.collection_case(case.tenant_id, case.id), event)


def get_case(ctx: Context, tenant_id: str, case_id: str) -> CollectionCaseResource:
    case = _case(ctx, tenant_id, case_id, consistent=False)
    invoice = ctx.repo.invoice(tenant_id, case.invoice_id)
    return CollectionCaseResource(**dict(case), invoice_status=invoice.status, invoice_amount_due=invoice.amount_due)


def list_cases(
    ctx: Context, tenant_id: str, status: CaseStatus | None, sort: Sort, limit: int, cursor: str | None
) -> tuple[list[CollectionCaseResource], str | None]:
    found, next_cursor = ctx.repo.collection_cases(tenant_id, status, sort, limit, cursor)
    return [CollectionCaseResource(**dict(c)) for c in found], next_cursor


@retrying()
def assign(
    ctx: Context, tenant_id: str, case_id: str, request: cases.AssignRequest, claim: Claim | None = None
) -> CollectionCaseResource:
    case = _case(ctx, tenant_id, case_id)
    moved, event = cases.assign(case, request.assignee, ctx.clock.now())
    return _commit(ctx, moved, event, claim, "CollectionCaseAssigned")


@retrying()
def add_note(
    ctx: Context, tenant_id: str, case_id: str, request: cases.NoteRequest, claim: Claim | None = None
) -> CollectionCaseResource:
    case = _case(ctx, tenant_id, case_id)
    author = request.author or case.assignee or "api"
    moved, event = cases.add_note(case, author, request.text, ctx.clock.now())
    return _commit(ctx, moved, event, claim, "CollectionCaseNoteAdded")


@retrying()
def record_promise(
    ctx: Context, tenant_id: str, case_id: str, request: cases.PromiseRequest, claim: Claim | None = None
) -> CollectionCaseResource:
    """A promise to pay by a date: dunning on the invoice pauses until then (``promise_to_pay``); the day after,
    the worker finds it kept or broken (billing.services.dunning)."""
    case = _case(ctx, tenant_id, case_id)
    invoice = ctx.repo.invoice(tenant_id, case.invoice_id)
    now = ctx.clock.now()
    if invoice.status != "open" or invoice.amount_due <= 0:
        raise Conflict("invoice_not_payable", f"invoice {invoice.id} is {invoice.status}: nothing to promise")
    if invoice.dunning.paused in ("dispute", "payment_plan"):
        raise Conflict(
            "dunning_paused",
            f"dunning on invoice {invoice.id} is paused for a {invoice.dunning.paused.replace('_', ' ')}",
        )
    author = case.assignee or "api"
    moved, event = cases.record_promise(case, invoice, request.date, request.amount, request.note, author, now)
    progress = invoice.dunning.pause("promise_to_pay", now.date()).model_copy(
        update={"promise_until": request.date, "attention_on": moved.pending_promise.check_on}
    )
    paused = invoice.model_copy(update={"dunning": progress, "updated_at": now})
    return _commit(ctx, moved, event, claim, "PromiseToPayRecorded", invoice=paused)


@retrying()
def resolve(
    ctx: Context, tenant_id: str, case_id: str, request: cases.ResolveRequest, claim: Claim | None = None
) -> CollectionCaseResource:
    """Resolve the case by hand. A promise still pending ends with it, and dunning paused for it resumes today."""
    case = _case(ctx, tenant_id, case_id)
    now = ctx.clock.now()
    resolved, event = cases.resolve(case, request.resolution, request.note, now)
    invoice = ctx.repo.invoice(tenant_id, case.invoice_id)
    resumed = None
    if invoice.dunning.promise_until:
        resumed = invoice.model_copy(update={"dunning": _lift_promise(invoice, now.date()), "updated_at": now})
    return _commit(ctx, resolved, event, claim, "CollectionCaseResolved", invoice=resumed)


def _lift_promise(invoice: Invoice, today: date):
    """The promise no longer holds dunning back. Paused for it, dunning resumes ``today``: the steps not yet run move
    on by the days it was paused, as after a payment plan; the worker takes the invoice at the next sweep and plans
    its next day itself. Paused for something else since (a dispute), that pause stays."""
    progress = invoice.dunning.model_copy(update={"promise_until": None})
    if progress.paused != "promise_to_pay" or invoice.status != "open":
        return progress
    return progress.resume(today).model_copy(update={"attention_on": today})


def _case(ctx: Context, tenant_id: str, case_id: str, consistent: bool = True) -> CollectionCase:
    case = ctx.repo.collection_case(tenant_id, case_id, consistent)
    if case is None:
        raise NotFound("collection_case_not_found", f"no collection case {case_id}")
    return case


def _commit(
    ctx: Context, case: CollectionCase, event, claim: Claim | None, metric: str, invoice: Invoice | None = None
) -> CollectionCaseResource:
    tx = ctx.repo.transaction()
    saved = ctx.repo.save_collection_case(tx, case)
    ctx.repo.add_event(tx, keys.collection_case(case.tenant_id, case.id), event)
    if invoice is not None:
        ctx.repo.save_invoice(tx, invoice)
    answer = CollectionCaseResource(**dict(saved))
    remember(ctx, tx, case.tenant_id, claim, answer.model_dump(mode="json"))
    ctx.repo.commit(tx)
    business_event(metric)
    return answer
