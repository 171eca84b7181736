"""The demo's main job (infra/local/demo.py, what `make demo` plays) on stacks started at instants chosen to break
naive code: around midnight UTC, around the daily dunning sweep's fire time, on a leap day and in the last minutes of
a year. Each instant says what it catches. The pure parts are covered over any instant in
tests/unit/test_start_instants.py; these are the handful of real stack runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from infra.local.demo import play
from tests.e2e.clock import now
from tests.e2e.conftest import Storefront, serving
from tests.e2e.test_start_instants_month import assert_numbered_per_year

DEMO_STARTS = {
    "2026-12-31T23:58:00Z": "a year's last minutes: invoices INV-2026-…, the next after the move INV-2027-000001",
    "2027-03-01T00:00:30Z": "30 s past midnight UTC, the day after a February of 28 days",
    "2027-06-15T09:04:30Z": "30 s before the daily dunning sweep fires: the first step's sweep is that of its day",
    "2027-06-15T09:05:30Z": "30 s after the sweep fired: the step waits for the next day's",
    "2028-02-29T23:59:30Z": "a leap day's last 30 s (2028 is a leap year)",
}


@pytest.fixture(scope="module", params=sorted(DEMO_STARTS))
def started(request, tmp_path_factory):
    with serving(tmp_path_factory.mktemp("demo"), start=request.param) as stack:
        yield datetime.fromisoformat(request.param), stack


def test_the_demo_plays_out_whatever_the_start_instant(started, tmp_path):
    start, stack = started
    shop = Storefront(stack)
    assert start <= now(shop) < start + timedelta(minutes=2)  # the stack's clock started where it was told
    played = play(stack["api_base_url"], stack["api_key"], tmp_path)
    assert played.ok, played
    assert [p.read_bytes()[:5] for p in played.pdfs] == [b"%PDF-"] * 3
    assert [i["number"] for i in played.invoices] == [f"INV-{start.year}-00000{n}" for n in (1, 2, 3)]
    # one more order after the move: numbered in the clock's year, gapless per year
    customer = shop.post(
        "/v1/customers", {"email": "late@example.com", "name": "Late", "locale": "en", "currency": "usd"}
    ).json()
    body = {
        "customer_id": customer["id"],
        "currency": "usd",
        "lines": [{"description": "x", "quantity": 1, "unit_amount": 100}],
    }
    placed = shop.post("/v1/orders", {**body, "collection_method": "send_invoice", "days_until_due": 7})
    assert placed.status_code == 201, placed.text
    invoices = assert_numbered_per_year(shop)
    later = next(i for i in invoices if i["id"] == placed.json()["invoice_id"])
    year = now(shop).year
    assert later["number"] == f"INV-{year}-00000{4 if year == start.year else 1}"
