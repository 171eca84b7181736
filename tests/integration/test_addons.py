"""Add-ons on moto, through the API handler and the billing run: a plan attached mid-period is prorated on the
next invoice beside the full period of every item; requantified and removed on its own, the others kept; the last
item is never removed; every refusal is a problem that changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.adapters import keys
from tests.integration.test_subscriptions import (
    FLAT,
    SEATS,
    START,
    after,
    billing_run,
    customer,
    invoices_of,
    plan,
    subscribe,
)
from tests.integration.test_workers import call, outbox, set_clock

pytestmark = pytest.mark.usefixtures("deps")
ADDON = {
    "name": "Priority support",
    "interval": FLAT["interval"],
    "prices": [{"currency": "usd", "scheme": "flat", "amount": 1500}],
}


def test_an_add_on_attached_mid_period_is_prorated_on_the_next_invoice(deps, clock, key, tenant_id):
    cus = customer(key)
    pro, support = plan(key, FLAT), plan(key, ADDON)
    sub = subscribe(key, cus, [{"plan_id": pro}])
    billing_run(deps, clock, after(START))  # Pro for 23 Nov - 23 Dec (30 days): 4900
    set_clock(clock, START + timedelta(days=15))  # half the period left
    status, added = call("POST", f"/v1/subscriptions/{sub['id']}/items", key, {"plan": support})
    assert status == 200, added
    assert [(i["plan_id"], i["quantity"]) for i in added["items"]] == [(pro, 1), (support, 1)]
    assert [ln["amount"] for ln in added["pending_proration"]] == [750]
    (event,) = outbox(keys.subscription(tenant_id, sub["id"]), "subscription.item_added")
    assert '"proration":750' in event["doc"]["S"].replace(" ", "")

    billing_run(deps, clock, after(added["next_billing_at"]))
    first, second = invoices_of(key, cus)
    assert first["total"] == 4900
    assert [ln["amount"] for ln in second["lines"]] == [750, 4900, 1500]
    assert second["total"] == 7150


def test_an_add_ons_quantity_changes_and_it_is_removed_on_its_own(deps, clock, key):
    cus = customer(key)
    pro, seats = plan(key, FLAT), plan(key, SEATS)
    sub = subscribe(key, cus, [{"plan_id": pro}, {"plan_id": seats, "quantity": 2}])
    billing_run(deps, clock, after(START))  # 4900 + 2 x 1200 for 30 days
    set_clock(clock, START + timedelta(days=15))
    status, more = call("POST", f"/v1/subscriptions/{sub['id']}/items/{seats}", key, {"quantity": 3})
    assert status == 200, more
    assert [(i["plan_id"], i["quantity"]) for i in more["items"]] == [(pro, 1), (seats, 3)]
    assert sum(ln["amount"] for ln in more["pending_proration"]) == 600  # one more seat for half the period
    set_clock(clock, START + timedelta(days=24))  # 6 of 30 days left
    status, fewer = call("DELETE", f"/v1/subscriptions/{sub['id']}/items/{seats}", key)
    assert status == 200, fewer
    assert [i["plan_id"] for i in fewer["items"]] == [pro]
    assert sum(ln["amount"] for ln in fewer["pending_proration"]) == 600 - 720  # 3 seats' last 6 days back
    status, refused = call("DELETE", f"/v1/subscriptions/{sub['id']}/items/{pro}", key)
    assert (status, refused["code"]) == (409, "last_item")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/items", {"plan_id": "plan_nope"}, 404, "plan_not_found"),
        ("POST", "/items", {"plan_id": "{pro}"}, 409, "item_exists"),
        ("POST", "/items", {"plan_id": "{weekly}"}, 422, "mixed_intervals"),
        ("POST", "/items", {"plan_id": "{euro}"}, 422, "no_price_for_currency"),
        ("POST", "/items", {"plan_id": "{support}", "quantity": 0}, 422, "invalid_request"),
        ("POST", "/items", {"plan_id": "{support}", "proration": "none"}, 422, "invalid_request"),
        ("POST", "/items/{support}", {"quantity": 2}, 404, "subscription_item_not_found"),
        ("POST", "/items/{pro}", {"quantity": 2}, 422, "quantity_not_applicable"),
        ("DELETE", "/items/{support}", None, 404, "subscription_item_not_found"),
        ("DELETE", "/items/{pro}", None, 409, "last_item"),
    ],
)
def test_a_bad_add_on_change_is_refused_and_changes_nothing(deps, key, method, path, body, status, code):
    ids = {
        "pro": plan(key, FLAT),
        "support": plan(key, ADDON),
        "weekly": plan(key, {**ADDON, "interval": {"unit": "week", "count": 1}}),
        "euro": plan(key, {**ADDON, "prices": [{"currency": "eur", "scheme": "flat", "amount": 1400}]}),
    }
    sub = subscribe(key, customer(key), [{"plan_id": ids["pro"]}])

    def fill(text: str) -> str:
        for name, value in ids.items():
            text = text.replace("{" + name + "}", value)
        return text

    filled = {k: fill(v) if isinstance(v, str) else v for k, v in (body or {}).items()}
    answer = call(method, f"/v1/subscriptions/{sub['id']}" + fill(path), key, filled if body is not None else None)
    assert answer[0] == status and answer[1]["code"] == code, answer
    assert call("GET", f"/v1/subscriptions/{sub['id']}", key)[1] == sub
