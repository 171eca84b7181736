"""E-mail rendering: localized money and dates, escaping, strictness, and the invoice e-mail templates."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import UndefinedError

from billing.domain.models import SUPPORTED_LOCALES
from billing.domain.money import minor_unit_exponent, to_major
from billing.i18n import BABEL_LOCALES, format_date, format_money, language, messages
from billing.notifications import RenderedEmail, render_email
from billing.notifications import render as render_module

NBSP = "\u00a0"
NNBSP = "\u202f"
HTML_TAG = re.compile(r"</?[a-zA-Z!][^>]*>")
REPO = Path(__file__).resolve().parents[2]


def spaces(text: str) -> str:
    """Babel separates groups and symbols with (narrow) no-break spaces; compare prose with plain ones."""
    return text.replace(NBSP, " ").replace(NNBSP, " ")


def invoice_context(**overrides):
    context = {
        "tenant_name": "Acme",
        "customer_name": "Jane Doe",
        "invoice_number": "INV-2026-000001",
        "currency": "usd",
        "subtotal": 120000,
        "discounts": [("Discount", 10000)],
        "tax": 13450,
        "total": 123450,
        "amount_due": 123450,
        "issued_at": datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
        "due_date": date(2026, 3, 31),
        "collection_method": "send_invoice",
        "lines": [
            {"description": "Pro plan", "quantity": 2, "amount": 100000},
            {"description": "Extra seats", "quantity": 1000, "amount": 20000},
        ],
        "pay_url": "https://pay.example.com/in_123",
    }
    context.update(overrides)
    return context


def with_discount(locale: str, overrides: dict) -> dict:
    """A discount of 100.00 as the customer's language names it (billing.i18n.discounts), unless told otherwise."""
    return {"discounts": [(messages(language(locale))["invoice"]["discount"], 10000)], **overrides}


def render(locale="en", **overrides) -> RenderedEmail:
    return render_email("invoice_issued", locale, invoice_context(**with_discount(locale, overrides)))


# --- format_money -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123450, "usd", "en", "$1,234.50"),
        (123450, "usd", "en-US", "$1,234.50"),
        (123450, "usd", "zh", "US$1,234.50"),
        (123450, "usd", "zh-CN", "US$1,234.50"),
        (123450, "usd", "ru", f"1{NBSP}234,50{NBSP}$"),
        (123450, "rub", "ru-RU", f"1{NBSP}234,50{NBSP}₽"),
        (123450, "cny", "zh", "¥1,234.50"),
        (123450, "cny", "en", "CN¥1,234.50"),
        (123450, "eur", "en", "€1,234.50"),
        (1500, "jpy", "en", "¥1,500"),
        (1500, "jpy", "zh", "JP¥1,500"),
        (1500, "jpy", "ru", f"1{NBSP}500{NBSP}¥"),
        # Babel (CLDR without currency spacing) puts no space between an ISO code and the number.
        (1234, "kwd", "en", "KWD1.234"),
        (1234, "kwd", "ru", f"1,234{NBSP}KWD"),
        (5, "usd", "en", "$0.05"),
        (0, "usd", "en", "$0.00"),
        (-1230, "usd", "en", "-$12.30"),
        (100000000000, "kwd", "en", "KWD100,000,000.000"),
    ],
)
def test_format_money_literals(amount, currency, locale, expected):
    assert format_money(amount, currency, locale) == expected


@pytest.mark.parametrize(("currency", "amount", "expected"), [("iqd", 1234, "IQD1.234"), ("rsd", 1234, "RSD12.34")])
def test_format_money_keeps_minor_units_where_cldr_would_round(currency, amount, expected):
    # CLDR gives IQD and RSD zero digits, so Babel's currency_digits would print "IQD1" / "RSD12" and lose money.
    assert format_currency(to_major(amount, currency), currency.upper(), locale="en_US") != expected
    assert format_money(amount, currency, "en") == expected


def test_format_money_is_exact_for_amounts_a_float_cannot_hold():
    assert format_money(12345678901234567, "usd", "en") == "$123,456,789,012,345.67"


def test_format_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(TypeError):
        format_money(12.5, "usd", "en")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="ISO 4217"):
        format_money(100, "xyz", "en")


