"""Issue 14: the reports' parts that a quarter on the local stack does not reach cheaply: the facts made from items,
the question's checks, the exact rates, and the SQL's edges (partial payments, a lost dispute, a void, a customer who
comes and goes within a month, a statement's opening balance)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.adapters.analytics import DirectoryFacts
from billing.adapters.clock import FixedClock
from billing.domain.errors import NotFound, ValidationFailed
from billing.domain.models import DomainEvent
from billing.reports import catalog, store
from billing.reports.facts import TABLES, facts_from_items
from billing.services import reports

T = "ten_1"


def event_item(type_: str, aggregate_id: str, at: str, **data) -> dict:
    event = DomainEvent.new(type_, T, "invoice", aggregate_id, datetime.fromisoformat(at), **data)
    return {"type": "event", "event_type": type_, "doc": event.model_dump_json()}


def invoice_doc(invoice_id: str, customer: str, total: int, issued: str | None, due: str | None, **extra) -> dict:
    line = {"description": "x", "quantity": 1, "unit_amount": total, "amount": total, "discount_amount": 0}
    return {
        "id": invoice_id,
        "tenant_id": T,
        "customer_id": customer,
        "number": f"N-{invoice_id}",
        "status": "open",
        "currency": "usd",
        "lines": [{**line, "tax_rate_percent": "0", "tax_amount": 0}],
        "subtotal": total,
        "discount": 0,
        "tax": 0,
        "total": total,
        "credit_applied": 0,
        "issued_at": issued,
        "due_date": due,
        **extra,
    }


def item(kind: str, doc: dict) -> dict:
    return {"type": kind, "doc": json.dumps(doc)}


def test_facts_are_made_from_items_as_they_are_stored():
    taxed = invoice_doc("in_2", "cus_1", 1240, "2027-01-05T10:00:00+03:00", "2027-01-05")
    taxed["lines"] = [
        {"description": "a", "quantity": 1, "unit_amount": 1000, "amount": 1000, "discount_amount": 100,
         "tax_rate_percent": "20.00", "tax_amount": 180},
        {"description": "b", "quantity": 1, "unit_amount": 600, "amount": 600, "discount_amount": 0,
         "tax_rate_percent": "10", "tax_amount": 60},
        {"description": "c", "quantity": 1, "unit_amount": 100, "amount": 100, "discount_amount": 0,
         "tax_rate_percent": "20", "tax_amount": 20},
    ]  # fmt: skip
    items = [
        item("invoice", invoice_doc("in_1", "cus_1", 500, None, None)),  # a draft: no fact yet
        item("invoice", {**taxed, "total": 1700, "credit_applied": 300}),
        event_item("invoice.payment_succeeded", "in_2", "2027-01-06T00:00:00+00:00", amount=1500, overpaid=100),
        event_item("invoice.marked_uncollectible", "in_2", "2027-02-06T00:00:00+00:00", amount_due=9),
        event_item("invoice.pdf_ready", "in_2", "2027-01-06T00:00:00+00:00"),  # no money: no fact
        {"type": "api_key", "pk": "x"},
    ]
    mrr = {"type": "mrr_change", "tenant_id": T, "subscription_id": "sub_1", "customer_id": "cus_1", "currency": "usd"}
    for version, (value, at) in enumerate([(0, "01-01"), (1000, "01-02"), (1000, "02-01"), (0, "03-01")], start=1):
        at = f"2027-{at}T00:00:00+00:00"
        items.append({**mrr, "sk": f"MRR#{version:010d}", "status": "x", "mrr": Decimal(value), "changed_at": at})
    facts = facts_from_items(items)
    assert set(facts) == set(TABLES)
    [invoice] = facts["invoices"]
    # issued at 10:00 in Moscow is 07:00 UTC; owed is what was asked at issue
    assert (invoice["issued_at"], invoice["month"], invoice["owed"]) == ("2027-01-05 07:00:00", "2027-01", 1400)
    assert [(r["tax_rate"], r["taxable"], r["tax"]) for r in facts["invoice_taxes"]] == [
        ("10", 600, 60),
        ("20", 1000, 200),
    ]
    paid, written_off = facts["invoice_events"]
    assert (paid["amount"], paid["applied"], written_off["amount"]) == (1500, 1400, 9)
    # the saves that left MRR as it was are dropped: the first (0) stays, the repeat of 1000 goes
    assert [(r["version"], r["mrr"]) for r in facts["mrr_changes"]] == [(1, 0), (2, 1000), (4, 0)]


@pytest.fixture
def ctx():
    class Ctx:
        clock = FixedClock(datetime(2027, 3, 15, 23, 30, tzinfo=UTC))
        repo = None

    return Ctx()


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"from_": "2027-13"}, "invalid_date"),
        ({"to": "2027-1-01"}, "invalid_date"),
        ({"as_of": "yesterday"}, "invalid_date"),
        ({"from_": "2027-02-30"}, "invalid_date"),
        ({"to": "9999-12"}, "invalid_date"),  # its last day has no next: no year past 2999
        ({"from_": "1999-12-31"}, "invalid_date"),
        ({"from_": "2027-03-02", "to": "2027-03-01"}, "invalid_range"),
        ({"from_": "2024-01", "to": "2027-01"}, "range_too_long"),  # 37 months; 36 are allowed
        ({"customer_id": "cus_1"}, "customer_not_applicable"),
        ({"currency": "xyz"}, "unknown_currency"),
    ],
)
def test_a_question_that_makes_no_sense_is_refused_with_its_code(ctx, given, code):
    with pytest.raises(ValidationFailed) as refused:
        reports.window(ctx, T, "revenue", **given)
    assert refused.value.code == code


def test_the_default_question_is_the_twelve_months_to_today_by_the_stacks_clock(ctx):
    asked = reports.window(ctx, T, "revenue", currency="USD")
    assert (asked.start, asked.end, asked.as_of, asked.currency) == (
        date(2026, 4, 1), date(2027, 3, 15), date(2027, 3, 15), "usd"
    )  # fmt: skip
    months = reports.window(ctx, T, "mrr", from_="2027-01", to="2027-02")
    assert (months.start, months.end) == (date(2027, 1, 1), date(2027, 2, 28))
    with pytest.raises(NotFound) as unknown:
        reports.window(ctx, T, "profit")
    assert unknown.value.code == "report_not_found"
    with pytest.raises(ValidationFailed) as statement:
        reports.window(ctx, T, "statement")
    assert statement.value.code == "customer_required"


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (1, 3, "33.33"),
        (2, 3, "66.67"),
        (1, 8, "12.50"),
        (1, 800, "0.13"),
        (0, 5, "0.00"),
        (5, 0, None),
        (3, 2, "150.00"),
    ],
)
def test_rates_are_exact_and_half_up(part, whole, expected):
    assert catalog.percent(part, whole) == expected


def test_days_are_exact_and_half_up():
    assert (catalog.ratio(3, 2), catalog.ratio(1, 4), catalog.ratio(5, 0)) == ("1.5", "0.3", None)


def facts_on_disk(tmp_path: Path, **tables) -> DirectoryFacts:
    base = {"tenant_id": T}
    rows = {name: [{**base, **r, "month": str(next(v for k, v in r.items() if k.endswith("_at")))[:7]} for r in given]
            for name, given in tables.items()}  # fmt: skip
    store.write(rows, tmp_path)
    return DirectoryFacts(tmp_path)


def inv(invoice_id, customer, owed, issued, due, voided=None):
    return {"invoice_id": invoice_id, "number": invoice_id, "customer_id": customer, "currency": "usd",
            "status": "open", "subtotal": owed, "discount": 0, "tax": 0, "total": owed, "credit_applied": 0,
            "owed": owed, "issued_at": issued, "due_date": due, "voided_at": voided}  # fmt: skip


def ev(invoice_id, type_, at, amount=None, applied=None):
    return {"event_id": f"{invoice_id}{type_}{at}", "invoice_id": invoice_id, "type": type_, "occurred_at": at,
            "amount": amount, "applied": applied}  # fmt: skip


def ask(facts, name, **given):
    class Ctx:
        clock = FixedClock(datetime(2027, 3, 31, tzinfo=UTC))
        repo = None

    return reports.run(facts.open(T), name, reports.window(Ctx(), T, name, **given))


def test_aging_counts_partial_payments_lost_disputes_and_voids_as_of_the_day(tmp_path):
    facts = facts_on_disk(
        tmp_path,
        customers=[{"customer_id": "cus_a", "name": "A", "currency": "usd", "created_at": "2027-01-01 00:00:00"}],
        invoices=[
            inv("in_1", "cus_a", 1000, "2027-01-01 00:00:00", "2027-01-01"),
            inv("in_2", "cus_a", 700, "2027-01-01 00:00:00", "2027-01-01", voided="2027-02-01 00:00:00"),
            inv("in_3", "cus_a", 300, "2027-02-25 00:00:00", "2027-03-10"),
        ],
        invoice_events=[
            ev("in_1", "invoice.payment_succeeded", "2027-01-10 00:00:00", 600, 600),
            ev("in_1", "invoice.payment_succeeded", "2027-01-20 00:00:00", 500, 400),  # 100 went to credit
            ev("in_1", "invoice.reopened", "2027-02-15 00:00:00", 250),  # a lost dispute took 250 back
        ],
    )
    # 31 Jan: in_1 owes 0 (paid), in_2 owes 700 (30 days past due)
    jan = ask(facts, "aging", as_of="2027-01-31")
    assert [(r["days_1_30"], r["days_31_60"], r["invoices"]) for r in jan["customers"]] == [(700, 0, 1)]
    # 1 Mar: in_2 is void; in_1 owes 250 again, 59 days after its due date; in_3 is not due
    mar = ask(facts, "aging", as_of="2027-03-01")
    [row] = mar["customers"]
    assert (row["not_due"], row["days_31_60"], row["total"], row["customer_name"]) == (300, 250, 550, "A")
    assert [(t["currency"], t["total"]) for t in mar["totals"]] == [("usd", 550)]


def test_a_customer_who_comes_and_goes_within_a_month_moves_no_mrr_but_comes_back_as_a_reactivation(tmp_path):
    def change(version, mrr, at):
        return {"subscription_id": "sub_1", "customer_id": "cus_a", "currency": "usd", "status": "x", "mrr": mrr,
                "changed_at": at, "version": version}  # fmt: skip

    facts = facts_on_disk(
        tmp_path,
        mrr_changes=[
            change(1, 1000, "2027-01-05 00:00:00"),
            change(2, 0, "2027-01-25 00:00:00"),
            change(3, 1000, "2027-03-31 23:59:59"),
        ],
    )
    months = ask(facts, "mrr", from_="2027-01", to="2027-03")["months"]
    assert [(r["new"], r["churn"], r["reactivation"], r["mrr_end"]) for r in months] == [
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 1000, 1000),
    ]


def test_a_statement_opens_with_what_came_before_and_closes_with_its_balance(tmp_path):
    facts = facts_on_disk(
        tmp_path,
        invoices=[inv("in_1", "cus_a", 1000, "2027-01-05 00:00:00", "2027-01-05")],
        invoice_events=[ev("in_1", "invoice.payment_succeeded", "2027-02-02 00:00:00", 1100, 1000)],
    )
    opened = facts.open(T)
    sections = catalog.REPORTS["statement"].run(
        opened.run, catalog.Window(T, date(2027, 2, 1), date(2027, 2, 28), date(2027, 2, 28), "usd", "cus_a")
    )
    assert sections["balances"] == [{"opening_balance": 1000, "closing_balance": -100}]  # paid 100 too much: credit
    assert [(e["entry"], e["amount"], e["balance"]) for e in sections["entries"]] == [("payment", -1100, -100)]


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted_and_numbers_are_not():
    rows = [
        {"customer": "=HYPERLINK(\"http://evil\")", "amount": -100},
        {"customer": "+1 555", "amount": 5},
        {"customer": "@SUM(A1)", "amount": 0},
        {"customer": "-2", "amount": -7},
        {"customer": "Ada Lovelace Ltd", "amount": 12},
    ]
    text = reports.as_csv({"report": "aging", "sections": ["rows"], "rows": rows})
    assert text.splitlines() == [
        "customer,amount",
        "\"'=HYPERLINK(\"\"http://evil\"\")\",-100",
        "'+1 555,5",
        "'@SUM(A1),0",
        "'-2,-7",
        "Ada Lovelace Ltd,12",
    ]


def test_a_csv_answer_is_one_section_and_an_unknown_section_is_refused():
    answer = {"report": "revenue", "sections": ["months", "tax"], "months": [{"month": "2027-01-01", "invoiced": 5}]}
    assert reports.as_csv(answer) == "month,invoiced\r\n2027-01-01,5\r\n"
    with pytest.raises(ValidationFailed) as refused:
        reports.as_csv(answer, "profit")
    assert refused.value.code == "unknown_section"
