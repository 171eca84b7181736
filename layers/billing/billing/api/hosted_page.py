"""``GET /pay/{token}``: the hosted invoice page, server-rendered HTML in the customer's language, with a card form
(Stripe.js) while there is something to pay. Public (the token is the credential) and outside the OpenAPI document.

Every answer carries a Content-Security-Policy that allows this origin, the Stripe.js origin and one nonce per
answer (for the page's own style and script), plus ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``
(the link is a bearer link: it must not leak to Stripe.js or anywhere else in a Referer) and
``X-Robots-Tag: noindex``. A wrong, garbled or foreign token is the same 404 page, whatever part was wrong.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from billing import bootstrap
from billing.domain.errors import NotFound
from billing.domain.models import Invoice, Tenant
from billing.services import hosted_page
from billing.services.hosted_page import Checkout

logger = Logger(child=True)
router = APIGatewayHttpRouter()

if TYPE_CHECKING:
    from jinja2 import Environment

# Jinja2 and Babel (≈120 ms of imports) load on the first /pay/… request, not in every API cold start.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"
HTML = "text/html; charset=utf-8"
# What Stripe documents for Stripe.js besides its own origin: its API, its 3-D Secure frames and its sub-origins.
STRIPE_HOSTED = {
    "script": "https://*.js.stripe.com",
    "connect": "https://api.stripe.com",
    "frame": "https://*.js.stripe.com https://hooks.stripe.com",
}

MESSAGES: dict[str, dict[str, Any]] = {
    "en": {
        "html_lang": "en",
        "page_title": "Invoice {number} from {tenant}",
        "invoice_number": "Invoice {number}",
        "status": {
            "draft": "Draft",
            "open": "Open",
            "paid": "Paid",
            "void": "Void",
            "uncollectible": "Uncollectible",
        },
        "past_due": "Past due",
        "billed_to": "Billed to",
        "issued": "Issued",
        "due_date": "Due date",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "subtotal": "Subtotal",
        "discount": "Discount",
        "tax": "Tax",
        "total": "Total",
        "amount_paid": "Amount paid",
        "amount_due": "Amount due",
        "pay_heading": "Pay by card",
        "card": "Card details",
        "pay_button": "Pay {amount}",
        "secure": "Card payments are processed securely by Stripe.",
        "paid_title": "Paid — thank you!",
        "paid_text": "This invoice has been paid in full. There is nothing more to pay. Thank you for your business "
        "with {tenant}.",
        "void_title": "This invoice was voided.",
        "void_text": "There is nothing to pay on it.",
        "processing_title": "Your payment is being processed.",
        "processing_text": "There is nothing more to do: this page will show the invoice as paid once the payment "
        "has gone through.",
        "unavailable_title": "Paying online is not available right now.",
        "unavailable_text": "Please try again later, or contact {tenant} to pay this invoice another way.",
        "contact": "Questions about this invoice? Please contact {tenant}.",
        "not_found_title": "Page not found",
        "not_found_text": "This link is not valid. Please check the link in your email, or contact the sender of "
        "the invoice.",
        "js": {
            "processing": "Processing your payment…",
            "succeeded": "Payment received. Thank you!",
            "failed": "The payment did not go through. Please check your card details or try another card.",
            "unavailable": "Paying online is not available right now. Please try again later.",
        },
    },
    "zh": {
        "html_lang": "zh-CN",
        "page_title": "来自 {tenant} 的发票 {number}",
        "invoice_number": "发票 {number}",
        "status": {
            "draft": "草稿",
            "open": "待支付",
            "paid": "已支付",
            "void": "已作废",
            "uncollectible": "无法收回",
        },
        "past_due": "已逾期",
        "billed_to": "付款方",
        "issued": "开票日期",
        "due_date": "到期日",
        "description": "项目",
        "quantity": "数量",
        "unit_price": "单价",
        "amount": "金额",
        "subtotal": "小计",
        "discount": "折扣",
        "tax": "税费",
        "total": "合计",
        "amount_paid": "已付金额",
        "amount_due": "应付金额",
        "pay_heading": "银行卡支付",
        "card": "银行卡信息",
        "pay_button": "支付 {amount}",
        "secure": "银行卡付款由 Stripe 安全处理。",
        "paid_title": "已支付，谢谢！",
        "paid_text": "本发票已全额付清，您无需再支付任何款项。感谢您选择 {tenant}。",
        "void_title": "本发票已作废。",
        "void_text": "您无需支付任何款项。",
        "processing_title": "您的付款正在处理中。",
        "processing_text": "您无需再进行任何操作：付款完成后，本页面将显示发票已支付。",
        "unavailable_title": "暂时无法在线支付。",
        "unavailable_text": "请稍后再试，或联系 {tenant} 以其他方式支付本发票。",
        "contact": "如对本发票有任何疑问，请联系 {tenant}。",
        "not_found_title": "页面不存在",
        "not_found_text": "此链接无效。请检查邮件中的链接，或联系发票的开具方。",
        "js": {
            "processing": "正在处理您的付款…",
            "succeeded": "付款成功，谢谢！",
            "failed": "付款未成功。请检查您的银行卡信息，或换一张银行卡再试。",
            "unavailable": "暂时无法在线支付，请稍后再试。",
        },
    },
    "ru": {
        "html_lang": "ru",
        "page_title": "Счёт {number} от {tenant}",
        "invoice_number": "Счёт {number}",
        "status": {
            "draft": "Черновик",
            "open": "Ожидает оплаты",
            "paid": "Оплачен",
            "void": "Аннулирован",
            "uncollectible": "Безнадёжный",
        },
        "past_due": "Просрочен",
        "billed_to": "Плательщик",
        "issued": "Дата выставления",
        "due_date": "Срок оплаты",
        "description": "Описание",
        "quantity": "Кол-во",
        "unit_price": "Цена",
        "amount": "Сумма",
        "subtotal": "Промежуточный итог",
        "discount": "Скидка",
        "tax": "Налог",
        "total": "Итого",
        "amount_paid": "Оплачено",
        "amount_due": "К оплате",
        "pay_heading": "Оплата банковской картой",
        "card": "Данные карты",
        "pay_button": "Оплатить {amount}",
        "secure": "Платежи по картам безопасно обрабатывает Stripe.",
        "paid_title": "Оплачено — спасибо!",
        "paid_text": "Этот счёт полностью оплачен, доплачивать ничего не нужно. Спасибо, что выбрали {tenant}.",
        "void_title": "Этот счёт аннулирован.",
        "void_text": "Оплачивать его не нужно.",
        "processing_title": "Ваш платёж обрабатывается.",
        "processing_text": "Больше ничего делать не нужно: когда платёж пройдёт, на этой странице счёт будет "
        "показан как оплаченный.",
        "unavailable_title": "Оплата онлайн сейчас недоступна.",
        "unavailable_text": "Пожалуйста, попробуйте позже или свяжитесь с {tenant}, чтобы оплатить счёт другим "
        "способом.",
        "contact": "Если у вас есть вопросы по этому счёту, обращайтесь к отправителю: {tenant}.",
        "not_found_title": "Страница не найдена",
        "not_found_text": "Эта ссылка недействительна. Проверьте ссылку в письме или свяжитесь с отправителем счёта.",
        "js": {
            "processing": "Обрабатываем платёж…",
            "succeeded": "Оплата получена. Спасибо!",
            "failed": "Платёж не прошёл. Проверьте данные карты или попробуйте другую карту.",
            "unavailable": "Оплата онлайн сейчас недоступна. Пожалуйста, попробуйте позже.",
        },
    },
}


@cache
def _environment(lang: str) -> Environment:
    from babel.numbers import format_decimal
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from billing.notifications.render import BABEL_LOCALES, format_date, format_money

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["money"] = lambda amount, currency: format_money(amount, currency, lang)
    env.filters["date"] = lambda value: format_date(value, lang)
    env.filters["number"] = lambda value: format_decimal(value, locale=BABEL_LOCALES[lang])
    return env


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(nonce: str, stripe_js_url: str) -> dict[str, str]:
    stripe = _origin(stripe_js_url)
    hosted = stripe == "https://js.stripe.com"
    script = f"{stripe} {STRIPE_HOSTED['script']}" if hosted else stripe
    connect = f"{stripe} {STRIPE_HOSTED['connect']}" if hosted else stripe
    frame = f"{stripe} {STRIPE_HOSTED['frame']}" if hosted else stripe
    policy = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' {script}",
        f"style-src 'self' 'nonce-{nonce}'",
        f"connect-src 'self' {connect}",
        f"frame-src {frame}",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return {
        "Content-Security-Policy": "; ".join(policy),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def render_page(
    lang: str,
    nonce: str,
    stripe_js_url: str,
    tenant: Tenant | None = None,
    invoice: Invoice | None = None,
    checkout: Checkout | None = None,
    publishable_key: str | None = None,
) -> str:
    t = MESSAGES[lang]
    ready = bool(checkout and checkout.status == "ready" and checkout.client_secret and publishable_key)
    pay_config = (
        {
            "publishableKey": publishable_key,
            "clientSecret": checkout.client_secret,
            "locale": lang,
            "messages": t["js"],
        }
        if ready and checkout
        else None
    )
    return (
        _environment(lang)
        .get_template("hosted_invoice.html")
        .render(
            t=t,
            html_lang=t["html_lang"],
            nonce=nonce,
            stripe_js_url=stripe_js_url,
            tenant=tenant,
            invoice=invoice,
            checkout=checkout,
            checkout_ready=ready,
            checkout_status=checkout.status if checkout else "unavailable",
            pay_config=pay_config,
        )
    )


def _accept_language(headers: dict[str, str]) -> str:
    from billing.notifications.render import language

    value = next((v for k, v in headers.items() if k.lower() == "accept-language"), "")
    return language(value.split(",", 1)[0].split(";", 1)[0])


@router.get("/pay/<token>", include_in_schema=False)
def hosted_invoice(token: str) -> Response[str]:
    deps = bootstrap.deps()
    stripe_js_url = deps.env.get("STRIPE_JS_URL") or DEFAULT_STRIPE_JS_URL
    nonce = secrets.token_urlsafe(18)
    headers = security_headers(nonce, stripe_js_url)
    ctx = deps.context
    try:
        tenant, invoice = hosted_page.find(ctx, token)
    except NotFound:
        lang = _accept_language(router.current_event.headers or {})
        return Response(404, HTML, render_page(lang, nonce, stripe_js_url), headers)
    logger.append_keys(tenant_id=tenant.id, invoice_id=invoice.id)
    checkout: Checkout | None = None
    publishable_key = deps.env.get("STRIPE_PUBLISHABLE_KEY")
    if invoice.payable:
        if not publishable_key:
            logger.error("STRIPE_PUBLISHABLE_KEY is not set: the hosted page cannot take payments")
            checkout = Checkout(None, invoice.amount_due, invoice.currency, "unavailable")
        else:
            try:
                invoice, checkout = hosted_page.checkout(ctx, deps.stripe, invoice)
            except Exception:  # the invoice is still worth showing when Stripe (or SSM) is down
                logger.exception("no PaymentIntent for the hosted invoice page")
                checkout = Checkout(None, invoice.amount_due, invoice.currency, "unavailable")
    from billing.notifications.render import language

    lang = language(invoice.customer_locale)
    body = render_page(lang, nonce, stripe_js_url, tenant, invoice, checkout, publishable_key)
    return Response(200, HTML, body, headers)