@given(amount=st.integers(min_value=0, max_value=10**11), currency=st.sampled_from(["usd", "jpy", "kwd"]))
def test_format_money_en_is_the_exact_major_amount(amount, currency):
    formatted = format_money(amount, currency, "en")
    symbol = {"usd": "$", "jpy": "¥", "kwd": "KWD"}[currency]
    assert formatted.startswith(symbol)
    digits = formatted.removeprefix(symbol).replace(",", "")
    exponent = minor_unit_exponent(currency)
    assert digits == format(to_major(amount, currency), f".{exponent}f")
    assert formatted == format_currency(to_major(amount, currency), currency.upper(), locale="en_US")


# --- format_date --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "March 1, 2026"), ("en-US", "March 1, 2026"), ("zh", "2026年3月1日"), ("ru-RU", "1 марта 2026 г.")],
)
def test_format_date(locale, expected):
    assert spaces(format_date(date(2026, 3, 1), locale)) == expected
    assert spaces(format_date(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), locale)) == expected


def test_format_date_refuses_strings():
    with pytest.raises(TypeError):
        format_date("2026-03-01", "en")  # type: ignore[arg-type]


# --- invoice_issued -----------------------------------------------------------------------------------------------

EXPECTED = {
    # locale: (subject, total as written in the prose, a greeting, the "send_invoice" sentence)
    "en": (
        "Invoice INV-2026-000001 from Acme: $1,234.50",
        "$1,234.50",
        "Hi Jane Doe,",
        "Please pay $1,234.50 by March 31, 2026.",
    ),
    "zh": (
        "来自 Acme 的发票 INV-2026-000001：US$1,234.50",
        "US$1,234.50",
        "Jane Doe，您好：",
        "请于2026年3月31日前支付 US$1,234.50。",
    ),
    "ru": (
        "Счёт INV-2026-000001 от Acme на сумму 1 234,50 $",
        "1 234,50 $",
        "Здравствуйте, Jane Doe!",
        "Пожалуйста, не позднее 31 марта 2026 г. оплатите 1 234,50 $.",
    ),
}


@pytest.mark.parametrize("locale", ["en", "zh", "ru", "en-US", "zh-CN", "ru-RU", "zh_Hans_CN", "RU"])
def test_invoice_issued_renders_in_each_language(locale):
    lang = locale[:2].lower()
    subject, total, greeting, pay_by = EXPECTED[lang]
    email = render(locale)
    assert isinstance(email, RenderedEmail)
    money = format_money(123450, "usd", locale)
    assert spaces(money) == total

    assert spaces(email.subject) == subject
    assert money in email.subject
    for part in (email.text, email.html):
        assert "INV-2026-000001" in part
        assert money in part
        assert "Acme" in part
        assert greeting in part
        assert pay_by in spaces(part)
        for line_amount in (100000, 20000):
            assert format_money(line_amount, "usd", locale) in part
        assert format_money(120000, "usd", locale) in part  # subtotal
        assert format_money(13450, "usd", locale) in part  # tax
        assert format_money(-10000, "usd", locale) in part  # discount
        assert format_date(date(2026, 3, 31), locale) in part
        assert format_date(date(2026, 3, 1), locale) in part
    assert f'<html lang="{ {"en": "en", "zh": "zh-CN", "ru": "ru"}[lang] }">' in email.html


def test_english_text_body_reads_as_expected():
    assert render("en").text == (
        "Hi Jane Doe,\n"
        "\n"
        "Here is invoice INV-2026-000001 from Acme for $1,234.50.\n"
        "\n"
        "- Pro plan × 2: $1,000.00\n"
        "- Extra seats × 1,000: $200.00\n"
        "\n"
        "Subtotal: $1,200.00\n"
        "Discount: -$100.00\n"
        "Tax: $134.50\n"
        "Total: $1,234.50\n"
        "\n"
        "Issued: March 1, 2026\n"
        "Due date: March 31, 2026\n"
        "\n"
        "Please pay $1,234.50 by March 31, 2026.\n"
        "\n"
        "Pay this invoice: https://pay.example.com/in_123\n"
        "\n"
        "If you have any questions about this invoice, please contact Acme.\n"
        "\n"
        "Thank you,\n"
        "Acme\n"
    )


