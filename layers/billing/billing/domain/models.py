"""The aggregates: tenant, customer, order and invoice, with the rules that change them.

Pure Python: no I/O. Each change returns the new aggregate and the domain events it raised; the unit of work writes
both in one transaction (the event doubles as the audit record and as the outbox entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from billing.domain import erasure, numbering
from billing.domain.address import SUPPORTED_LOCALES as SUPPORTED_LOCALES  # re-exported: home is address.py
from billing.domain.address import Address as Address
from billing.domain.base_model import BaseModel
from billing.domain.dunning import DunningPolicy, DunningProgress, default_policy
from billing.domain.errors import Conflict, IllegalTransition, ValidationFailed
from billing.domain.events import DomainEvent as DomainEvent  # re-exported: its home is events.py
from billing.domain.ids import derived_id, new_id, new_secret
from billing.domain.pricing import (
    Discount,
    DiscountInput,
    DiscountLine,
    LineInput,
    PricedLine,
    TaxSummaryLine,
    price,
)
from billing.domain.state_machine import CUSTOMER, INVOICE, ORDER

CollectionMethod = Literal["charge_automatically", "send_invoice"]
METADATA_MAX_KEYS = 50  # Stripe's limits: 50 keys, keys up to 40 characters, values up to 500


class ReviewRule(BaseModel):
    """Orders whose ``metadata[metadata_key]`` is one of ``values`` wait for review before they are invoiced."""

    metadata_key: str = "order_type"
    values: list[str] = Field(default_factory=lambda: ["trial", "enterprise"])

    def reason(self, metadata: dict[str, str]) -> str | None:
        value = metadata.get(self.metadata_key)
        return f"{self.metadata_key}={value}" if value in self.values else None


class Tenant(BaseModel):
    id: str
    name: str
    invoice_number_format: str = numbering.DEFAULT_FORMAT
    credit_note_number_format: str = numbering.DEFAULT_CREDIT_NOTE_FORMAT
    review_rule: ReviewRule = Field(default_factory=ReviewRule)
    reply_to: str | None = None
    dunning_policy: DunningPolicy = Field(default_factory=lambda: default_policy().model_copy(deep=True))
    rate_limit: str | None = None  # <rate>/<burst> of its API calls, set by an operator; None: the stack's
    created_at: datetime
    version: int = 0


TaxExempt = Literal["none", "exempt", "reverse"]  # taxed / exempt / reverse charge (the buyer accounts for the tax)


class TaxId(BaseModel):
    """A customer's tax id, by type (``eu_vat``, ``ru_inn``, ``cn_uscc``, …), stored compact (``DE136695976``)."""

    type: str
    value: str


