"""The hosted invoice page in a real headless browser (Chromium), on the local stack: the customer opens the
invoice's hosted_invoice_url, types a test card into the card form and pays; the page says so and then shows the
invoice paid. Cards that need 3-D Secure go through the prompt; a declined card says why and lets the customer try
again. Screenshots of each state are kept in .artifacts/screenshots/hosted_page/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import browser, shoot  # noqa: F401 - the fixture
from tests.e2e.test_payments import eventually

PAID = {"en": "Paid — thank you!", "zh": "已支付，谢谢！", "ru": "Оплачено — спасибо!"}
WIDTHS = {"desktop": (1280, 900), "mobile": (390, 844)}


def invoice_for(shop: Any, email: str, locale: str, amount: int = 4900) -> dict[str, Any]:
    customer = shop.post("/v1/customers", {"email": email, "name": "Ana", "locale": locale, "currency": "usd"}).json()
    lines = [{"description": "Pro plan", "quantity": 1, "unit_amount": amount, "tax_rate_percent": "8.25"}]
    body = {"customer_id": customer["id"], "currency": "usd", "lines": lines, "collection_method": "send_invoice"}
    placed = shop.post("/v1/orders", {**body, "days_until_due": 14})
    assert placed.status_code == 201, placed.text
    return shop.get(f"/v1/invoices/{placed.json()['invoice_id']}").json()


def type_card(page: Any, number: str) -> None:
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123")):
        page.fill(f"#card-element input[placeholder={field}]", value)
    page.fill("#card-element input[placeholder=postal_code]", "10001")


def pay(page: Any, card: str) -> None:
    """Type ``card`` into the page's card form and press Pay, as the customer does."""
    type_card(page, card)
    page.click("#pay-button")


def open_and_pay(chromium: Any, invoice: dict[str, Any], card: str) -> Any:
    """The invoice's hosted page in a new page of ``chromium``, paid (or tried) with ``card``; the page."""
    page = chromium.new_page()
    page.goto(invoice["hosted_invoice_url"])
    pay(page, card)
    return page


@pytest.mark.parametrize(("locale", "width"), [("en", "desktop"), ("zh", "mobile"), ("ru", "desktop")])
def test_a_customer_pays_on_the_hosted_page_with_a_card(shop, browser, tmp_path, locale, width):  # noqa: F811
    invoice = invoice_for(shop, f"browser.{locale}@example.com", locale)
    page = browser.new_page(viewport=dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.goto(invoice["hosted_invoice_url"])
    shoot(page, "hosted_page", f"due-{locale}-{width}")
    pay(page, "4242424242424242")
    page.wait_for_selector("#pay-outcome.ok", timeout=20_000)
    page.wait_for_selector(f"text={PAID[locale]}", timeout=30_000)  # the page reloads and shows the invoice paid
    shoot(page, "hosted_page", f"paid-{locale}-{width}")
    assert errors == []  # no script error, nothing the page's Content-Security-Policy refused
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid")


def test_a_card_that_needs_3d_secure_pays_after_the_prompt(shop, browser, tmp_path):  # noqa: F811
    invoice = invoice_for(shop, "browser.3ds@example.com", "en", amount=2500)
    page = open_and_pay(browser, invoice, "4000002500003155")
    prompt = page.wait_for_selector("text=Complete authentication", timeout=20_000)
    shoot(page, "hosted_page", "3ds-prompt", full_page=False)
    prompt.click()
    page.wait_for_selector(f"text={PAID['en']}", timeout=30_000)
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid")


def test_a_declined_card_says_so_and_the_customer_can_try_another(shop, browser, tmp_path):  # noqa: F811
    invoice = invoice_for(shop, "browser.declined@example.com", "en", amount=3100)
    page = open_and_pay(browser, invoice, "4000000000000341")
    page.wait_for_selector("#pay-outcome.error", timeout=20_000)
    shoot(page, "hosted_page", "declined")
    assert "declined" in page.inner_text("#pay-outcome").lower()
    assert page.is_enabled("#pay-button")
    assert shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "open"
    pay(page, "4242424242424242")  # another card, same page, same PaymentIntent
    page.wait_for_selector(f"text={PAID['en']}", timeout=30_000)
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid")