def test_russian_text_uses_russian_labels_and_grouping():
    text = spaces(render("ru").text)
    assert "- Extra seats × 1 000: 200,00 $" in text
    assert "Промежуточный итог: 1 200,00 $" in text
    assert "Скидка: -100,00 $" in text
    assert "Налог: 134,50 $" in text
    assert "Итого: 1 234,50 $" in text
    assert "Срок оплаты: 31 марта 2026 г." in text


def test_chinese_text_uses_chinese_labels():
    text = render("zh").text
    assert "Acme 已向您开具发票 INV-2026-000001，金额为 US$1,234.50。" in text
    assert "小计：US$1,200.00" in text
    assert "折扣：-US$100.00" in text
    assert "税费：US$134.50" in text
    assert "合计：US$1,234.50" in text
    assert "到期日：2026年3月31日" in text


def test_rubles_in_russian():
    email = render("ru", currency="rub")
    assert spaces(email.subject) == "Счёт INV-2026-000001 от Acme на сумму 1 234,50 ₽"
    assert "₽" in email.text and "₽" in email.html
    assert "$" not in email.text


def test_jpy_has_no_decimals():
    email = render(
        "en",
        currency="jpy",
        subtotal=1500,
        discounts=[],
        tax=0,
        total=1500,
        amount_due=1500,
        lines=[{"description": "Plan", "quantity": 1, "amount": 1500}],
    )
    assert email.subject == "Invoice INV-2026-000001 from Acme: ¥1,500"
    assert "Total: ¥1,500\n" in email.text
    assert "¥1,500.00" not in email.text + email.html


def test_kwd_has_three_decimals():
    email = render(
        "en",
        currency="kwd",
        subtotal=1234,
        discounts=[],
        tax=0,
        total=1234,
        amount_due=1234,
        lines=[{"description": "Plan", "quantity": 1, "amount": 1234}],
    )
    assert email.subject == "Invoice INV-2026-000001 from Acme: KWD1.234"
    assert "Total: KWD1.234\n" in email.text
    assert "KWD1.234" in email.html


def test_html_escapes_what_the_customer_and_tenant_typed():
    email = render(
        "en",
        customer_name="<script>alert(1)</script>",
        tenant_name='Evil "Co" & <b>Sons</b>',
        lines=[{"description": "<img src=x onerror=alert(1)>", "quantity": 1, "amount": 100}],
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<b>Sons</b>" not in email.html
    assert "Evil &#34;Co&#34; &amp; &lt;b&gt;Sons&lt;/b&gt;" in email.html
    assert "<img" not in email.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in email.html
    # Plain text and subject are not HTML: they carry the name as typed.
    assert "Hi <script>alert(1)</script>," in email.text
    assert email.subject.startswith('Invoice INV-2026-000001 from Evil "Co" & <b>Sons</b>: ')


def test_pay_url_is_escaped_in_the_href():
    email = render("en", pay_url='https://pay.example.com/x?a=1&b="2"')
    assert 'href="https://pay.example.com/x?a=1&amp;b=&#34;2&#34;"' in email.html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "//pay.example.com", "pay.example.com"])
def test_pay_url_must_be_an_absolute_http_link(url):
    with pytest.raises(ValueError, match="non-http"):
        render("en", pay_url=url)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_text_part_has_no_html(locale):
    text = render(locale).text
    assert not HTML_TAG.search(text)
    assert "&amp;" not in text and "&lt;" not in text
    assert "<" not in render(locale, tenant_name="Smith & Sons").text
    assert "Smith & Sons" in render(locale, tenant_name="Smith & Sons").text


@pytest.mark.parametrize(("locale", "label"), [("en", "Discount"), ("zh", "折扣"), ("ru", "Скидка")])
def test_discount_row_only_when_there_is_a_discount(locale, label):
    with_discount = render(locale)
    assert label in with_discount.text and label in with_discount.html
    without = render(locale, discounts=[], subtotal=110000, tax=13450, total=123450, amount_due=123450)
    assert label not in without.text
    assert label not in without.html
    zero_row = re.compile(r"[:：] ?-?" + re.escape(format_money(0, "usd", locale)) + "$", re.MULTILINE)
    assert not zero_row.search(without.text)  # no "-$0.00" row under another name either


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en", "$1,234.50 will be charged automatically to your saved card. You don't need to do anything."),
        ("zh", "应付金额 US$1,234.50 将从您保存的银行卡中自动扣除，您无需进行任何操作。"),
        ("ru", "Сумма 1 234,50 $ будет автоматически списана с сохранённой вами банковской карты."),
    ],
)
def test_charge_automatically_says_the_card_will_be_charged(locale, sentence):
    email = render(locale, collection_method="charge_automatically", pay_url=None)
    for part in (email.text, email.html):
        assert sentence in spaces(part)
        assert EXPECTED[locale][3] not in spaces(part)  # not the "please pay by" sentence


