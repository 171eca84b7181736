"""Payments: one attempt to collect an invoice through Stripe, and the rule that moves it only forward.

Stripe's events arrive at least once, late and out of order, so a payment never follows the order of arrival: it
takes the state of the PaymentIntent as Stripe reports it now. ``succeeded`` and ``canceled`` are final.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, get_args

from billing.domain.base_model import BaseModel

DISPUTE_CLOSED = {"won", "lost", "warning_closed"}
STATUSES = {
    "pending",
    "failed",
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "canceled",
    "succeeded",
}
FINAL = {"succeeded", "canceled"}
# Money received outside Stripe (the ERP or the finance team records it): succeeded when recorded, never at Stripe.
OfflineMethod = Literal["bank_transfer", "cash", "check", "other"]
OFFLINE_METHODS: tuple[str, ...] = get_args(OfflineMethod)
# A payment whose PaymentIntent can still take money (a card form open, a declined card the customer may replace,
# 3-D Secure pending): cancelable at Stripe. ``processing`` is not; its outcome arrives by webhook like any other.
OPEN_AT_STRIPE = {"pending", "failed", "requires_payment_method", "requires_confirmation", "requires_action"}


def payment_id(invoice_id: str, attempt_key: str) -> str:
    """A payment's id is derived from what it is for, so a retried Lambda finds the same payment (and sends Stripe
    the same idempotency key) instead of starting a second charge."""
    digest = hashlib.sha256(f"{invoice_id}:{attempt_key}".encode()).hexdigest()[:24]
    return f"pay_{digest}"


def offline_payment_id(tenant_id: str, method: str, reference: str) -> str:
    """A payment received outside Stripe is named by what identifies it at the bank or till: the tenant, the
    method and the reference. The same wire recorded twice is the same payment, whichever invoice it is sent to."""
    digest = hashlib.sha256(f"offline:{tenant_id}:{method}:{reference}".encode()).hexdigest()[:24]
    return f"pay_{digest}"


def status_of(payment_intent: dict[str, Any]) -> str:
    """Our payment status for a Stripe PaymentIntent: a PaymentIntent back at requires_payment_method with an
    error is a failed attempt."""
    status = payment_intent.get("status", "requires_payment_method")
    if status == "requires_payment_method" and payment_intent.get("last_payment_error"):
        return "failed"
    return status if status in STATUSES else "processing"  # requires_capture, or a status Stripe adds later


def decline_code_of(payment_intent: dict[str, Any]) -> str | None:
    error = payment_intent.get("last_payment_error") or {}
    return error.get("decline_code") or error.get("code")


class Payment(BaseModel):
    id: str
    tenant_id: str
    invoice_id: str
    customer_id: str
    amount: int
    currency: str
    method: str  # off_session | payment_link (Stripe), or one of OFFLINE_METHODS
    attempt_key: str | None = None  # what the id derives from: resuming the attempt reuses its idempotency key
    payment_method: str | None = None  # the saved card an off-session attempt charged
    status: str = "pending"
    stripe_payment_intent_id: str | None = None
    decline_code: str | None = None
    failure_message: str | None = None
    amount_refunded: int = 0
    # What of the money received did not count against the invoice: it no longer wanted it (``invoice_paid``,
    # ``invoice_void``: kept as the customer's credit) or it came in another currency (``currency_mismatch``).
    amount_unapplied: int = 0
    unapplied_reason: str | None = None
    dispute_id: str | None = None
    dispute_status: str | None = None  # Stripe's: warning_needs_response … needs_response, under_review, won, lost
    amount_disputed_lost: int = 0  # taken back by a lost dispute: owed again on the invoice
    # a payment received outside Stripe: its bank or receipt reference, when the money arrived, who recorded it,
    # what of it went to the customer's credit (an overpayment), and its reversal (a bounced check), if any
    reference: str | None = None
    received_at: datetime | None = None
    recorded_by: str | None = None
    amount_credited: int = 0
    reversed_at: datetime | None = None
    reversal_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def offline(self) -> bool:
        """Received outside Stripe: recorded by the tenant, reversed by a reversal entry, never refunded at Stripe."""
        return self.method in OFFLINE_METHODS

    @property
    def cancelable(self) -> bool:
        """Its PaymentIntent could still take money and is canceled when the invoice wants none (voided, paid by
        another route). A failed off-session attempt is not: only we could confirm it again, and we will not; it
        stays a failed attempt on the record."""
        if self.status == "failed" and self.method == "off_session":
            return False
        return self.stripe_payment_intent_id is not None and self.status in OPEN_AT_STRIPE

    def moves_to(self, status: str) -> bool:
        """Whether Stripe's current ``status`` is news for this payment. The caller always asks Stripe for the
        PaymentIntent's current state (never trusts the order events arrive in), so any change is news, except
        leaving a final state: a failure reported after a success changes nothing."""
        return self.status not in FINAL and status != self.status

    def observe(self, payment_intent: dict[str, Any], now: datetime) -> Payment:
        """This payment as the PaymentIntent says it is (the caller checked ``moves_to`` first)."""
        status = status_of(payment_intent)
        error = payment_intent.get("last_payment_error") or {}
        return self.model_copy(
            update={
                "status": status,
                "stripe_payment_intent_id": payment_intent.get("id") or self.stripe_payment_intent_id,
                "decline_code": decline_code_of(payment_intent) if status == "failed" else self.decline_code,
                "failure_message": error.get("message") if status == "failed" else self.failure_message,
                "updated_at": now,
            }
        )
