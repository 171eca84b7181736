"""The e2e month (tests/e2e/stories.py) on stacks started at instants chosen to break naive code: the 31st of a month
just before the dunning sweep, a leap day with a New York subscriber across the spring DST change, and a year's last
minutes (invoice numbers start again at 1 in the new year). Each instant says what it catches."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Storefront, serving, stripe_client
from tests.e2e.stories import a_month, assert_billed_each_period, assert_dunning_played_out

MONTH_STARTS = {
    ("2026-12-31T23:58:00Z", "UTC"): "a year's last minutes: the subscription's invoices are INV-2027-000001 and 2",
    ("2027-01-31T09:04:30Z", "UTC"): "the 31st, 30 s before the sweep: period 1 on 28 February, period 2 on 31 March",
    ("2028-02-29T23:59:30Z", "America/New_York"): "a leap day's last 30 s, a New York subscriber across 12 March 2028",
}


def assert_numbered_per_year(shop: Any) -> list[dict[str, Any]]:
    """Every invoice of the tenant carries the year it was issued in, and each year's numbers run 1, 2, … with no
    gap and no repeat. The invoices."""
    invoices, cursor = [], None
    while True:
        page = shop.get("/v1/invoices", limit="100", **({"cursor": cursor} if cursor else {})).json()
        invoices += page["data"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    by_year: dict[int, list[int]] = defaultdict(list)
    for invoice in invoices:
        prefix, year, seq = invoice["number"].split("-")
        assert prefix == "INV" and int(year) == datetime.fromisoformat(invoice["issued_at"]).astimezone(UTC).year
        by_year[int(year)].append(int(seq))
    assert {year: sorted(seqs) for year, seqs in by_year.items()} == {
        year: list(range(1, len(seqs) + 1)) for year, seqs in by_year.items()
    }
    return invoices


@pytest.fixture(scope="module", params=sorted(MONTH_STARTS), ids=lambda p: f"{p[0]}-{p[1]}")
def month(request, tmp_path_factory):
    start, timezone = request.param
    with serving(tmp_path_factory.mktemp("month"), start=start) as stack:
        shop = Storefront(stack)
        yield shop, start, a_month(shop, stack, stripe_client(stack), timezone=timezone)


def test_the_month_plays_out_whatever_the_start_instant(month):
    shop, start, story = month
    assert_dunning_played_out(shop, story)
    invoices = assert_billed_each_period(shop, story)
    numbered = assert_numbered_per_year(shop)
    if start.startswith("2026-12-31"):
        declined = next(i for i in numbered if i["id"] == story["invoice_id"])
        assert declined["number"] == "INV-2026-000001"
        assert [i["number"] for i in invoices] == ["INV-2027-000001", "INV-2027-000002"]
