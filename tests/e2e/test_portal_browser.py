"""The customer portal in a real headless browser (Chromium), on the local stack: a storefront opens a portal session
for its signed-in customer; the customer sees their own bills in their language, switches language, downloads a PDF,
pays an open invoice through the hosted page, and replaces their card through localstripe. A tampered link shows
nothing. Screenshots of every page at desktop and mobile width are kept in .artifacts/screenshots/portal/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import browser, shoot  # noqa: F401 - the fixture
from tests.e2e.test_hosted_page_browser import PAID, WIDTHS, invoice_for, pay, type_card
from tests.e2e.test_payments import eventually
from tests.e2e.test_storefront import emails_to

HEADING = {"en": "Invoices", "zh": "发票", "ru": "Счета"}


def shot(page: Any, name: str) -> None:
    shoot(page, "portal", name)


def watched(chromium: Any, width: str) -> tuple[Any, list[str]]:
    """A new page at ``width`` that records every script error, refused resource and failed request."""
    page = chromium.new_page(viewport=dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    return page, errors


def portal_url(shop: Any, customer_id: str, **body: Any) -> str:
    answer = shop.post(f"/v1/customers/{customer_id}/portal_sessions", body)
    assert answer.status_code == 201, answer.text
    return answer.json()["url"]


@pytest.mark.parametrize("locale", ["en", "zh", "ru"])
def test_a_customer_sees_their_own_bills_in_their_language(shop, browser, locale):  # noqa: F811
    mine = invoice_for(shop, f"portal.{locale}@example.com", locale)
    other = invoice_for(shop, f"someone.else.{locale}@example.com", locale)
    url = portal_url(shop, mine["customer_id"], return_url="https://shop.example/account")
    for width in WIDTHS:
        page, errors = watched(browser, width)
        page.goto(url)
        assert page.locator("h2#invoices-heading").inner_text() == HEADING[locale]
        numbers = page.locator("li.invoice").evaluate_all("items => items.map(i => i.dataset.number)")
        assert numbers == [mine["number"]] and other["number"] not in page.content()
        assert page.locator("html").get_attribute("lang") == {"en": "en", "zh": "zh-CN", "ru": "ru"}[locale]
        shot(page, f"overview-{locale}-{width}")
        assert errors == []
        page.close()


def test_the_customer_switches_language_downloads_a_pdf_and_pays(shop, browser):  # noqa: F811
    invoice = invoice_for(shop, "portal.pay@example.com", "en", amount=2600)
    page, errors = watched(browser, "desktop")
    page.goto(portal_url(shop, invoice["customer_id"]))
    page.click("a[hreflang=ru]")
    page.wait_for_selector("text=Счета")
    shot(page, "overview-switched-ru-desktop")
    page.click("a[hreflang=en]")
    eventually(lambda: shop.get(f"/v1/invoices/{invoice['id']}").json()["pdf_url"])
    page.reload()
    with page.expect_download() as download:
        page.click(f"li.invoice[data-number='{invoice['number']}'] a[download]")
    saved = download.value.path()
    assert Path(saved).read_bytes().startswith(b"%PDF")

    page.click(f"li.invoice[data-number='{invoice['number']}'] a.button")  # Pay now: the hosted page
    pay(page, "4242424242424242")
    page.wait_for_selector(f"text={PAID['en']}", timeout=30_000)
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid")
    page.go_back()
    page.reload()
    assert page.locator(f"li.invoice[data-number='{invoice['number']}'] .badge.paid").count() == 1
    shot(page, "overview-after-paying-desktop")
    assert errors == []


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_customer_replaces_their_card(shop, browser, width):  # noqa: F811
    invoice = invoice_for(shop, f"portal.card.{width}@example.com", "en")
    page, errors = watched(browser, width)
    page.goto(portal_url(shop, invoice["customer_id"]))
    assert "No card saved." in page.content()
    page.click("text=Add a card")
    shot(page, f"card-{width}")
    type_card(page, "4242424242424242")
    page.click("#card-button")
    page.wait_for_selector("#card-outcome.ok", timeout=20_000)

    def card_shown() -> bool:
        page.goto(page.url.split("/card", 1)[0])
        return "Visa ending in 4242" in page.content()

    assert eventually(card_shown)
    shot(page, f"overview-with-card-{width}")
    assert errors == []


def test_a_tampered_link_shows_nothing(shop, browser):  # noqa: F811
    invoice = invoice_for(shop, "portal.tampered@example.com", "en")
    url = portal_url(shop, invoice["customer_id"])
    tampered = url[:-1] + ("A" if url[-1] != "A" else "B")
    page, _ = watched(browser, "mobile")
    answer = page.goto(tampered)
    assert answer.status == 404 and invoice["number"] not in page.content() and "Ana" not in page.content()
    shot(page, "not-found-mobile")


def test_a_customer_signs_in_by_email_from_the_link_in_every_email(shop, browser):  # noqa: F811
    invoice = invoice_for(shop, "portal.sign.in@example.com", "zh")
    [issued] = emails_to(shop, "portal.sign.in@example.com")
    assert issued["kind"] == "invoice_issued"
    sign_in = next(w for w in issued["html"].split('"') if "/sign-in?lang=zh" in w)
    page, errors = watched(browser, "mobile")
    page.goto(sign_in.replace("&amp;", "&"))
    shot(page, "sign-in-zh-mobile")
    page.fill("#email", "portal.sign.in@example.com")
    page.click("button[type=submit]")
    page.wait_for_selector("text=请查收邮件")
    shot(page, "sign-in-sent-zh-mobile")
    shop.post("/_local/drain", {})

    def link_mailed() -> str | None:
        mails = [
            e
            for e in shop.get("/_local/emails").json()["emails"]
            if "portal.sign.in@example.com" in e["to"] and e["subject"].startswith("查看您在")
        ]
        return next((w for m in mails for w in m["html"].split('"') if "/portal/" in w and "sign-in" not in w), None)

    link = eventually(link_mailed)
    assert link
    page.goto(link)
    assert page.locator("li.invoice").evaluate_all("items => items.map(i => i.dataset.number)") == [invoice["number"]]
    assert errors == []