@pytest.mark.parametrize(
    ("locale", "link"), [("en", "Pay this invoice"), ("zh", "支付此发票"), ("ru", "Оплатить счёт")]
)
def test_pay_link_only_when_there_is_a_pay_url(locale, link):
    email = render(locale)
    assert f"{link}: https://pay.example.com/in_123" in email.text.replace("：", ": ")
    assert re.search(r'<a href="https://pay\.example\.com/in_123"[^>]*>' + re.escape(link) + "</a>", email.html)
    without = render(locale, pay_url=None)
    assert link not in without.text and link not in without.html
    assert "https://" not in without.text and "<a " not in without.html


@pytest.mark.parametrize(
    ("locale", "label"), [("en", "Amount due: $234.50"), ("zh", "应付金额：US$234.50"), ("ru", "К оплате: 234,50 $")]
)
def test_amount_due_shown_when_it_differs_from_the_total(locale, label):
    assert label not in spaces(render(locale).text)
    assert label in spaces(render(locale, amount_due=23450).text)


@pytest.mark.parametrize(
    ("locale", "sentence"), [("en", "already paid in full"), ("zh", "已全额付清"), ("ru", "уже полностью оплачен")]
)
def test_nothing_to_pay(locale, sentence):
    email = render(locale, collection_method="charge_automatically", amount_due=0)
    assert sentence in email.text and sentence in email.html


@pytest.mark.parametrize("locale", ["fr", "de-DE", "pt_BR", "", "xx-YY", "english"])
def test_unknown_locale_falls_back_to_english(locale):
    assert render(locale) == render("en")
    assert format_money(123450, "usd", locale) == "$1,234.50"
    assert format_date(date(2026, 3, 1), locale) == "March 1, 2026"


@pytest.mark.parametrize("missing", sorted(invoice_context()))
def test_missing_context_variable_raises(missing):
    context = invoice_context()
    del context[missing]
    with pytest.raises(UndefinedError, match=missing):
        render_email("invoice_issued", "en", context)


@pytest.mark.parametrize("missing", ["description", "quantity", "amount"])
def test_missing_line_field_raises(missing):
    line = {"description": "Plan", "quantity": 1, "amount": 100}
    del line[missing]
    with pytest.raises(UndefinedError, match=missing):
        render("ru", lines=[line])


def test_unknown_collection_method_raises():
    with pytest.raises(ValueError, match="collection_method"):
        render("en", collection_method="out_of_band")


BAD_KINDS = ["nope", "../invoice_issued", "invoice_issued/../invoice_issued", "_layout", ""]  # hostile path, on purpose


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_unknown_kind_raises(kind):
    with pytest.raises(ValueError, match="kind"):
        render_email(kind, "en", invoice_context())


def test_subject_is_one_header_line():
    email = render("en", tenant_name="Acme\r\nBcc: victim@example.com", invoice_number="INV-1\n")
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == "Invoice INV-1 from Acme Bcc: victim@example.com: $1,234.50"


