"""Invoice items: a one-off charge (or credit) of a customer, pending until an invoice takes it, exactly once.

Pure Python: no I/O. The next invoice drafted for the customer (an order's or a subscription period's, whichever
comes first) bills the pending items as lines that name them (``invoice_item_id``); the item moves to ``invoiced``
with that invoice's id in the same transaction, on its version (billing.services.invoice_items.take_pending).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from billing.domain.base_model import BaseModel
from billing.domain.errors import Conflict, ValidationFailed
from billing.domain.ids import new_id
from billing.domain.models import DomainEvent
from billing.domain.pricing import MAX_AMOUNT, LineInput
from billing.domain.state_machine import INVOICE_ITEM

# An invoice takes at most this many pending items (the rest wait for the next one): its transaction writes the
# item and its event for each, inside DynamoDB's 100 writes.
MAX_PER_INVOICE = 10
MAX_PENDING = 50  # pending items per customer: a customer's pending list is one Query, one page


class ItemLine(LineInput):
    """An item's line before its rate is resolved: ``tax_rate_id`` is the rate it names (billing.services.taxes
    resolves it, as an order line's)."""

    tax_rate_id: str | None = None


class ItemPeriod(BaseModel):
    start: datetime
    end: datetime


class InvoiceItem(BaseModel):
    id: str
    tenant_id: str
    customer_id: str
    currency: str
    description: str
    quantity: int = 1
    unit_amount: int
    amount: int  # quantity x unit_amount; negative: a credit line
    plan_id: str | None = None  # the plan whose price it was made from, if any
    tax_rate_id: str | None = None
    period: ItemPeriod | None = None
    discountable: bool = True  # a credit (negative) line is never discounted
    metadata: dict[str, str] = Field(default_factory=dict)
    status: Literal["pending", "invoiced", "deleted"] = "pending"
    invoice_id: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @classmethod
    def create(
        cls,
        tenant_id: str,
        customer_id: str,
        currency: str,
        description: str,
        unit_amount: int,
        quantity: int,
        now: datetime,
        *,
        discountable: bool | None = None,
        **fields: Any,
    ) -> tuple[InvoiceItem, DomainEvent]:
        """A pending item; ``discountable`` defaults to true for a charge and false for a credit."""
        amount = unit_amount * quantity
        if amount == 0:
            raise ValidationFailed("invoice_item_zero", "an invoice item's amount may not be zero")
        if abs(amount) > MAX_AMOUNT:
            raise ValidationFailed("amount_too_large", f"an invoice item's amount may not exceed {MAX_AMOUNT}")
        period = fields.get("period")
        if period is not None and (period.start.tzinfo is None or period.end.tzinfo is None):
            raise ValidationFailed("naive_datetime", "give the period's bounds with their UTC offset")
        if period is not None and period.end < period.start:
            raise ValidationFailed("invalid_period", "an item's period ends after it starts")
        item = cls(
            id=new_id("ii", now),
            tenant_id=tenant_id,
            customer_id=customer_id,
            currency=currency,
            description=description,
            quantity=quantity,
            unit_amount=unit_amount,
            amount=amount,
            discountable=amount > 0 if discountable is None else discountable,
            created_at=now,
            updated_at=now,
            **fields,
        )
        event = DomainEvent.new(
            "invoice_item.created",
            tenant_id,
            "invoice_item",
            item.id,
            now,
            customer_id=customer_id,
            amount=amount,
            currency=currency,
        )
        return item, event

    def line(self) -> ItemLine:
        """The invoice line that bills it, naming it and the rate it names (resolved with the invoice's lines)."""
        return ItemLine(
            description=self.description,
            quantity=self.quantity,
            unit_amount=self.unit_amount,
            tax_rate_id=self.tax_rate_id,
            plan_id=self.plan_id,
            invoice_item_id=self.id,
            discountable=self.discountable,
        )

    def invoiced(self, invoice_id: str, now: datetime) -> tuple[InvoiceItem, DomainEvent]:
        status = INVOICE_ITEM.next_state(self.status, "invoice")
        item = self.model_copy(update={"status": status, "invoice_id": invoice_id, "updated_at": now})
        return item, DomainEvent.new(
            "invoice_item.invoiced",
            self.tenant_id,
            "invoice_item",
            self.id,
            now,
            invoice_id=invoice_id,
            amount=self.amount,
            changes={
                "status": {"before": self.status, "after": status},
                "invoice_id": {"before": None, "after": invoice_id},
            },
        )

    def delete(self, now: datetime) -> tuple[InvoiceItem, DomainEvent]:
        if self.status == "invoiced":
            raise Conflict(
                "invoice_item_invoiced",
                f"invoice item {self.id} is on invoice {self.invoice_id}: correct it with a credit note",
                invoice_id=self.invoice_id,
            )
        status = INVOICE_ITEM.next_state(self.status, "delete")
        item = self.model_copy(update={"status": status, "updated_at": now})
        return item, DomainEvent.new(
            "invoice_item.deleted",
            self.tenant_id,
            "invoice_item",
            self.id,
            now,
            amount=self.amount,
            changes={"status": {"before": self.status, "after": status}},
        )
