"""Collecting payment on the local stack: the real stripe SDK against localstripe (with the layer the stack puts in
front of it), webhooks signed and delivered to our endpoint, as a storefront and Stripe.js would drive it; no event
is signed by hand."""

from __future__ import annotations

import time

import pytest
import requests
import stripe


def eventually(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def payment_method_for(stripe_js, card):
    """A test card as Stripe.js makes it a PaymentMethod: a ``pm_…`` test id as is, a card number made into one."""
    if card.startswith("pm_"):
        return card
    details = {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return stripe_js.v1.payment_methods.create(params={"type": "card", "card": details}).id


def customer_with_card(shop, stack, stripe_js, email, card, locale="en", name="Ana", timezone="UTC", currency="usd"):
    body = {"email": email, "name": name, "locale": locale, "currency": currency, "timezone": timezone}
    customer = shop.post("/v1/customers", body).json()
    setup = shop.post(f"/v1/customers/{customer['id']}/setup_intent").json()
    assert setup["client_secret"].startswith(setup["id"])
    method = payment_method_for(stripe_js, card)
    confirmed = stripe_js.v1.setup_intents.confirm(setup["id"], params={"payment_method": method})
    assert confirmed.status == "succeeded"
    # the local stack sends setup_intent.succeeded, as Stripe does: the card becomes the customer's default
    saved = eventually(lambda: shop.get(f"/v1/customers/{customer['id']}").json().get("default_payment_method"))
    assert saved == confirmed.payment_method
    return customer


def order(shop, customer_id, method="charge_automatically", amount=2500, currency="usd"):
    body = {
        "customer_id": customer_id,
        "currency": currency,
        "collection_method": method,
        "lines": [{"description": "Pro plan", "quantity": 1, "unit_amount": amount}],
    }
    placed = shop.post("/v1/orders", body)
    assert placed.status_code == 201, placed.text
    return placed.json()["invoice_id"]


def test_saved_card_is_charged_on_finalization_and_the_customer_gets_a_receipt(shop, stack, stripe_js):
    customer = customer_with_card(shop, stack, stripe_js, "paying@example.com", "pm_card_visa")
    invoice_id = order(shop, customer["id"])
    invoice = eventually(lambda: (i := shop.get(f"/v1/invoices/{invoice_id}").json())["status"] == "paid" and i)
    assert invoice and invoice["amount_paid"] == 2500 and invoice["amount_due"] == 0
    [payment] = shop.get(f"/v1/invoices/{invoice_id}/payments").json()["data"]
    assert payment["status"] == "succeeded" and payment["stripe_payment_intent_id"].startswith("pi_")
    intent = stripe_js.v1.payment_intents.retrieve(payment["stripe_payment_intent_id"])
    assert intent.amount == 2500 and intent.metadata["invoice_id"] == invoice_id
    subjects = eventually(
        lambda: [
            e["subject"]
            for e in shop.get("/_local/emails").json()["emails"]
            if "paying@example.com" in e["to"] and "eceipt" in e["subject"]
        ]
    )
    assert len(subjects) == 1 and invoice["number"] in subjects[0]


@pytest.mark.parametrize(
    ("currency", "due", "at_stripe", "paid", "credit", "refunded", "refunded_at_stripe"),
    [
        # 5,000 krónur: Stripe counts ISK with two decimals
        ("isk", 5000, 500000, 5000, 0, 5000, 500000),
        # 5.124 KWD: Stripe takes 10-fils steps; the 6 fils over are the customer's credit, and "refund all" gives
        # back what the invoice kept (5.124) in Stripe's steps: 5.120
        ("kwd", 5124, 5130, 5130, 6, 5120, 5120),
    ],
)
def test_a_currency_stripe_counts_differently_is_charged_at_its_value(
    shop, stack, stripe_js, currency, due, at_stripe, paid, credit, refunded, refunded_at_stripe
):
    email = f"{currency}@example.com"
    customer = customer_with_card(shop, stack, stripe_js, email, "pm_card_visa", currency=currency)
    invoice_id = order(shop, customer["id"], amount=due, currency=currency)
    invoice = eventually(lambda: (i := shop.get(f"/v1/invoices/{invoice_id}").json())["status"] == "paid" and i)
    assert invoice and (invoice["total"], invoice["amount_paid"], invoice["amount_due"]) == (due, paid, 0)
    [payment] = shop.get(f"/v1/invoices/{invoice_id}/payments").json()["data"]
    intent = stripe_js.v1.payment_intents.retrieve(payment["stripe_payment_intent_id"])
    assert (intent.amount, intent.currency, payment["amount"]) == (at_stripe, currency, paid)
    assert shop.get(f"/v1/customers/{customer['id']}").json()["credit_balance"] == credit
    # refunds cross the same boundary: all that Stripe can refund, in its steps
    answer = shop.post(f"/v1/invoices/{invoice_id}/refunds", {"reason": "requested_by_customer"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["amount"] == refunded
    [made] = stripe_js.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert made.amount == refunded_at_stripe
    if currency == "kwd":
        odd = shop.post(f"/v1/invoices/{invoice_id}/refunds", {"amount": 5, "reason": "other"})
        assert odd.status_code == 422 and odd.json()["code"] == "amount_not_chargeable"


def test_a_declining_card_fails_with_its_decline_code(shop, stack, stripe_js):
    customer = customer_with_card(shop, stack, stripe_js, "declined@example.com", "4000000000000341")
    invoice_id = order(shop, customer["id"])
    payments = eventually(
        lambda: [p for p in shop.get(f"/v1/invoices/{invoice_id}/payments").json()["data"] if p["status"] == "failed"]
    )
    assert payments and payments[0]["decline_code"] in ("card_declined", "generic_decline")
    assert shop.get(f"/v1/invoices/{invoice_id}").json()["status"] == "open"


def test_a_send_invoice_invoice_is_paid_through_its_payment_intent(shop, stack, stripe_js):
    customer = shop.post(
        "/v1/customers", {"email": "link@example.com", "name": "Li", "locale": "zh", "currency": "usd"}
    ).json()
    invoice_id = order(shop, customer["id"], method="send_invoice", amount=4200)
    first = shop.post(f"/v1/invoices/{invoice_id}/payment_intent").json()
    again = shop.post(f"/v1/invoices/{invoice_id}/payment_intent").json()
    assert first["id"] == again["id"] and first["amount"] == 4200  # one PaymentIntent per amount due
    # Stripe.js confirms with the card, from the browser: the publishable key and the intent's client secret
    browser = requests.post(
        f"{stack['stripe']['api_base']}/v1/payment_intents/{first['id']}/confirm",
        data={"key": stack["stripe"]["publishable_key"], "client_secret": first["client_secret"]}
        | {"payment_method": "pm_card_visa", "return_url": "http://127.0.0.1/return"},
        timeout=10,
    )
    assert browser.status_code == 200 and browser.json()["status"] == "succeeded", browser.text
    invoice = eventually(lambda: (i := shop.get(f"/v1/invoices/{invoice_id}").json())["status"] == "paid" and i)
    assert invoice and invoice["amount_paid"] == 4200
    assert shop.post(f"/v1/invoices/{invoice_id}/payment_intent").json()["code"] == "invoice_not_payable"


def test_a_saved_card_confirmed_server_side_with_a_payment_method_pays_a_send_invoice_invoice(shop, stack, stripe_js):
    customer = customer_with_card(shop, stack, stripe_js, "server.confirm@example.com", "pm_card_visa")
    invoice_id = order(shop, customer["id"], method="send_invoice", amount=1700)
    intent = shop.post(f"/v1/invoices/{invoice_id}/payment_intent").json()
    paid = stripe_js.v1.payment_intents.confirm(intent["id"], params={"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded" and paid.amount == 1700
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid")


def test_a_declined_card_is_not_saved_and_the_customer_keeps_no_default(shop, stack, stripe_js):
    customer = shop.post(
        "/v1/customers", {"email": "nocard@example.com", "name": "No", "locale": "en", "currency": "usd"}
    ).json()
    setup = shop.post(f"/v1/customers/{customer['id']}/setup_intent").json()
    method = payment_method_for(stripe_js, "4000000000000002")
    try:
        stripe_js.v1.setup_intents.confirm(setup["id"], params={"payment_method": method})
        raise AssertionError("a declined card was confirmed")
    except stripe.CardError as declined:
        assert declined.code == "card_declined"
    assert stripe_js.v1.setup_intents.retrieve(setup["id"]).status == "requires_payment_method"
    time.sleep(1.5)  # the local Stripe delivers its events a second later
    assert shop.get(f"/v1/customers/{customer['id']}").json().get("default_payment_method") is None


@pytest.mark.parametrize("reason", ["requested_by_customer", "duplicate", "fraudulent", "other"])
def test_every_refund_reason_refunds_through_the_local_stripe(shop, stack, stripe_js, reason):
    customer = customer_with_card(shop, stack, stripe_js, f"refund.{reason}@example.com", "pm_card_visa")
    invoice_id = order(shop, customer["id"], amount=3000)
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["status"] == "paid")
    note = shop.post(f"/v1/invoices/{invoice_id}/refunds", {"amount": 1500, "reason": reason})
    assert note.status_code == 201, note.text
    assert note.json()["amount"] == 1500 and note.json()["reason"] == reason
    [part] = note.json()["refunds"]
    refund = stripe_js.v1.refunds.retrieve(part["stripe_refund_id"])
    assert refund.amount == 1500 and refund.to_dict().get("reason") == (None if reason == "other" else reason)
