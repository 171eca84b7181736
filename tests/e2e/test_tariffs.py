"""Tariffs on the local stack, every figure worked out by hand: a New York subscriber with a 20 % coupon for three
months and an add-on attached mid-period, taxed at New York's exclusive rate; an EU business customer with a valid
VAT id on reverse charge, whose order takes a pending one-off item; a JPY order at inclusive rates with a promotion
code. The stack starts at 1 April 2027 00:00 UTC (its own clock, not the wall clock's), so April's 30 days make the
proration exact."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta

import pytest
import requests

from tests.e2e.clock import advance, through_billing_of
from tests.e2e.conftest import Storefront, serving
from tests.e2e.test_payments import eventually

START = "2027-04-01T00:00:00Z"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("tariffs"), start=START) as stack:
        yield Storefront(stack)


def created(answer: requests.Response) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def rate(shop, **body) -> str:
    return created(shop.post("/v1/tax_rates", body))["id"]


def figures(invoice: dict) -> tuple[int, int, int, int]:
    return invoice["subtotal"], invoice["discount"], invoice["tax"], invoice["total"]


def lines_of(invoice: dict) -> list[tuple[int, int, int]]:
    return [(ln["amount"], ln["discount_amount"], ln["tax_amount"]) for ln in invoice["lines"]]


def summary_of(invoice: dict) -> list[tuple[str | None, str, int, int]]:
    return [
        (s["tax_rate_id"], str(s["percentage"]), s["taxable_amount"], s["tax_amount"]) for s in invoice["tax_summary"]
    ]


def test_a_new_york_subscriber_with_a_three_month_coupon_and_an_add_on_attached_mid_period(shop):
    ny = rate(shop, display_name="Sales tax", jurisdiction="US-NY", percentage="8.875")
    assert (
        shop.http.put(
            f"{shop.base}/v1/settings/tax",
            json={"rules": [{"country": "US", "region": "NY", "tax_rate_id": ny}]},
            timeout=30,
        ).status_code
        == 200
    )
    customer = created(
        shop.post(
            "/v1/customers",
            {
                "email": "ops@hudson.example",
                "name": "Hudson Analytics",
                "locale": "en",
                "currency": "usd",
                "timezone": "America/New_York",
                "address": {"line1": "1 Broadway", "city": "New York", "state": "NY", "country": "US"},
            },
        )
    )
    monthly = {"unit": "month", "count": 1}
    seats = created(
        shop.post(
            "/v1/plans",
            {
                "name": "Pro seats",
                "interval": monthly,
                "prices": [{"currency": "usd", "scheme": "per_unit", "amount": 2000}],
            },
        )
    )
    support = created(
        shop.post(
            "/v1/plans",
            {
                "name": "Priority support",
                "interval": monthly,
                "prices": [{"currency": "usd", "scheme": "flat", "amount": 3000}],
            },
        )
    )
    coupon = created(
        shop.post(
            "/v1/coupons",
            {"name": "Launch 20 % off", "percent_off": "20", "duration": "repeating", "duration_in_periods": 3},
        )
    )
    sub = created(
        shop.post(
            "/v1/subscriptions",
            {
                "customer_id": customer["id"],
                "items": [{"plan_id": seats["id"], "quantity": 3}],
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "coupon": coupon["id"],
            },
        )
    )
    invoices = []

    def bill_next() -> dict:
        current = shop.get(f"/v1/subscriptions/{sub['id']}").json()
        through_billing_of(shop, current["next_billing_at"])
        listed = shop.get("/v1/invoices", customer_id=customer["id"]).json()["data"]
        newest = max(listed, key=lambda i: i["number"])
        invoices.append(newest)
        # paid by wire the day it is issued (unpaid, dunning would suspend the subscription a month on)
        paid = {"amount": newest["amount_due"], "method": "bank_transfer", "reference": f"wire-{newest['number']}"}
        created(shop.post(f"/v1/invoices/{newest['id']}/payments", {**paid, "received_at": newest["issued_at"]}))
        return newest

    # period 0 (1 April - 1 May, New York time): 3 seats x $20.00 = 6000, 20 % off = 1200, tax 4800 x 8.875 % = 426
    first = bill_next()
    assert lines_of(first) == [(6000, 1200, 426)]
    assert figures(first) == (6000, 1200, 426, 5226)
    assert summary_of(first) == [(ny, "8.875", 4800, 426)]
    assert [(d["coupon_id"], d["amount"]) for d in first["discounts"]] == [(coupon["id"], 1200)]

    # ten days in, the add-on: 20 of April's 30 days are left (the day of the change counts): 3000 x 20/30 = 2000,
    # discounted by the coupon in effect: 1600, taxed on the next invoice at 1600 x 8.875 % = 142
    period_start = datetime.fromisoformat(sub["next_billing_at"])
    advance(shop, to=(period_start + timedelta(days=10)).isoformat())
    created(shop.post(f"/v1/subscriptions/{sub['id']}/items", {"plan_id": support["id"], "proration": "day"}))

    # period 1: the proration line, then 6000 and 3000 less 20 % (1200 + 600); tax 142 + 426 + 213
    second = bill_next()
    assert lines_of(second) == [(1600, 0, 142), (6000, 1200, 426), (3000, 600, 213)]
    assert figures(second) == (10600, 1800, 781, 9581)
    assert summary_of(second) == [(ny, "8.875", 8800, 781)]
    # period 2: the coupon's third and last period
    third = bill_next()
    assert figures(third) == (9000, 1800, 639, 7839)
    # period 3: no discount; tax 6000 x 8.875 % = 532.5 -> 533 and 3000 x 8.875 % = 266.25 -> 266
    fourth = bill_next()
    assert lines_of(fourth) == [(6000, 0, 533), (3000, 0, 266)]
    assert figures(fourth) == (9000, 0, 799, 9799)
    assert fourth["discounts"] == []
    numbers = [i["number"] for i in invoices]
    assert len(set(numbers)) == 4


def test_an_eu_business_on_reverse_charge_with_a_pending_one_off_item(shop, tmp_path):
    vat = rate(shop, display_name="MwSt", jurisdiction="DE", percentage="19")
    assert (
        shop.http.put(f"{shop.base}/v1/settings/tax", json={"default_tax_rate_id": vat}, timeout=30).status_code == 200
    )
    # an invalid VAT id is refused (the check digit), a valid one is kept compact
    refused = shop.post(
        "/v1/customers",
        {
            "email": "ap@bad.example",
            "name": "Bad",
            "locale": "en",
            "currency": "eur",
            "tax_exempt": "reverse",
            "tax_ids": [{"type": "eu_vat", "value": "DE136695977"}],
        },
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_tax_id", refused.text
    buyer = created(
        shop.post(
            "/v1/customers",
            {
                "email": "ap@lyon-logistique.example",
                "name": "Lyon Logistique SAS",
                "locale": "en",
                "currency": "eur",
                "address": {"line1": "1 Rue de la République", "city": "Lyon", "country": "FR"},
                "tax_exempt": "reverse",
                "tax_ids": [{"type": "eu_vat", "value": "fr 40 303 265 045"}],
            },
        )
    )
    assert buyer["tax_ids"] == [{"type": "eu_vat", "value": "FR40303265045"}]
    created(
        shop.post(
            "/v1/invoice_items",
            {"customer_id": buyer["id"], "currency": "eur", "amount": 12000, "description": "Onboarding workshop"},
        )
    )
    placed = created(
        shop.post(
            "/v1/orders",
            {
                "customer_id": buyer["id"],
                "currency": "eur",
                "lines": [{"description": "Fleet tracking, annual", "quantity": 2, "unit_amount": 45000}],
                "collection_method": "send_invoice",
                "days_until_due": 30,
            },
        )
    )
    invoice = shop.get(f"/v1/invoices/{placed['invoice_id']}").json()
    # 2 x 450.00 + the workshop 120.00 = 1020.00; reverse charge: no tax, whatever the default rate
    assert sorted(lines_of(invoice)) == sorted([(90000, 0, 0), (12000, 0, 0)])
    assert figures(invoice) == (102000, 0, 0, 102000)
    assert invoice["tax_summary"] == [] and invoice["tax_exempt"] == "reverse"
    assert shop.get("/v1/invoice_items", customer_id=buyer["id"], pending="true").json()["data"] == []
    pdf = eventually(lambda: (r := shop.get(f"/v1/invoices/{invoice['id']}/pdf")).status_code == 200 and r)
    assert pdf and pdf.status_code == 200 and pdf.content[:5] == b"%PDF-", pdf.text[:200]
    path = tmp_path / "reverse.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "FR40303265045" in text and "Reverse charge" in text, text


def test_a_jpy_order_at_inclusive_rates_with_a_promotion_code(shop):
    standard = rate(shop, display_name="消費税", jurisdiction="JP", percentage="10", inclusive=True)
    reduced = rate(shop, display_name="消費税 (軽減)", jurisdiction="JP", percentage="8", inclusive=True)
    coupon = created(shop.post("/v1/coupons", {"name": "¥500 off", "amount_off": {"jpy": 500}, "duration": "once"}))
    created(
        shop.post(
            "/v1/promotion_codes",
            {"coupon_id": coupon["id"], "code": "HAJIME500", "restrictions": {"first_time_transaction": True}},
        )
    )
    buyer = created(
        shop.post(
            "/v1/customers",
            {
                "email": "keiri@sakura.example",
                "name": "さくら商店",
                "locale": "en",
                "currency": "jpy",
                "address": {"country": "JP"},
            },
        )
    )
    lines = [
        {"description": "Starter kit", "quantity": 3, "unit_amount": 980, "tax_rate_id": standard},
        {"description": "Tea (reduced rate)", "quantity": 1, "unit_amount": 1080, "tax_rate_id": reduced},
        {"description": "Setup", "quantity": 1, "unit_amount": 5500, "tax_rate_id": standard},
    ]
    body = {
        "customer_id": buyer["id"],
        "currency": "jpy",
        "lines": lines,
        "collection_method": "send_invoice",
        "days_until_due": 14,
        "promotion_code": "hajime500",
    }
    invoice = shop.get(f"/v1/invoices/{created(shop.post('/v1/orders', body))['invoice_id']}").json()
    # ¥500 off 2940 / 1080 / 5500 (9520): floors 154 / 56 / 288, the two units left to the largest remainders
    # (.87 then .72): 154 / 57 / 289. Tax included, rounded half up per line:
    #   2786 x 10/110 = 253.27 -> 253;  1023 x 8/108 = 75.78 -> 76;  5211 x 10/110 = 473.73 -> 474
    # net before the discount: 2940 - 267, 1080 - 80, 5500 - 500 = 2673 + 1000 + 5000 = 8673
    # net after: 2533 + 947 + 4737 = 8217; the discount without tax 8673 - 8217 = 456; the total stays 9520 - 500
    assert lines_of(invoice) == [(2940, 154, 253), (1080, 57, 76), (5500, 289, 474)]
    assert [ln["net_amount"] for ln in invoice["lines"]] == [2673, 1000, 5000]
    assert figures(invoice) == (8673, 456, 803, 9020)
    assert summary_of(invoice) == [(standard, "10", 7270, 727), (reduced, "8", 947, 76)]
    assert [(d["coupon_id"], d["amount"]) for d in invoice["discounts"]] == [(coupon["id"], 456)]
    # the code was for a first order: the second is refused, and nothing is placed
    again = shop.post("/v1/orders", body)
    assert again.status_code in (409, 422) and again.json()["code"] == "promotion_code_first_time_only", again.text
