"""Issue 12: the invoice aggregate's rules, pinned at the unit level (they were tested only through the services):
drafting with credit, finalizing, overdue, write-off, void, refunds, a payment taken back."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.domain.errors import Conflict, IllegalTransition
from billing.domain.models import Address, CreditNote, Customer, Invoice, Order
from billing.domain.pricing import Discount, LineInput

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def customer(credit: int = 0) -> Customer:
    return Customer(
        id="cus_1",
        tenant_id="ten_1",
        email="ana@example.com",
        name="Ana",
        locale="ru",
        currency="usd",
        credit_balance=credit,
        created_at=NOW,
    )


def order(amount: int = 5000, days: int | None = 14, method: str = "send_invoice", **more) -> Order:
    return Order(
        id="ord_1",
        tenant_id="ten_1",
        customer_id="cus_1",
        currency="usd",
        lines=[LineInput(description="Pro", quantity=1, unit_amount=amount)],
        collection_method=method,
        days_until_due=days,
        created_at=NOW,
        updated_at=NOW,
        **more,
    )


def issued(amount: int = 5000, credit: int = 0, days: int | None = 14) -> Invoice:
    invoice, _ = Invoice.draft_for(order(amount, days), customer(credit), NOW).finalize("INV-1", NOW)
    return invoice


def test_a_draft_is_what_the_order_says_for_whom_it_says():
    address = Address(line1="ул. Тверская, д. 7", city="Москва", postal_code="125009", country="RU")
    ana = customer().model_copy(update={"address": address})
    draft = Invoice.draft_for(order(5000, discount=Discount(amount_off=500)), ana, NOW)
    assert draft.customer_address == address  # as it was when the invoice was made: kept if the customer moves
    assert (draft.status, draft.number, draft.order_id, draft.collection_method, draft.days_until_due) == (
        "draft",
        None,
        "ord_1",
        "send_invoice",
        14,
    )
    assert (draft.subtotal, draft.discount, draft.tax, draft.total, draft.amount_due) == (5000, 500, 0, 4500, 4500)
    assert (draft.customer_email, draft.customer_name, draft.customer_locale, draft.currency) == (
        "ana@example.com",
        "Ana",
        "ru",
        "usd",
    )
    assert draft.id.startswith("in_") and draft.created_at == draft.updated_at == NOW


@pytest.mark.parametrize(("credit", "applied", "due"), [(0, 0, 5000), (1200, 1200, 3800), (9000, 5000, 0)])
def test_the_customers_credit_comes_off_what_is_due_never_below_zero(credit, applied, due):
    draft = Invoice.draft_for(order(5000), customer(credit), NOW)
    assert (draft.credit_applied, draft.amount_due, draft.total) == (applied, due, 5000)


@pytest.mark.parametrize("credit_line", [-5000, -5800])
def test_a_draft_whose_credits_cover_its_charges_owes_nothing_and_takes_none_of_the_customers_credit(credit_line):
    lines = [
        LineInput(description="Pro", quantity=1, unit_amount=5000),
        LineInput(description="Unused time on Pro", quantity=1, unit_amount=credit_line),
    ]
    draft = Invoice.draft(customer(1200), lines, NOW, collection_method="send_invoice", days_until_due=14)
    assert (draft.total, draft.credit_applied, draft.amount_due) == (5000 + credit_line, 0, 0)
    assert draft.excess_credit == -(5000 + credit_line)  # the rest becomes the customer's credit, not a debt


def test_a_negative_total_leaves_its_excess_as_credit():
    draft = Invoice.draft_for(order(5000), customer(), NOW).model_copy(update={"total": -700})
    assert draft.excess_credit == 700
    assert Invoice.draft_for(order(5000), customer(), NOW).excess_credit == 0


def test_finalizing_numbers_dates_and_links_it_and_says_so():
    draft = Invoice.draft_for(order(5000, days=14), customer(), NOW)
    later = NOW + timedelta(minutes=1)
    invoice, event = draft.finalize("INV-2026-000007", later)
    assert (invoice.status, invoice.number, invoice.issued_at, invoice.updated_at) == (
        "open",
        "INV-2026-000007",
        later,
        later,
    )
    assert invoice.due_date == date(2026, 12, 16) and invoice.dunning.attention_on == date(2026, 12, 16)
    assert invoice.pay_token and len(invoice.pay_token) >= 20
    assert (event.type, event.aggregate_id, event.data) == (
        "invoice.finalized",
        draft.id,
        {"number": "INV-2026-000007"},
    )
    again, _ = invoice.model_copy(update={"status": "draft"}).finalize("INV-2026-000007", later)
    assert again.pay_token == invoice.pay_token  # a link once made is kept


def test_an_invoice_with_nothing_due_is_paid_when_issued_and_needs_no_attention():
    invoice = issued(5000, credit=5000)
    assert (invoice.status, invoice.amount_due, invoice.dunning.attention_on) == ("paid", 0, None)
    charged_now = issued(5000, days=None)
    assert charged_now.due_date == NOW.date()  # no terms: due the day it is issued


def test_overdue_means_open_unpaid_and_past_the_end_of_its_due_date():
    invoice = issued(5000, days=3)
    due_end = datetime.combine(invoice.due_date, datetime.max.time(), tzinfo=UTC)
    assert not invoice.is_overdue(due_end)  # the whole due date is still in time
    assert invoice.is_overdue(due_end + timedelta(microseconds=1))
    later = due_end + timedelta(days=1)
    assert not invoice.model_copy(update={"past_due": True}).is_overdue(later)  # marked already
    assert not invoice.model_copy(update={"amount_due": 0}).is_overdue(later)
    assert invoice.model_copy(update={"amount_due": 1}).is_overdue(later)  # a cent still owed is still owed
    assert not invoice.model_copy(update={"status": "uncollectible"}).is_overdue(later)
    assert not invoice.model_copy(update={"due_date": None}).is_overdue(later)
    marked, event = invoice.mark_past_due(later)
    assert marked.past_due and marked.updated_at == later
    assert (event.type, event.data) == ("invoice.past_due", {"number": "INV-1", "due_date": str(invoice.due_date)})


@pytest.mark.parametrize(
    ("status", "takes", "payable"),
    [
        ("draft", False, False),
        ("open", True, True),
        ("uncollectible", True, True),
        ("paid", False, False),
        ("void", False, False),
    ],
)
def test_which_invoices_take_money_and_which_can_be_paid_now(status, takes, payable):
    invoice = issued().model_copy(update={"status": status})
    assert (invoice.takes_payments, invoice.payable) == (takes, payable)
    assert not invoice.model_copy(update={"amount_due": 0}).payable


def test_a_write_off_stops_the_chase_not_the_payments():
    invoice = issued()
    written_off, event = invoice.mark_uncollectible(NOW)
    assert written_off.status == "uncollectible" and written_off.amount_due == 5000
    assert (event.type, event.data) == ("invoice.marked_uncollectible", {"number": "INV-1", "amount_due": 5000})
    paid, events = written_off.apply_payment(5000, "pay_1", NOW)
    assert paid.status == "paid" and [e.type for e in events] == ["invoice.payment_succeeded", "invoice.paid"]
    with pytest.raises(IllegalTransition):
        paid.mark_uncollectible(NOW)


def test_voiding_owes_nothing_and_keeps_the_number():
    voided, event = issued().void(NOW)
    assert (voided.status, voided.amount_due, voided.voided_at, voided.number) == ("void", 0, NOW, "INV-1")
    assert (event.type, event.data) == ("invoice.voided", {"number": "INV-1"})
    with pytest.raises(IllegalTransition):
        voided.void(NOW)


def test_a_payment_on_an_invoice_that_takes_none_changes_nothing():
    voided, _ = issued().void(NOW)
    assert voided.apply_payment(5000, "pay_1", NOW) == (voided, [])


def test_an_overpayment_is_paid_in_full_with_the_excess_reported_once():
    invoice = issued(5000)
    paid, events = invoice.apply_payment(6200, "pay_1", NOW)
    assert (paid.status, paid.amount_paid, paid.amount_due) == ("paid", 6200, 0)
    assert events[0].data["overpaid"] == 1200
    partly, _ = invoice.apply_payment(3000, "pay_1", NOW)
    _, events = partly.model_copy(update={"status": "open"}).apply_payment(3000, "pay_2", NOW)
    assert events[0].data["overpaid"] == 1000  # only what this payment adds over what was owed


def credit_note(invoice: Invoice, amount: int) -> CreditNote:
    return CreditNote(
        id="cn_1",
        tenant_id="ten_1",
        invoice_id=invoice.id,
        customer_id="cus_1",
        number="CN-1",
        currency="usd",
        amount=amount,
        reason="other",
        refunds=[],
        created_at=NOW,
    )


def test_refunds_count_against_what_the_invoice_kept():
    paid, _ = issued(5000, credit=1000).apply_payment(4000, "pay_1", NOW)
    assert paid.refundable() == 4000  # the credit applied was never paid here
    overpaid, _ = issued(5000, credit=1000).apply_payment(6000, "pay_1", NOW)
    assert overpaid.refundable() == 4000  # the 2000 over what was owed went to the customer's credit
    note = credit_note(paid, 1500)
    refunded, event = paid.record_refund(note, NOW)
    assert (refunded.amount_refunded, refunded.refundable(), refunded.status) == (1500, 2500, "paid")
    assert (event.type, event.data) == (
        "invoice.refunded",
        {"credit_note_id": "cn_1", "number": "CN-1", "amount": 1500},
    )


def test_a_payment_taken_back_reopens_the_invoice_due_today_and_restarts_collection():
    paid, _ = issued(5000, days=30).apply_payment(5000, "pay_1", NOW)
    lost_at = NOW + timedelta(days=40)
    reopened, event = paid.take_back(5000, "dispute_lost", lost_at)
    assert (reopened.status, reopened.amount_paid, reopened.amount_due, reopened.due_date) == (
        "open",
        0,
        5000,
        lost_at.date(),
    )
    assert not reopened.past_due and reopened.dunning.first_failure_at == lost_at
    assert reopened.dunning.attention_on == lost_at.date() and reopened.dunning.steps_done == []
    assert (event.type, event.data) == (
        "invoice.reopened",
        {"reason": "dispute_lost", "amount": 5000, "amount_due": 5000},
    )
    partly, _ = issued(5000).apply_payment(2000, "pay_1", NOW)
    still_open, _ = partly.take_back(2000, "dispute_lost", lost_at)
    assert (still_open.status, still_open.amount_due) == ("open", 5000)


def test_an_order_moves_only_as_its_table_says():
    later = NOW + timedelta(minutes=5)
    placed = order().transition("place", later, invoice_id="in_1")
    assert (placed.status, placed.invoice_id, placed.updated_at) == ("invoiced", "in_1", later)
    with pytest.raises(IllegalTransition):
        placed.transition("place", NOW)


def test_every_change_is_stamped_and_every_event_names_its_invoice():
    later = NOW + timedelta(hours=2)
    finalized, final_event = Invoice.draft_for(order(), customer(), NOW).finalize("INV-1", later)
    late = issued().model_copy(update={"past_due": True})
    paid, paid_events = late.apply_payment(5000, "pay_1", later)
    paid_at_now, _ = issued().apply_payment(5000, "pay_1", NOW)
    voided, void_event = issued().void(later)
    written_off, off_event = issued().mark_uncollectible(later)
    marked, past_due_event = issued().mark_past_due(later)
    refunded, refund_event = paid_at_now.record_refund(credit_note(paid_at_now, 100), later)
    reopened, reopen_event = paid_at_now.take_back(5000, "dispute_lost", later)
    for changed in (finalized, paid, voided, written_off, marked, refunded, reopened):
        assert changed.updated_at == later
    assert not paid.take_back(5000, "dispute_lost", later)[0].past_due  # chased again from the loss
    events = [final_event, *paid_events, void_event, off_event, past_due_event, refund_event, reopen_event]
    for event in events:
        assert (event.aggregate, event.tenant_id, event.occurred_at) == ("invoice", "ten_1", later)
        assert event.aggregate_id.startswith("in_")
        assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", event.id)  # an event id is an id of its own kind
    assert len({event.id for event in events}) == len(events)


def test_the_invoice_as_issued_is_what_its_pdf_shows_whatever_happened_since():
    paid, _ = issued(5000, days=14).apply_payment(5000, "pay_1", NOW + timedelta(days=1))
    refunded, _ = paid.record_refund(credit_note(paid, 1000), NOW + timedelta(days=2))
    later = refunded.model_copy(update={"past_due": True, "dispute_open": True})
    shown = later.as_issued()
    assert (shown.status, shown.amount_paid, shown.amount_refunded, shown.amount_due) == ("open", 0, 0, 5000)
    assert (shown.past_due, shown.dispute_open, shown.updated_at) == (False, False, NOW)
    assert (shown.number, shown.issued_at, shown.due_date, shown.total) == ("INV-1", NOW, date(2026, 12, 16), 5000)
    voided, _ = issued(5000).void(NOW + timedelta(days=3))
    assert (voided.as_issued().status, voided.as_issued().voided_at, voided.as_issued().amount_due) == (
        "open",
        None,
        5000,
    )


@pytest.mark.parametrize(("amount", "credit", "status", "due"), [(5000, 5000, "paid", 0), (1, 0, "open", 1)])
def test_an_invoice_was_issued_paid_only_if_nothing_was_due(amount, credit, status, due):
    shown = issued(amount, credit=credit).as_issued()
    assert (shown.status, shown.amount_due, shown.credit_applied) == (status, due, min(amount, credit))


def test_an_invoice_whose_credits_outweighed_its_charges_was_issued_paid_with_nothing_due():
    lines = [
        LineInput(description="Pro", quantity=1, unit_amount=5000),
        LineInput(description="Unused time on Pro", quantity=1, unit_amount=-5800),
    ]
    draft = Invoice.draft(customer(), lines, NOW, collection_method="send_invoice", days_until_due=14)
    invoice, _ = draft.finalize("INV-2", NOW)
    shown = invoice.as_issued()
    assert (shown.total, shown.status, shown.amount_due) == (-800, "paid", 0)


def test_a_draft_was_never_issued():
    draft = Invoice.draft_for(order(), customer(), NOW)
    with pytest.raises(IllegalTransition) as refused:
        draft.as_issued()
    assert (refused.value.code, refused.value.detail) == (
        "invoice_not_issued",
        f"invoice {draft.id} has not been issued",
    )


def test_an_invoice_pdf_is_attached_once_and_said_to_be_ready():
    invoice = issued()
    later = NOW + timedelta(minutes=3)
    attached, event = invoice.attach_pdf("ten_1/invoices/in_1.pdf", later)
    assert (attached.pdf_key, attached.updated_at) == ("ten_1/invoices/in_1.pdf", later)
    assert (event.type, event.aggregate, event.aggregate_id, event.occurred_at, event.data) == (
        "invoice.pdf_ready",
        "invoice",
        invoice.id,
        later,
        {"number": "INV-1"},
    )
    with pytest.raises(Conflict) as refused:
        attached.attach_pdf("ten_1/invoices/in_1-again.pdf", later)
    assert (refused.value.code, refused.value.detail) == (
        "pdf_already_attached",
        f"invoice {invoice.id} has its PDF already",
    )


def test_a_credit_note_pdf_is_attached_once():
    note = credit_note(issued(), 500)
    attached = note.attach_pdf("ten_1/credit_notes/cn_1.pdf")
    assert (attached.pdf_key, note.pdf_key) == ("ten_1/credit_notes/cn_1.pdf", None)
    with pytest.raises(Conflict) as refused:
        attached.attach_pdf("ten_1/credit_notes/cn_1-again.pdf")
    assert (refused.value.code, refused.value.detail) == (
        "pdf_already_attached",
        "credit note cn_1 has its PDF already",
    )
