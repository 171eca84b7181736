"""A month on the local stack, as a storefront would live it: a subscriber with a good card and a customer whose card
declines every charge (localstripe's 4000000000000341), then `POST /_local/clock/advance {"days": 31}` replays every
schedule fire in order (hourly billing runs, the daily dunning sweep, reconciliation). Every outcome is read back
over HTTP and from the local SES."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_payments import customer_with_card, eventually, order
from tests.e2e.test_storefront import emails_to

CYRILLIC = re.compile(r"[а-яА-ЯёЁ]")
DECLINED = "dunning.ru@example.com"
SUBSCRIBER = "subscriber@example.com"


@pytest.fixture(scope="module")
def month(shop, stack, stripe_js) -> dict[str, Any]:
    declined = customer_with_card(shop, stack, stripe_js, DECLINED, "4000000000000341", locale="ru", name="Пётр")
    invoice_id = order(shop, declined["id"])
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["dunning"]["first_failure_at"])

    subscriber = customer_with_card(shop, stack, stripe_js, SUBSCRIBER, "pm_card_visa")
    pro = shop.post(
        "/v1/plans",
        {
            "name": "Team",
            "interval": {"unit": "month", "count": 1},
            "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 1500}],
        },
    ).json()
    subscription = shop.post(
        "/v1/subscriptions", {"customer_id": subscriber["id"], "items": [{"plan_id": pro["id"], "quantity": 3}]}
    ).json()
    assert subscription["status"] == "active", subscription

    started = time.monotonic()
    advanced = shop.post("/_local/clock/advance", {"days": 31}, timeout=900)
    assert advanced.status_code == 200, advanced.text
    fired = advanced.json()["fired"]
    print(f"31 days replayed in {time.monotonic() - started:.1f} s, {len(fired)} schedule fires")
    return {"invoice_id": invoice_id, "subscriber": subscriber, "subscription": subscription}


def test_the_default_dunning_policy_plays_out_for_a_declining_card_in_russian(shop, month):
    invoice_id = month["invoice_id"]
    invoice = shop.get(f"/v1/invoices/{invoice_id}").json()
    assert invoice["status"] == "uncollectible" and invoice["amount_due"] == 2500
    timeline = shop.get(f"/v1/invoices/{invoice_id}/dunning").json()
    assert [s["state"] for s in timeline["steps"]] == ["done"] * 5
    assert [c["status"] for c in timeline["charges"]] == ["failed"] * 4  # at finalization, then days 1, 3 and 7
    assert [e["kind"] for e in timeline["emails"]] == [
        "invoice_issued",
        "payment_retry_failed",
        "payment_retry_failed",
        "final_notice",
        "service_suspended",
    ]
    emails = emails_to(shop, DECLINED, at_least=5)
    assert len(emails) == 5
    for email in emails:
        assert CYRILLIC.search(email["subject"]), email["subject"]
        assert invoice["number"] in email["subject"]
    assert "/pay/" in emails[1]["html"]  # the hosted invoice page link keeps working through dunning


def test_the_subscription_is_billed_and_charged_for_each_period(shop, month):
    sub = shop.get(f"/v1/subscriptions/{month['subscription']['id']}").json()
    assert sub["current_period_index"] == 2  # period 0 at the start, period 1 a month later
    invoices = shop.get("/v1/invoices", customer_id=month["subscriber"]["id"]).json()["data"]
    invoices = sorted(invoices, key=lambda i: i["period_index"])
    assert [i["period_index"] for i in invoices] == [0, 1]
    assert all(i["total"] == 4500 and i["status"] == "paid" for i in invoices), invoices
    start = datetime.fromisoformat(month["subscription"]["next_billing_at"])
    assert datetime.fromisoformat(sub["next_billing_at"]) - start in (timedelta(days=59), timedelta(days=61))
    receipts = [e for e in emails_to(shop, SUBSCRIBER, at_least=4) if "eceipt" in e["subject"]]
    assert len(receipts) == 2
