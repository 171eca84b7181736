"""The ``data`` of every event type as a pydantic model (what the code emits: a test validates the events of real
flows against them), the public envelope as a model, and the versioned JSON Schemas generated from both.

A schema's version is the envelope's ``schema_version``: a field added to a type's data keeps it (consumers ignore
fields they do not know: the schemas allow them); a field renamed, removed or retyped is a new version.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, create_model

from billing.domain.base_model import BaseModel
from billing.domain.payments import STATUSES
from billing.outbound import catalog
from billing.outbound.envelope import SCHEMA_VERSION, Envelope


class Data(BaseModel):
    """Base of every event's data: ``example`` is the data of the type's example event."""

    model_config = ConfigDict(extra="allow")
    example: ClassVar[dict[str, Any]] = {}


class Change(BaseModel):
    before: Any = Field(description="the field's value before the change (null: none)")
    after: Any = Field(description="the field's value after it (null: removed)")


Changes = dict[str, Change]


# --- customers ----------------------------------------------------------------------------------------------------
class CustomerCreated(Data):
    """Nothing more than the object: read the customer from the API."""


class CustomerCreditAdded(Data):
    amount: int = Field(description="added to the credit balance, in the minor unit of the customer's currency")
    invoice_id: str | None = Field(default=None, description="the invoice the money came from")
    reason: str | None = Field(default=None, description="overpaid, invoice_voided, or an unapplied payment's reason")
    example: ClassVar = {"amount": 500, "invoice_id": "in_01JE0000000000000000000000", "reason": "overpaid"}


class CustomerPaymentMethodSaved(Data):
    payment_method: str = Field(description="Stripe's PaymentMethod id")
    example: ClassVar = {"payment_method": "pm_1QabcDEFghiJKL"}


class CustomerEmailSuppressed(Data):
    address: str = Field(description="the customer's e-mail address that bounced or complained")
    reason: str = Field(description="bounce or complaint")
    detail: str | None = Field(default=None, description="SES's bounce type or complaint feedback")
    invoice_id: str | None = Field(default=None, description="the invoice whose e-mail bounced")
    message_id: str | None = Field(default=None, description="SES's message id")
    example: ClassVar = {
        "address": "ada@example.com",
        "reason": "bounce",
        "detail": "Permanent/General",
        "invoice_id": "in_01JE0000000000000000000000",
        "message_id": "0100019a-example",
    }


class CustomerUpdated(Data):
    changes: Changes = Field(
        description="each field the PATCH changed, before and after (name, email, phone, address, external_id, "
        "tax ids, locale, currency, metadata, …; address and metadata as whole objects)"
    )
    example: ClassVar = {"changes": {"email": {"before": "ada@example.com", "after": "ada@lovelace.dev"}}}


class CustomerArchived(Data):
    archived_at: str = Field(description="when it was archived")
    changes: Changes = Field(description="status (active to archived) and archived_at, before and after")
    example: ClassVar = {
        "archived_at": "2026-12-01T09:30:00+00:00",
        "changes": {
            "status": {"before": "active", "after": "archived"},
            "archived_at": {"before": None, "after": "2026-12-01T09:30:00+00:00"},
        },
    }


class CustomerUnarchived(Data):
    changes: Changes = Field(description="status (archived to active) and archived_at (to null), before and after")
    example: ClassVar = {
        "changes": {
            "status": {"before": "archived", "after": "active"},
            "archived_at": {"before": "2026-12-01T09:30:00+00:00", "after": None},
        }
    }


class CustomerErased(Data):
    erased_at: str = Field(description="when its personal data was erased")
    kept_metadata: list[str] = Field(description="the metadata keys the erasure kept (keep_metadata); no values")
    example: ClassVar = {"erased_at": "2026-12-01T09:30:00+00:00", "kept_metadata": ["crm_id"]}


class CustomerCreditDeducted(Data):
    amount: int = Field(description="taken off the credit balance, minor units (the balance may go below zero)")
    changes: Changes = Field(description="credit_balance, before and after")
    invoice_id: str | None = Field(default=None, description="the invoice of the reversed payment")
    payment_id: str | None = Field(default=None, description="the reversed payment")
    reason: str | None = Field(default=None, description="payment_reversed")
    example: ClassVar = {
        "amount": 500,
        "changes": {"credit_balance": {"before": 500, "after": 0}},
        "invoice_id": "in_01JE0000000000000000000000",
        "payment_id": "pay_9f86d081884c7d65a1b2c3d4",
        "reason": "payment_reversed",
    }


# --- orders -------------------------------------------------------------------------------------------------------
class OrderChanged(Data):
    status: str = Field(description="the order's status after the change")
    invoice_id: str | None = Field(default=None, description="its invoice, once invoiced")
    example: ClassVar = {"status": "invoiced", "invoice_id": "in_01JE0000000000000000000000"}


# --- invoices -----------------------------------------------------------------------------------------------------
class InvoiceNumbered(Data):
    number: str | None = Field(description="the invoice's number (null for one never finalized)")
    example: ClassVar = {"number": "INV-2026-000042"}


class InvoicePaymentSucceeded(Data):
    payment_id: str = Field(description="the payment that counted")
    amount: int = Field(description="counted against the invoice, minor units")
    amount_due: int = Field(description="still owed after it")
    amount_paid: int = Field(description="paid on the invoice so far")
    overpaid: int = Field(description="beyond what was owed: moved to the customer's credit")
    method: str | None = Field(default=None, description="a payment received outside Stripe: how (bank_transfer, …)")
    received_at: str | None = Field(default=None, description="a payment received outside Stripe: when it came")
    example: ClassVar = {
        "payment_id": "pay_in_01JE0000000000000000000000_a",
        "amount": 4900,
        "amount_due": 0,
        "amount_paid": 4900,
        "overpaid": 0,
    }


class InvoicePastDue(Data):
    number: str | None = Field(description="the invoice's number")
    due_date: str = Field(description="the due date that passed (YYYY-MM-DD)")
    example: ClassVar = {"number": "INV-2026-000042", "due_date": "2026-12-01"}


class InvoiceDunningStep(Data):
    step: int = Field(description="the step's position in the tenant's policy")
    step_id: str = Field(description="the step's stable id (`<anchor>:<day>`)")
    day: int = Field(description="the step's day offset from its anchor")
    anchor: Literal["due_date", "first_failure"] = Field(description="what the day counts from")
    actions: list[str] = Field(description="what the step does (email_reminder, retry_charge, …)")
    charge: dict[str, Any] | None = Field(description="the step's charge attempt and its outcome, if it charged")
    email: str | None = Field(description="the e-mail the step sends (null: none)")
    card_update_required: bool = Field(description="the card was declined for good: retries wait for another")
    next_retry_on: str | None = Field(description="the day of the next retry (YYYY-MM-DD)")
    suspend_on: str | None = Field(description="the day service pauses, if the policy does")
    write_off_on: str | None = Field(description="the day it is written off, if the policy does")
    service_paused: bool = Field(description="the step paused the service")
    amount_due: int = Field(description="owed after the step")
    collection_case_id: str | None = Field(
        default=None, description="an `escalate` step: the invoice's collection case (opened by it, or before)"
    )
    example: ClassVar = {
        "step": 1,
        "step_id": "retry-3",
        "day": 3,
        "anchor": "due_date",
        "actions": ["retry_charge", "email_reminder"],
        "charge": {"outcome": "failed", "payment_id": "pay_x", "amount": 4900, "decline_code": "insufficient_funds"},
        "email": "payment_retry_failed",
        "card_update_required": False,
        "next_retry_on": "2026-12-08",
        "suspend_on": "2026-12-15",
        "write_off_on": "2026-12-31",
        "service_paused": False,
        "amount_due": 4900,
    }


class Instalment(BaseModel):
    due_on: str
    amount: int


class InvoicePaymentPlanAgreed(Data):
    plan_id: str = Field(description="the payment plan's id")
    instalments: list[Instalment] = Field(description="what is due on which day")
    example: ClassVar = {
        "plan_id": "plan_01JE0000000000000000000000",
        "instalments": [{"due_on": "2026-12-10", "amount": 2450}, {"due_on": "2027-01-10", "amount": 2450}],
    }


class InvoicePaymentPlanMissed(Data):
    plan_id: str = Field(description="the payment plan's id")
    required: int = Field(description="what the plan required paid by now")
    paid: int = Field(description="what was paid since the plan was agreed")
    example: ClassVar = {"plan_id": "plan_01JE0000000000000000000000", "required": 2450, "paid": 0}


class InvoiceMarkedUncollectible(Data):
    number: str | None = Field(description="the invoice's number")
    amount_due: int = Field(description="written off (still payable)")
    example: ClassVar = {"number": "INV-2026-000042", "amount_due": 4900}


class InvoiceReopened(Data):
    reason: str = Field(description="dispute_lost, or payment_reversed (a payment received outside Stripe)")
    amount: int = Field(description="taken back: owed again")
    amount_due: int = Field(description="owed after it")
    payment_id: str | None = Field(default=None, description="the reversed payment (payment_reversed)")
    example: ClassVar = {"reason": "dispute_lost", "amount": 4900, "amount_due": 4900}


class InvoiceRefunded(Data):
    credit_note_id: str = Field(description="the credit note of the refund")
    number: str = Field(description="the credit note's number")
    amount: int = Field(description="refunded, minor units")
    example: ClassVar = {"credit_note_id": "cn_in_01JE_1", "number": "CN-2026-000007", "amount": 1000}


class InvoiceDispute(Data):
    payment_id: str = Field(description="the disputed payment")
    dispute_id: str | None = Field(description="Stripe's dispute id")
    dispute_status: str = Field(description="Stripe's dispute status")
    amount: int | None = Field(description="disputed, minor units")
    example: ClassVar = {
        "payment_id": "pay_in_01JE0000000000000000000000_a",
        "dispute_id": "dp_1QabcDEF",
        "dispute_status": "needs_response",
        "amount": 4900,
    }


class InvoiceEmailSkipped(Data):
    email: str = Field(description="the kind of e-mail not sent")
    cause_event_id: str = Field(description="the event the e-mail was for")
    reason: str = Field(description="address_suppressed")
    suppressed_because: str = Field(description="bounce or complaint")
    suppressed_at: str = Field(description="when the address was suppressed")
    example: ClassVar = {
        "email": "invoice_issued",
        "cause_event_id": "evt_01JE0000000000000000000000",
        "reason": "address_suppressed",
        "suppressed_because": "bounce",
        "suppressed_at": "2026-11-20T10:00:00+00:00",
    }


# --- payments -----------------------------------------------------------------------------------------------------
class PaymentChanged(Data):
    payment_id: str = Field(description="the payment (attempt) whose status this is")
    decline_code: str | None = Field(description="the card's decline code (a failed payment)")
    example: ClassVar = {"payment_id": "pay_in_01JE0000000000000000000000_a", "decline_code": None}


class PaymentSucceeded(PaymentChanged):
    """A Stripe payment succeeded (``payment_id``, no decline code), or one received outside Stripe was recorded
    (POST /v1/invoices/{id}/payments: the fields below)."""

    decline_code: str | None = Field(default=None, description="always null (kept for the shape of payment.*)")
    method: str | None = Field(default=None, description="outside Stripe: bank_transfer, cash, check, other")
    reference: str | None = Field(default=None, description="the tenant's reference of it (unique per method)")
    amount: int | None = Field(default=None, description="received, minor units")
    currency: str | None = Field(default=None, description="the invoice's currency")
    received_at: str | None = Field(default=None, description="when the money was received (as the tenant says)")
    recorded_by: str | None = Field(
        default=None,
        description="free text from the request (who at the tenant recorded it); the envelope's actor is the API key",
    )
    example: ClassVar = {
        "payment_id": "pay_9f86d081884c7d65a1b2c3d4",
        "method": "bank_transfer",
        "reference": "WIRE-2026-1182",
        "amount": 4900,
        "currency": "eur",
        "received_at": "2026-11-30T00:00:00+00:00",
        "recorded_by": "Grace (finance)",
    }


class PaymentReversed(Data):
    payment_id: str = Field(description="the payment received outside Stripe that did not stand")
    amount: int = Field(description="the payment's amount, minor units")
    reason: str = Field(description="the request's reason (free text: 'check bounced')")
    owed_again: int = Field(description="owed again on the invoice")
    from_credit: int = Field(description="taken off the customer's credit (the part that had gone there)")
    amount_due: int = Field(description="the invoice's amount due after it")
    amount_paid: int = Field(description="the invoice's amount paid after it")
    changes: Changes = Field(description="the invoice's amount_paid, amount_due and status, before and after")
    recorded_by: str | None = Field(default=None, description="free text from the request (who reversed it)")
    example: ClassVar = {
        "payment_id": "pay_9f86d081884c7d65a1b2c3d4",
        "amount": 4900,
        "reason": "check bounced",
        "owed_again": 4900,
        "from_credit": 0,
        "amount_due": 4900,
        "amount_paid": 0,
        "changes": {
            "amount_paid": {"before": 4900, "after": 0},
            "amount_due": {"before": 0, "after": 4900},
            "status": {"before": "paid", "after": "open"},
        },
        "recorded_by": "Grace (finance)",
    }


class PaymentUnapplied(Data):
    payment_id: str = Field(description="the payment")
    payment_intent: str | None = Field(description="Stripe's PaymentIntent id")
    amount: int = Field(description="received, minor units")
    currency: str = Field(description="the currency it arrived in")
    reason: str = Field(description="currency_mismatch, or invoice_<status> (the invoice takes no payment)")
    credited: int = Field(description="moved to the customer's credit (0: held for a refund)")
    example: ClassVar = {
        "payment_id": "pay_in_01JE0000000000000000000000_a",
        "payment_intent": "pi_3QabcDEF",
        "amount": 4900,
        "currency": "eur",
        "reason": "invoice_paid",
        "credited": 4900,
    }


# --- credit notes -------------------------------------------------------------------------------------------------
class CreditNoteIssued(Data):
    credit_note_id: str = Field(description="the credit note")
    number: str = Field(description="its number (gapless, per tenant)")
    amount: int = Field(description="credited, minor units")
    amount_refunded_total: int = Field(description="refunded on the invoice so far, this note included")
    kind: Literal["refund", "credit"] = Field(
        default="refund", description="refund: money given back; credit: no refund (issue 16)"
    )
    credit_to: Literal["invoice", "balance"] | None = Field(
        default=None, description="a credit's: what the invoice owes goes down, or the customer's balance up"
    )
    net_amount: int | None = Field(default=None, description="a credit's amount before tax (the invoice's share)")
    tax_amount: int | None = Field(default=None, description="a credit's tax (the invoice's share)")
    reason: str | None = Field(default=None, description="why: duplicate, product_unsatisfactory, order_change, other")
    memo: str | None = Field(default=None, description="the tenant's note on the credit")
    example: ClassVar = {
        "credit_note_id": "cn_in_01JE_1",
        "number": "CN-2026-000007",
        "amount": 1000,
        "amount_refunded_total": 1000,
        "kind": "refund",
    }


# --- invoice items and the customer's balance (issue 16) ----------------------------------------------------------
class InvoiceItemCreated(Data):
    customer_id: str = Field(description="whose next invoice takes it")
    amount: int = Field(description="minor units; negative: a credit line")
    currency: str = Field(description="the customer's currency")
    example: ClassVar = {"customer_id": "cus_01JE0000000000000000000000", "amount": 2500, "currency": "usd"}


class InvoiceItemInvoiced(Data):
    invoice_id: str = Field(description="the invoice that took it")
    amount: int = Field(description="minor units")
    changes: Changes = Field(description="status and invoice_id, before and after")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "amount": 2500,
        "changes": {
            "status": {"before": "pending", "after": "invoiced"},
            "invoice_id": {"before": None, "after": "in_01JE0000000000000000000000"},
        },
    }


class InvoiceItemDeleted(Data):
    amount: int = Field(description="minor units")
    changes: Changes = Field(description="status, before and after")
    example: ClassVar = {"amount": 2500, "changes": {"status": {"before": "pending", "after": "deleted"}}}


class CustomerBalanceTransactionCreated(Data):
    balance_transaction_id: str = Field(description="the ledger entry")
    amount: int = Field(description="positive: credit to the customer; negative: a debit they owe")
    currency: str = Field(description="the customer's currency")
    reason: str | None = Field(default=None, description="the tenant's reason, if given")
    changes: Changes = Field(description="credit_balance, before and after")
    example: ClassVar = {
        "balance_transaction_id": "cbtxn_01JE0000000000000000000000",
        "amount": 1500,
        "currency": "usd",
        "reason": "goodwill",
        "changes": {"credit_balance": {"before": 0, "after": 1500}},
    }


class SubscriptionItemChanged(Data):
    plan_id: str = Field(description="the plan attached, removed or requantified")
    quantity: int | None = Field(default=None, description="its quantity after the change (null: removed)")
    proration: int = Field(description="the change's proration, minor units, on the next invoice")
    changes: Changes = Field(description="items, before and after")
    example: ClassVar = {
        "plan_id": "plan_01JE0000000000000000000000",
        "quantity": 1,
        "proration": 1250,
        "changes": {
            "items": {
                "before": [{"plan_id": "plan_A", "quantity": 1}],
                "after": [
                    {"plan_id": "plan_A", "quantity": 1},
                    {"plan_id": "plan_01JE0000000000000000000000", "quantity": 1},
                ],
            }
        },
    }


# --- coupons, promotion codes and discounts -------------------------------------------------------------------------
class CouponCreated(Data):
    duration: str = Field(description="once, repeating or forever")
    example: ClassVar = {"duration": "repeating"}


class CouponChanged(Data):
    changes: Changes = Field(description="name and metadata (updated), or status and archived_at (archived)")
    example: ClassVar = {"changes": {"name": {"before": "Launch", "after": "Launch 2026"}}}


class PromotionCodeCreated(Data):
    code: str = Field(description="the code customers type (unique in any case)")
    coupon_id: str = Field(description="the coupon it redeems")
    example: ClassVar = {"code": "SPRING20", "coupon_id": "co_01JE0000000000000000000000"}


class PromotionCodeUpdated(Data):
    changes: Changes = Field(description="active, before and after")
    example: ClassVar = {"changes": {"active": {"before": True, "after": False}}}


_DISCOUNT_EXAMPLE = {
    "coupon_id": "co_01JE0000000000000000000000",
    "promotion_code_id": None,
    "customer_id": "cus_01JE0000000000000000000000",
    "subscription_id": "sub_01JE0000000000000000000000",
    "order_id": None,
}


class DiscountData(Data):
    coupon_id: str = Field(description="the coupon applied")
    promotion_code_id: str | None = Field(description="the promotion code redeemed (null: the coupon itself)")
    customer_id: str
    subscription_id: str | None = Field(description="the subscription it applies to (null: an order or a customer)")
    order_id: str | None = Field(description="the order it applies to (null: a subscription or a customer)")


class DiscountApplied(DiscountData):
    target: str = Field(description="order, subscription or customer")
    start: str = Field(description="from when it is in effect")
    end: str | None = Field(description="until when (null: until used up, removed, or forever)")
    example: ClassVar = {
        **_DISCOUNT_EXAMPLE,
        "target": "subscription",
        "start": "2026-12-01T09:30:00+00:00",
        "end": None,
    }


class DiscountRemoved(DiscountData):
    changes: Changes = Field(description="discount: its id before, null after")
    example: ClassVar = {
        **_DISCOUNT_EXAMPLE,
        "changes": {"discount": {"before": "di_01JE0000000000000000000000", "after": None}},
    }


class DiscountEnded(DiscountData):
    invoices: int = Field(description="how many invoices it discounted")
    invoice_id: str | None = Field(default=None, description="the last invoice it discounted (an order's)")
    example: ClassVar = {**_DISCOUNT_EXAMPLE, "invoices": 3}


# --- plans and subscriptions --------------------------------------------------------------------------------------
class PlanCreated(Data):
    name: str = Field(description="the plan's name")
    example: ClassVar = {"name": "Pro"}


class SubscriptionCreated(Data):
    status: str = Field(description="trialing, active or pending_review")
    review_reason: str | None = Field(description="why it waits for review (null: it does not)")
    example: ClassVar = {"status": "active", "review_reason": None}


class SubscriptionApproved(Data):
    status: str = Field(description="its status once approved")
    example: ClassVar = {"status": "active"}


class SubscriptionTrialEnded(Data):
    trial_end: str = Field(description="when the trial ended: the first paid period starts")
    example: ClassVar = {"trial_end": "2026-12-01T00:00:00+00:00"}


class SubscriptionPeriodBilled(Data):
    index: int = Field(description="the billed period's index (0: the first)")
    lines: int = Field(description="invoice lines the period made")
    suspended: bool = Field(description="service was paused: no charge in advance")
    example: ClassVar = {"index": 1, "lines": 2, "suspended": False}


class SubscriptionChanged(Data):
    proration: int = Field(description="the prorated amount of the change, minor units")
    example: ClassVar = {"proration": 1450}


class SubscriptionCancelScheduled(Data):
    at: str = Field(description="when it cancels (its period's end)")
    example: ClassVar = {"at": "2027-01-01T00:00:00+00:00"}


class SubscriptionCanceled(Data):
    at_period_end: bool = Field(description="it ran to its period's end (else: at once)")
    example: ClassVar = {"at_period_end": False}


class SubscriptionMoved(Data):
    """Nothing more than the object: its status says where it is."""


# --- collection cases ---------------------------------------------------------------------------------------------
class CaseEvent(Data):
    invoice_id: str = Field(description="the invoice the case chases (one case per invoice)")
    changes: Changes = Field(description="what changed on the case (status, assignee, notes, promise, …)")


class CollectionCaseOpened(CaseEvent):
    customer_id: str = Field(description="the invoice's customer")
    invoice_number: str | None = Field(description="the invoice's number")
    amount_due: int = Field(description="owed when the case opened, minor units")
    currency: str = Field(description="the invoice's currency")
    step_id: str = Field(description="the dunning step that escalated (`<anchor>:<day>`)")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "customer_id": "cus_01JE0000000000000000000000",
        "invoice_number": "INV-2026-000042",
        "amount_due": 4900,
        "currency": "eur",
        "step_id": "due_date:10",
        "changes": {"status": {"before": None, "after": "open"}},
    }


class CollectionCaseAssigned(CaseEvent):
    assignee: str = Field(description="the person now chasing it (a name or e-mail address)")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "assignee": "grace@seller.example",
        "changes": {
            "status": {"before": "open", "after": "assigned"},
            "assignee": {"before": None, "after": "grace@seller.example"},
        },
    }


class CollectionCaseNoteAdded(CaseEvent):
    author: str = Field(description="who wrote it (the request's author, else the assignee, else `api`)")
    text: str = Field(description="the note (1 to 2,000 characters)")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "author": "grace@seller.example",
        "text": "Called: pays on Friday.",
        "changes": {"notes": {"before": 0, "after": 1}},
    }


class CollectionCasePromiseRecorded(CaseEvent):
    on: str = Field(description="the last day the customer promised to pay by (YYYY-MM-DD): dunning waits")
    amount: int | None = Field(description="the promised amount (null: all that was due)")
    target: int = Field(description="what must come in by then, minor units")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "on": "2026-12-11",
        "amount": None,
        "target": 4900,
        "changes": {
            "status": {"before": "assigned", "after": "promise_to_pay"},
            "promise": {"before": None, "after": {"on": "2026-12-11", "amount": None}},
        },
    }


class CollectionCasePromiseSettled(CaseEvent):
    on: str = Field(description="the promise's date (YYYY-MM-DD)")
    target: int = Field(description="what it promised, minor units")
    paid: int = Field(description="what came in since it was made")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "on": "2026-12-11",
        "target": 4900,
        "paid": 0,
        "changes": {
            "status": {"before": "promise_to_pay", "after": "assigned"},
            "promise": {"before": "pending", "after": "broken"},
        },
    }


class CollectionCaseResolved(CaseEvent):
    resolution: str = Field(description="paid, payment_plan, written_off, disputed or other")
    note: str | None = Field(description="the resolution's note")
    by: Literal["user", "system"] = Field(description="user: by hand (the API); system: the invoice left collection")
    example: ClassVar = {
        "invoice_id": "in_01JE0000000000000000000000",
        "resolution": "paid",
        "note": "The invoice was paid.",
        "by": "system",
        "changes": {
            "status": {"before": "assigned", "after": "resolved"},
            "resolution": {"before": None, "after": "paid"},
        },
    }


# --- the tenant's webhook endpoints (never a secret: ids, URLs, types and the changes) ------------------------------
class WebhookEndpointCreated(Data):
    url: str = Field(description="where it receives events")
    enabled_events: list[str] = Field(description="the types it takes (`*`: every public type)")
    example: ClassVar = {"url": "https://hooks.seller.example/billing", "enabled_events": ["invoice.paid"]}


class WebhookEndpointUpdated(Data):
    changes: Changes = Field(
        description="each field that changed, before and after: url, enabled_events, description, enabled, "
        "disabled_reason, disabled_at, failing_since (never a secret)"
    )
    example: ClassVar = {"changes": {"enabled_events": {"before": ["invoice.paid"], "after": ["*"]}}}


class WebhookEndpointDeleted(Data):
    url: str = Field(description="the URL it had")
    example: ClassVar = {"url": "https://hooks.seller.example/billing"}


class WebhookEndpointSecretRolled(Data):
    previous_secret_expires_at: str = Field(
        description="until when the previous secret signs beside the new one (the secrets themselves are never in "
        "an event)"
    )
    example: ClassVar = {"previous_secret_expires_at": "2026-12-02T09:30:00+00:00"}


class WebhookEndpointDisabled(Data):
    reason: Literal["gone", "failing"] = Field(description="gone: it answered 410; failing: 3 days of failures")
    url: str = Field(description="its URL")
    failing_since: str | None = Field(description="the first failed attempt since its last success")
    last_delivery_id: str = Field(description="the delivery whose attempt disabled it")
    last_response_code: int | None = Field(description="that attempt's HTTP status (null: no answer)")
    last_error: str | None = Field(description="that attempt's error (a timeout, a refused connection, …)")
    changes: Changes = Field(description="enabled, before and after")
    example: ClassVar = {
        "reason": "gone",
        "url": "https://hooks.seller.example/billing",
        "failing_since": None,
        "last_delivery_id": "wd_01JE0000000000000000000000",
        "last_response_code": 410,
        "last_error": None,
        "changes": {"enabled": {"before": True, "after": False}},
    }


# --- the tenant's own -----------------------------------------------------------------------------------------------
class TenantChanged(Data):
    changes: Changes = Field(description="each field that changed, before and after")
    example: ClassVar = {"changes": {"footer": {"before": None, "after": "Registered in Berlin, HRB 12345."}}}


class RateLimitChanged(Data):
    changes: Changes = Field(
        description="the tenant's own rate limit (`<rate>/<burst>`; null: the stack's), before and after"
    )
    example: ClassVar = {"changes": {"rate_limit": {"before": None, "after": "500/1000"}}}


class DunningPolicyChanged(Data):
    changes: Changes = Field(description="each field of the policy that changed, before and after")
    example: ClassVar = {
        "changes": {
            "steps": {
                "before": [{"day": 3, "anchor": "due_date", "actions": ["email_reminder"]}],
                "after": [{"day": 5, "anchor": "due_date", "actions": ["email_reminder"]}],
            }
        }
    }


class TaxRateCreated(Data):
    display_name: str = Field(description="what invoices call it")
    percentage: str = Field(description="the percentage, an exact decimal string")
    inclusive: bool = Field(description="prices billed at it include the tax")
    jurisdiction: str | None = Field(description='where it applies ("DE", "US-NY"), if said')
    example: ClassVar = {"display_name": "VAT", "percentage": "20", "inclusive": False, "jurisdiction": "GB"}


class TaxRateUpdated(Data):
    changes: Changes = Field(description="display_name or active, before and after")
    example: ClassVar = {"changes": {"active": {"before": True, "after": False}}}


class TaxSettingsChanged(Data):
    changes: Changes = Field(description="default_tax_rate_id or rules, before and after")
    example: ClassVar = {
        "changes": {"default_tax_rate_id": {"before": None, "after": "txr_01JE0000000000000000000000"}}
    }


class PortalSignInRequested(Data):
    email: str = Field(description="the address given on the portal's sign-in page")
    locale: str = Field(description="the language of the sign-in e-mail")
    example: ClassVar = {"email": "ada@example.com", "locale": "en"}


class InvoicesDrafted(Data):
    series: str = Field(description="the number series the drafts are numbered in")
    invoice_ids: list[str] = Field(description="the drafts, in the order they are numbered")
    example: ClassVar = {"series": "default", "invoice_ids": ["in_01JE0000000000000000000000"]}


class ApiKeyCreated(Data):
    key_id: str = Field(description="the key's public id (never the key)")
    name: str | None = Field(default=None, description="the name it was given")
    scopes: list[str] | None = Field(default=None, description="what it may do: read, write, payments, admin")
    example: ClassVar = {"key_id": "key_3f9a0c1d2e4b5a69", "name": "storefront", "scopes": ["write"]}


class ApiKeyRevoked(Data):
    key_id: str = Field(description="the key's public id")
    changes: Changes = Field(description="revoked_at, before and after")
    example: ClassVar = {
        "key_id": "key_3f9a0c1d2e4b5a69",
        "changes": {"revoked_at": {"before": None, "after": "2026-11-23T12:00:00+00:00"}},
    }


class ApiKeyRolled(Data):
    key_id: str = Field(description="the rolled key's public id")
    changes: Changes = Field(description="expires_at (the overlap's end) and rolled_to (its successor's id)")
    example: ClassVar = {
        "key_id": "key_3f9a0c1d2e4b5a69",
        "changes": {
            "expires_at": {"before": None, "after": "2026-11-24T12:00:00+00:00"},
            "rolled_to": {"before": None, "after": "key_81c2d4e6f8a0b2c4"},
        },
    }


DATA: dict[str, type[Data]] = {
    "customer.created": CustomerCreated,
    "customer.credit_added": CustomerCreditAdded,
    "customer.payment_method_saved": CustomerPaymentMethodSaved,
    "customer.email_suppressed": CustomerEmailSuppressed,
    "customer.updated": CustomerUpdated,
    "customer.archived": CustomerArchived,
    "customer.unarchived": CustomerUnarchived,
    "customer.credit_deducted": CustomerCreditDeducted,
    "customer.erased": CustomerErased,
    "customer.balance_transaction_created": CustomerBalanceTransactionCreated,
    "invoice_item.created": InvoiceItemCreated,
    "invoice_item.invoiced": InvoiceItemInvoiced,
    "invoice_item.deleted": InvoiceItemDeleted,
    "subscription.item_added": SubscriptionItemChanged,
    "subscription.item_removed": SubscriptionItemChanged,
    "subscription.item_updated": SubscriptionItemChanged,
    "order.invoiced": OrderChanged,
    "order.pending_review": OrderChanged,
    "order.approved": OrderChanged,
    "order.canceled": OrderChanged,
    "invoice.finalized": InvoiceNumbered,
    "invoice.pdf_ready": InvoiceNumbered,
    "invoice.payment_succeeded": InvoicePaymentSucceeded,
    "invoice.paid": InvoiceNumbered,
    "invoice.past_due": InvoicePastDue,
    "invoice.dunning_step": InvoiceDunningStep,
    "invoice.payment_plan_agreed": InvoicePaymentPlanAgreed,
    "invoice.payment_plan_missed": InvoicePaymentPlanMissed,
    "invoice.voided": InvoiceNumbered,
    "invoice.marked_uncollectible": InvoiceMarkedUncollectible,
    "invoice.reopened": InvoiceReopened,
    "invoice.refunded": InvoiceRefunded,
    "invoice.disputed": InvoiceDispute,
    "invoice.dispute_closed": InvoiceDispute,
    "invoice.email_skipped": InvoiceEmailSkipped,
    **{f"payment.{status}": PaymentChanged for status in sorted(STATUSES)},
    "payment.succeeded": PaymentSucceeded,
    "payment.reversed": PaymentReversed,
    "payment.unapplied": PaymentUnapplied,
    "credit_note.issued": CreditNoteIssued,
    "coupon.created": CouponCreated,
    "coupon.updated": CouponChanged,
    "coupon.archived": CouponChanged,
    "promotion_code.created": PromotionCodeCreated,
    "promotion_code.updated": PromotionCodeUpdated,
    "discount.applied": DiscountApplied,
    "discount.removed": DiscountRemoved,
    "discount.ended": DiscountEnded,
    "plan.created": PlanCreated,
    "subscription.created": SubscriptionCreated,
    "subscription.approved": SubscriptionApproved,
    "subscription.trial_ended": SubscriptionTrialEnded,
    "subscription.period_billed": SubscriptionPeriodBilled,
    "subscription.changed": SubscriptionChanged,
    "subscription.cancel_scheduled": SubscriptionCancelScheduled,
    "subscription.canceled": SubscriptionCanceled,
    "subscription.past_due": SubscriptionMoved,
    "subscription.suspended": SubscriptionMoved,
    "subscription.resumed": SubscriptionMoved,
    "subscription.recovered": SubscriptionMoved,
    "collection_case.opened": CollectionCaseOpened,
    "collection_case.assigned": CollectionCaseAssigned,
    "collection_case.note_added": CollectionCaseNoteAdded,
    "collection_case.promise_recorded": CollectionCasePromiseRecorded,
    "collection_case.promise_kept": CollectionCasePromiseSettled,
    "collection_case.promise_broken": CollectionCasePromiseSettled,
    "collection_case.resolved": CollectionCaseResolved,
    "webhook_endpoint.created": WebhookEndpointCreated,
    "webhook_endpoint.updated": WebhookEndpointUpdated,
    "webhook_endpoint.deleted": WebhookEndpointDeleted,
    "webhook_endpoint.secret_rolled": WebhookEndpointSecretRolled,
    "webhook_endpoint.disabled": WebhookEndpointDisabled,
    "tenant.profile_updated": TenantChanged,
    "tenant.dunning_policy_updated": DunningPolicyChanged,
    "tenant.rate_limit_updated": RateLimitChanged,
    "portal.sign_in_requested": PortalSignInRequested,
    "invoices.drafted": InvoicesDrafted,
    "tax_rate.created": TaxRateCreated,
    "tax_rate.updated": TaxRateUpdated,
    "tenant.tax_settings_updated": TaxSettingsChanged,
    "api_key.created": ApiKeyCreated,
    "api_key.revoked": ApiKeyRevoked,
    "api_key.rolled": ApiKeyRolled,
}


def envelope_model(event_type: str) -> type[BaseModel]:
    """The envelope of one type, its data typed (the model its JSON Schema is generated from)."""
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Event"
    return create_model(
        name,
        __base__=Envelope,
        __doc__=catalog.TYPES[event_type].summary,
        type=(Literal[event_type], ...),
        data=(DATA[event_type], ...),
    )


def schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one type's envelope, with its ``$id`` and version."""
    generated = envelope_model(event_type).model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:billing:event:{event_type}:v{SCHEMA_VERSION}",
        **generated,
    }


