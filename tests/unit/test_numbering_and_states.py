from datetime import UTC, datetime

import pytest

from billing.domain import numbering
from billing.domain.errors import IllegalTransition, ValidationFailed
from billing.domain.state_machine import INVOICE, ORDER

WHEN = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_default_format_renders_year_and_zero_padded_sequence():
    assert numbering.render(numbering.DEFAULT_FORMAT, WHEN, 42) == "INV-2026-000042"


@pytest.mark.parametrize(
    ("fmt", "period", "rendered"),
    [
        ("INV-{yyyy}-{seq:06}", "2026", "INV-2026-000007"),
        ("{yy}{mm}/{seq:04}", "2026-03", "2603/0007"),
        ("A{seq}", "all", "A7"),
    ],
)
def test_counter_period_follows_the_format(fmt, period, rendered):
    numbering.validate_format(fmt)
    assert numbering.period_key(fmt, WHEN) == period
    assert numbering.render(fmt, WHEN, 7) == rendered


@pytest.mark.parametrize("fmt", ["INV-{yyyy}", "{seq}{seq}", "{seq}-{day}", "{seq}{", "{seq:6}", ""])
def test_bad_formats_are_refused(fmt):
    with pytest.raises(ValidationFailed):
        numbering.validate_format(fmt)


def test_invoice_state_machine_table():
    assert INVOICE.next_state("draft", "finalize") == "open"
    assert INVOICE.next_state("open", "void") == "void"
    assert INVOICE.next_state("open", "pay") == "paid"
    assert INVOICE.next_state("uncollectible", "pay") == "paid"
    for state, action in [("paid", "void"), ("void", "pay"), ("open", "finalize"), ("void", "void")]:
        with pytest.raises(IllegalTransition) as caught:
            INVOICE.next_state(state, action)
        assert caught.value.code == f"invoice_{action}_not_allowed"
    assert INVOICE.allowed_actions("paid") == ["reopen"]  # only a payment taken back (a lost dispute) reopens it
    assert INVOICE.next_state("paid", "reopen") == "open"


def test_order_state_machine_table():
    assert ORDER.next_state("new", "place") == "invoiced"
    assert ORDER.next_state("new", "hold_for_review") == "pending_review"
    assert ORDER.next_state("pending_review", "approve") == "invoiced"
    assert ORDER.next_state("pending_review", "cancel") == "canceled"
    for state, action in [("invoiced", "cancel"), ("canceled", "approve"), ("invoiced", "approve")]:
        with pytest.raises(IllegalTransition):
            ORDER.next_state(state, action)


@pytest.mark.parametrize(
    ("fmt", "period"),
    [("{yy}-{seq}", "2026"), ("{yyyy}{seq}", "2026"), ("{mm}-{seq}", "2026-03"), ("{yy}{mm}{seq}", "2026-03")],
)
def test_the_sequence_restarts_in_each_period_the_format_names(fmt, period):
    assert numbering.period_key(fmt, WHEN) == period


def test_a_format_may_have_40_characters_not_41():
    forty = "{seq}" + "X" * 35
    assert numbering.validate_format(forty) == forty
    with pytest.raises(ValidationFailed) as refused:
        numbering.validate_format(forty + "X")
    assert refused.value.code == "invalid_number_format"


def test_a_credit_note_series_has_its_own_default():
    assert numbering.render(numbering.DEFAULT_CREDIT_NOTE_FORMAT, WHEN, 3) == "CN-2026-000003"