class Customer(BaseModel):
    id: str
    tenant_id: str
    email: str
    name: str
    locale: str
    currency: str
    external_id: str | None = None
    address: Address | None = None
    stripe_customer_id: str | None = None
    default_payment_method: str | None = None
    timezone: str = "UTC"  # subscriptions' periods are counted in it
    # overpayments kept for the next invoice, in the customer's currency; below zero it is a debit (credit spent
    # that a reversed payment had brought), added to the next invoice as Stripe's customer balance is
    credit_balance: int = 0
    metadata: dict[str, str] = Field(default_factory=dict)  # the tenant's own (a CRM's ids, segments), as Stripe's
    tax_exempt: TaxExempt = "none"  # exempt / reverse: no tax on its lines (billing.domain.tax.resolve)
    tax_ids: list[TaxId] = Field(default_factory=list)
    status: str = "active"  # active | archived | erased (billing.domain.state_machine.CUSTOMER)
    archived_at: datetime | None = None  # archived: no new orders or subscriptions; its history and invoices stay
    erased_at: datetime | None = None  # erased: its personal data tombstoned (billing.domain.erasure), for good
    created_at: datetime
    version: int = 0

    def ensure_active(self) -> Customer:
        """The customer, if new orders and subscriptions may be started for them (not archived, not erased)."""
        self.ensure_not_erased()
        if self.status == "archived":
            raise Conflict("customer_archived", f"customer {self.id} is archived", archived_at=self.archived_at)
        return self

    def ensure_not_erased(self) -> Customer:
        """The customer, unless erased: an erased customer is never changed, charged or mailed again (409)."""
        if self.status == "erased":
            raise Conflict("customer_erased", f"customer {self.id} was erased", erased_at=self.erased_at)
        return self

    def erase(self, now: datetime, keep_metadata: Sequence[str] = ()) -> tuple[Customer, DomainEvent]:
        """Its personal data tombstoned (billing.domain.erasure): e-mail, name, address (but the country), tax id
        values, external id, saved card, and the metadata but the keys in ``keep_metadata``; the ``customer.erased``
        event says only when and which metadata keys stayed."""
        status = CUSTOMER.next_state(self.status, "erase")
        kept = {k: v for k, v in self.metadata.items() if k in keep_metadata}
        erased = self.model_copy(
            update={
                "email": erasure.TOMBSTONE,
                "name": erasure.TOMBSTONE,
                "address": erasure.kept_country(self.address),
                "tax_ids": erasure.erased_tax_ids(self.tax_ids),
                "external_id": None,
                "metadata": kept,
                "default_payment_method": None,
                "status": status,
                "erased_at": now,
            }
        )
        event = DomainEvent.new(
            "customer.erased",
            self.tenant_id,
            "customer",
            self.id,
            now,
            erased_at=now.isoformat(),
            kept_metadata=sorted(kept),
        )
        return erased, event

    def archive(self, now: datetime) -> tuple[Customer, DomainEvent]:
        status = CUSTOMER.next_state(self.status, "archive")
        archived = self.model_copy(update={"status": status, "archived_at": now})
        return archived, DomainEvent.new(
            "customer.archived", self.tenant_id, "customer", self.id, now, archived_at=now.isoformat()
        )

    def unarchive(self, now: datetime) -> tuple[Customer, DomainEvent]:
        status = CUSTOMER.next_state(self.status, "unarchive")
        restored = self.model_copy(update={"status": status, "archived_at": None})
        return restored, DomainEvent.new("customer.unarchived", self.tenant_id, "customer", self.id, now)

    def patched(self, patch: dict[str, Any]) -> tuple[Customer, dict[str, dict[str, Any]]]:
        """The customer with ``patch`` (JSON merge semantics, RFC 7396: a field given replaces it, ``null`` clears
        it; ``address`` and ``metadata`` merge key by key, a ``null`` value deletes the key) and what changed:
        ``{field: {"before": …, "after": …}}``, empty if nothing did. The caller validated the fields."""
        update: dict[str, Any] = {}
        for name, value in patch.items():
            if name == "metadata":
                merged = {**self.metadata}
                for key, item in (value or {}).items():
                    if item is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = item
                if value is None:
                    merged = {}
                if len(merged) > METADATA_MAX_KEYS:
                    raise ValidationFailed(
                        "metadata_too_many_keys", f"metadata holds at most {METADATA_MAX_KEYS} keys, not {len(merged)}"
                    )
                update[name] = merged
            elif name == "address":
                if value is None:
                    update[name] = None
                else:
                    base = self.address.model_dump() if self.address else {}
                    merged_address = {**base, **value}
                    empty = all(v is None for v in merged_address.values())
                    update[name] = None if empty else Address(**merged_address)
            elif name == "tax_ids":
                update[name] = [TaxId(**t) if isinstance(t, dict) else t for t in value or []]
            else:
                update[name] = value
        changes: dict[str, dict[str, Any]] = {}
        for name, after in update.items():
            before = getattr(self, name)
            if _json(before) != _json(after):
                changes[name] = {"before": _json(before), "after": _json(after)}
        return self.model_copy(update={k: update[k] for k in changes}), changes


def _json(value: Any) -> Any:
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class OrderLine(LineInput):
    """An order's line as placed: the tax rate it names (``tax_rate_id``) is resolved when the order is invoiced,
    at placing or at approval (billing.services.taxes)."""

    tax_rate_id: str | None = None