_STRIPE = {"type": "stripe_event", "id": "evt_1QabcDEFghiJKLmn"}
_EXAMPLE_ACTORS = {
    "payment": _STRIPE,
    "invoice.payment_succeeded": _STRIPE,
    "invoice.paid": _STRIPE,
    "invoice.disputed": _STRIPE,
    "invoice.dispute_closed": _STRIPE,
    "invoice.reopened": _STRIPE,
    "invoice.dunning_step": {"type": "job", "id": "dunning_worker"},
    "invoice.past_due": {"type": "job", "id": "dunning_worker"},
    "invoice.pdf_ready": {"type": "job", "id": "document_renderer"},
    "invoice.email_skipped": {"type": "job", "id": "notifier"},
    "customer.email_suppressed": {"type": "job", "id": "email_feedback"},
    "subscription.period_billed": {"type": "job", "id": "invoice_worker"},
    "subscription.trial_ended": {"type": "job", "id": "invoice_worker"},
    "invoices.drafted": {"type": "job", "id": "invoice_worker"},
    "customer.payment_method_saved": {"type": "customer", "id": "cus_01JE0000000000000000000000"},
    "portal.sign_in_requested": None,
    "api_key.created": {"type": "admin_command", "id": "add-key"},
    "collection_case.opened": {"type": "job", "id": "dunning_worker"},
    "collection_case.promise_kept": {"type": "job", "id": "dunning_worker"},
    "collection_case.promise_broken": {"type": "job", "id": "dunning_worker"},
    "webhook_endpoint.disabled": {"type": "job", "id": "webhook_delivery"},
}


