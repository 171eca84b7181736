"""Subscriptions on moto: plans and subscriptions through the API handler, the hourly billing run and the invoice
worker through their handlers, every invoice read back. The clock is moved to each run's time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing.adapters import keys
from billing.bootstrap import Deps
from billing.domain.errors import ValidationFailed
from billing.domain.subscriptions import Subscription
from billing.services import subscriptions
from functions.api import app as api
from functions.invoice_worker import app as invoice_worker
from tests.integration.billing_pages import sweep
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.numbering import number_drafts
from tests.integration.test_workers import (
    NO_FAILURES,
    call,
    outbox,
    receive_all,
    set_clock,
    sqs_bodies_event,
    sqs_event,
)

pytestmark = pytest.mark.usefixtures("deps")
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the clock fixture's time

MONTHLY = {"unit": "month", "count": 1}
FLAT = {"name": "Pro", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "flat", "amount": 4900}]}
SEATS = {"name": "Seats", "interval": MONTHLY, "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 1200}]}
API_CALLS = {
    "name": "API calls",
    "interval": MONTHLY,
    "usage": "metered",
    "prices": [
        {
            "currency": "usd",
            "scheme": "tiered_graduated",
            "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": None, "unit_amount": 2}],
        }
    ],
}


def created(status_body: tuple[int, Any]) -> dict[str, Any]:
    status, body = status_body
    assert status == 201, body
    return body


def plan(key: str, body: dict[str, Any]) -> str:
    return created(call("POST", "/v1/plans", key, body))["id"]


def customer(key: str, tz: str = "UTC", email: str = "ana@example.com") -> str:
    body = {"email": email, "name": "Ana", "locale": "en", "currency": "usd", "timezone": tz}
    return created(call("POST", "/v1/customers", key, body))["id"]


def subscribe(key: str, customer_id: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "items": items, "collection_method": "send_invoice", **extra}
    return created(call("POST", "/v1/subscriptions", key, body))


def billing_run(deps: Deps, clock, when: datetime) -> dict[str, Any]:
    """The hourly run at ``when`` and its pages (tests/integration/billing_pages.py), then the worker on everything
    it fanned out (batches of 10, as Lambda polls),
    then the numbering writer on the drafts (the relay and the FIFO queue between)."""
    set_clock(clock, when)
    swept = sweep(deps, when)
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    for n in range(0, len(messages), 10):
        batch = sqs_event("sqs_billing.json", messages[n : n + 10])
        assert invoice_worker.lambda_handler(batch, FakeLambdaContext()) == NO_FAILURES
    number_drafts(deps)
    return swept


def after(instant: str | datetime) -> datetime:
    """The first hourly run (at :10) at least RUN_DELAY after ``instant``."""
    at = (datetime.fromisoformat(instant) if isinstance(instant, str) else instant) + subscriptions.RUN_DELAY
    run = at.replace(minute=10, second=0, microsecond=0)
    return run if run >= at else run + timedelta(hours=1)


def invoices_of(key: str, customer_id: str) -> list[dict[str, Any]]:
    event = http_event("GET", "/v1/invoices", key, query={"customer_id": customer_id, "limit": "100"})
    answer = api.lambda_handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 200, answer
    return sorted(json.loads(answer["body"])["data"], key=lambda i: i["number"])


def test_a_subscription_is_billed_once_per_period_whatever_the_duplicates(deps, clock, key, tenant_id):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}, {"plan_id": plan(key, SEATS), "quantity": 3}])
    assert sub["status"] == "active" and sub["next_billing_at"] == "2026-11-23T12:00:00Z"

    run_at = after(sub["next_billing_at"])
    assert billing_run(deps, clock, run_at)["fanned_out"] == 1
    assert billing_run(deps, clock, run_at)["duplicate"] is True  # the same scheduled time fired again
    assert billing_run(deps, clock, run_at + timedelta(hours=1))["fanned_out"] == 0  # billed: off the index
    # a message delivered twice, late: the period is billed, nothing more
    stale = sqs_bodies_event("sqs_billing.json", {"tenant_id": tenant_id, "subscription_id": sub["id"]})
    assert invoice_worker.lambda_handler(stale, FakeLambdaContext()) == NO_FAILURES

    (invoice,) = invoices_of(key, cus)
    assert invoice["number"] == "INV-2026-000001" and invoice["subscription_id"] == sub["id"]
    assert invoice["period_index"] == 0 and invoice["total"] == 4900 + 3 * 1200
    assert [li["description"] for li in invoice["lines"]] == [
        "Pro (23 Nov 2026 – 23 Dec 2026)",
        "Seats × 3 (23 Nov 2026 – 23 Dec 2026)",
    ]
    billed = call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]
    assert billed["current_period_index"] == 1 and billed["next_billing_at"] == "2026-12-23T12:00:00Z"
    assert len(outbox(keys.invoice(tenant_id, invoice["id"]), "invoice.finalized")) == 1


def test_a_run_of_many_subscriptions_numbers_every_invoice_gaplessly_with_no_counter_in_the_billing_transaction(
    deps, clock, key, tenant_id
):
    pro = plan(key, FLAT)
    customers = [customer(key, email=f"c{n}@example.com") for n in range(25)]
    for cus in customers:
        subscribe(key, cus, [{"plan_id": pro}])
    counter_writes = []
    real_set_counter = deps.context.repo.set_counter

    def counting(tx, *args):
        counter_writes.append(args)
        return real_set_counter(tx, *args)

    deps.context.repo.set_counter = counting
    try:
        assert billing_run(deps, clock, after(START))["fanned_out"] == 25
    finally:
        deps.context.repo.set_counter = real_set_counter
    numbers = sorted(i["number"] for cus in customers for i in invoices_of(key, cus))
    assert numbers == [f"INV-2026-{n:06}" for n in range(1, 26)]
    # the pages pack each shard's subscriptions of the tenant up to 8 a message (PER_TRANSACTION); the worker's billing
    # transactions move no counter; the writer gets their drafted messages in one FIFO batch and numbers all 25
    # drafts with one move
    assert subscriptions.PER_TRANSACTION == 8
    assert [new - old for *_, old, new in counter_writes] == [25]


def test_a_run_interrupted_half_way_finishes_without_duplicates_when_run_again(deps, clock, key, tenant_id):
    pro = plan(key, FLAT)
    customers = [customer(key, email=f"c{n}@example.com") for n in range(12)]
    for cus in customers:
        subscribe(key, cus, [{"plan_id": pro}])
    set_clock(clock, after(START))
    assert sweep(deps, clock.now())["fanned_out"] == 12
    first = receive_all(deps.env["BILLING_QUEUE_URL"])[:3]
    billed = sum(len(json.loads(m["Body"])["subscription_ids"]) for m in first)
    assert invoice_worker.lambda_handler(sqs_event("sqs_billing.json", first), FakeLambdaContext()) == NO_FAILURES
    # the worker dies on the other messages; the next hourly run (its own scheduled time) fans out what is still due
    assert billing_run(deps, clock, clock.now() + timedelta(hours=1))["fanned_out"] == 12 - billed
    numbers = sorted(i["number"] for cus in customers for i in invoices_of(key, cus))
    assert numbers == [f"INV-2026-{n:06}" for n in range(1, 13)]


def test_two_workers_billing_the_same_subscription_at_once_make_one_invoice(deps, clock, key, tenant_id):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}])
    set_clock(clock, after(START))
    repo = deps.context.repo
    real_commit, raced = repo.commit, []

    def commit_after_the_other_worker(tx):
        if not raced:
            raced.append(True)
            subscriptions.bill_subscriptions(deps.context, tenant_id, [sub["id"]])
        return real_commit(tx)

    repo.commit = commit_after_the_other_worker
    try:
        subscriptions.bill_subscriptions(deps.context, tenant_id, [sub["id"]])
    finally:
        repo.commit = real_commit
    number_drafts(deps)
    assert [i["number"] for i in invoices_of(key, cus)] == ["INV-2026-000001"]


def test_a_year_of_monthly_periods_from_the_31st_in_the_customers_time_zone(deps, clock, key, tenant_id):
    set_clock(clock, datetime(2027, 12, 31, 12, 0, tzinfo=UTC))
    cus = customer(key, tz="America/New_York")
    anchor = "2028-01-31T05:00:00Z"  # midnight, 31 January 2028, in New York (a leap year)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}], billing_anchor=anchor)
    when = datetime.fromisoformat(anchor)
    for _ in range(12):
        billing_run(deps, clock, after(when))
        when = datetime.fromisoformat(call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["next_billing_at"])
    invoices = invoices_of(key, cus)
    assert [i["period_index"] for i in invoices] == list(range(12))
    assert [i["lines"][0]["description"].split("(")[1].rstrip(")") for i in invoices] == [
        "31 Jan 2028 – 29 Feb 2028",
        "29 Feb 2028 – 31 Mar 2028",
        "31 Mar 2028 – 30 Apr 2028",
        "30 Apr 2028 – 31 May 2028",
        "31 May 2028 – 30 Jun 2028",
        "30 Jun 2028 – 31 Jul 2028",
        "31 Jul 2028 – 31 Aug 2028",
        "31 Aug 2028 – 30 Sep 2028",
        "30 Sep 2028 – 31 Oct 2028",
        "31 Oct 2028 – 30 Nov 2028",
        "30 Nov 2028 – 31 Dec 2028",
        "31 Dec 2028 – 31 Jan 2029",
    ]
    assert {i["total"] for i in invoices} == {4900}
    assert when == datetime(2029, 1, 31, 5, 0, tzinfo=UTC)  # still local midnight after two DST changes


def test_metered_usage_is_billed_in_arrears_once_per_key_and_late_records_land_in_their_period(
    deps, clock, key, tenant_id
):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}, {"plan_id": (calls := plan(key, API_CALLS))}])
    billing_run(deps, clock, after(START))  # period 0 opens: Pro in advance, no usage yet

    def usage(quantity, at, idem):
        body = {"subscription_id": sub["id"], "plan_id": calls, "quantity": quantity, "idempotency_key": idem}
        return call("POST", "/v1/usage", key, {**body, "timestamp": at.isoformat()})

    set_clock(clock, START + timedelta(days=10))
    assert usage(900, clock.now(), "u1")[0] == 200
    assert usage(900, clock.now(), "u1")[1]["id"] == usage(900, clock.now(), "u1")[1]["id"]  # the same record
    assert usage(5, clock.now(), "u1")[1]["code"] == "idempotency_key_reused"
    period_end = datetime.fromisoformat(call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["next_billing_at"])
    set_clock(clock, period_end + timedelta(minutes=40))
    assert usage(600, period_end - timedelta(seconds=1), "u2")[0] == 200  # 40 min late: still period 0
    assert usage(50, period_end, "u3")[0] == 200  # the first second of period 1
    set_clock(clock, period_end + timedelta(hours=2))
    assert usage(7, period_end - timedelta(minutes=1), "u4")[1]["code"] == "usage_too_late"
    assert usage(1, clock.now(), "u5")[0] == 200
    billing_run(deps, clock, after(period_end))

    first, second = invoices_of(key, cus)
    usage_line = second["lines"][0]
    assert "API calls" in usage_line["description"] and "1500 units" in usage_line["description"]
    assert usage_line["amount"] == (1500 - 1000) * 2  # graduated: the first 1000 free, 2 cents after
    assert second["total"] == 4900 + 1000


def test_a_trial_ends_with_the_first_invoice(deps, clock, key, tenant_id):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}], trial_days=14)
    assert sub["status"] == "trialing" and sub["trial_end"] == "2026-12-07T12:00:00Z"
    billing_run(deps, clock, after(START))
    assert invoices_of(key, cus) == []
    billing_run(deps, clock, after(sub["trial_end"]))
    (invoice,) = invoices_of(key, cus)
    assert invoice["total"] == 4900 and "7 Dec 2026 – 7 Jan 2027" in invoice["lines"][0]["description"]
    assert call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["status"] == "active"


def test_an_enterprise_trial_waits_for_review_and_is_not_billed_until_approved(deps, clock, key, tenant_id):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}], metadata={"order_type": "enterprise"})
    assert sub["status"] == "pending_review" and sub["next_billing_at"] is None
    billing_run(deps, clock, after(START))
    billing_run(deps, clock, START + timedelta(days=40))
    assert invoices_of(key, cus) == []
    set_clock(clock, START + timedelta(days=41))
    status, approved = call("POST", f"/v1/subscriptions/{sub['id']}/approve", key)
    assert status == 200 and approved["status"] == "active"
    billing_run(deps, clock, after(approved["next_billing_at"]))
    assert [i["total"] for i in invoices_of(key, cus)] == [4900]


def change(key: str, sub_id: str, seats_plan: str, quantity: int) -> dict[str, Any]:
    body = {"items": [{"plan_id": seats_plan, "quantity": quantity}]}
    status, changed = call("POST", f"/v1/subscriptions/{sub_id}/change", key, body)
    assert status == 200, changed
    return changed


def test_chained_changes_are_prorated_on_the_next_invoice(deps, clock, key, tenant_id):
    cus = customer(key)
    seats = plan(key, SEATS)
    sub = subscribe(key, cus, [{"plan_id": seats, "quantity": 2}])
    billing_run(deps, clock, after(START))  # 2 seats for 23 Nov – 23 Dec (30 days): 2400
    set_clock(clock, START + timedelta(days=15))  # upgrade to 4 with half the period left
    change(key, sub["id"], seats, 4)
    set_clock(clock, START + timedelta(days=24))  # down to 1 with 6 of 30 days left
    changed = change(key, sub["id"], seats, 1)
    assert [ln["amount"] for ln in changed["pending_proration"]] == [-1200, 2400, -960, 240]

    billing_run(deps, clock, after(changed["next_billing_at"]))
    first, second = invoices_of(key, cus)
    assert first["total"] == 2400
    assert [li["amount"] for li in second["lines"]] == [-1200, 2400, -960, 240, 1200]
    assert second["total"] == 1680  # the credits never exceed what was charged: 2400 + 2400 paid, 2160 credited


def test_canceling_now_credits_the_unused_time_and_a_negative_invoice_becomes_customer_credit(
    deps, clock, key, tenant_id
):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, SEATS), "quantity": 4}])
    billing_run(deps, clock, after(START))  # 4800 for 30 days
    set_clock(clock, START + timedelta(days=3))
    status, canceled = call("POST", f"/v1/subscriptions/{sub['id']}/cancel", key, {"at_period_end": False})
    assert status == 200 and canceled["status"] == "canceled"
    assert [ln["amount"] for ln in canceled["pending_proration"]] == [-4320]  # 27 of 30 days unused
    billing_run(deps, clock, after(canceled["next_billing_at"]))
    first, last = invoices_of(key, cus)
    assert last["total"] == -4320 and last["amount_due"] == 0 and last["status"] == "paid"
    assert call("GET", f"/v1/customers/{cus}", key)[1]["credit_balance"] == 4320
    assert call("GET", f"/v1/subscriptions/{sub['id']}", key)[1]["next_billing_at"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"items": [{"plan_id": "plan_nope"}]}, 404, "plan_not_found"),
        ({"items": []}, 422, "invalid_request"),
        ({"items": [{"plan_id": "{pro}", "quantity": 0}]}, 422, "invalid_request"),
        ({"items": [{"plan_id": "{pro}"}, {"plan_id": "{weekly}"}]}, 422, "mixed_intervals"),
        ({"items": [{"plan_id": "{euro}"}]}, 422, "no_price_for_currency"),
        ({"items": [{"plan_id": "{pro}", "quantity": 2}]}, 422, "quantity_not_applicable"),
        ({"items": [{"plan_id": "{pro}"}], "billing_anchor": "2020-01-01T00:00:00Z"}, 422, "anchor_in_past"),
    ],
)
def test_a_bad_subscription_is_refused_and_writes_nothing(deps, key, tenant_id, body, status, code):
    ids = {
        "pro": plan(key, FLAT),
        "weekly": plan(key, {**FLAT, "interval": {"unit": "week", "count": 1}}),
        "euro": plan(key, {**FLAT, "prices": [{"currency": "eur", "scheme": "flat", "amount": 4500}]}),
    }
    cus = customer(key)
    filled = json.loads(json.dumps(body).replace("{pro}", ids["pro"]).replace("{weekly}", ids["weekly"]))
    filled = json.loads(json.dumps(filled).replace("{euro}", ids["euro"]))
    answer = call("POST", "/v1/subscriptions", key, {"customer_id": cus, **filled})
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert call("GET", "/v1/subscriptions", key)[1]["data"] == []


def test_a_bad_plan_or_time_zone_is_refused(deps, key):
    bad_tiers = {**API_CALLS, "prices": [{"currency": "usd", "scheme": "tiered_volume", "tiers": [{"up_to": 5}]}]}
    assert call("POST", "/v1/plans", key, bad_tiers)[0] in (400, 422)
    assert call("POST", "/v1/plans", key, {**FLAT, "interval": {"unit": "day", "count": 1}})[0] == 422
    body = {"email": "a@example.com", "name": "A", "locale": "en", "currency": "usd", "timezone": "Mars/Olympus"}
    status, problem = call("POST", "/v1/customers", key, body)
    assert (status, problem["code"]) in ((422, "unknown_timezone"), (422, "invalid_request")), problem
    assert call("GET", "/v1/plans", key)[1]["data"] == []


def test_a_subscription_that_cannot_be_billed_does_not_hold_back_its_batch(deps, clock, key, tenant_id, monkeypatch):
    pro = plan(key, FLAT)
    good, bad = (subscribe(key, customer(key, email=f"{n}@example.com"), [{"plan_id": pro}]) for n in ("good", "bad"))
    real = Subscription.bill_period

    def refuse_one(self, index, usage, now):
        if self.id == bad["id"]:
            raise ValidationFailed("broken_price", "this subscription's price cannot be billed")
        return real(self, index, usage, now)

    monkeypatch.setattr(Subscription, "bill_period", refuse_one)
    set_clock(clock, after(START))
    assert sweep(deps, clock.now())["fanned_out"] == 2
    messages = receive_all(deps.env["BILLING_QUEUE_URL"])
    answer = invoice_worker.lambda_handler(sqs_event("sqs_billing.json", messages), FakeLambdaContext())

    bad_message = next(m["MessageId"] for m in messages if bad["id"] in m["Body"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad_message}]}  # retried, then dead-lettered
    number_drafts(deps)
    assert [i["number"] for i in invoices_of(key, good["customer_id"])] == ["INV-2026-000001"]
    assert invoices_of(key, bad["customer_id"]) == []