class Order(BaseModel):
    id: str
    tenant_id: str
    customer_id: str
    currency: str
    lines: list[OrderLine]
    discount: Discount | None = None
    collection_method: CollectionMethod
    days_until_due: int | None = None
    external_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    status: str = "new"
    review_reason: str | None = None
    invoice_id: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, lines: Any) -> Any:
        """A line given as a plain ``LineInput`` is an order line naming no rate object."""
        return [line.model_dump() if isinstance(line, BaseModel) else line for line in lines or []]

    def transition(self, action: str, now: datetime, **changes: Any) -> Order:
        status = ORDER.next_state(self.status, action)
        return self.model_copy(update={"status": status, "updated_at": now, **changes})


class RefundPart(BaseModel):
    payment_id: str
    stripe_refund_id: str | None
    amount: int


class RefundIntent(BaseModel):
    """A refund asked for, recorded before Stripe is asked: what each payment gives back. Its id is the credit
    note's to be, and with the payment's id, each Stripe refund's idempotency key; Stripe's refunds carry it in
    their metadata, so the refund's webhook completes it (and never counts it twice) if the request died."""

    id: str
    tenant_id: str
    invoice_id: str
    amount: int
    reason: str
    parts: list[RefundPart]  # stripe_refund_id is None here: Stripe has not answered yet
    created_at: datetime
    asked: str | None = None  # the request without a key ("<amount or all>:<reason>"): its retries resume it
    answered_at: datetime | None = None  # when a request was answered with its credit note
    version: int = 0


class CreditNoteLine(BaseModel):
    description: str
    amount: int


class CreditNote(BaseModel):
    """A correction to a finalized invoice, numbered in its own gapless series: money refunded (``kind`` refund),
    or a credit without refund (``kind`` credit) that lowers what the invoice owes (``credit_to`` invoice) or goes to
    the customer's balance (``credit_to`` balance)."""

    id: str
    tenant_id: str
    invoice_id: str
    customer_id: str
    number: str
    currency: str
    amount: int
    reason: str
    refunds: list[RefundPart]
    created_at: datetime
    kind: Literal["refund", "credit"] = "refund"
    credit_to: Literal["invoice", "balance"] | None = None
    lines: list[CreditNoteLine] = Field(default_factory=list)
    memo: str | None = None
    # the amount split in the invoice's proportions of net and tax (largest remainder: they sum to ``amount``)
    net_amount: int | None = None
    tax_amount: int = 0
    pdf_key: str | None = None  # its PDF in the documents bucket, once rendered (it never changes after)
    version: int = 0

    def attach_pdf(self, key: str) -> CreditNote:
        """Its PDF is rendered and stored at ``key``; it is done once."""
        if self.pdf_key is not None:
            raise Conflict("pdf_already_attached", f"credit note {self.id} has its PDF already")
        return self.model_copy(update={"pdf_key": key})