def example(event_type: str) -> dict[str, Any]:
    """The type's example event (the envelope), its data the model's ``example``."""
    kind = catalog.TYPES[event_type].aggregate
    object_ids = {
        "customer": "cus_01JE0000000000000000000000",
        "order": "ord_01JE0000000000000000000000",
        "invoice": "in_01JE0000000000000000000000",
        "plan": "plan_01JE0000000000000000000000",
        "subscription": "sub_01JE0000000000000000000000",
        "tenant": "ten_01je0000000000000000000000",
        "api_key": "key_3f9a0c1d2e4b5a69",
        "collection_case": "case_01JE0000000000000000000000",
        "webhook_endpoint": "we_01JE0000000000000000000000",
        "tax_rate": "txr_01JE0000000000000000000000",
    }
    actor = _EXAMPLE_ACTORS.get(event_type.partition(".")[0] if event_type.startswith("payment.") else event_type)
    versioned = kind not in ("tenant", "api_key")
    return {
        "id": "evt_01JE0000000000000000000000",
        "type": event_type,
        "schema_version": SCHEMA_VERSION,
        "created": "2026-12-01T09:30:00+00:00",
        "tenant_id": "ten_01je0000000000000000000000",
        "object": {"type": kind, "id": object_ids.get(kind, f"{kind}_01JE"), "version": 3 if versioned else None},
        "actor": actor or {"type": "api_key", "id": "key_3f9a0c1d2e4b5a69"},
        "data": copy.deepcopy(DATA[event_type].example),
    }
