"""The refund email (refund_issued): sent for every credit note that gave money back, in the customer's language,
with the amount, the date, the invoice and the credit note, and what the invoice has had back in all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2 import UndefinedError

from billing.notifications import render_email
from tests.unit.test_email_render import invoice_context


def refund_context(**overrides):
    context = invoice_context(
        amount_due=0,
        amount_refunded=1500,
        amount_refunded_total=2500,
        credit_note_number="CN-2026-000002",
        refunded_at=datetime(2026, 3, 7, 10, 0, tzinfo=UTC),
    )
    context.update(overrides)
    return context


EXPECTED = {
    # subject, the refund sentence, the "in all" figure, the delay sentence's anchor
    "en": (
        "Refund of $15.00 from Acme (invoice INV-2026-000001, credit note CN-2026-000002)",
        "Acme has refunded $15.00 to you on March 7, 2026 for invoice INV-2026-000001.",
        "Refunded in all: $25.00",
        "5 to 10 business days",
    ),
    "zh": (
        "退款通知：Acme 已退还 US$15.00（发票 INV-2026-000001，贷项通知单 CN-2026-000002）",
        "Acme 已于2026年3月7日就发票 INV-2026-000001 向您退还 US$15.00。",
        "累计退款：US$25.00",
        "5 至 10 个工作日",
    ),
    "ru": (
        "Возврат 15,00 $ от Acme по счёту INV-2026-000001 (корректировочный документ CN-2026-000002)",
        "Acme вернул вам 15,00 $ по счёту INV-2026-000001 (7 марта 2026 г.).",
        "Всего возвращено: 25,00 $",
        "5–10 рабочих дней",
    ),
}


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_the_refund_email_says_what_was_given_back_in_each_language(locale):
    subject, sentence, in_all, delay = EXPECTED[locale]
    email = render_email("refund_issued", locale, refund_context())
    assert plain(email.subject) == subject
    text = plain(email.text)
    assert sentence in text and in_all in text and delay in text and "CN-2026-000002" in text
    html = plain(email.html)
    assert f'lang="{locale}"' in html and "CN-2026-000002" in html and "<script" not in html
    assert "<" not in email.text  # the text part is text


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_a_refund_of_nothing_is_refused(locale):
    with pytest.raises(Exception, match="positive amount_refunded"):
        render_email("refund_issued", locale, refund_context(amount_refunded=0))


@pytest.mark.parametrize("missing", ["amount_refunded", "credit_note_number", "refunded_at", "amount_refunded_total"])
def test_a_refund_email_without_what_it_states_is_refused(missing):
    context = refund_context()
    del context[missing]
    with pytest.raises(UndefinedError):
        render_email("refund_issued", "en", context)


def test_the_refund_email_escapes_what_the_customer_and_tenant_typed():
    email = render_email("refund_issued", "en", refund_context(customer_name="<b>Eve</b>", tenant_name="A&B"))
    assert "&lt;b&gt;Eve&lt;/b&gt;" in email.html and "A&amp;B" in email.html