class Invoice(BaseModel):
    id: str
    tenant_id: str
    customer_id: str
    order_id: str | None = None
    subscription_id: str | None = None
    period_index: int | None = None  # the subscription's billing run that made it
    series: str = "default"
    number: str | None = None
    status: str = "draft"
    currency: str
    collection_method: CollectionMethod
    days_until_due: int | None = None
    lines: list[PricedLine]
    subtotal: int  # without tax, as are the discount and the discount lines (billing.domain.pricing)
    discount: int
    tax: int
    total: int
    discounts: list[DiscountLine] = Field(default_factory=list)
    tax_summary: list[TaxSummaryLine] = Field(default_factory=list)
    tax_exempt: TaxExempt = "none"  # the customer's tax status when it was issued
    customer_tax_ids: list[TaxId] = Field(default_factory=list)
    amount_paid: int = 0
    amount_refunded: int = 0
    credit_applied: int = 0  # the customer's credit taken off this invoice when it was issued
    # credit notes without refund: taken off what it owes (credit_to=invoice), or put on the customer's balance
    amount_credited: int = 0
    amount_credited_to_balance: int = 0
    amount_due: int
    issued_at: datetime | None = None
    due_date: date | None = None
    past_due: bool = False
    dispute_open: bool = False
    dunning: DunningProgress = Field(default_factory=DunningProgress)
    voided_at: datetime | None = None
    # The secret part of the hosted invoice page's link (billing.services.hosted_page), set on first use. Kept as
    # is, like Stripe keeps hosted_invoice_url: the link is a bearer link that every email must be able to repeat.
    pay_token: str | None = None
    pdf_key: str | None = None  # its PDF in the documents bucket, once rendered: the invoice as issued, never redone
    # What the invoice was issued to: a finalized invoice does not change when the customer does.
    customer_email: str
    customer_name: str
    customer_locale: str
    customer_address: Address | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @classmethod
    def draft_for(
        cls, order: Order, customer: Customer, now: datetime, discounts: Sequence[DiscountInput] = ()
    ) -> Invoice:
        return cls.draft(
            customer,
            order.lines,
            now,
            discount=order.discount,
            discounts=discounts,
            collection_method=order.collection_method,
            days_until_due=order.days_until_due,
            order_id=order.id,
        )

    @classmethod
    def draft(
        cls,
        customer: Customer,
        lines: list[LineInput],
        now: datetime,
        *,
        collection_method: CollectionMethod,
        days_until_due: int | None,
        discount: Discount | None = None,
        discounts: Sequence[DiscountInput] = (),
        **source: Any,
    ) -> Invoice:
        """A draft of ``lines`` for ``customer``, with an order's own ``discount`` and the ``discounts`` in effect,
        the customer's credit taken off what is due. ``source`` names what it bills (``order_id``, or
        ``subscription_id`` and ``period_index``)."""
        totals = price(lines, discount, discounts)
        # a subscription's credits can outweigh its charges: nothing is due and the rest becomes the customer's
        # credit (``excess_credit``), taken care of by whoever saves the customer
        credit = min(customer.credit_balance, max(totals.total, 0))
        return cls(
            id=new_id("in", now),
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            currency=customer.currency,
            collection_method=collection_method,
            days_until_due=days_until_due,
            **source,
            lines=totals.lines,
            subtotal=totals.subtotal,
            discount=totals.discount,
            tax=totals.tax,
            total=totals.total,
            discounts=totals.discounts,
            tax_summary=totals.tax_summary,
            tax_exempt=customer.tax_exempt,
            customer_tax_ids=customer.tax_ids,
            credit_applied=credit,
            amount_due=max(totals.total, 0) - credit,
            customer_email=customer.email,
            customer_name=customer.name,
            customer_locale=customer.locale,
            customer_address=customer.address,
            created_at=now,
            updated_at=now,
        )

    @property
    def excess_credit(self) -> int:
        """What a negative total leaves the customer as credit."""
        return max(-self.total, 0)

    def finalize(self, number: str, now: datetime) -> tuple[Invoice, DomainEvent]:
        status = INVOICE.next_state(self.status, "finalize")
        if self.amount_due == 0:  # nothing to collect: a zero invoice is paid the moment it is issued
            status = INVOICE.next_state(status, "pay")
        due = now.date() + timedelta(days=self.days_until_due or 0)
        # an open invoice first needs the dunning worker on its due date (steps on day 0, then past due)
        dunning = self.dunning.model_copy(update={"attention_on": due if status == "open" else None})
        invoice = self.model_copy(
            update={
                "status": status,
                "number": number,
                "pay_token": self.pay_token or new_secret(),  # the hosted page's link exists from issue on
                "issued_at": now,
                "due_date": due,
                "dunning": dunning,
                "updated_at": now,
            }
        )
        return invoice, invoice.finalized_event()

    def finalized_event(self) -> DomainEvent:
        """Its ``invoice.finalized``, made from its own number and issue time: the same event however often it is
        made (the numbering writer writes it after the invoice's own write, and again on a redelivery)."""
        if self.number is None or self.issued_at is None:
            raise ValueError(f"invoice {self.id} is not finalized")
        event = DomainEvent.new(
            "invoice.finalized", self.tenant_id, "invoice", self.id, self.issued_at, number=self.number
        )
        return event.model_copy(update={"id": derived_id("evt", self.issued_at, f"{self.id}#{event.type}")})

    def as_issued(self) -> Invoice:
        """The invoice as it stood when it was issued, before any payment, refund or later change: what its PDF
        shows. Paid at issue only if nothing was due (the customer's credit covered it)."""
        if self.issued_at is None:
            raise IllegalTransition("invoice_not_issued", f"invoice {self.id} has not been issued")
        due = max(self.total, 0) - self.credit_applied
        return self.model_copy(
            update={
                "status": "open" if due > 0 else "paid",
                "amount_paid": 0,
                "amount_refunded": 0,
                "amount_credited": 0,
                "amount_credited_to_balance": 0,
                "amount_due": due,
                "past_due": False,
                "dispute_open": False,
                "voided_at": None,
                "updated_at": self.issued_at,
            }
        )

    def attach_pdf(self, key: str, now: datetime) -> tuple[Invoice, DomainEvent]:
        """Its PDF is rendered and stored at ``key``; it is done once."""
        if self.pdf_key is not None:
            raise Conflict("pdf_already_attached", f"invoice {self.id} has its PDF already")
        invoice = self.model_copy(update={"pdf_key": key, "updated_at": now})
        return invoice, DomainEvent.new(
            "invoice.pdf_ready", self.tenant_id, "invoice", self.id, now, number=self.number
        )

    def is_overdue(self, now: datetime) -> bool:
        """Open, unpaid past the end of its due date, and not yet marked."""
        return (
            self.status == "open"
            and self.amount_due > 0
            and not self.past_due
            and self.due_date is not None
            and self.due_date < now.date()
        )

    def mark_past_due(self, now: datetime) -> tuple[Invoice, DomainEvent]:
        invoice = self.model_copy(update={"past_due": True, "updated_at": now})
        event = DomainEvent.new(
            "invoice.past_due", self.tenant_id, "invoice", self.id, now, number=self.number, due_date=str(self.due_date)
        )
        return invoice, event

    @property
    def takes_payments(self) -> bool:
        """Money received for it counts against it: open, or written off (a late payment moves it to paid). Money
        for any other invoice (paid, void) is not its own: the caller keeps it as the customer's credit."""
        return self.status in ("open", "uncollectible")

    @property
    def payable(self) -> bool:
        """Something is due and can be paid now, by link or on request: the one rule for the hosted page, the pay
        link in emails, ``POST …/pay`` and ``POST …/payment_intent``. Dunning only chases open invoices."""
        return self.takes_payments and self.amount_due > 0

    def apply_payment(self, amount: int, payment_id: str, now: datetime) -> tuple[Invoice, list[DomainEvent]]:
        """Count ``amount`` received against this invoice; paid in full moves it to paid. An invoice that takes no
        payments is left as it is (see ``takes_payments``)."""
        if not self.takes_payments:
            return self, []
        paid = self.amount_paid + amount
        owed = self.owed
        due = max(0, owed - paid)
        overpaid = max(0, paid - owed) - max(0, self.amount_paid - owed)
        status = INVOICE.next_state(self.status, "pay") if due == 0 else self.status
        invoice = self.model_copy(update={"amount_paid": paid, "amount_due": due, "status": status, "updated_at": now})
        events = [
            DomainEvent.new(
                "invoice.payment_succeeded",
                self.tenant_id,
                "invoice",
                self.id,
                now,
                payment_id=payment_id,
                amount=amount,
                amount_due=due,
                amount_paid=paid,
                overpaid=overpaid,
            )
        ]
        if status == "paid":
            events.append(DomainEvent.new("invoice.paid", self.tenant_id, "invoice", self.id, now, number=self.number))
        return invoice, events

    @property
    def owed(self) -> int:
        """What the customer owes on it in all, before payments: its total less the credit taken off at issue and
        the credit notes that lowered it."""
        return self.total - self.credit_applied - self.amount_credited

    @property
    def creditable(self) -> int:
        """What credit notes (refunds and credits) may still correct: together they never exceed its total."""
        return max(self.total, 0) - self.amount_refunded - self.amount_credited - self.amount_credited_to_balance

    def refundable(self) -> int:
        """What a refund may give back: the payments this invoice kept. An overpayment went to the customer's
        credit (``apply_payment``) and is not refundable again from here; credit notes to the balance count
        against it (the credit notes of an invoice never exceed its total)."""
        kept = min(self.amount_paid, self.owed) - self.amount_refunded
        return max(0, min(kept, self.creditable))

    def credit(self, note: CreditNote, now: datetime) -> tuple[Invoice, list[DomainEvent]]:
        """A credit note without refund against this finalized invoice: ``credit_to`` invoice lowers what it owes
        (never below nothing: an open invoice credited in full is paid by it, and no longer chased); ``credit_to``
        balance leaves what it owes as it is (the customer's balance takes the money). Never more than is
        creditable."""
        if self.status not in ("open", "paid", "uncollectible"):
            raise Conflict("invoice_not_creditable", f"invoice {self.id} is {self.status}", invoice_status=self.status)
        if note.credit_to == "invoice":
            if not self.takes_payments:
                raise Conflict("invoice_not_open", f"invoice {self.id} is {self.status}: credit the balance instead")
            if note.amount > self.amount_due:
                raise ValidationFailed(
                    "credit_exceeds_amount_due",
                    f"{note.amount} asked, invoice {self.id} owes {self.amount_due}",
                    amount_due=self.amount_due,
                )
        if note.amount > self.creditable:
            raise ValidationFailed(
                "credit_exceeds_invoice_total",
                f"{note.amount} asked; the credit notes of invoice {self.id} may add up to {self.creditable} more",
                creditable=self.creditable,
            )
        if note.credit_to == "balance":
            invoice = self.model_copy(
                update={"amount_credited_to_balance": self.amount_credited_to_balance + note.amount, "updated_at": now}
            )
            return invoice, []
        due = self.amount_due - note.amount
        status = INVOICE.next_state(self.status, "pay") if due == 0 else self.status
        invoice = self.model_copy(
            update={
                "amount_credited": self.amount_credited + note.amount,
                "amount_due": due,
                "status": status,
                "updated_at": now,
            }
        )
        events = []
        if status == "paid":
            events.append(DomainEvent.new("invoice.paid", self.tenant_id, "invoice", self.id, now, number=self.number))
        return invoice, events

    def record_refund(self, credit_note: CreditNote, now: datetime) -> tuple[Invoice, DomainEvent]:
        invoice = self.model_copy(
            update={"amount_refunded": self.amount_refunded + credit_note.amount, "updated_at": now}
        )
        event = DomainEvent.new(
            "invoice.refunded",
            self.tenant_id,
            "invoice",
            self.id,
            now,
            credit_note_id=credit_note.id,
            number=credit_note.number,
            amount=credit_note.amount,
        )
        return invoice, event

    def take_back(self, amount: int, reason: str, now: datetime) -> tuple[Invoice, DomainEvent]:
        """``amount`` of what was paid was taken back (a lost dispute): it is owed again. A paid invoice reopens,
        due today, and collection starts again from the loss as from a first failure."""
        paid = self.amount_paid - amount
        due = self.amount_due + amount
        status = INVOICE.next_state(self.status, "reopen") if self.status == "paid" else self.status
        invoice = self.model_copy(
            update={
                "amount_paid": paid,
                "amount_due": due,
                "status": status,
                "due_date": now.date(),
                "past_due": False,
                "dunning": self._chased_again(now),
                "updated_at": now,
            }
        )
        event = DomainEvent.new(
            "invoice.reopened", self.tenant_id, "invoice", self.id, now, reason=reason, amount=amount, amount_due=due
        )
        return invoice, event

    def _chased_again(self, now: datetime) -> DunningProgress:
        """Dunning of an invoice owed again (a lost dispute, a payment reversed): from the start, counted from now
        as from a first failure; its collection case, if any, stays its one case."""
        return DunningProgress(first_failure_at=now, attention_on=now.date(), case_id=self.dunning.case_id)

    def reverse_payment(
        self, amount: int, payment_id: str, reason: str, now: datetime
    ) -> tuple[Invoice, list[DomainEvent], int]:
        """A payment of ``amount`` received outside Stripe did not stand (a bounced check, a recalled wire): the
        invoice, its events, and what must come off the customer's credit.

        The part of the payment that had gone to the customer's credit (an overpayment, or all of it once the
        invoice was voided) is taken from the credit; the rest is owed again on the invoice. A paid invoice
        reopens, due today, and dunning starts over (as after a lost dispute); an open or written-off one keeps
        its due date and its dunning, with more due."""
        if self.status == "void":  # voiding gave what was paid back as credit: the credit gives it back
            event = self._reversal_event(now, payment_id, amount, reason, owed_again=0, from_credit=amount)
            return self, [event], amount
        owed = self.owed
        paid = self.amount_paid - amount
        if paid < self.amount_refunded:
            raise Conflict(
                "payment_refunded",
                f"invoice {self.id} refunded {self.amount_refunded}: reversing {amount} would leave less paid",
            )
        from_credit = max(0, self.amount_paid - owed) - max(0, paid - owed)
        owed_again = amount - from_credit
        update: dict[str, Any] = {"amount_paid": paid, "amount_due": self.amount_due + owed_again, "updated_at": now}
        if self.status == "paid" and owed_again:
            update |= {
                "status": INVOICE.next_state(self.status, "reopen"),
                "due_date": now.date(),
                "past_due": False,
                "dunning": self._chased_again(now),
            }
        invoice = self.model_copy(update=update)
        events = [self._reversal_event(now, payment_id, amount, reason, owed_again, from_credit, invoice)]
        if owed_again:
            events.append(
                DomainEvent.new(
                    "invoice.reopened",
                    self.tenant_id,
                    "invoice",
                    self.id,
                    now,
                    reason="payment_reversed",
                    amount=owed_again,
                    amount_due=invoice.amount_due,
                    payment_id=payment_id,
                )
            )
        return invoice, events, from_credit

    def _reversal_event(
        self,
        now: datetime,
        payment_id: str,
        amount: int,
        reason: str,
        owed_again: int,
        from_credit: int,
        after: Invoice | None = None,
    ) -> DomainEvent:
        after = after or self
        return DomainEvent.new(
            "payment.reversed",
            self.tenant_id,
            "invoice",
            self.id,
            now,
            payment_id=payment_id,
            amount=amount,
            reason=reason,
            owed_again=owed_again,
            from_credit=from_credit,
            amount_due=after.amount_due,
            amount_paid=after.amount_paid,
            changes={
                "amount_paid": {"before": self.amount_paid, "after": after.amount_paid},
                "amount_due": {"before": self.amount_due, "after": after.amount_due},
                "status": {"before": self.status, "after": after.status},
            },
        )

    def mark_uncollectible(self, now: datetime) -> tuple[Invoice, DomainEvent]:
        """Written off: no longer chased, still payable (a late payment moves it to paid)."""
        status = INVOICE.next_state(self.status, "mark_uncollectible")
        invoice = self.model_copy(update={"status": status, "updated_at": now})
        event = DomainEvent.new(
            "invoice.marked_uncollectible",
            self.tenant_id,
            "invoice",
            self.id,
            now,
            number=self.number,
            amount_due=self.amount_due,
        )
        return invoice, event

    def void(self, now: datetime) -> tuple[Invoice, DomainEvent]:
        status = INVOICE.next_state(self.status, "void")
        invoice = self.model_copy(update={"status": status, "voided_at": now, "amount_due": 0, "updated_at": now})
        return invoice, DomainEvent.new("invoice.voided", self.tenant_id, "invoice", self.id, now, number=self.number)