def test_every_kind_has_every_language():
    assert set(BABEL_LOCALES) == set(SUPPORTED_LOCALES)
    kinds = [p for p in render_module.TEMPLATES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")]
    assert "invoice_issued" in {k.name for k in kinds}
    for kind in kinds:
        # written in each language, or once for all with the catalogue's texts (which has every language)
        names = ["all"] if (kind / "all.html").is_file() else SUPPORTED_LOCALES
        for name in names:
            for suffix in (".subject.txt", ".txt", ".html"):
                assert (kind / f"{name}{suffix}").is_file(), f"{kind.name}/{name}{suffix}"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_portal_sign_in_email_is_in_the_customers_language(locale):
    from billing.i18n import messages

    url = "https://billing.example/portal/t.s.secretsecretsecret"
    email = render_email("portal_sign_in", locale, {"tenant_name": "Acme", "customer_name": "Ана", "sign_in_url": url})
    t = messages(locale)["email"]
    assert email.subject == t["sign_in_subject"].format(tenant="Acme")
    for part in (email.text, email.html):
        assert url in part and t["sign_in_ignore"] in part and t["sign_in_greeting"].format(name="Ана") in part


def test_every_email_links_the_pdf_and_the_portal_when_they_are_known():
    links = {"pdf_url": "https://b.example/pay/x/pdf", "portal_url": "https://b.example/portal/t/sign-in?lang=ru"}
    plain = render("ru")
    linked = render("ru", **links)
    for url in links.values():
        assert url not in plain.text and url not in plain.html
        assert url in linked.text and url in linked.html
    assert "Посмотреть все ваши счета" in linked.text


def test_templates_ship_with_the_package():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "notifications/templates/**/*" in pyproject["tool"]["setuptools"]["package-data"]["billing"]


def without_tags(html: str) -> str:
    return spaces(HTML_TAG.sub("", html))


# --- payment_receipt ----------------------------------------------------------------------------------------------


def receipt_context(**overrides):
    # By default the one payment that settles the whole invoice; pass amount_due etc. for a partial payment.
    context = invoice_context(
        amount_due=0,
        amount_paid_now=123450,
        amount_paid=123450,
        paid_at=datetime(2026, 3, 5, 9, 15, tzinfo=UTC),
        payment_id="pay_0123456789",
    )
    context.update(overrides)
    return context


PARTIAL = {"amount_paid_now": 100000, "amount_paid": 100000, "amount_due": 23450}


def render_receipt(locale="en", **overrides) -> RenderedEmail:
    return render_email("payment_receipt", locale, receipt_context(**with_discount(locale, overrides)))


RECEIPT = {
    # locale: (subject, the thank-you sentence, a greeting, the payment reference line,
    #          "paid in full" sentence, the balance sentence for PARTIAL, the pay link, the "amount paid" row)
    "en": (
        "Receipt for your payment of $1,234.50 to Acme (invoice INV-2026-000001)",
        "Thank you for your payment! Acme received $1,234.50 from you on March 5, 2026 for invoice INV-2026-000001.",
        "Hi Jane Doe,",
        "Payment reference: pay_0123456789",
        "Invoice INV-2026-000001 is now paid in full, so there is nothing more to pay.",
        "A balance of $234.50 is still due on invoice INV-2026-000001.",
        "Pay the balance",
        "Amount paid: $1,000.00",
    ),
    "zh": (
        "付款收据：您已向 Acme 支付 US$1,234.50（发票 INV-2026-000001）",
        "感谢您的付款！Acme 已于2026年3月5日收到您为发票 INV-2026-000001 支付的 US$1,234.50。",
        "Jane Doe，您好：",
        "付款编号：pay_0123456789",
        "发票 INV-2026-000001 现已全额付清，您无需再支付任何款项。",
        "发票 INV-2026-000001 仍有 US$234.50 的余额尚未支付",
        "支付剩余款项",
        "已付金额：US$1,000.00",
    ),
    "ru": (
        "Квитанция о платеже на сумму 1 234,50 $ по счёту INV-2026-000001 от Acme",
        "Спасибо за оплату! Ваш платёж на сумму 1 234,50 $ по счёту INV-2026-000001 от Acme получен 5 марта 2026 г.",
        "Здравствуйте, Jane Doe!",
        "Номер платежа: pay_0123456789",
        "Счёт INV-2026-000001 теперь полностью оплачен, больше ничего платить не нужно.",
        "Остаток к оплате по счёту INV-2026-000001 составляет 234,50 $.",
        "Оплатить остаток",
        "Оплачено: 1 000,00 $",
    ),
}


@pytest.mark.parametrize("locale", ["en", "zh", "ru", "en-US", "zh-CN", "ru-RU", "zh_Hans_CN", "RU"])
def test_payment_receipt_renders_in_each_language(locale):
    lang = locale[:2].lower()
    subject, thanks, greeting, reference, paid_in_full, balance, link, _ = RECEIPT[lang]
    email = render_receipt(locale)
    assert isinstance(email, RenderedEmail)
    paid_now = format_money(123450, "usd", locale)
    paid_on = format_date(date(2026, 3, 5), locale)

    assert spaces(email.subject) == subject
    assert "INV-2026-000001" in email.subject
    assert paid_now in email.subject
    for part in (email.text, without_tags(email.html)):
        assert "INV-2026-000001" in part
        assert "Acme" in part
        assert greeting in part
        assert thanks in spaces(part)
        assert reference in part
        assert paid_in_full in part
        assert balance not in spaces(part)  # no "balance still due" sentence
        assert link not in part
    for part in (email.text, email.html):
        assert paid_now in part
        assert paid_on in part
        assert "pay_0123456789" in part
        assert format_date(date(2026, 3, 1), locale) in part  # issued
        assert format_date(date(2026, 3, 31), locale) in part  # due date
        for line_amount in (100000, 20000, 120000, 13450, -10000):
            assert format_money(line_amount, "usd", locale) in part
        assert format_money(0, "usd", locale) in part  # the amount due row
    assert "<a " not in email.html  # nothing left to pay: no pay button even though there is a pay_url
    assert "https://" not in email.text
    assert f'<html lang="{ {"en": "en", "zh": "zh-CN", "ru": "ru"}[lang] }">' in email.html


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_payment_receipt_for_a_partial_payment_states_the_balance(locale):
    _, _, _, _, paid_in_full, balance, link, paid_row = RECEIPT[locale]
    email = render_receipt(locale, **PARTIAL)
    paid_now, due = format_money(100000, "usd", locale), format_money(23450, "usd", locale)
    assert paid_now in email.subject and format_money(123450, "usd", locale) not in email.subject
    for part in (email.text, without_tags(email.html)):
        assert balance in spaces(part)
        assert paid_in_full not in part
        assert spaces(paid_now) in spaces(part) and spaces(due) in spaces(part)
    assert paid_row in spaces(email.text)
    assert f"{link}: https://pay.example.com/in_123" in email.text.replace("：", ": ")
    assert re.search(r'<a href="https://pay\.example\.com/in_123"[^>]*>' + re.escape(link) + "</a>", email.html)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_payment_receipt_balance_without_a_pay_url_has_no_link(locale):
    _, _, _, _, paid_in_full, balance, link, _ = RECEIPT[locale]
    email = render_receipt(locale, pay_url=None, **PARTIAL)
    for part in (email.text, without_tags(email.html)):
        assert balance in spaces(part)
        assert paid_in_full not in part
        assert link not in part
    assert "https://" not in email.text and "<a " not in email.html


def test_payment_receipt_english_text_body_reads_as_expected():
    assert render_receipt("en").text == (
        "Hi Jane Doe,\n"
        "\n"
        "Thank you for your payment! Acme received $1,234.50 from you on March 5, 2026 for invoice "
        "INV-2026-000001.\n"
        "\n"
        "Payment reference: pay_0123456789\n"
        "\n"
        "Invoice INV-2026-000001 is now paid in full, so there is nothing more to pay.\n"
        "\n"
        "Invoice details:\n"
        "- Pro plan × 2: $1,000.00\n"
        "- Extra seats × 1,000: $200.00\n"
        "\n"
        "Subtotal: $1,200.00\n"
        "Discount: -$100.00\n"
        "Tax: $134.50\n"
        "Total: $1,234.50\n"
        "Amount paid: $1,234.50\n"
        "Amount due: $0.00\n"
        "\n"
        "Issued: March 1, 2026\n"
        "Due date: March 31, 2026\n"
        "\n"
        "Please keep this email for your records. If you have any questions about this payment, please contact "
        "Acme.\n"
        "\n"
        "Best regards,\n"
        "Acme\n"
    )


def test_payment_receipt_english_partial_payment_paragraphs():
    text = render_receipt("en", **PARTIAL).text
    assert (
        "Payment reference: pay_0123456789\n"
        "\n"
        "A balance of $234.50 is still due on invoice INV-2026-000001. You can pay it using the link below.\n"
        "\n"
        "Pay the balance: https://pay.example.com/in_123\n"
        "\n"
        "Invoice details:\n"
    ) in text
    assert "Amount paid: $1,000.00\nAmount due: $234.50\n" in text


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_payment_receipt_text_part_has_no_html(locale):
    for overrides in ({}, PARTIAL):
        text = render_receipt(locale, **overrides).text
        assert not HTML_TAG.search(text)
        assert "&amp;" not in text and "&lt;" not in text
    email = render_receipt(locale, tenant_name="Smith & Sons")
    assert "<" not in email.text
    assert "Smith & Sons" in email.text and "Smith & Sons" in email.subject
    assert "Smith &amp; Sons" in email.html


def test_payment_receipt_html_escapes_what_the_customer_and_tenant_typed():
    email = render_receipt(
        "en",
        customer_name="<script>alert(1)</script>",
        tenant_name='Evil "Co" & <b>Sons</b>',
        payment_id="<i>pay_1</i>",
        lines=[{"description": "<img src=x onerror=alert(1)>", "quantity": 1, "amount": 100}],
    )
    assert "<script>" not in email.html and "<b>Sons</b>" not in email.html and "<img" not in email.html
    assert "<i>pay_1</i>" not in email.html and "&lt;i&gt;pay_1&lt;/i&gt;" in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Evil &#34;Co&#34; &amp; &lt;b&gt;Sons&lt;/b&gt;" in email.html
    assert email.subject == 'Receipt for your payment of $1,234.50 to Evil "Co" & <b>Sons</b> (invoice INV-2026-000001)'


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "//pay.example.com"])
def test_payment_receipt_pay_url_must_be_an_absolute_http_link(url):
    with pytest.raises(ValueError, match="non-http"):
        render_receipt("en", pay_url=url, **PARTIAL)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
