"""Collecting payment on the local stack: the real stripe SDK against localstripe, webhooks signed and delivered by
localstripe to our endpoint, as a storefront and Stripe.js would drive it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests


def deliver_as_stripe(stack, event_type, obj, event_id):
    """Deliver an event the way Stripe signs it (localstripe sends PaymentIntent events itself, but no
    setup_intent.succeeded, which real Stripe sends when a card is saved)."""
    payload = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "created": int(time.time()), "data": {"object": obj}}
    )
    stamp = int(time.time())
    signature = hmac.new(
        stack["stripe"]["webhook_secret"].encode(), f"{stamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    headers = {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}
    answer = requests.post(stack["stripe"]["webhook_url"], data=payload, timeout=10, headers=headers)
    assert answer.status_code == 200, answer.text


def eventually(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def customer_with_card(shop, stack, stripe_js, email, card, locale="en", name="Ana", timezone="UTC"):
    body = {"email": email, "name": name, "locale": locale, "currency": "usd", "timezone": timezone}
    customer = shop.post("/v1/customers", body).json()
    setup = shop.post(f"/v1/customers/{customer['id']}/setup_intent").json()
    assert setup["client_secret"].startswith(setup["id"])
    method = (
        card
        if card.startswith("pm_")
        else stripe_js.v1.payment_methods.create(
            params={"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
        ).id
    )
    confirmed = stripe_js.v1.setup_intents.confirm(setup["id"], params={"payment_method": method})
    assert confirmed.status == "succeeded"
    deliver_as_stripe(stack, "setup_intent.succeeded", confirmed.to_dict(), f"evt_seti_{setup['id']}")
    saved = eventually(lambda: shop.get(f"/v1/customers/{customer['id']}").json().get("default_payment_method"))
    assert saved == confirmed.payment_method
    return customer


def order(shop, customer_id, method="charge_automatically", amount=2500):
    body = {
        "customer_id": customer_id,
        "currency": "usd",
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
    # Stripe.js attaches the card and confirms (localstripe takes the two steps separately)
    stripe_js.v1.payment_intents.update(first["id"], params={"payment_method": "pm_card_visa"})
    paid = stripe_js.v1.payment_intents.confirm(first["id"])
    assert paid.status == "succeeded"
    invoice = eventually(lambda: (i := shop.get(f"/v1/invoices/{invoice_id}").json())["status"] == "paid" and i)
    assert invoice and invoice["amount_paid"] == 4200
    assert shop.post(f"/v1/invoices/{invoice_id}/payment_intent").json()["code"] == "invoice_not_payable"
