"""Collection cases: the human escalation of dunning. A policy step ``escalate`` opens one case per invoice for a
person of the tenant to chase: it is assigned, annotated, may carry a promise to pay (a date that pauses dunning
until then) and is resolved, by hand or by itself when the invoice is paid, voided or written off.

Pure: every change is a function of the case (and the facts it needs) giving the changed case and its event; the
legal changes are the ``COLLECTION_CASE`` state-machine table (anything else is a 409).
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.events import DomainEvent
from billing.domain.state_machine import COLLECTION_CASE

if TYPE_CHECKING:
    # types only: the repository loads the models with the first read
    from billing.domain.models import Invoice

CaseStatus = Literal["open", "assigned", "promise_to_pay", "resolved"]
CASE_STATUSES: tuple[str, ...] = ("open", "assigned", "promise_to_pay", "resolved")
Resolution = Literal["paid", "payment_plan", "written_off", "disputed", "other"]
PromiseStatus = Literal["pending", "kept", "broken"]
MAX_NOTE = 2000
MAX_PROMISE_DAYS = 90  # a promise further out is a payment plan (POST /v1/invoices/{id}/payment_plan)
# What a case's notes may hold in all, in UTF-8 bytes: the case is one DynamoDB item (at most 400 KB), and 2,000
# characters are up to 8 KB. Thousands of ordinary notes; past it, 409 ``collection_case_notes_full``.
NOTES_BUDGET = 256_000
MAX_PROMISES = 50
SYSTEM = "system"  # the author of the notes the system writes (a promise broken, the invoice paid)


def case_id_for(invoice_id: str) -> str:
    """The one case of an invoice: its id derives from the invoice's, so a step run twice never opens two."""
    return "case_" + invoice_id.removeprefix("in_")


class CaseNote(BaseModel):
    author: str
    text: str
    at: datetime


class Promise(BaseModel):
    """A promise to pay by ``on`` (inclusive): ``amount``, or, without one, everything due when it was made."""

    on: date
    amount: int | None = None
    recorded_at: datetime
    paid_before: int  # the invoice's amount_paid when it was made: what counts are payments after it
    amount_due: int  # the invoice's amount due when it was made
    status: PromiseStatus = "pending"
    settled_at: datetime | None = None

    @property
    def target(self) -> int:
        return self.amount if self.amount is not None else self.amount_due

    def is_kept(self, amount_paid: int) -> bool:
        return amount_paid - self.paid_before >= self.target

    def is_broken(self, amount_paid: int, today: date) -> bool:
        """Broken: its day is over and what it promised has not come in."""
        return today > self.on and not self.is_kept(amount_paid)

    @property
    def check_on(self) -> date:
        """The day the worker looks at it: the day after its date (the whole of its date is the customer's)."""
        return self.on + timedelta(days=1)


class CaseResolution(BaseModel):
    code: Resolution
    note: str | None = None
    by: Literal["user", "system"] = "user"


class CollectionCase(BaseModel):
    id: str
    tenant_id: str
    invoice_id: str
    customer_id: str
    invoice_number: str | None = None
    currency: str
    amount_due: int = Field(description="the invoice's amount due when the case opened (minor units)")
    opened_at: datetime
    opened_by_step: str | None = Field(default=None, description="the dunning step that escalated (``due_date:10``)")
    status: CaseStatus = "open"
    assignee: str | None = None
    notes: list[CaseNote] = Field(default_factory=list)
    promises: list[Promise] = Field(default_factory=list)
    resolution: CaseResolution | None = None
    resolved_at: datetime | None = None
    updated_at: datetime
    version: int = 0

    @property
    def pending_promise(self) -> Promise | None:
        return next((p for p in self.promises if p.status == "pending"), None)

    def _event(self, type_: str, now: datetime, **data: Any) -> DomainEvent:
        return DomainEvent.new(
            type_, self.tenant_id, "collection_case", self.id, now, invoice_id=self.invoice_id, **data
        )

    def _moved(self, action: str, now: datetime, **update: Any) -> tuple[CollectionCase, dict[str, Any]]:
        status = COLLECTION_CASE.next_state(self.status, action)
        moved = self.model_copy(update={**update, "status": status, "updated_at": now})
        changes = {"status": {"before": self.status, "after": status}} if status != self.status else {}
        return moved, changes


def open_case(invoice: Invoice, step_id: str, now: datetime) -> tuple[CollectionCase, DomainEvent]:
    case = CollectionCase(
        id=case_id_for(invoice.id),
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        invoice_number=invoice.number,
        currency=invoice.currency,
        amount_due=invoice.amount_due,
        opened_at=now,
        opened_by_step=step_id,
        updated_at=now,
    )
    event = case._event(
        "collection_case.opened",
        now,
        customer_id=case.customer_id,
        invoice_number=case.invoice_number,
        amount_due=case.amount_due,
        currency=case.currency,
        step_id=step_id,
        changes={"status": {"before": None, "after": "open"}},
    )
    return case, event


def assign(case: CollectionCase, assignee: str, now: datetime) -> tuple[CollectionCase, DomainEvent]:
    moved, changes = case._moved("assign", now, assignee=assignee)
    changes["assignee"] = {"before": case.assignee, "after": assignee}
    return moved, case._event("collection_case.assigned", now, assignee=assignee, changes=changes)


def add_note(case: CollectionCase, author: str, text: str, now: datetime) -> tuple[CollectionCase, DomainEvent]:
    COLLECTION_CASE.next_state(case.status, "add_note")  # the state first: a resolved case takes no note at all
    if not text.strip() or len(text) > MAX_NOTE:
        raise ValidationFailed("invalid_note", f"a note is 1 to {MAX_NOTE} characters")
    note = CaseNote(author=author, text=text, at=now)
    moved, changes = case._moved("add_note", now, notes=_within_budget(case, note))
    changes["notes"] = {"before": len(case.notes), "after": len(moved.notes)}
    event = case._event("collection_case.note_added", now, author=author, text=text, changes=changes)
    return moved, event


