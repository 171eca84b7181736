"""The credit e-mail (credit_issued): sent for a credit note without refund, in the customer's language, with the
amount, where the credit went (what the invoice owes, or the balance), the net and tax of a taxed invoice's credit,
and never for nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.domain.models import DomainEvent
from billing.notifications import render_email
from billing.services.notifications import kind_of
from tests.unit.test_email_render import invoice_context


def credit_context(**overrides):
    context = invoice_context(
        amount_credited=1500,
        credit_to="invoice",
        credit_net=1250,
        credit_tax=250,
        amount_due_after=3500,
        credit_note_number="CN-2026-000003",
        credited_at=datetime(2026, 3, 7, 10, 0, tzinfo=UTC),
        memo=None,
    )
    context.update(overrides)
    return context


EXPECTED = {
    "en": ("Credit of $15.00 from Acme", "no money is refunded", "taken off your next invoices", "Credited tax"),
    "zh": ("Acme 已贷记 US$15.00", "不退还款项", "将从您之后的发票中扣除", "贷记税额"),
    "ru": (
        "Кредит 15,00\xa0$ от Acme",
        "деньги не возвращаются",
        "будет вычтен из следующих счетов",
        "Налог в кредите",
    ),
}


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_the_credit_email_says_what_was_credited_and_where_in_its_language(locale):
    subject, to_invoice, to_balance, tax_row = EXPECTED[locale]
    email = render_email("credit_issued", locale, credit_context())
    assert subject in email.subject and "CN-2026-000003" in email.subject
    assert to_invoice in email.text and to_balance not in email.text
    assert tax_row in email.text and tax_row in email.html
    balance = render_email("credit_issued", locale, credit_context(credit_to="balance", credit_tax=0))
    assert to_balance in balance.text and to_invoice not in balance.text and tax_row not in balance.text


def test_a_credit_of_nothing_is_never_sent():
    with pytest.raises(Exception, match="positive amount_credited"):
        render_email("credit_issued", "en", credit_context(amount_credited=0))


def test_a_credit_note_without_refund_calls_for_the_credit_email_and_a_refund_for_the_refund_email():
    now = datetime(2026, 3, 7, tzinfo=UTC)
    credit = DomainEvent.new("credit_note.issued", "ten_1", "invoice", "in_1", now, amount=1, kind="credit")
    refund = DomainEvent.new("credit_note.issued", "ten_1", "invoice", "in_1", now, amount=1)
    assert (kind_of(credit, None), kind_of(refund, None)) == ("credit_issued", "refund_issued")
