"""Issue 16's pure rules: an invoice item's life (pending, invoiced once, deleted only while pending), its line for
the pricing core, a credit note's net and tax split in the invoice's proportions (exact for every amount), and a
credit note without refund against an invoice (what it owes, what is creditable, what stays refundable)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.credit_notes import split_tax
from billing.domain.errors import Conflict, IllegalTransition, ValidationFailed
from billing.domain.invoice_items import InvoiceItem
from billing.domain.models import CreditNote, Customer, DomainEvent, Invoice
from billing.domain.pricing import Discount, DiscountInput, LineInput, price
from billing.reports.facts import facts_from_items

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def item(amount: int = 2500, quantity: int = 1, **more) -> InvoiceItem:
    made, _ = InvoiceItem.create("ten_1", "cus_1", "usd", "Onboarding", amount, quantity, NOW, **more)
    return made


def test_an_item_is_invoiced_once_and_deleted_only_while_pending():
    pending = item()
    taken, event = pending.invoiced("in_1", NOW)
    assert (taken.status, taken.invoice_id, event.type) == ("invoiced", "in_1", "invoice_item.invoiced")
    assert event.data["changes"]["status"] == {"before": "pending", "after": "invoiced"}
    with pytest.raises(IllegalTransition):
        taken.invoiced("in_2", NOW)
    with pytest.raises(Conflict) as refused:
        taken.delete(NOW)
    assert refused.value.code == "invoice_item_invoiced"
    deleted, event = pending.delete(NOW)
    assert (deleted.status, event.type) == ("deleted", "invoice_item.deleted")
    with pytest.raises(IllegalTransition):
        deleted.invoiced("in_1", NOW)


def test_a_credit_item_is_not_discountable_unless_said_and_zero_is_refused():
    assert item(2500).discountable and not item(-500, 2).discountable
    assert item(-500, discountable=True).discountable
    assert item(-500, 2).amount == -1000
    with pytest.raises(ValidationFailed, match="zero"):
        item(0)


def test_an_items_line_names_it_and_a_discount_leaves_a_credit_line_alone():
    charge, credit = item(10_000), item(-2_000)
    lines = [LineInput(description="Setup", quantity=1, unit_amount=10_000), charge.line(), credit.line()]
    assert [ln.invoice_item_id for ln in lines] == [None, charge.id, credit.id]
    totals = price(lines, discounts=[DiscountInput(id="di_1", name="10 % off", percent_off=Decimal(10))])
    assert [ln.discount_amount for ln in totals.lines] == [1_000, 1_000, 0]
    assert totals.total == 20_000 - 2_000 - 2_000


@given(st.integers(1, 10**9), st.integers(1, 10**9), st.integers(0, 10**9))
def test_a_credits_net_and_tax_add_up_exactly_in_the_invoices_proportions(amount, net, tax):
    invoice = issued_with(net, tax)
    credited = min(amount, invoice.total)
    n, t = split_tax(credited, invoice)
    assert n + t == credited and 0 <= t <= tax
    assert abs(t * invoice.total - credited * tax) < invoice.total  # within one unit of the exact share
    if credited == invoice.total:
        assert (n, t) == (net, tax)


def issued_with(net: int, tax: int) -> Invoice:
    customer = Customer(
        id="cus_1", tenant_id="ten_1", email="a@example.com", name="A", locale="en", currency="usd", created_at=NOW
    )
    draft = Invoice.draft(customer, [LineInput(description="x", quantity=1, unit_amount=net)], NOW,
                          collection_method="send_invoice", days_until_due=30)
    draft = draft.model_copy(update={"tax": tax, "total": net + tax, "amount_due": net + tax})
    return draft.finalize("INV-1", NOW)[0]


def note(amount: int, credit_to: str) -> CreditNote:
    return CreditNote(
        id="cn_1",
        tenant_id="ten_1",
        invoice_id="in_1",
        customer_id="cus_1",
        number="CN-1",
        currency="usd",
        amount=amount,
        reason="other",
        refunds=[],
        created_at=NOW,
        kind="credit",
        credit_to=credit_to,
    )


def test_a_credit_to_the_invoice_lowers_what_it_owes_and_in_full_pays_it():
    invoice = issued_with(10_000, 0)
    part, events = invoice.credit(note(4_000, "invoice"), NOW)
    assert (part.status, part.amount_due, part.amount_credited, events) == ("open", 6_000, 4_000, [])
    with pytest.raises(ValidationFailed, match="owes 6000"):
        part.credit(note(6_001, "invoice"), NOW)
    paid, events = part.credit(note(6_000, "invoice"), NOW)
    assert (paid.status, paid.amount_due, [e.type for e in events]) == ("paid", 0, ["invoice.paid"])
    assert paid.refundable() == 0  # nothing was paid: nothing to refund


def test_credits_to_the_balance_count_against_the_total_and_what_stays_refundable():
    invoice = issued_with(10_000, 0)
    paid, _ = invoice.apply_payment(10_000, "pay_1", NOW)
    assert paid.refundable() == 10_000
    credited, events = paid.credit(note(3_000, "balance"), NOW)
    assert (credited.status, credited.amount_due, credited.amount_credited_to_balance, events) == (
        "paid",
        0,
        3_000,
        [],
    )
    assert credited.refundable() == 7_000 and credited.creditable == 7_000
    with pytest.raises(ValidationFailed) as refused:
        credited.credit(note(7_001, "balance"), NOW)
    assert refused.value.code == "credit_exceeds_invoice_total"
    with pytest.raises(Conflict) as not_open:
        credited.credit(note(1, "invoice"), NOW)
    assert not_open.value.code == "invoice_not_open"
    voided, _ = invoice.void(NOW)
    with pytest.raises(Conflict, match="void"):
        voided.credit(note(1, "balance"), NOW)


def test_a_payment_after_a_credit_owes_only_the_rest():
    invoice, _ = issued_with(10_000, 0).credit(note(4_000, "invoice"), NOW)
    paid, events = invoice.apply_payment(6_500, "pay_1", NOW)
    assert (paid.status, paid.amount_due, events[0].data["overpaid"]) == ("paid", 0, 500)


def test_an_orders_own_discount_is_of_its_lines_whatever_credit_items_come_along():
    lines = [LineInput(description="Setup", quantity=1, unit_amount=10_000), item(-2_000).line()]
    assert price(lines, Discount(amount_off=10_000)).total == -2_000  # not refused: the credit is not its base
    assert price(lines, Discount(percent_off=Decimal(10))).discount == 1_000


def test_a_credit_to_the_invoice_is_a_receivables_move_in_the_facts_and_a_refund_note_is_not():
    def event(**data):
        made = DomainEvent.new("credit_note.issued", "ten_1", "invoice", "in_1", NOW, credit_note_id="cn_1", **data)
        return {"type": "event", "event_type": "credit_note.issued", "doc": made.model_dump_json()}

    rows = facts_from_items(
        [
            event(amount=4_000, kind="credit", credit_to="invoice"),
            event(amount=1_000, kind="credit", credit_to="balance"),
            event(amount=500),  # a refund's credit note
        ]
    )["invoice_events"]
    assert [r["applied"] for r in rows] == [4_000, 0, 0]