def record_promise(
    case: CollectionCase,
    invoice: Invoice,
    on: date,
    amount: int | None,
    note: str | None,
    author: str,
    now: datetime,
) -> tuple[CollectionCase, DomainEvent]:
    """A promise to pay ``amount`` (default: all that is due) by ``on``: after today, within ``MAX_PROMISE_DAYS``."""
    COLLECTION_CASE.next_state(case.status, "record_promise")
    today = now.date()
    if not today < on <= today + timedelta(days=MAX_PROMISE_DAYS):
        raise ValidationFailed(
            "invalid_promise_date", f"a promise falls after today ({today}) and within {MAX_PROMISE_DAYS} days"
        )
    if amount is not None and not 0 < amount <= invoice.amount_due:
        raise ValidationFailed("invalid_promise_amount", f"a promise is of 1 to {invoice.amount_due} (the amount due)")
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed("invalid_note", f"a note is at most {MAX_NOTE} characters")
    promise = Promise(
        on=on,
        amount=amount,
        recorded_at=now,
        paid_before=invoice.amount_paid,
        amount_due=invoice.amount_due,
    )
    if len(case.promises) >= MAX_PROMISES:
        raise Conflict("collection_case_promises_full", f"a case holds at most {MAX_PROMISES} promises")
    notes = _within_budget(case, CaseNote(author=author, text=note, at=now)) if note else case.notes
    moved, changes = case._moved("record_promise", now, promises=[*case.promises, promise], notes=notes)
    changes["promise"] = {"before": None, "after": promise.model_dump(mode="json", include={"on", "amount"})}
    event = case._event(
        "collection_case.promise_recorded",
        now,
        on=on.isoformat(),
        amount=amount,
        target=promise.target,
        changes=changes,
    )
    return moved, event


def _within_budget(case: CollectionCase, note: CaseNote) -> list[CaseNote]:
    used = sum(len(n.text.encode()) + len(n.author.encode()) for n in case.notes)
    if used + len(note.text.encode()) + len(note.author.encode()) > NOTES_BUDGET:
        raise Conflict("collection_case_notes_full", "the case holds as many notes as it can: resolve it")
    return [*case.notes, note]


def settle_promise(case: CollectionCase, amount_paid: int, now: datetime) -> tuple[CollectionCase, DomainEvent]:
    """The day after a promise's date: kept (what it promised came in) or broken. Either way the case goes back to
    its assignee, open, and a note says what happened."""
    promise = case.pending_promise
    assert promise is not None
    kept = promise.is_kept(amount_paid)
    settled = promise.model_copy(update={"status": "kept" if kept else "broken", "settled_at": now})
    paid = amount_paid - promise.paid_before
    text = (
        f"Promise to pay by {promise.on.isoformat()} kept: {paid} of {promise.target} came in."
        if kept
        else f"Promise to pay by {promise.on.isoformat()} broken: {paid} of {promise.target} came in; dunning resumes."
    )
    promises = [settled if p is promise else p for p in case.promises]
    notes = [*case.notes, CaseNote(author=SYSTEM, text=text, at=now)]
    moved, changes = case._moved("keep_promise" if kept else "break_promise", now, promises=promises, notes=notes)
    changes["promise"] = {"before": "pending", "after": settled.status}
    event = case._event(
        "collection_case.promise_kept" if kept else "collection_case.promise_broken",
        now,
        on=promise.on.isoformat(),
        target=promise.target,
        paid=paid,
        changes=changes,
    )
    return moved, event


def resolve(
    case: CollectionCase, code: Resolution, note: str | None, now: datetime, by: Literal["user", "system"] = "user"
) -> tuple[CollectionCase, DomainEvent]:
    COLLECTION_CASE.next_state(case.status, "resolve")
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationFailed("invalid_note", f"a note is at most {MAX_NOTE} characters")
    resolution = CaseResolution(code=code, note=note, by=by)
    promises = case.promises
    if (pending := case.pending_promise) is not None:  # the promise ends with the case: kept if the invoice is paid
        ended = pending.model_copy(update={"status": "kept" if code == "paid" else "broken", "settled_at": now})
        promises = [ended if p is pending else p for p in promises]
    moved, changes = case._moved("resolve", now, resolution=resolution, resolved_at=now, promises=promises)
    changes["resolution"] = {"before": None, "after": code}
    event = case._event("collection_case.resolved", now, resolution=code, note=note, by=by, changes=changes)
    return moved, event


def resolution_of_invoice(invoice: Invoice) -> tuple[Resolution, str] | None:
    """How an invoice that left collection resolves its case (None: it is still owed)."""
    if invoice.status == "paid":
        return "paid", "The invoice was paid."
    if invoice.status == "uncollectible":
        return "written_off", "The invoice was written off."
    if invoice.status == "void":
        return "other", "The invoice was voided."
    return None


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    assignee: str = Field(min_length=1, max_length=254, description="a person's name or e-mail address")


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE)
    author: str | None = Field(default=None, min_length=1, max_length=254, description="default: the assignee")


class PromiseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="the last day the customer promised to pay by (after today, within 90 days)")
    amount: int | None = Field(default=None, gt=0, strict=True, description="default: all that is due")
    note: str | None = Field(default=None, max_length=MAX_NOTE, description="added to the case's notes")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Resolution
    note: str | None = Field(default=None, max_length=MAX_NOTE)
