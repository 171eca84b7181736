"""Issue 12: the payment rules kept in tables, pinned: which Stripe statuses are ours, which are final, which can
still take money, which dispute statuses are closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.domain import payments
from billing.domain.payments import Payment, status_of

STRIPE_STATUSES = [
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
]
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def payment(status: str, method: str = "payment_link", intent: str | None = "pi_1") -> Payment:
    return Payment(
        id="pay_1",
        tenant_id="t",
        invoice_id="in_1",
        customer_id="c",
        amount=100,
        currency="usd",
        method=method,
        status=status,
        stripe_payment_intent_id=intent,
        created_at=NOW,
        updated_at=NOW,
    )


def test_the_status_tables_are_exactly_these():
    assert payments.STATUSES == {
        "pending",
        "failed",
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "processing",
        "canceled",
        "succeeded",
    }
    assert payments.FINAL == {"succeeded", "canceled"}
    assert payments.OPEN_AT_STRIPE == {
        "pending",
        "failed",
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    }
    assert payments.DISPUTE_CLOSED == {"won", "lost", "warning_closed"}


@pytest.mark.parametrize(
    ("intent", "ours"),
    [
        ({"status": "requires_payment_method"}, "requires_payment_method"),
        ({"status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}}, "failed"),
        ({"status": "requires_confirmation"}, "requires_confirmation"),
        ({"status": "requires_action"}, "requires_action"),
        ({"status": "processing"}, "processing"),
        ({"status": "requires_capture"}, "processing"),
        ({"status": "canceled"}, "canceled"),
        ({"status": "succeeded"}, "succeeded"),
        ({"status": "something_new"}, "processing"),  # a status Stripe adds later is not taken for a success
        ({}, "requires_payment_method"),
    ],
)
def test_each_stripe_status_is_ours_as_this(intent, ours):
    assert status_of(intent) == ours


@pytest.mark.parametrize("final", ["succeeded", "canceled"])
def test_nothing_moves_a_final_payment(final):
    assert not any(payment(final).moves_to(s) for s in [*STRIPE_STATUSES, "failed", "pending"])


@pytest.mark.parametrize("status", sorted(payments.STATUSES - {"succeeded", "canceled"}))
def test_any_change_moves_a_payment_that_is_not_final(status):
    assert all(payment(status).moves_to(s) == (s != status) for s in [*STRIPE_STATUSES, "failed", "pending"])


@pytest.mark.parametrize(
    ("status", "method", "intent", "cancelable"),
    [
        ("pending", "payment_link", "pi_1", True),
        ("requires_payment_method", "payment_link", "pi_1", True),
        ("requires_confirmation", "payment_link", "pi_1", True),
        ("requires_action", "off_session", "pi_1", True),
        ("failed", "payment_link", "pi_1", True),  # a declined card on the hosted page: another may be tried
        ("failed", "off_session", "pi_1", False),  # only we could confirm it again, and we will not
        ("processing", "payment_link", "pi_1", False),
        ("succeeded", "payment_link", "pi_1", False),
        ("canceled", "payment_link", "pi_1", False),
        ("pending", "payment_link", None, False),  # nothing at Stripe to cancel
    ],
)
def test_which_payments_are_canceled_when_the_invoice_wants_no_money(status, method, intent, cancelable):
    assert payment(status, method, intent).cancelable is cancelable


def test_a_later_success_keeps_the_story_of_the_failure():
    failed = payment("pending").observe(
        {
            "id": "pi_1",
            "status": "requires_payment_method",
            "last_payment_error": {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        },
        NOW,
    )
    assert (failed.status, failed.decline_code, failed.failure_message) == (
        "failed",
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
    succeeded = failed.observe({"id": "pi_1", "status": "succeeded"}, NOW)
    assert (succeeded.status, succeeded.decline_code, succeeded.failure_message) == (
        "succeeded",
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
