"""The hosted invoice page on the local stack: the link arrives in the customer's email, opens without an API key,
shows the invoice with localstripe's Stripe.js on it, and shows it paid once the customer has paid."""

from __future__ import annotations

import html
import re
import time

import requests
import stripe

from billing.i18n import format_money


def eventually(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def pay_link_in_email(shop, address):
    def find():
        for email in shop.get("/_local/emails").json()["emails"]:
            if address in email["to"] and (found := re.search(r'href="([^"]*/pay/[^"]+)"', email["html"])):
                return html.unescape(found[1])
        return None

    return eventually(find)


def test_the_emailed_link_opens_the_invoice_with_stripe_js(shop, stack):
    customer = shop.post(
        "/v1/customers", {"email": "hosted@example.com", "name": "Ана", "locale": "ru", "currency": "usd"}
    ).json()
    body = {
        "customer_id": customer["id"],
        "currency": "usd",
        "collection_method": "send_invoice",
        "days_until_due": 14,
        "lines": [{"description": "Pro plan", "quantity": 1, "unit_amount": 4900, "tax_rate_percent": "8.25"}],
    }
    placed = shop.post("/v1/orders", body)
    assert placed.status_code == 201, placed.text
    invoice = shop.get(f"/v1/invoices/{placed.json()['invoice_id']}").json()

    url = pay_link_in_email(shop, "hosted@example.com")
    assert url and url.startswith(f"{stack['api_base_url']}/pay/{stack['tenant_id']}.{invoice['id']}.")
    page = requests.get(url, timeout=30)  # a browser: no API key
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert invoice["number"] in page.text
    assert format_money(invoice["amount_due"], "usd", "ru") in page.text
    stripe_js = f"{stack['stripe']['api_base']}/js.stripe.com/v3/"
    assert f'<script src="{stripe_js}"' in page.text
    assert stack["stripe"]["api_base"] in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "Stripe = " in requests.get(stripe_js, timeout=10).text  # localstripe serves its Stripe.js there

    # The customer pays the page's PaymentIntent (what Stripe.js does; localstripe takes the two steps apart)
    client_secret = re.search(r'"clientSecret": "([^"]+)"', page.text)[1]
    intent_id = client_secret.split("_secret_")[0]
    client = stripe.StripeClient(stack["stripe"]["secret_key"], base_addresses={"api": stack["stripe"]["api_base"]})
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    assert client.v1.payment_intents.confirm(intent_id).status == "succeeded"
    paid = eventually(lambda: "Оплачено — спасибо!" in (text := requests.get(url, timeout=30).text) and text)
    assert paid and "<script" not in paid
    assert shop.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "paid"


def test_a_wrong_link_is_a_404_page(shop, stack):
    page = requests.get(f"{stack['api_base_url']}/pay/{stack['tenant_id']}.in_nope.nope-nope-nope-nope", timeout=30)
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "Page not found" in page.text