@pytest.mark.parametrize("amount", [0, -100])
def test_payment_receipt_refuses_a_payment_of_nothing(locale, amount):
    with pytest.raises(ValueError, match="amount_paid_now"):
        render_receipt(locale, amount_paid_now=amount)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_payment_receipt_refuses_a_negative_amount_due(locale):
    with pytest.raises(ValueError, match="amount_due"):
        render_receipt(locale, amount_due=-1)


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_payment_receipt_unknown_collection_method_raises(locale):
    with pytest.raises(ValueError, match="collection_method"):
        render_receipt(locale, collection_method="out_of_band")
    assert render_receipt(locale, collection_method="charge_automatically").text == render_receipt(locale).text


@pytest.mark.parametrize("overrides", [{}, PARTIAL], ids=["paid_in_full", "partial"])
@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
@pytest.mark.parametrize("missing", sorted(receipt_context()))
def test_payment_receipt_missing_context_variable_raises(missing, locale, overrides):
    context = receipt_context(**overrides)
    del context[missing]
    with pytest.raises(UndefinedError, match=missing):
        render_email("payment_receipt", locale, context)


def test_payment_receipt_subject_is_one_header_line():
    email = render_receipt("en", tenant_name="Acme\r\nBcc: victim@example.com")
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == (
        "Receipt for your payment of $1,234.50 to Acme Bcc: victim@example.com (invoice INV-2026-000001)"
    )


