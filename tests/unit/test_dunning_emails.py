"""Dunning e-mails: the overdue reminder, a failed automatic charge, the final notice, the service pause and the
thank-you for settling an overdue invoice, in every language, stating only what is true."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from jinja2 import UndefinedError

from billing.i18n import format_date, format_money, language, messages
from billing.notifications import RenderedEmail, render_email
from billing.notifications import render as render_module

NBSP = "\u00a0"
NNBSP = "\u202f"
HTML_TAG = re.compile(r"</?[a-zA-Z!][^>]*>")
FOOTER = re.compile(r'<p style="margin:16px 0 0;font-family:Arial[^"]*">(.*?)</p>', re.DOTALL)
LOCALES = ["en", "zh", "ru"]
HTML_LANG = {"en": "en", "zh": "zh-CN", "ru": "ru"}

RETRY_ON = date(2026, 4, 7)
SUSPEND_ON = date(2026, 4, 14)
WRITE_OFF_ON = date(2026, 4, 30)
PAID_AT = datetime(2026, 4, 9, 9, 15, tzinfo=UTC)
PAY_URL = "https://pay.example.com/in_123"


def spaces(text: str) -> str:
    """Babel separates groups and symbols with (narrow) no-break spaces; compare prose with plain ones."""
    return text.replace(NBSP, " ").replace(NNBSP, " ")


def without_tags(html: str) -> str:
    return spaces(HTML_TAG.sub("", html))


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
        "collection_method": "charge_automatically",
        "lines": [
            {"description": "Pro plan", "quantity": 2, "amount": 100000},
            {"description": "Extra seats", "quantity": 1000, "amount": 20000},
        ],
        "pay_url": PAY_URL,
    }
    context.update(overrides)
    return context


# What each kind adds to the invoice context, by default.
EXTRA = {
    "dunning_reminder": {"days_overdue": 7, "next_retry_on": RETRY_ON},
    "payment_retry_failed": {
        "failure_reason": "Your card has insufficient funds.",
        "card_update_required": False,
        "next_retry_on": RETRY_ON,
    },
    "final_notice": {
        "days_overdue": 7,
        "next_retry_on": RETRY_ON,
        "suspend_on": SUSPEND_ON,
        "write_off_on": WRITE_OFF_ON,
    },
    "service_suspended": {"suspended_on": SUSPEND_ON},
    "payment_thank_you": {
        "amount_due": 0,
        "amount_paid_now": 123450,
        "amount_paid": 123450,
        "paid_at": PAID_AT,
        "payment_id": "pay_0123456789",
    },
}
KINDS = list(EXTRA)
CHASING = [k for k in KINDS if k != "payment_thank_you"]  # the kinds that ask for money


def context(kind, **overrides):
    return invoice_context(**{**EXTRA[kind], **overrides})


def render(kind, locale="en", **overrides) -> RenderedEmail:
    discounted = {"discounts": [(messages(language(locale))["invoice"]["discount"], 10000)], **overrides}
    return render_email(kind, locale, context(kind, **discounted))


def money(amount, locale="en", currency="usd"):
    return spaces(format_money(amount, currency, locale))


def day(value, locale="en"):
    return spaces(format_date(value, locale))


SUBJECTS = {
    "dunning_reminder": {
        "en": "Reminder: $1,234.50 on invoice INV-2026-000001 from Acme was due on March 31, 2026",
        "zh": "付款提醒：来自 Acme 的发票 INV-2026-000001 已逾期，应付金额 US$1,234.50，到期日为2026年3月31日",
        "ru": "Напоминание об оплате счёта INV-2026-000001 от Acme: к оплате 1 234,50 $, "
        "срок оплаты истёк 31 марта 2026 г.",
    },
    "payment_retry_failed": {
        "en": "Payment of $1,234.50 for invoice INV-2026-000001 from Acme failed",
        "zh": "来自 Acme 的发票 INV-2026-000001 自动扣款失败（US$1,234.50）",
        "ru": "Не удалось списать 1 234,50 $ в оплату счёта INV-2026-000001 от Acme",
    },
    "final_notice": {
        "en": "Final notice: $1,234.50 on invoice INV-2026-000001 from Acme is overdue",
        "zh": "最终付款通知：来自 Acme 的发票 INV-2026-000001 已逾期，应付金额 US$1,234.50",
        "ru": "Последнее напоминание: счёт INV-2026-000001 от Acme просрочен, к оплате 1 234,50 $",
    },
    "service_suspended": {
        "en": "Your service with Acme has been paused: invoice INV-2026-000001 is unpaid ($1,234.50 due)",
        "zh": "您在 Acme 的服务已暂停：发票 INV-2026-000001 尚未支付（应付金额 US$1,234.50）",
        "ru": "Доступ к услугам Acme приостановлен: счёт INV-2026-000001 не оплачен, к оплате 1 234,50 $",
    },
    "payment_thank_you": {
        "en": "Thank you! Invoice INV-2026-000001 from Acme is paid in full ($1,234.50 received)",
        "zh": "感谢您的付款！您已向 Acme 支付 US$1,234.50，发票 INV-2026-000001 已全额付清",
        "ru": "Спасибо за оплату! Счёт INV-2026-000001 от Acme полностью оплачен, получено 1 234,50 $",
    },
}

# The paragraph after the greeting, as it reads in the text part and (tags stripped) in the HTML part.
HEADLINES = {
    "dunning_reminder": {
        "en": "This is a reminder that invoice INV-2026-000001 from Acme is 7 days overdue: $1,234.50 was due on "
        "March 31, 2026 and has not been paid yet.",
        "zh": "温馨提醒：Acme 向您开具的发票 INV-2026-000001 已逾期 7 天。该发票已于2026年3月31日到期，"
        "目前仍有 US$1,234.50 尚未支付。",
        "ru": "Напоминаем, что счёт INV-2026-000001 от Acme просрочен на 7 дней: срок оплаты истёк 31 марта 2026 г., "
        "а сумма 1 234,50 $ пока не оплачена.",
    },
    "payment_retry_failed": {
        "en": "We tried to charge $1,234.50 to your saved card for invoice INV-2026-000001 from Acme, but the payment "
        "did not go through.",
        "zh": "我们尝试从您保存的银行卡扣除 US$1,234.50，用于支付 Acme 向您开具的发票 INV-2026-000001，"
        "但此次扣款未能成功。",
        "ru": "Нам не удалось списать 1 234,50 $ с сохранённой вами банковской карты в оплату счёта INV-2026-000001 "
        "от Acme.",
    },
    "final_notice": {
        "en": "This is a final notice about invoice INV-2026-000001 from Acme, which is now 7 days overdue: $1,234.50 "
        "was due on March 31, 2026 and has not been paid yet.",
        "zh": "这是关于 Acme 向您开具的发票 INV-2026-000001 的最终付款通知。该发票已于2026年3月31日到期，"
        "现已逾期 7 天，目前仍有 US$1,234.50 尚未支付。",
        "ru": "Это последнее напоминание об оплате счёта INV-2026-000001 от Acme, просроченного на 7 дней: "
        "срок оплаты истёк 31 марта 2026 г., а сумма 1 234,50 $ пока не оплачена.",
    },
    "service_suspended": {
        "en": "Your service with Acme was paused on April 14, 2026 because invoice INV-2026-000001 has not been "
        "paid: $1,234.50 was due on March 31, 2026.",
        "zh": "由于发票 INV-2026-000001 逾期未付，您在 Acme 的服务已于2026年4月14日暂停。该发票已于2026年3月31日到期，"
        "目前仍有 US$1,234.50 尚未支付。",
        "ru": "С 14 апреля 2026 г. доступ к услугам Acme приостановлен, так как счёт INV-2026-000001 не оплачен: "
        "срок оплаты истёк 31 марта 2026 г., сумма к оплате — 1 234,50 $.",
    },
    "payment_thank_you": {
        "en": "Thank you for your payment! Acme received $1,234.50 from you on April 9, 2026 for invoice "
        "INV-2026-000001.",
        "zh": "衷心感谢您的付款！Acme 已于2026年4月9日收到您为发票 INV-2026-000001 支付的 US$1,234.50。",
        "ru": "Большое спасибо за оплату! 9 апреля 2026 г. получен ваш платёж на сумму 1 234,50 $ по счёту "
        "INV-2026-000001 от Acme.",
    },
}

# Why the customer gets the mail: the HTML footer.
FOOTERS = {
    "dunning_reminder": {
        "en": "You are receiving this email because your invoice from Acme is overdue.",
        "zh": "您收到此邮件，是因为 Acme 向您开具的发票已逾期。",
        "ru": "Вы получили это письмо, потому что истёк срок оплаты счёта от Acme.",
    },
    "payment_retry_failed": {
        "en": "You are receiving this email because an automatic payment to Acme did not go through.",
        "zh": "您收到此邮件，是因为向 Acme 的一笔自动扣款未能成功。",
        "ru": "Вы получили это письмо, потому что не удалось автоматически списать оплату в пользу Acme.",
    },
    "final_notice": {
        "en": "You are receiving this email because your invoice from Acme is overdue and still unpaid.",
        "zh": "您收到此邮件，是因为 Acme 向您开具的发票已逾期且仍未支付。",
        "ru": "Вы получили это письмо, потому что счёт от Acme просрочен и до сих пор не оплачен.",
    },
    "service_suspended": {
        "en": "You are receiving this email because your service with Acme has been paused over an unpaid invoice.",
        "zh": "您收到此邮件，是因为您在 Acme 的服务因发票未付已被暂停。",
        "ru": "Вы получили это письмо, потому что доступ к услугам Acme приостановлен из-за неоплаченного счёта.",
    },
    "payment_thank_you": {
        "en": "You are receiving this email because you paid an overdue invoice from Acme.",
        "zh": "您收到此邮件，是因为您已向 Acme 付清一张逾期发票。",
        "ru": "Вы получили это письмо, потому что оплатили просроченный счёт от Acme.",
    },
}

GREETINGS = {"en": "Hi Jane Doe,", "zh": "Jane Doe，您好：", "ru": "Здравствуйте, Jane Doe!"}
PAY_LINK = {"en": "Pay this invoice", "zh": "支付此发票", "ru": "Оплатить счёт"}

# "We will charge the saved card again on April 7 unless paid before": the reminder and the final notice.
RETRY_AGAIN = {
    "en": "We will try to charge your saved card again on April 7, 2026, unless the invoice is paid before then.",
    "zh": "如您在2026年4月7日之前仍未付款，我们将于当天再次尝试从您保存的银行卡自动扣款。",
    "ru": "Если счёт не будет оплачен раньше, 7 апреля 2026 г. мы повторно попытаемся списать оплату с сохранённой "
    "вами банковской карты.",
}
# payment_retry_failed: the three outcomes of a failed charge.
NEXT_ATTEMPT = {
    "en": "We will try to charge your card again automatically on April 7, 2026.",
    "zh": "我们将于2026年4月7日再次尝试从您的银行卡自动扣款。",
    "ru": "7 апреля 2026 г. мы повторим попытку списания.",
}
LAST_ATTEMPT = {
    "en": "This was the last automatic attempt: we will not try to charge your card again.",
    "zh": "这是最后一次自动扣款尝试，我们不会再从您的银行卡自动扣款。",
    "ru": "Это была последняя попытка автоматического списания: больше мы не будем списывать оплату с вашей карты.",
}
CARD_UNUSABLE = {
    "en": "This card can no longer be used for payments, so we will not try to charge it again.",
    "zh": "该银行卡已无法继续用于付款，我们不会再尝试从这张卡扣款。",
    "ru": "Эту карту больше нельзя использовать для оплаты, поэтому повторных попыток списания с неё не будет.",
}
OTHER_CARD = {"en": "with a different card", "zh": "使用其他银行卡", "ru": "другой картой"}
ACTION_REQUIRED = {
    "en": "Action required: payment of $1,234.50 for invoice INV-2026-000001 from Acme failed",
    "zh": "请尽快处理：来自 Acme 的发票 INV-2026-000001 自动扣款失败（US$1,234.50）",
    "ru": "Важно: не удалось списать 1 234,50 $ в оплату счёта INV-2026-000001 от Acme",
}
REASON_LABEL = {"en": "Reason given: ", "zh": "失败原因：", "ru": "Причина отказа: "}
# final_notice: each consequence, named only when its date is given.
PAUSE = {
    "en": "your service with Acme will be paused on April 14, 2026",
    "zh": "您在 Acme 的服务将于2026年4月14日暂停",
    "ru": "14 апреля 2026 г. доступ к услугам Acme будет приостановлен",
}
WRITE_OFF = {
    "en": ("closed as uncollectible", "may be referred for collection"),
    "zh": ("无法收回的欠款", "可能移交催收处理"),
    "ru": ("безнадёжный долг", "может быть передана на взыскание"),
}
PAY_SOON = {
    "en": "Please pay the outstanding balance at your earliest convenience",
    "zh": "请您尽早支付未付款项",
    "ru": "Пожалуйста, оплатите счёт при первой возможности",
}
GOOD_STANDING = {
    "en": "Invoice INV-2026-000001 is now paid in full, so no further action is needed.",
    "zh": "发票 INV-2026-000001 现已全额付清，此发票无需再进行任何操作。",
    "ru": "Счёт INV-2026-000001 теперь полностью оплачен, и по нему больше ничего делать не нужно.",
}
RESTORE = {
    "en": "To restore your service, please pay $1,234.50 using the link below.",
    "zh": "如需恢复服务，请通过下方链接支付 US$1,234.50。",
    "ru": "Чтобы возобновить доступ, пожалуйста, оплатите 1 234,50 $ по ссылке ниже.",
}
RESTORE_WITHOUT_LINK = {
    "en": "To restore your service, please contact Acme to pay $1,234.50.",
    "zh": "如需恢复服务，请联系 Acme 支付 US$1,234.50。",
    "ru": "Чтобы возобновить доступ, пожалуйста, свяжитесь с отправителем счёта и оплатите 1 234,50 $.",
}


def parts(email: RenderedEmail) -> tuple[str, str]:
    """The text part and the HTML part as readable prose, to look for sentences in both."""
    return spaces(email.text), without_tags(email.html)


# --- every kind, every language -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh", "ru", "en-US", "zh-CN", "ru-RU", "RU"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_each_language(kind, locale):
    lang = locale[:2].lower()
    email = render(kind, locale)
    assert isinstance(email, RenderedEmail)
    assert spaces(email.subject) == SUBJECTS[kind][lang]
    assert "\n" not in email.subject
    headline_amount = format_money(123450, "usd", locale)  # amount_due, or amount_paid_now for the thank-you
    assert headline_amount in email.subject
    for part in parts(email):
        assert GREETINGS[lang] in part
        assert HEADLINES[kind][lang] in part
    for part in (email.text, email.html):
        assert "INV-2026-000001" in part
        assert headline_amount in part
        assert format_date(date(2026, 3, 1), locale) in part  # issued
        assert format_date(date(2026, 3, 31), locale) in part  # due date
        for amount in (100000, 20000, 120000, 13450, -10000):  # lines, subtotal, tax, discount
            assert format_money(amount, "usd", locale) in part
        assert "Pro plan" in part and "Extra seats" in part
    assert f'<html lang="{HTML_LANG[lang]}">' in email.html
    footer = FOOTER.search(email.html)
    assert footer and footer.group(1) == FOOTERS[kind][lang]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_text_part_has_no_html(kind, locale):
    for overrides in ({}, {"pay_url": None}):
        text = render(kind, locale, **overrides).text
        assert not HTML_TAG.search(text)
        assert "&amp;" not in text and "&lt;" not in text and "&#" not in text
    email = render(kind, locale, tenant_name="Smith & Sons", customer_name="<Jane>")
    assert "Smith & Sons" in email.text and "Smith & Sons" in email.subject and "<Jane>" in email.text
    assert "Smith &amp; Sons" in email.html and "&lt;Jane&gt;" in email.html
    assert "<Jane>" not in email.html


@pytest.mark.parametrize("kind", KINDS)
def test_html_escapes_what_the_customer_and_tenant_typed(kind):
    email = render(
        kind,
        "en",
        customer_name="<script>alert(1)</script>",
        tenant_name='Evil "Co" & <b>Sons</b>',
        lines=[{"description": "<img src=x onerror=alert(1)>", "quantity": 1, "amount": 100}],
    )
    assert "<script>" not in email.html and "<b>Sons</b>" not in email.html and "<img" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Evil &#34;Co&#34; &amp; &lt;b&gt;Sons&lt;/b&gt;" in email.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in email.html
    assert "Hi <script>alert(1)</script>," in email.text  # plain text carries the name as typed


@pytest.mark.parametrize("kind", KINDS)
def test_subject_is_one_header_line(kind):
    email = render(kind, "en", tenant_name="Acme\r\nBcc: victim@example.com")
    assert "\n" not in email.subject and "\r" not in email.subject
    assert "Acme Bcc: victim@example.com" in email.subject


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_language_falls_back_to_english(kind):
    assert render(kind, "fr-FR") == render(kind, "en")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_unknown_collection_method_raises(kind, locale):
    with pytest.raises(ValueError, match="collection_method"):
        render(kind, locale, collection_method="out_of_band")
    assert render(kind, locale, collection_method="send_invoice").subject == render(kind, locale).subject


@pytest.mark.parametrize("kind", KINDS)
def test_yen_and_rubles(kind):
    yen = render(
        kind,
        "en",
        currency="jpy",
        subtotal=1500,
        discounts=[],
        tax=0,
        total=1500,
        lines=[{"description": "Plan", "quantity": 1, "amount": 1500}],
        **({"amount_paid_now": 1500, "amount_paid": 1500} if kind == "payment_thank_you" else {"amount_due": 1500}),
    )
    assert "¥1,500" in yen.subject and "¥1,500" in yen.text and "¥1,500" in yen.html
    assert ".00" not in yen.text + yen.html
    assert "Discount" not in yen.text + yen.html
    rubles = render(kind, "ru", currency="rub")
    assert spaces(rubles.subject) == SUBJECTS[kind]["ru"].replace("$", "₽")
    assert "$" not in rubles.text


# --- the pay link -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", CHASING)
def test_pay_link_only_when_there_is_a_pay_url(kind, locale):
    link = PAY_LINK[locale]
    email = render(kind, locale)
    assert f"{link}: {PAY_URL}" in email.text.replace("：", ": ")
    assert re.search(r'<a href="https://pay\.example\.com/in_123"[^>]*>' + re.escape(link) + "</a>", email.html)
    without = render(kind, locale, pay_url=None)
    assert f"{link}:" not in without.text.replace("：", ": ")
    assert "https://" not in without.text and "<a " not in without.html
    for part in parts(without):  # no sentence pointing at a link that is not there
        assert not re.search(r"link below|button below|下方链接|下方按钮|ссылке ниже|ссылкой ниже|кнопки ниже", part)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "//pay.example.com"])
@pytest.mark.parametrize("kind", CHASING)
def test_pay_url_must_be_an_absolute_http_link(kind, url):
    with pytest.raises(ValueError, match="non-http"):
        render(kind, "en", pay_url=url)


@pytest.mark.parametrize("kind", CHASING)
def test_pay_url_is_escaped_in_the_href(kind):
    email = render(kind, "en", pay_url='https://pay.example.com/x?a=1&b="2"')
    assert 'href="https://pay.example.com/x?a=1&amp;b=&#34;2&#34;"' in email.html


@pytest.mark.parametrize("locale", LOCALES)
def test_thank_you_never_shows_a_pay_link(locale):
    email = render("payment_thank_you", locale, pay_url=PAY_URL)
    assert "https://" not in email.text and "pay.example.com" not in email.html and "<a " not in email.html
    assert PAY_LINK[locale] not in email.text and PAY_LINK[locale] not in email.html
    # it does not need a pay_url at all
    context_without = context(
        "payment_thank_you", discounts=[(messages(language(locale))["invoice"]["discount"], 10000)]
    )
    del context_without["pay_url"]
    assert render_email("payment_thank_you", locale, context_without) == email


# --- amounts that must be positive, and other impossible contexts -------------------------------------------------


@pytest.mark.parametrize("amount_due", [0, -100])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", CHASING)
def test_chasing_nothing_is_refused(kind, locale, amount_due):
    with pytest.raises(ValueError, match="amount_due"):
        render(kind, locale, amount_due=amount_due)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", CHASING)
def test_headline_is_the_amount_due_not_the_total(kind, locale):
    email = render(kind, locale, amount_due=23450)
    due, total = money(23450, locale), money(123450, locale)
    assert due in spaces(email.subject) and total not in spaces(email.subject)
    headline = spaces(email.text).split("\n\n")[1]
    assert due in headline and total not in headline
    row = {"en": f"Amount due: {due}", "zh": f"应付金额：{due}", "ru": f"К оплате: {due}"}[locale]
    assert row in spaces(email.text)
    assert row not in spaces(render(kind, locale).text)  # no separate row when nothing was paid yet


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("amount_due", [1, 23450, -1])
def test_thank_you_is_only_for_an_invoice_paid_in_full(locale, amount_due):
    with pytest.raises(ValueError, match="amount_due"):
        render("payment_thank_you", locale, amount_due=amount_due)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("amount", [0, -100])
def test_thank_you_refuses_a_payment_of_nothing(locale, amount):
    with pytest.raises(ValueError, match="amount_paid_now"):
        render("payment_thank_you", locale, amount_paid_now=amount)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("days", [0, -1])
def test_reminder_needs_at_least_one_day_overdue(locale, days):
    with pytest.raises(ValueError, match="days_overdue"):
        render("dunning_reminder", locale, days_overdue=days)


@pytest.mark.parametrize("locale", LOCALES)
def test_final_notice_refuses_negative_days_overdue(locale):
    with pytest.raises(ValueError, match="days_overdue"):
        render("final_notice", locale, days_overdue=-1)


IMPOSSIBLE = [
    *[(kind, {"amount_due": 0}, "amount_due") for kind in CHASING],
    *[(kind, {"collection_method": "out_of_band"}, "collection_method") for kind in KINDS],
    ("dunning_reminder", {"days_overdue": 0}, "days_overdue"),
    ("final_notice", {"days_overdue": -1}, "days_overdue"),
    ("payment_retry_failed", {"card_update_required": True, "next_retry_on": RETRY_ON}, "next_retry_on"),
    ("payment_thank_you", {"amount_due": 1}, "amount_due"),
    ("payment_thank_you", {"amount_paid_now": 0}, "amount_paid_now"),
]


@pytest.mark.parametrize("suffix", [".txt", ".html"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("kind", "overrides", "message"), IMPOSSIBLE)
def test_each_body_part_refuses_an_impossible_context_on_its_own(kind, overrides, message, locale, suffix):
    # Both bodies check for themselves, so neither can go out stating something false if the other changes.
    template = render_module._environment(locale).get_template(f"{kind}/{locale}{suffix}")
    template.render(context(kind))
    with pytest.raises(ValueError, match=message):
        template.render(context(kind, **overrides))


# Every variable each kind needs, in the context variants that take different paths through the templates.
VARIANTS = {
    "dunning_reminder": [{}, {"next_retry_on": None, "pay_url": None}],
    "payment_retry_failed": [
        {},
        {"next_retry_on": None, "failure_reason": None},
        {"card_update_required": True, "next_retry_on": None, "pay_url": None},
    ],
    "final_notice": [{}, {"next_retry_on": None, "suspend_on": None, "write_off_on": None, "days_overdue": 0}],
    "service_suspended": [{}, {"pay_url": None}],
    "payment_thank_you": [{}],
}
MISSING = [
    (kind, i, name)
    for kind in KINDS
    for i, variant in enumerate(VARIANTS[kind])
    for name in sorted(context(kind, **variant))
    if not (kind == "payment_thank_you" and name == "pay_url")
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("kind", "variant", "missing"), MISSING)
def test_missing_context_variable_raises(kind, variant, missing, locale):
    ctx = context(kind, **VARIANTS[kind][variant])
    render_email(kind, locale, ctx)  # the variant itself renders
    del ctx[missing]
    with pytest.raises(UndefinedError, match=missing):
        render_email(kind, locale, ctx)


@pytest.mark.parametrize("missing", ["description", "quantity", "amount"])
@pytest.mark.parametrize("kind", KINDS)
def test_missing_line_field_raises(kind, missing):
    line = {"description": "Plan", "quantity": 1, "amount": 100}
    del line[missing]
    with pytest.raises(UndefinedError, match=missing):
        render(kind, "ru", lines=[line])


# --- dunning_reminder ---------------------------------------------------------------------------------------------


def test_reminder_english_text_body_reads_as_expected():
    assert render("dunning_reminder", "en").text == (
        "Hi Jane Doe,\n"
        "\n"
        "This is a reminder that invoice INV-2026-000001 from Acme is 7 days overdue: $1,234.50 was due on "
        "March 31, 2026 and has not been paid yet.\n"
        "\n"
        "We will try to charge your saved card again on April 7, 2026, unless the invoice is paid before then. "
        "If you would like to pay now, please use the link below.\n"
        "\n"
        "Pay this invoice: https://pay.example.com/in_123\n"
        "\n"
        "If you have already paid, please ignore this message.\n"
        "\n"
        "Invoice details:\n"
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
        "If you have any questions about this invoice, please contact Acme.\n"
        "\n"
        "Thank you,\n"
        "Acme\n"
    )


@pytest.mark.parametrize("kind", ["dunning_reminder", "final_notice"])
@pytest.mark.parametrize("locale", LOCALES)
def test_next_retry_date_is_stated_only_when_a_retry_is_planned(kind, locale):
    with_retry = render(kind, locale)
    for part in parts(with_retry):
        assert RETRY_AGAIN[locale] in part
    assert format_date(RETRY_ON, locale) in with_retry.text and format_date(RETRY_ON, locale) in with_retry.html
    without = render(kind, locale, next_retry_on=None)
    for part in parts(without):
        assert RETRY_AGAIN[locale] not in part
        assert day(RETRY_ON, locale) not in part
        assert not re.search(r"charge your saved card|再次尝试|повторно попытаемся", part)


@pytest.mark.parametrize(
    ("locale", "pay_now", "another_way"),
    [
        ("en", "If you would like to pay now, please use the link below.", "To pay another way, please contact Acme."),
        ("zh", "如您希望现在付款，请通过下方链接支付。", "如需通过其他方式付款，请联系 Acme。"),
        (
            "ru",
            "Оплатить счёт прямо сейчас можно по ссылке ниже.",
            "Чтобы оплатить счёт другим способом, свяжитесь с отправителем счёта.",
        ),
    ],
)
def test_reminder_with_a_retry_offers_to_pay_now(locale, pay_now, another_way):
    email = render("dunning_reminder", locale)
    assert pay_now in email.text and another_way not in email.text
    without_link = render("dunning_reminder", locale, pay_url=None).text
    assert pay_now not in without_link and another_way in without_link


@pytest.mark.parametrize("locale", LOCALES)
def test_reminder_without_a_retry_asks_to_pay(locale):
    email = render("dunning_reminder", locale, next_retry_on=None)
    for part in parts(email):
        assert PAY_SOON[locale] in part
    assert PAY_SOON[locale] not in render("dunning_reminder", locale).text  # with a retry: the retry sentence


@pytest.mark.parametrize(
    ("days", "en", "ru"),
    [
        (1, "is 1 day overdue", "просрочен на 1 день"),
        (2, "is 2 days overdue", "просрочен на 2 дня"),
        (4, "is 4 days overdue", "просрочен на 4 дня"),
        (5, "is 5 days overdue", "просрочен на 5 дней"),
        (11, "is 11 days overdue", "просрочен на 11 дней"),
        (12, "is 12 days overdue", "просрочен на 12 дней"),
        (21, "is 21 days overdue", "просрочен на 21 день"),
        (22, "is 22 days overdue", "просрочен на 22 дня"),
        (111, "is 111 days overdue", "просрочен на 111 дней"),
        (1001, "is 1,001 days overdue", "просрочен на 1 001 день"),
    ],
)
def test_days_overdue_agree_in_number(days, en, ru):
    for part in parts(render("dunning_reminder", "en", days_overdue=days)):
        assert en in part
    for part in parts(render("dunning_reminder", "ru", days_overdue=days)):
        assert ru in part
    assert f"已逾期 {days:,} 天" in render("dunning_reminder", "zh", days_overdue=days).text
    final_ru = spaces(render("final_notice", "ru", days_overdue=days).text)
    assert ru.replace("просрочен на", "просроченного на") in final_ru


# --- payment_retry_failed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_retry_failed_with_a_retry_planned_gives_its_date(locale):
    email = render("payment_retry_failed", locale)
    assert spaces(email.subject) == SUBJECTS["payment_retry_failed"][locale]  # nothing to do: no "action required"
    for part in parts(email):
        assert NEXT_ATTEMPT[locale] in part
        assert LAST_ATTEMPT[locale] not in part and CARD_UNUSABLE[locale] not in part


@pytest.mark.parametrize("locale", LOCALES)
def test_retry_failed_without_a_retry_says_it_was_the_last_attempt(locale):
    email = render("payment_retry_failed", locale, next_retry_on=None)
    assert spaces(email.subject) == ACTION_REQUIRED[locale]
    for part in parts(email):
        assert LAST_ATTEMPT[locale] in part
        assert NEXT_ATTEMPT[locale] not in part and CARD_UNUSABLE[locale] not in part
        assert day(RETRY_ON, locale) not in part
    pay = {
        "en": "Please pay the invoice using the link below.",
        "zh": "请通过下方链接支付此发票。",
        "ru": "Пожалуйста, оплатите счёт по ссылке ниже.",
    }[locale]
    assert pay in email.text
    without_link = render("payment_retry_failed", locale, next_retry_on=None, pay_url=None).text
    assert {
        "en": "Please contact Acme to pay the invoice.",
        "zh": "请联系 Acme 支付此发票。",
        "ru": "Пожалуйста, свяжитесь с отправителем счёта, чтобы оплатить его другим способом.",
    }[locale] in without_link


@pytest.mark.parametrize("locale", LOCALES)
def test_retry_failed_card_update_required_never_promises_a_retry(locale):
    email = render("payment_retry_failed", locale, card_update_required=True, next_retry_on=None)
    assert spaces(email.subject) == ACTION_REQUIRED[locale]
    for part in parts(email):
        assert CARD_UNUSABLE[locale] in part
        assert OTHER_CARD[locale] in part  # pay with another card ...
        assert NEXT_ATTEMPT[locale] not in part and LAST_ATTEMPT[locale] not in part
        assert day(RETRY_ON, locale) not in part
        assert not re.search(r"again automatically|again on|再次尝试|повторим попытку", part)
    assert f"{PAY_LINK[locale]}: {PAY_URL}" in email.text.replace("：", ": ")  # ... through the pay link
    assert 'href="https://pay.example.com/in_123"' in email.html


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en", "Please contact Acme to update your payment method and pay the invoice."),
        ("zh", "请联系 Acme 更新您的付款方式并支付此发票。"),
        ("ru", "Пожалуйста, свяжитесь с отправителем счёта, чтобы сменить способ оплаты и оплатить счёт."),
    ],
)
def test_retry_failed_card_update_required_without_a_pay_link(locale, sentence):
    email = render("payment_retry_failed", locale, card_update_required=True, next_retry_on=None, pay_url=None)
    for part in parts(email):
        assert CARD_UNUSABLE[locale] in part and sentence in part
    assert "https://" not in email.text and "<a " not in email.html


@pytest.mark.parametrize("locale", LOCALES)
def test_retry_failed_refuses_a_retry_of_a_card_that_must_be_replaced(locale):
    with pytest.raises(ValueError, match="next_retry_on"):
        render("payment_retry_failed", locale, card_update_required=True, next_retry_on=RETRY_ON)


@pytest.mark.parametrize("locale", LOCALES)
def test_retry_failed_shows_the_failure_reason_when_given(locale):
    email = render("payment_retry_failed", locale)
    for part in parts(email):
        assert f"{REASON_LABEL[locale]}Your card has insufficient funds." in part
    without = render("payment_retry_failed", locale, failure_reason=None)
    for part in parts(without):
        assert REASON_LABEL[locale].strip() not in part and "insufficient funds" not in part
    assert render("payment_retry_failed", locale, failure_reason="").text == without.text


def test_retry_failed_reason_is_escaped_in_html():
    email = render("payment_retry_failed", "en", failure_reason="<b>Declined</b> & done")
    assert "Reason given: &lt;b&gt;Declined&lt;/b&gt; &amp; done" in email.html
    assert "Reason given: <b>Declined</b> & done" in email.text


def test_retry_failed_english_paragraphs():
    text = render("payment_retry_failed", "en").text
    assert (
        "Hi Jane Doe,\n"
        "\n"
        "We tried to charge $1,234.50 to your saved card for invoice INV-2026-000001 from Acme, but the payment did "
        "not go through.\n"
        "\n"
        "Reason given: Your card has insufficient funds.\n"
        "\n"
        "We will try to charge your card again automatically on April 7, 2026. If you would like to pay sooner or "
        "with a different card, please use the link below.\n"
        "\n"
        "Pay this invoice: https://pay.example.com/in_123\n"
        "\n"
        "If you have paid in the meantime, please ignore this message.\n"
        "\n"
        "Invoice details:\n"
    ) in text
    hard = render("payment_retry_failed", "en", failure_reason=None, card_update_required=True, next_retry_on=None)
    assert (
        "but the payment did not go through.\n"
        "\n"
        "This card can no longer be used for payments, so we will not try to charge it again. Please pay the invoice "
        "with a different card using the link below.\n"
        "\n"
        "Pay this invoice: https://pay.example.com/in_123\n"
    ) in hard.text


# --- final_notice -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("suspend_on", "write_off_on"),
    [(SUSPEND_ON, WRITE_OFF_ON), (SUSPEND_ON, None), (None, WRITE_OFF_ON), (None, None)],
    ids=["both", "pause_only", "write_off_only", "neither"],
)
def test_final_notice_names_each_consequence_only_with_its_date(locale, suspend_on, write_off_on):
    email = render("final_notice", locale, suspend_on=suspend_on, write_off_on=write_off_on)
    for part in parts(email):
        assert (PAUSE[locale] in part) == bool(suspend_on)
        assert (day(SUSPEND_ON, locale) in part) == bool(suspend_on)
        for phrase in WRITE_OFF[locale]:
            assert (phrase in part) == bool(write_off_on)
        assert (day(WRITE_OFF_ON, locale) in part) == bool(write_off_on)
        if not suspend_on:
            assert not re.search(r"paused|暂停|приостановлен", part)
        assert HEADLINES["final_notice"][locale] in part


def test_final_notice_english_paragraphs():
    text = render("final_notice", "en").text
    assert (
        "Hi Jane Doe,\n"
        "\n"
        "This is a final notice about invoice INV-2026-000001 from Acme, which is now 7 days overdue: $1,234.50 was "
        "due on March 31, 2026 and has not been paid yet.\n"
        "\n"
        "We will try to charge your saved card again on April 7, 2026, unless the invoice is paid before then.\n"
        "\n"
        "If the invoice remains unpaid, your service with Acme will be paused on April 14, 2026, and on April 30, 2026 "
        "the invoice will be closed as uncollectible and may be referred for collection.\n"
        "\n"
        "Please pay the outstanding balance as soon as possible using the link below.\n"
        "\n"
        "Pay this invoice: https://pay.example.com/in_123\n"
        "\n"
        "If you have already paid, please ignore this message.\n"
        "\n"
        "Invoice details:\n"
    ) in text
    bare = render("final_notice", "en", next_retry_on=None, suspend_on=None, write_off_on=None, pay_url=None).text
    assert (
        "has not been paid yet.\n"
        "\n"
        "Please pay the outstanding balance as soon as possible.\n"
        "\n"
        "If you have already paid, please ignore this message.\n"
    ) in bare


@pytest.mark.parametrize(
    ("locale", "headline"),
    [
        ("en", "This is a final notice about invoice INV-2026-000001 from Acme: $1,234.50 was due on March 31, 2026"),
        ("zh", "的最终付款通知。该发票已于2026年3月31日到期，目前仍有 US$1,234.50 尚未支付。"),
        ("ru", "Это последнее напоминание об оплате счёта INV-2026-000001 от Acme: срок оплаты истёк 31 марта"),
    ],
)
def test_final_notice_on_the_due_date_gives_no_day_count(locale, headline):
    email = render("final_notice", locale, days_overdue=0)
    for part in parts(email):
        assert headline in part
        assert not re.search(r"\b0 days|逾期 0 天|на 0 ", part)


# --- service_suspended --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_service_suspended_says_how_to_restore_it(locale):
    email = render("service_suspended", locale)
    assert RESTORE[locale] in spaces(email.text)
    for part in parts(email):
        assert day(SUSPEND_ON, locale) in part
        assert RESTORE_WITHOUT_LINK[locale] not in part
    without = render("service_suspended", locale, pay_url=None)
    for part in parts(without):
        assert RESTORE_WITHOUT_LINK[locale] in part
        assert RESTORE[locale] not in part


@pytest.mark.parametrize("locale", LOCALES)
def test_service_suspended_restores_the_amount_due(locale):
    email = render("service_suspended", locale, amount_due=23450)
    restore = spaces(email.text).split("\n\n")[2]
    assert money(23450, locale) in restore and money(123450, locale) not in restore


# --- payment_thank_you --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_thank_you_is_a_receipt_in_good_standing(locale):
    email = render("payment_thank_you", locale)
    reference = {"en": "Payment reference: ", "zh": "付款编号：", "ru": "Номер платежа: "}[locale]
    paid_row = {"en": "Amount paid: ", "zh": "已付金额：", "ru": "Оплачено: "}[locale] + money(123450, locale)
    due_row = {"en": "Amount due: ", "zh": "应付金额：", "ru": "К оплате: "}[locale] + money(0, locale)
    for part in parts(email):
        assert GOOD_STANDING[locale] in part
        assert f"{reference}pay_0123456789" in part
        assert day(PAID_AT, locale) in part
        body = part.replace(FOOTERS["payment_thank_you"][locale], "")
        assert not re.search(r"overdue|past due|逾期|просроч", body)  # a paying customer is not told off
    assert paid_row in spaces(email.text) and due_row in spaces(email.text)


def test_thank_you_english_text_body_reads_as_expected():
    assert render("payment_thank_you", "en").text == (
        "Hi Jane Doe,\n"
        "\n"
        "Thank you for your payment! Acme received $1,234.50 from you on April 9, 2026 for invoice INV-2026-000001.\n"
        "\n"
        "Payment reference: pay_0123456789\n"
        "\n"
        "Invoice INV-2026-000001 is now paid in full, so no further action is "
        "needed. We really appreciate you taking care of it.\n"
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
        "Thank you again,\n"
        "Acme\n"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_thank_you_states_the_payment_not_the_total(locale):
    email = render("payment_thank_you", locale, amount_paid_now=23450, amount_paid=123450)
    assert money(23450, locale) in spaces(email.subject)
    assert money(123450, locale) not in spaces(email.subject)
    headline = spaces(email.text).split("\n\n")[1]
    assert money(23450, locale) in headline and money(123450, locale) not in headline
