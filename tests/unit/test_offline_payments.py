"""Money received outside Stripe, in the pure domain and the facts: how a reversal entry (a bounced check) takes a
payment back (owed again on the invoice, the part that went to credit from the credit), a customer PATCH's merge,
and the facts the reports read (collected goes down by a reversed payment, receivables up)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.domain.errors import Conflict, IllegalTransition, ValidationFailed
from billing.domain.models import Address, Customer, DomainEvent, Invoice
from billing.domain.payments import OFFLINE_METHODS, Payment, offline_payment_id
from billing.domain.pricing import LineInput
from billing.reports import catalog
from billing.reports.facts import facts_from_items
from tests.unit.test_reports import T, ask, ev, facts_on_disk, inv

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def customer(**extra) -> Customer:
    return Customer(
        id="cus_1", tenant_id=T, email="a@example.com", name="A", locale="en", currency="eur", created_at=NOW, **extra
    )


def issued(total: int = 1000) -> Invoice:
    draft = Invoice.draft(
        customer(),
        [LineInput(description="x", quantity=1, unit_amount=total)],
        NOW,
        collection_method="send_invoice",
        days_until_due=30,
    )
    return draft.finalize("INV-1", NOW)[0]


def paid_with(invoice: Invoice, *amounts: int) -> Invoice:
    for n, amount in enumerate(amounts):
        invoice, _ = invoice.apply_payment(amount, f"pay_{n}", NOW)
    return invoice


LATER = NOW + timedelta(days=5)


def test_a_reversal_of_a_part_payment_keeps_the_invoice_open_with_its_due_date_and_dunning():
    invoice = paid_with(issued(), 400)
    after, events, from_credit = invoice.reverse_payment(400, "pay_0", "check bounced", LATER)
    assert (after.status, after.amount_paid, after.amount_due, from_credit) == ("open", 0, 1000, 0)
    assert after.due_date == invoice.due_date and after.dunning == invoice.dunning
    assert [e.type for e in events] == ["payment.reversed", "invoice.reopened"]
    assert events[0].data["owed_again"] == 400 and events[1].data["amount"] == 400


def test_a_reversal_reopens_a_paid_invoice_due_today_and_dunning_starts_over():
    invoice = paid_with(issued(), 400, 600)
    assert invoice.status == "paid"
    after, events, from_credit = invoice.reverse_payment(600, "pay_1", "check bounced", LATER)
    assert (after.status, after.amount_paid, after.amount_due, from_credit) == ("open", 400, 600, 0)
    assert after.due_date == LATER.date() and not after.past_due
    assert after.dunning.first_failure_at == LATER and after.dunning.attention_on == LATER.date()
    assert events[0].data["changes"]["status"] == {"before": "paid", "after": "open"}


def test_a_reopened_invoice_keeps_its_collection_case_whether_a_reversal_or_a_lost_dispute_reopened_it():
    invoice = paid_with(issued(), 1000)
    invoice = invoice.model_copy(update={"dunning": invoice.dunning.model_copy(update={"case_id": "case_01ABC"})})
    reversed_, _, _ = invoice.reverse_payment(1000, "pay_0", "wire recalled", LATER)
    disputed, _ = invoice.take_back(1000, "dispute_lost", LATER)
    for reopened in (reversed_, disputed):
        assert reopened.status == "open" and reopened.dunning.case_id == "case_01ABC"
        assert reopened.dunning.first_failure_at == LATER and reopened.dunning.attention_on == LATER.date()


@pytest.mark.parametrize(
    "payments, reversed_, owed_again, from_credit",
    [
        ((1250,), 1250, 1000, 250),  # the overpaid 250 comes off the credit, the rest is owed again
        ((400, 700), 700, 600, 100),  # the one that overpaid: its 100 of credit back, 600 owed again
        ((600, 600), 600, 400, 200),  # either one: the invoice keeps 600 of 1000, the credit goes
    ],
)
def test_what_went_to_credit_comes_off_the_credit_first(payments, reversed_, owed_again, from_credit):
    invoice = paid_with(issued(), *payments)
    after, events, credit = invoice.reverse_payment(reversed_, "pay_x", "wire recalled", LATER)
    assert credit == from_credit and events[0].data["owed_again"] == owed_again
    assert after.amount_paid == sum(payments) - reversed_
    assert after.amount_due == max(0, 1000 - after.amount_paid)
    assert after.status == ("open" if owed_again else "paid")
    # the money moved adds up: what the payment counted plus what it credited is what is taken back
    assert owed_again + credit == reversed_


def test_a_payment_of_a_voided_invoice_comes_back_from_the_credit_whole():
    invoice = paid_with(issued(), 400).void(NOW)[0]
    after, events, from_credit = invoice.reverse_payment(400, "pay_0", "check bounced", LATER)
    assert after == invoice and from_credit == 400
    assert [e.type for e in events] == ["payment.reversed"] and events[0].occurred_at == LATER


def test_a_written_off_invoice_stays_written_off_with_more_due():
    invoice = paid_with(issued(), 400).mark_uncollectible(NOW)[0]
    after, _, _ = invoice.reverse_payment(400, "pay_0", "check bounced", LATER)
    assert (after.status, after.amount_due) == ("uncollectible", 1000)


def test_a_reversal_cannot_leave_less_paid_than_was_refunded():
    invoice = paid_with(issued(), 400, 600).model_copy(update={"amount_refunded": 500})
    with pytest.raises(Conflict) as refused:
        invoice.reverse_payment(600, "pay_1", "check bounced", LATER)
    assert refused.value.code == "payment_refunded"


def test_a_debit_balance_is_added_to_the_next_invoice():
    owing = customer(credit_balance=-300)
    draft = Invoice.draft(
        owing, [LineInput(description="x", quantity=1, unit_amount=1000)], NOW, collection_method="send_invoice",
        days_until_due=30,
    )  # fmt: skip
    assert (draft.credit_applied, draft.amount_due) == (-300, 1300)


def test_an_offline_payment_is_named_by_tenant_method_and_reference():
    a = offline_payment_id(T, "bank_transfer", "WIRE-1")
    assert a == offline_payment_id(T, "bank_transfer", "WIRE-1")
    assert a != offline_payment_id(T, "check", "WIRE-1") != offline_payment_id("ten_2", "bank_transfer", "WIRE-1")
    assert OFFLINE_METHODS == ("bank_transfer", "cash", "check", "other")
    payment = Payment(
        id=a, tenant_id=T, invoice_id="in_1", customer_id="cus_1", amount=5, currency="eur", method="cash",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    assert payment.offline and not payment.model_copy(update={"method": "off_session"}).offline


# --- the customer's PATCH --------------------------------------------------------------------------------------
def test_a_patch_merges_address_and_metadata_key_by_key():
    before = customer(address=Address(line1="1 Main", city="Lisbon"), metadata={"a": "1", "b": "2"})
    after, changes = before.patched({"address": {"city": "Porto"}, "metadata": {"a": None, "c": "3"}})
    assert after.address == Address(line1="1 Main", city="Porto")
    assert after.metadata == {"b": "2", "c": "3"}
    assert set(changes) == {"address", "metadata"}
    assert changes["metadata"] == {"before": {"a": "1", "b": "2"}, "after": {"b": "2", "c": "3"}}


def test_a_patch_clears_with_null_and_changes_nothing_when_equal():
    before = customer(address=Address(city="Lisbon"), metadata={"a": "1"})
    assert before.patched({"name": "A", "metadata": {"a": "1"}, "address": {"city": "Lisbon"}}) == (before, {})
    after, changes = before.patched({"address": None, "metadata": None})
    assert after.address is None and after.metadata == {}
    assert changes["address"] == {"before": {**Address().model_dump(), "city": "Lisbon"}, "after": None}
    # an address whose every field is cleared is no address
    assert before.patched({"address": {"city": None}})[0].address is None


def test_metadata_is_at_most_fifty_keys_after_the_merge():
    full = customer(metadata={f"k{n}": "v" for n in range(50)})
    with pytest.raises(ValidationFailed) as refused:
        full.patched({"metadata": {"k50": "v"}})
    assert refused.value.code == "metadata_too_many_keys"
    assert len(full.patched({"metadata": {"k50": "v", "k0": None}})[0].metadata) == 50


def test_archive_is_a_state_machine():
    archived, event = customer().archive(NOW)
    assert (archived.status, archived.archived_at, event.type) == ("archived", NOW, "customer.archived")
    with pytest.raises(IllegalTransition):
        archived.archive(NOW)
    with pytest.raises(Conflict) as refused:
        archived.ensure_active()
    assert refused.value.code == "customer_archived"
    restored, _ = archived.unarchive(NOW)
    assert (restored.status, restored.archived_at) == ("active", None) and restored.ensure_active() is restored


# --- facts and reports -----------------------------------------------------------------------------------------
def test_a_reversal_is_a_fact_with_what_it_took_back_and_what_is_owed_again():
    event = DomainEvent.new(
        "payment.reversed", T, "invoice", "in_1", NOW, payment_id="pay_1", amount=1250, owed_again=1000,
        from_credit=250, reason="check bounced",
    )  # fmt: skip
    item = {"type": "event", "event_type": event.type, "doc": event.model_dump_json()}
    payment = {
        "id": "pay_1", "tenant_id": T, "invoice_id": "in_1", "customer_id": "cus_1", "currency": "eur",
        "amount": 1250, "status": "reversed", "method": "check", "created_at": NOW.isoformat(),
        "updated_at": NOW.isoformat(),
    }  # fmt: skip
    facts = facts_from_items([item, {"type": "payment", "doc": json.dumps(payment)}])
    [row] = facts["invoice_events"]
    assert (row["type"], row["invoice_id"], row["amount"], row["applied"]) == ("payment.reversed", "in_1", 1250, 1000)
    [paid] = facts["payments"]
    assert (paid["method"], paid["status"], paid["amount"]) == ("check", "reversed", 1250)


def test_collected_goes_down_by_a_reversed_payment_and_receivables_up(tmp_path):
    facts = facts_on_disk(
        tmp_path,
        invoices=[inv("in_1", "cus_a", 1000, "2027-01-05 00:00:00", "2027-01-05")],
        invoice_events=[
            ev("in_1", "invoice.payment_succeeded", "2027-01-10 00:00:00", 400, 400),  # a wire
            ev("in_1", "invoice.payment_succeeded", "2027-01-12 00:00:00", 600, 600),  # a check
            ev("in_1", "invoice.paid", "2027-01-12 00:00:00"),
            ev("in_1", "payment.reversed", "2027-02-03 00:00:00", 600, 600),  # the check bounced
            ev("in_1", "invoice.reopened", "2027-02-03 00:00:00", 600),
        ],
    )
    months = ask(facts, "revenue", from_="2027-01", to="2027-02")["months"]
    assert [(m["month"][:7], m["collected"]) for m in months] == [("2027-01", 1000), ("2027-02", -600)]
    collections = ask(facts, "collections", from_="2027-01", to="2027-02")["months"]
    assert [(m["collected"], m["receivables_end"]) for m in collections] == [(1000, 0), (-600, 600)]
    aging = ask(facts, "aging", as_of="2027-02-28")
    assert [t["total"] for t in aging["totals"]] == [600]
    opened = facts.open(T)
    sections = catalog.REPORTS["statement"].run(
        opened.run, catalog.Window(T, date(2027, 1, 1), date(2027, 2, 28), date(2027, 2, 28), "usd", "cus_a")
    )
    assert sections["balances"][0]["closing_balance"] == 600


def test_a_statement_takes_a_reversed_overpayment_back_whole(tmp_path):
    facts = facts_on_disk(
        tmp_path,
        invoices=[inv("in_1", "cus_a", 1000, "2027-01-05 00:00:00", "2027-01-05")],
        invoice_events=[
            ev("in_1", "invoice.payment_succeeded", "2027-01-10 00:00:00", 1250, 1000),  # 250 to credit
            ev("in_1", "payment.reversed", "2027-02-03 00:00:00", 1250, 1000),  # the wire was recalled
            ev("in_1", "invoice.reopened", "2027-02-03 00:00:00", 1000),
        ],
    )
    opened = facts.open(T)
    sections = catalog.REPORTS["statement"].run(
        opened.run, catalog.Window(T, date(2027, 2, 1), date(2027, 2, 28), date(2027, 2, 28), "usd", "cus_a")
    )
    assert sections["balances"] == [{"opening_balance": -250, "closing_balance": 1000}]
    assert sorted(e["amount"] for e in sections["entries"]) == [250, 1000]
