"""Payments, pure: Stripe's PaymentIntent status mapped to ours, deterministic payment ids, the forward-only payment
rule, and how a payment counts against an invoice (partial, full, over, on a void invoice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.models import Customer, Invoice, Order
from billing.domain.payments import FINAL, STATUSES, Payment, decline_code_of, payment_id, status_of
from billing.domain.pricing import LineInput
from tests.fixtures import stripe_resource

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stripe_payment_intent(**changes: Any) -> dict[str, Any]:
    """Stripe's published PaymentIntent fixture with ``changes`` (its sample carries an idempotency_error, which a
    real intent in most states does not: cleared unless given)."""
    intent = stripe_resource("payment_intent")
    intent["last_payment_error"] = None
    intent.update(changes)
    return intent


def card_error(decline_code: str = "card_declined") -> dict[str, Any]:
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": "Your card was declined.",
    }


# --- status_of --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("succeeded", "succeeded"),
        ("processing", "processing"),
        ("requires_action", "requires_action"),
        ("requires_confirmation", "requires_confirmation"),
        ("canceled", "canceled"),
        ("requires_capture", "processing"),
        ("requires_payment_method", "requires_payment_method"),  # a fresh intent, not yet attempted
    ],
)
def test_status_of_maps_stripe_statuses(stripe_status, ours):
    assert status_of(stripe_payment_intent(status=stripe_status)) == ours


def test_requires_payment_method_with_an_error_is_a_failed_attempt_with_its_decline_code():
    intent = stripe_payment_intent(
        status="requires_payment_method", last_payment_error=card_error("insufficient_funds")
    )
    assert status_of(intent) == "failed"
    assert decline_code_of(intent) == "insufficient_funds"
    # Stripe's own sample (requires_payment_method with an idempotency_error) is a failed attempt too, no decline code
    sample = stripe_resource("payment_intent")
    assert status_of(sample) == "failed" and decline_code_of(sample) is None


def test_error_code_stands_in_when_there_is_no_decline_code():
    intent = stripe_payment_intent(
        status="requires_payment_method", last_payment_error={"code": "expired_card", "message": "expired"}
    )
    assert (status_of(intent), decline_code_of(intent)) == ("failed", "expired_card")


def test_an_unknown_stripe_status_is_not_final_nor_a_success():
    assert status_of(stripe_payment_intent(status="some_future_status")) == "processing"
    assert status_of({}) == "requires_payment_method"


@given(st.text(max_size=30))
def test_status_of_always_answers_one_of_our_statuses(stripe_status):
    assert status_of({"status": stripe_status}) in STATUSES


# --- payment ids ------------------------------------------------------------------------------------------------------
def test_payment_id_is_deterministic_and_distinct_per_attempt():
    first = payment_id("in_1", "finalized")
    assert first == payment_id("in_1", "finalized")
    assert first.startswith("pay_") and len(first) == len("pay_") + 24
    ids = {payment_id("in_1", key) for key in ("finalized", "attempt-1", "attempt-2", "link-100", "link-99")}
    assert len(ids) == 5
    assert payment_id("in_1", "attempt-2") != payment_id("in_2", "attempt-2")


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_payment_ids_differ_whenever_invoice_or_attempt_differ(invoice_id, key_a, key_b):
    assert (payment_id(invoice_id, key_a) == payment_id(invoice_id, key_b)) == (key_a == key_b)


# --- Payment.moves_to / observe ---------------------------------------------------------------------------------------
def payment(status: str = "pending", **changes: Any) -> Payment:
    return Payment(
        id=payment_id("in_1", "finalized"),
        tenant_id="ten_1",
        invoice_id="in_1",
        customer_id="cus_1",
        amount=4328,
        currency="usd",
        method="off_session",
        status=status,
        created_at=NOW,
        updated_at=NOW,
        **changes,
    )


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("status", sorted(STATUSES))
def test_a_final_payment_never_moves(final, status):
    assert payment(final).moves_to(status) is False


@pytest.mark.parametrize("start", sorted(STATUSES - FINAL))
def test_a_payment_not_final_moves_to_any_other_status(start):
    for status in STATUSES - {start}:
        assert payment(start).moves_to(status)
    assert payment(start).moves_to(start) is False  # the same news twice is no news


def test_a_failure_reported_after_the_success_changes_nothing():
    succeeded = payment("pending").observe(
        stripe_payment_intent(id="pi_1", status="succeeded", amount_received=4328), NOW
    )
    assert succeeded.status == "succeeded" and succeeded.stripe_payment_intent_id == "pi_1"
    late_failure = stripe_payment_intent(id="pi_1", status="requires_payment_method", last_payment_error=card_error())
    assert succeeded.moves_to(status_of(late_failure)) is False


def test_a_failure_then_a_success_on_retry_moves_forward_and_keeps_the_decline():
    failed = payment().observe(
        stripe_payment_intent(id="pi_1", status="requires_payment_method", last_payment_error=card_error()), NOW
    )
    assert (failed.status, failed.decline_code, failed.failure_message) == (
        "failed",
        "card_declined",
        "Your card was declined.",
    )
    later = NOW + timedelta(hours=1)
    assert failed.moves_to("succeeded")
    succeeded = failed.observe(stripe_payment_intent(id="pi_1", status="succeeded"), later)
    assert succeeded.status == "succeeded" and succeeded.updated_at == later
    assert succeeded.decline_code == "card_declined"  # the history of the attempt stays readable


def test_observe_keeps_the_known_intent_id_when_stripe_gave_none():
    known = payment("processing", stripe_payment_intent_id="pi_9")
    failed = known.observe({"id": None, "status": "requires_payment_method", "last_payment_error": card_error()}, NOW)
    assert failed.stripe_payment_intent_id == "pi_9" and failed.status == "failed"


# --- Invoice.apply_payment --------------------------------------------------------------------------------------------
def open_invoice(unit_amount: int = 1999, quantity: int = 2, tax: str = "8.25") -> Invoice:
    customer = Customer(
        id="cus_1", tenant_id="ten_1", email="ana@example.com", name="Ana", locale="en", currency="usd", created_at=NOW
    )
    order = Order(
        id="ord_1",
        tenant_id="ten_1",
        customer_id="cus_1",
        currency="usd",
        lines=[LineInput(description="Pro plan", quantity=quantity, unit_amount=unit_amount, tax_rate_percent=tax)],
        collection_method="charge_automatically",
        created_at=NOW,
        updated_at=NOW,
    )
    invoice, _ = Invoice.draft_for(order, customer, NOW).finalize("INV-2026-000001", NOW)
    assert invoice.status == "open" and invoice.amount_due == invoice.total > 0
    return invoice


def test_a_partial_payment_reduces_the_amount_due_and_keeps_the_invoice_open():
    invoice = open_invoice()
    total = invoice.total
    later = NOW + timedelta(minutes=5)
    paid, events = invoice.apply_payment(1000, "pay_a", later)
    assert (paid.status, paid.amount_paid, paid.amount_due) == ("open", 1000, total - 1000)
    assert paid.updated_at == later and paid.total == total
    assert [e.type for e in events] == ["invoice.payment_succeeded"]
    assert events[0].data == {
        "payment_id": "pay_a",
        "amount": 1000,
        "amount_due": total - 1000,
        "amount_paid": 1000,
        "overpaid": 0,
    }
    assert invoice.amount_paid == 0  # the aggregate is a value: the original is untouched


def test_paying_the_rest_makes_the_invoice_paid_and_raises_invoice_paid():
    invoice = open_invoice()
    partly, _ = invoice.apply_payment(1000, "pay_a", NOW)
    paid, events = partly.apply_payment(invoice.total - 1000, "pay_b", NOW)
    assert (paid.status, paid.amount_paid, paid.amount_due) == ("paid", invoice.total, 0)
    assert [e.type for e in events] == ["invoice.payment_succeeded", "invoice.paid"]
    assert events[1].data == {"number": "INV-2026-000001"} and events[1].aggregate_id == invoice.id


def test_a_full_payment_at_once_is_paid():
    invoice = open_invoice()
    paid, events = invoice.apply_payment(invoice.total, "pay_a", NOW)
    assert (paid.status, paid.amount_paid, paid.amount_due) == ("paid", invoice.total, 0)
    assert [e.type for e in events] == ["invoice.payment_succeeded", "invoice.paid"]


def test_an_overpayment_leaves_nothing_due_and_records_all_that_was_received():
    invoice = open_invoice()
    paid, events = invoice.apply_payment(invoice.total + 500, "pay_a", NOW)
    assert paid.status == "paid" and paid.amount_due == 0
    assert paid.amount_paid == invoice.total + 500 > paid.total
    assert events[0].data["amount"] == invoice.total + 500
    assert events[0].data["overpaid"] == 500  # the excess, for the customer's credit


def test_a_customers_credit_is_taken_off_what_is_due_and_payments_count_against_the_rest():
    credited = open_invoice().model_copy(update={"credit_applied": 1000})
    credited = credited.model_copy(update={"amount_due": credited.total - 1000})
    partly, events = credited.apply_payment(1000, "pay_a", NOW)
    assert (partly.status, partly.amount_due, events[0].data["overpaid"]) == ("open", credited.total - 2000, 0)
    paid, events = partly.apply_payment(credited.total - 2000 + 300, "pay_b", NOW)
    assert (paid.status, paid.amount_due, paid.amount_paid) == ("paid", 0, credited.total - 700)
    assert events[0].data["overpaid"] == 300 and events[-1].type == "invoice.paid"


@pytest.mark.parametrize("status", ["void", "paid", "draft"])
def test_an_invoice_that_is_not_open_takes_no_payment(status):
    invoice = open_invoice()
    if status == "void":
        invoice, _ = invoice.void(NOW)
    elif status == "paid":
        invoice, _ = invoice.apply_payment(invoice.total, "pay_a", NOW)
    else:
        invoice = invoice.model_copy(update={"status": "draft"})
    same, events = invoice.apply_payment(700, "pay_late", NOW + timedelta(days=1))
    assert same == invoice and events == []


def test_an_uncollectible_invoice_paid_in_full_becomes_paid():
    invoice = open_invoice().model_copy(update={"status": "uncollectible"})
    partly, _ = invoice.apply_payment(100, "pay_a", NOW)
    assert partly.status == "uncollectible" and partly.amount_due == invoice.total - 100
    paid, events = partly.apply_payment(invoice.total - 100, "pay_b", NOW)
    assert paid.status == "paid" and [e.type for e in events][-1] == "invoice.paid"


@st.composite
def partial_payments(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """An invoice total and a sequence of payments that never pays more than is due."""
    unit = draw(st.integers(min_value=1, max_value=500_000))
    quantity = draw(st.integers(min_value=1, max_value=5))
    total = unit * quantity
    amounts, left = [], total
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        if left == 0:
            break
        amount = draw(st.integers(min_value=1, max_value=left))
        amounts.append(amount)
        left -= amount
    return unit, quantity, amounts


@given(partial_payments())
def test_partial_payments_never_make_the_amount_due_negative_and_amount_paid_is_their_sum(case):
    unit, quantity, amounts = case
    invoice = open_invoice(unit_amount=unit, quantity=quantity, tax="0")
    total = invoice.total
    paid_events = 0
    for n, amount in enumerate(amounts):
        invoice, events = invoice.apply_payment(amount, f"pay_{n}", NOW)
        assert invoice.amount_due >= 0
        assert invoice.amount_paid + invoice.amount_due == total
        paid_events += sum(e.type == "invoice.paid" for e in events)
    assert invoice.amount_paid == sum(amounts)
    assert invoice.amount_due == total - sum(amounts)
    assert (invoice.status == "paid") == (sum(amounts) == total)
    assert paid_events == (1 if sum(amounts) == total else 0)


@given(st.integers(min_value=1, max_value=10_000), st.lists(st.integers(min_value=1, max_value=20_000), max_size=12))
def test_any_payments_never_make_the_amount_due_negative(unit, amounts):
    """Any positive amounts, over-paying included: nothing due goes below 0, every amount taken while the invoice
    was payable is counted, and invoice.paid is raised once at most."""
    invoice = open_invoice(unit_amount=unit, quantity=1, tax="0")
    taken, paid_events, overpaid = 0, 0, 0
    for n, amount in enumerate(amounts):
        payable = invoice.status == "open"
        invoice, events = invoice.apply_payment(amount, f"pay_{n}", NOW)
        taken += amount if payable else 0
        assert bool(events) == payable
        assert invoice.amount_due >= 0
        paid_events += sum(e.type == "invoice.paid" for e in events)
        overpaid += sum(e.data.get("overpaid", 0) for e in events)
        assert all(e.data.get("overpaid", 0) >= 0 for e in events)
    assert overpaid == max(0, taken - invoice.total)  # the excess becomes credit exactly once
    assert invoice.amount_paid == taken
    assert invoice.amount_due == max(0, invoice.total - taken)
    assert paid_events <= 1 and (paid_events == 1) == (invoice.status == "paid")
