"""The ``data`` of every event type as a pydantic model (what the code emits: a test validates the events of real
flows against them), the public envelope as a model, and the versioned JSON Schemas generated from both.

A schema's version is the envelope's ``schema_version``: a field added to a type's data keeps it (consumers ignore
fields they do not know: the schemas allow them); a field renamed, removed or retyped is a new version.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

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
    reason: str = Field(description="dispute_lost")
    amount: int = Field(description="taken back")
    amount_due: int = Field(description="owed again")
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
    example: ClassVar = {
        "credit_note_id": "cn_in_01JE_1",
        "number": "CN-2026-000007",
        "amount": 1000,
        "amount_refunded_total": 1000,
    }


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


# --- the tenant's own -----------------------------------------------------------------------------------------------
class TenantChanged(Data):
    changes: Changes = Field(description="each field that changed, before and after")
    example: ClassVar = {"changes": {"footer": {"before": None, "after": "Registered in Berlin, HRB 12345."}}}


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


class PortalSignInRequested(Data):
    email: str = Field(description="the address given on the portal's sign-in page")
    locale: str = Field(description="the language of the sign-in e-mail")
    example: ClassVar = {"email": "ada@example.com", "locale": "en"}


class ApiKeyCreated(Data):
    key_id: str = Field(description="the key's public id (never the key)")
    example: ClassVar = {"key_id": "key_3f9a0c1d2e4b5a69"}


DATA: dict[str, type[Data]] = {
    "customer.created": CustomerCreated,
    "customer.credit_added": CustomerCreditAdded,
    "customer.payment_method_saved": CustomerPaymentMethodSaved,
    "customer.email_suppressed": CustomerEmailSuppressed,
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
    "payment.unapplied": PaymentUnapplied,
    "credit_note.issued": CreditNoteIssued,
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
    "tenant.profile_updated": TenantChanged,
    "tenant.dunning_policy_updated": DunningPolicyChanged,
    "portal.sign_in_requested": PortalSignInRequested,
    "api_key.created": ApiKeyCreated,
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
    "customer.payment_method_saved": {"type": "customer", "id": "cus_01JE0000000000000000000000"},
    "portal.sign_in_requested": None,
    "api_key.created": {"type": "admin_command", "id": "add-key"},
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
