"""Dunning on the local stack: a card that declines every charge (localstripe's 4000000000000341), the clock moved
30 days, and the whole default policy played, every email read back from the local SES in the customer's language."""

from __future__ import annotations

import re
import time

from tests.e2e.test_payments import customer_with_card, eventually, order
from tests.e2e.test_storefront import emails_to

CYRILLIC = re.compile(r"[а-яА-ЯёЁ]")


def test_thirty_days_of_the_default_policy_for_a_declining_card_in_russian(shop, stack, stripe_js):
    address = "dunning.ru@example.com"
    customer = customer_with_card(shop, stack, stripe_js, address, "4000000000000341", locale="ru", name="Пётр")
    invoice_id = order(shop, customer["id"])
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["dunning"]["first_failure_at"])

    started = time.monotonic()
    advanced = shop.post("/_local/clock/advance", {"days": 31}, timeout=600)
    assert advanced.status_code == 200, advanced.text
    print(f"31 days replayed in {time.monotonic() - started:.1f} s, {len(advanced.json()['fired'])} schedule fires")

    invoice = shop.get(f"/v1/invoices/{invoice_id}").json()
    assert invoice["status"] == "uncollectible" and invoice["amount_due"] == 2500
    timeline = shop.get(f"/v1/invoices/{invoice_id}/dunning").json()
    assert [s["state"] for s in timeline["steps"]] == ["done"] * 5
    assert [c["status"] for c in timeline["charges"]] == ["failed"] * 4  # at finalization, then days 1, 3 and 7
    kinds = [e["kind"] for e in timeline["emails"]]
    assert kinds == [
        "invoice_issued",
        "payment_retry_failed",
        "payment_retry_failed",
        "final_notice",
        "service_suspended",
    ]
    emails = emails_to(shop, address, at_least=5)
    assert len(emails) == 5
    for email in emails:
        assert CYRILLIC.search(email["subject"]), email["subject"]
        assert invoice["number"] in email["subject"]
    assert "/pay/" in emails[1]["html"]  # the hosted invoice page link keeps working through dunning
