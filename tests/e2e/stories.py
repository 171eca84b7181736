"""The e2e story of a month, played against whichever stack it is given: the one started at the real time
(tests/e2e/test_a_month.py) and those started at instants chosen to break naive code (test_start_instants.py).

A customer whose card declines every charge (localstripe's 4000000000000341) and a subscriber with a good card on a
monthly plan. The clock moves from one moment the stack names to the next (the billing run after each period starts,
the dunning sweep of the last dunning step's day), replaying every schedule fire on the way."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing.domain.periods import boundary
from billing.domain.plans import Interval
from tests.e2e.clock import through_billing_of, through_dunning_day
from tests.e2e.test_payments import customer_with_card, eventually, order
from tests.e2e.test_storefront import emails_to

CYRILLIC = re.compile(r"[а-яА-ЯёЁ]")
MONTHLY = {"unit": "month", "count": 1}


def a_month(shop: Any, stack: Any, stripe_js: Any, tag: str = "", timezone: str = "UTC") -> dict[str, Any]:
    """Play the month; ``tag`` keeps its email addresses apart from other stories on the same stack, ``timezone``
    is the subscriber's (its periods are counted on that wall clock)."""
    declined_email, subscriber_email = f"dunning.ru{tag}@example.com", f"subscriber{tag}@example.com"
    declined = customer_with_card(shop, stack, stripe_js, declined_email, "4000000000000341", locale="ru", name="Пётр")
    invoice_id = order(shop, declined["id"])
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoice_id}").json()["dunning"]["first_failure_at"])

    subscriber = customer_with_card(shop, stack, stripe_js, subscriber_email, "pm_card_visa", timezone=timezone)
    prices = [{"currency": "usd", "scheme": "per_unit", "amount": 1500}]
    plan = shop.post("/v1/plans", {"name": "Team", "interval": MONTHLY, "prices": prices}).json()
    subscription = shop.post(
        "/v1/subscriptions", {"customer_id": subscriber["id"], "items": [{"plan_id": plan["id"], "quantity": 3}]}
    ).json()
    assert subscription["status"] == "active", subscription

    started, fires = time.monotonic(), 0
    fires += through_billing_of(shop, subscription["next_billing_at"])["fires"]  # period 0
    after_first = shop.get(f"/v1/subscriptions/{subscription['id']}").json()
    assert after_first["current_period_index"] == 1, after_first
    fires += through_billing_of(shop, after_first["next_billing_at"])["fires"]  # period 1, a month later
    last_step = shop.get(f"/v1/invoices/{invoice_id}/dunning").json()["steps"][-1]
    fires += through_dunning_day(shop, last_step["on"])["fires"]
    print(f"a month replayed in {time.monotonic() - started:.1f} s, {fires} schedule fires")
    return {
        "invoice_id": invoice_id,
        "declined_email": declined_email,
        "subscriber": subscriber,
        "subscriber_email": subscriber_email,
        "subscription": subscription,
        "timezone": timezone,
    }


def assert_dunning_played_out(shop: Any, month: dict[str, Any]) -> None:
    """The default dunning policy ran every step for the declining card, in Russian."""
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
    emails = emails_to(shop, month["declined_email"], at_least=5)
    assert [e["kind"] for e in emails] == [e["kind"] for e in timeline["emails"]]  # the local log knows each one
    assert {e["invoice_id"] for e in emails} == {invoice_id}
    for email in emails:
        assert CYRILLIC.search(email["subject"]), email["subject"]
        assert invoice["number"] in email["subject"]
    assert "/pay/" in emails[1]["html"]  # the hosted invoice page link keeps working through dunning


def assert_billed_each_period(shop: Any, month: dict[str, Any]) -> list[dict[str, Any]]:
    """Periods 0 and 1 were invoiced once each and paid; the next run waits for period 2. The invoices, in order."""
    sub = shop.get(f"/v1/subscriptions/{month['subscription']['id']}").json()
    assert sub["current_period_index"] == 2  # period 0 at the start, period 1 a month later
    invoices = shop.get("/v1/invoices", customer_id=month["subscriber"]["id"]).json()["data"]
    invoices = sorted(invoices, key=lambda i: i["period_index"])
    assert [i["period_index"] for i in invoices] == [0, 1]
    assert all(i["total"] == 4500 and i["status"] == "paid" for i in invoices), invoices
    # period 2 starts two calendar months after the anchor, at the same wall-clock time in the subscriber's zone
    anchor = datetime.fromisoformat(month["subscription"]["next_billing_at"])
    next_run = datetime.fromisoformat(sub["next_billing_at"])
    assert next_run == boundary(anchor, month["timezone"], Interval(**MONTHLY), 2)
    zone = ZoneInfo(month["timezone"])
    local_anchor, local_next = anchor.astimezone(zone), next_run.astimezone(zone)
    assert (local_next.year * 12 + local_next.month) - (local_anchor.year * 12 + local_anchor.month) == 2
    assert local_next.time() == local_anchor.time()
    receipts = [e for e in emails_to(shop, month["subscriber_email"], at_least=4) if "eceipt" in e["subject"]]
    assert len(receipts) == 2
    return invoices
