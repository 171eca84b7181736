"""Issue 14, done when: a known quarter of activity played on the local stack by moving its clock, and every report
equal to the figures worked out by hand below.

The stack starts on Monday 4 January 2027, 09:00 UTC (its own clock: the months of the quarter are what the figures
are about). The tenant's dunning policy: day 1 email and retry, day 3 retry and email, day 60 write off (steps 0, 1,
2; days after the due date; the daily sweep runs at 09:05). Plans: Seat (per unit, 100.00 USD or 90.00 EUR a
month), Annual (per unit, 1,200.00 USD a year), Starter (flat, 50.00 USD a month). Amounts below in cents.

4 Jan  Ann: Seat x1 (MRR 10000). Bob: Seat x2 (20000). Cai: Annual x1 (120000 a year: MRR 10000). Dee: Starter
       (5000). Kim: Seat x1 in EUR (9000). Each first period is billed by the 10:10 run and paid by card.
       Orders charged at once to cards that decline: Eve 30000, Fay 8000, Gus 6000 (due the same day).
5 Jan  Eve, Fay, Gus go past due; step 0 retries their cards: declined.
6 Jan  Fay pays through the invoice's PaymentIntent with a good card (recovered after step 0, 1 day after past due).
       Gus saves a good card.
7 Jan  Step 1 retries: Gus's new card pays (recovered by step 1's retry, 2 days); Eve's is declined again.
20 Jan Dee cancels at the end of her period (4 Feb).
4 Feb  The period runs: Ann 10000, Bob 20000 (Kim 9000 EUR), paid; Dee's subscription ends (MRR 0 from 4 Feb 09:00).
10 Feb Jay (no card) is sent an invoice of 12000, due in 5 days (15 Feb); he never pays (past due 16 Feb).
18 Feb Ann goes to Seat x3 and Bob to Seat x1, prorated by day: 14 of the period's 28 days are left, so Ann is
       credited 5000 and charged 15000, Bob credited 10000 and charged 5000, on their next invoices.
20 Feb Ann's February invoice is refunded 4000 (a credit note).
4 Mar  Ann 30000 + 15000 - 5000 = 40000, Bob 10000 + 5000 - 10000 = 5000, paid (Kim 9000 EUR).
5 Mar  Eve's invoice is written off (day 60 after 4 Jan): 30000.
10 Mar Dee subscribes to Starter again (5000): billed by the next run, paid.
15 Mar Bob cancels now, prorated by day: 20 of the period's 31 days left, credit round(10000 x 20 / 31) = 6452; the
       settling run issues an invoice of -6452 (Bob's credit).
20 Mar Hal is sent an invoice of 7000, due in 30 days (19 Apr).

MRR (USD), from each customer's MRR at the months' bounds:
  Jan: start 0; new 10000 + 20000 + 10000 + 5000 = 45000; end 45000 (4 customers), ARR 540000.
  Feb: start 45000; expansion +20000 (Ann), contraction -10000 (Bob), churn -5000 (Dee); end 50000 (3);
       net revenue retention (45000 + 20000 - 10000 - 5000) / 45000 = 111.11 %.
  Mar: start 50000; reactivation +5000 (Dee had MRR before), churn -10000 (Bob); end 45000 (3); NRR 80.00 %.
  EUR: Jan new 9000, then 9000 throughout.
Revenue (USD): Jan invoiced 155000 + 44000 = 199000, collected 155000 + 8000 + 6000 = 169000.
  Feb invoiced 10000 + 20000 + 12000 = 42000, collected 30000, refunded 4000.
  Mar invoiced 40000 + 5000 + 5000 - 6452 + 7000 = 50548, collected 50000, written off 30000.
Collections (USD): Jan rate 169000 / 199000 = 84.92 %; receivables at 1 Feb: Eve 30000; DSO 30000 x 31 / 199000 =
  4.7 days; entered dunning 3 (44000); recovered 2 (14000), 1 + 2 = 3 days, 1.5 on average.
  Feb rate 30000 / 42000 = 71.43 %; receivables at 1 Mar 30000 + 12000 = 42000; DSO 42000 x 28 / 42000 = 28.0;
  entered dunning 1 (Jay, 12000).
  Mar rate 50000 / 50548 = 98.92 %; receivables at 1 Apr 12000 + 7000 = 19000; DSO 19000 x 31 / 50548 = 11.7;
  written off 1 (30000).
  Steps: step 0 recovered Fay (8000, not by a retry), step 1 recovered Gus (6000, by its retry).
Aging (USD) at 31 Jan: Eve 30000 in 1-30 days. At 31 Mar: Jay 12000 in 31-60 (44 days), Hal 7000 not yet due.
Statement, Bob, Jan-Mar: opening 0; +20000 -20000, +20000 -20000, +5000 -5000, -6452: closing -6452 (his credit).
  Ann from 1 Feb: opening 0 (January paid); +10000 -10000, credit note -4000 and refund +4000, +40000 -40000: 0.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests

from tests.e2e.clock import advance
from tests.e2e.conftest import Storefront, serving
from tests.e2e.test_payments import customer_with_card, eventually, order

pytestmark = pytest.mark.e2e
START = "2027-01-04T09:00:00Z"
DECLINES = "4000000000000341"
POLICY = {
    "steps": [
        {"day": 1, "actions": ["email_reminder", "retry_charge"]},
        {"day": 3, "actions": ["retry_charge", "email_reminder"]},
        {"day": 60, "actions": ["mark_uncollectible"]},
    ]
}
MONTHLY, YEARLY = {"unit": "month"}, {"unit": "year"}


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory):
    with serving(tmp_path_factory.mktemp("quarter"), start=START) as stack:
        shop = Storefront(stack)
        from tests.e2e.conftest import stripe_client

        yield play(shop, stack, stripe_client(stack))


def to(shop: Storefront, instant: str) -> None:
    advance(shop, to=instant)


def play(shop: Storefront, stack: dict[str, Any], stripe_js: Any) -> dict[str, Any]:
    assert shop.http.put(shop.base + "/v1/settings/dunning", json=POLICY, timeout=30).status_code == 200
    seat = plan(shop, "Seat", MONTHLY, [("usd", 10000), ("eur", 9000)])
    annual = plan(shop, "Annual", YEARLY, [("usd", 120000)])
    starter = plan(shop, "Starter", MONTHLY, [("usd", 5000)], scheme="flat")
    people: dict[str, Any] = {}
    for name, currency in (("Ann", "usd"), ("Bob", "usd"), ("Cai", "usd"), ("Dee", "usd"), ("Kim", "eur")):
        people[name] = customer_with_card(
            shop, stack, stripe_js, f"{name.lower()}@example.com", "pm_card_visa", name=name, currency=currency
        )
    subs = {
        "Ann": subscribe(shop, people["Ann"], seat, 1),
        "Bob": subscribe(shop, people["Bob"], seat, 2),
        "Cai": subscribe(shop, people["Cai"], annual, 1),
        "Dee": subscribe(shop, people["Dee"], starter, 1),
        "Kim": subscribe(shop, people["Kim"], seat, 1),
    }
    invoices = {}
    for name, amount in (("Eve", 30000), ("Fay", 8000), ("Gus", 6000)):
        people[name] = customer_with_card(shop, stack, stripe_js, f"{name.lower()}@example.com", DECLINES, name=name)
        invoices[name] = order(shop, people[name]["id"], amount=amount)
    for name in ("Eve", "Fay", "Gus"):
        assert eventually(lambda n=name: shop.get(f"/v1/invoices/{invoices[n]}").json()["dunning"]["first_failure_at"])

    to(shop, "2027-01-06T12:00:00Z")  # past due and step 0 ran on the 5th
    intent = shop.post(f"/v1/invoices/{invoices['Fay']}/payment_intent").json()
    paid = stripe_js.v1.payment_intents.confirm(intent["id"], params={"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded"
    assert eventually(lambda: shop.get(f"/v1/invoices/{invoices['Fay']}").json()["status"] == "paid")
    save_card(shop, stripe_js, people["Gus"], "pm_card_visa")

    to(shop, "2027-01-20T12:00:00Z")  # Gus's new card paid at step 1 on the 7th
    assert shop.get(f"/v1/invoices/{invoices['Gus']}").json()["status"] == "paid"
    cancel = shop.post(f"/v1/subscriptions/{subs['Dee']['id']}/cancel", {"at_period_end": True})
    assert cancel.status_code == 200, cancel.text

    to(shop, "2027-02-10T12:00:00Z")
    people["Jay"] = shop.post(
        "/v1/customers", {"email": "jay@example.com", "name": "Jay", "locale": "en", "currency": "usd"}
    ).json()
    invoices["Jay"] = send_invoice(shop, people["Jay"], 12000, 5)

    to(shop, "2027-02-18T12:00:00Z")
    for name, quantity in (("Ann", 3), ("Bob", 1)):
        body = {"items": [{"plan_id": seat["id"], "quantity": quantity}], "proration": "day"}
        changed = shop.post(f"/v1/subscriptions/{subs[name]['id']}/change", body)
        assert changed.status_code == 200, changed.text

    to(shop, "2027-02-20T12:00:00Z")
    [ann_february] = [i for i in invoices_of(shop, people["Ann"]) if i["issued_at"].startswith("2027-02")]
    refund = shop.post(f"/v1/invoices/{ann_february['id']}/refunds", {"amount": 4000, "reason": "other"})
    assert refund.status_code == 201, refund.text

    to(shop, "2027-03-10T12:00:00Z")
    [ann_march] = [i for i in invoices_of(shop, people["Ann"]) if i["issued_at"].startswith("2027-03")]
    assert (ann_march["total"], ann_march["status"]) == (40000, "paid"), ann_march["lines"]
    assert shop.get(f"/v1/invoices/{invoices['Eve']}").json()["status"] == "uncollectible"
    subs["Dee again"] = subscribe(shop, people["Dee"], starter, 1)

    to(shop, "2027-03-15T12:00:00Z")
    body = {"at_period_end": False, "proration": "day"}
    assert shop.post(f"/v1/subscriptions/{subs['Bob']['id']}/cancel", body).status_code == 200

    to(shop, "2027-03-20T12:00:00Z")
    people["Hal"] = shop.post(
        "/v1/customers", {"email": "hal@example.com", "name": "Hal", "locale": "en", "currency": "usd"}
    ).json()
    invoices["Hal"] = send_invoice(shop, people["Hal"], 7000, 30)

    to(shop, "2027-04-01T00:00:00Z")
    for _ in range(2):  # the export of the quarter's end, then its conversion to facts
        advance(shop, to_next="analytics-export")
    return {"shop": shop, "people": people, "invoices": invoices}


def plan(shop: Storefront, name: str, interval: dict, prices: list[tuple[str, int]], scheme: str = "per_unit"):
    body = {
        "name": name,
        "interval": interval,
        "prices": [{"currency": c, "scheme": scheme, "amount": a} for c, a in prices],
    }
    answer = shop.post("/v1/plans", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def subscribe(shop: Storefront, customer: dict, plan_: dict, quantity: int) -> dict:
    body = {"customer_id": customer["id"], "items": [{"plan_id": plan_["id"], "quantity": quantity}]}
    answer = shop.post("/v1/subscriptions", body)
    assert answer.status_code == 201 and answer.json()["status"] == "active", answer.text
    return answer.json()


def save_card(shop: Storefront, stripe_js: Any, customer: dict, card: str) -> None:
    setup = shop.post(f"/v1/customers/{customer['id']}/setup_intent").json()
    confirmed = stripe_js.v1.setup_intents.confirm(setup["id"], params={"payment_method": card})
    assert eventually(
        lambda: shop.get(f"/v1/customers/{customer['id']}").json()["default_payment_method"] == confirmed.payment_method
    )


def send_invoice(shop: Storefront, customer: dict, amount: int, days: int) -> str:
    body = {
        "customer_id": customer["id"],
        "currency": "usd",
        "collection_method": "send_invoice",
        "days_until_due": days,
        "lines": [{"description": "Consulting", "quantity": 1, "unit_amount": amount}],
    }
    placed = shop.post("/v1/orders", body)
    assert placed.status_code == 201, placed.text
    return placed.json()["invoice_id"]


def invoices_of(shop: Storefront, customer: dict) -> list[dict]:
    return shop.get("/v1/invoices", customer_id=customer["id"], limit="100").json()["data"]


def report(quarter: dict, name: str, **params: str) -> dict:
    answer = quarter["shop"].get(f"/v1/reports/{name}", **params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["data_through"] >= "2027-04-01", body["data_through"]  # the facts cover the whole quarter
    return body


QUARTER = {"from": "2027-01", "to": "2027-03"}


def pick(rows: list[dict], *keys: str) -> list[tuple]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_mrr_moves_as_worked_out(quarter):
    answer = report(quarter, "mrr", **QUARTER)
    keys = ("month", "currency", "mrr_start", "new", "expansion", "contraction", "churn", "reactivation", "mrr_end")
    assert pick(answer["months"], *keys) == [
        ("2027-01-01", "eur", 0, 9000, 0, 0, 0, 0, 9000),
        ("2027-02-01", "eur", 9000, 0, 0, 0, 0, 0, 9000),
        ("2027-03-01", "eur", 9000, 0, 0, 0, 0, 0, 9000),
        ("2027-01-01", "usd", 0, 45000, 0, 0, 0, 0, 45000),
        ("2027-02-01", "usd", 45000, 0, 20000, -10000, -5000, 0, 50000),
        ("2027-03-01", "usd", 50000, 0, 0, 0, -10000, 5000, 45000),
    ]
    usd = [r for r in answer["months"] if r["currency"] == "usd"]
    assert pick(usd, "arr_end", "customers_end", "net_revenue_retention") == [
        (540000, 4, None),
        (600000, 3, "111.11"),
        (540000, 3, "80.00"),
    ]


def test_revenue_as_worked_out(quarter):
    answer = report(quarter, "revenue", currency="usd", **QUARTER)
    keys = ("month", "invoiced", "voided", "collected", "refunded", "written_off", "tax")
    assert pick(answer["months"], *keys) == [
        ("2027-01-01", 199000, 0, 169000, 0, 0, 0),
        ("2027-02-01", 42000, 0, 30000, 4000, 0, 0),
        ("2027-03-01", 50548, 0, 50000, 0, 30000, 0),
    ]
    assert pick(answer["tax"], "month", "tax_rate", "taxable", "tax") == [
        ("2027-01-01", "0", 199000, 0),
        ("2027-02-01", "0", 42000, 0),
        ("2027-03-01", "0", 50548, 0),
    ]


def test_collections_and_dunning_as_worked_out(quarter):
    answer = report(quarter, "collections", currency="usd", **QUARTER)
    keys = (
        "month",
        "collection_rate",
        "receivables_end",
        "days_sales_outstanding",
        "entered_dunning",
        "entered_dunning_amount",
        "recovered",
        "recovered_amount",
        "average_days_to_recover",
        "written_off",
        "written_off_amount",
    )
    assert pick(answer["months"], *keys) == [
        ("2027-01-01", "84.92", 30000, "4.7", 3, 44000, 2, 14000, "1.5", 0, 0),
        ("2027-02-01", "71.43", 42000, "28.0", 1, 12000, 0, 0, None, 0, 0),
        ("2027-03-01", "98.92", 19000, "11.7", 0, 0, 0, 0, None, 1, 30000),
    ]
    assert pick(answer["steps"], "step", "recovered", "by_retry", "recovered_amount") == [
        (0, 1, 0, 8000),
        (1, 1, 1, 6000),
    ]
    [declines] = answer["decline_codes"]
    assert (declines["invoices"], declines["invoices_paid"], declines["recovery_rate"]) == (3, 2, "66.67")


def test_aging_as_worked_out_on_any_day(quarter):
    people = quarter["people"]
    january = report(quarter, "aging", as_of="2027-01-31", currency="usd")
    assert pick(january["customers"], "customer_id", "days_1_30", "total") == [(people["Eve"]["id"], 30000, 30000)]
    march = report(quarter, "aging", as_of="2027-03-31")
    expected = {people["Jay"]["id"]: ("Jay", 0, 12000, 12000), people["Hal"]["id"]: ("Hal", 7000, 0, 7000)}
    assert {
        r["customer_id"]: (r["customer_name"], r["not_due"], r["days_31_60"], r["total"]) for r in march["customers"]
    } == expected
    assert pick(
        march["totals"], "currency", "not_due", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total"
    ) == [("usd", 7000, 0, 12000, 0, 0, 19000)]


def test_statements_as_worked_out(quarter):
    bob = report(quarter, "statement", customer_id=quarter["people"]["Bob"]["id"], **QUARTER)
    assert (bob["balances"][0]["opening_balance"], bob["balances"][0]["closing_balance"]) == (0, -6452)
    assert [e["amount"] for e in bob["entries"]] == [20000, -20000, 20000, -20000, 5000, -5000, -6452]
    ann = report(
        quarter, "statement", customer_id=quarter["people"]["Ann"]["id"], **{"from": "2027-02-01", "to": "2027-03-31"}
    )
    assert [(e["entry"], e["amount"]) for e in ann["entries"]] == [
        ("invoice", 10000),
        ("payment", -10000),
        ("credit_note", -4000),
        ("refund", 4000),
        ("invoice", 40000),
        ("payment", -40000),
    ]
    assert ann["balances"] == [{"opening_balance": 0, "closing_balance": 0}]


def test_a_report_comes_as_csv_with_the_same_numbers(quarter):
    shop = quarter["shop"]
    answer = shop.http.get(
        f"{shop.base}/v1/reports/revenue",
        params={**QUARTER, "currency": "usd"},
        headers={"Accept": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv"), answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["month"], int(r["invoiced"])) for r in rows] == [
        ("2027-01-01", 199000),
        ("2027-02-01", 42000),
        ("2027-03-01", 50548),
    ]
    refused = requests.get(
        f"{shop.base}/v1/reports/revenue", params={"from": "2027-13"}, headers=shop.http.headers, timeout=30
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_date"