def test_payment_receipt_in_yen_and_rubles():
    yen = render_receipt(
        "en",
        currency="jpy",
        subtotal=1500,
        discounts=[],
        tax=0,
        total=1500,
        amount_paid_now=1000,
        amount_paid=1000,
        amount_due=500,
        lines=[{"description": "Plan", "quantity": 1, "amount": 1500}],
    )
    assert yen.subject == "Receipt for your payment of ¥1,000 to Acme (invoice INV-2026-000001)"
    assert "A balance of ¥500 is still due on invoice INV-2026-000001." in yen.text
    assert "Discount" not in yen.text
    assert ".00" not in yen.text + yen.html
    rubles = render_receipt("ru", currency="rub")
    assert spaces(rubles.subject) == RECEIPT["ru"][0].replace("$", "₽")
    assert "$" not in rubles.text


def test_payment_receipt_falls_back_to_english():
    assert render_receipt("fr-FR") == render_receipt("en")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_seller_name_ending_in_a_period_ends_a_sentence_once(locale):
    email = render(locale, tenant_name="Acme Cloud Inc.")
    for part in (email.subject, email.text, email.html):
        assert "Inc.." not in part
    assert "Acme Cloud Inc." in email.text and "Acme Cloud Inc." in email.html
    # a name without one keeps the sentence's own period
    plain = render(locale, tenant_name="Acme Cloud")
    assert "Acme Cloud." in plain.text or locale == "zh"


def test_a_period_that_is_not_the_seller_names_own_is_left_alone():
    email = render("en", tenant_name="Acme Cloud Inc.", customer_name="J. R. R. Tolkien..")
    assert "J. R. R. Tolkien.." in email.text
