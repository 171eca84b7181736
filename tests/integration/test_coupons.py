"""Coupons and promotion codes through the API handler on moto: the routes, every refusal as a 409 problem that
changes nothing, discounts on orders, subscriptions and customers, and the billing run that applies them (a 20 %
coupon for 3 periods: periods 1-3 discounted, 4 not), with proration in a discounted period."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from functions.api import app as api
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.test_subscriptions import (
    FLAT,
    START,
    after,
    billing_run,
    created,
    customer,
    invoices_of,
    plan,
    subscribe,
)
from tests.integration.test_workers import set_clock

pytestmark = pytest.mark.usefixtures("deps")


def call(method: str, path: str, key: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
    answer = api.lambda_handler(http_event(method, path, key, body, query=query), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def ok(answer: tuple[int, Any], status: int = 200) -> dict[str, Any]:
    got, body = answer
    assert got == status, body
    return body


def refused(answer: tuple[int, Any], code: str, status: int = 409) -> None:
    got, body = answer
    assert (got, body.get("code")) == (status, code), body


def coupon(key: str, **terms: Any) -> dict[str, Any]:
    body = {"name": "20 % off", "percent_off": "20", "duration": "once", **terms}
    return created(call("POST", "/v1/coupons", key, body))


def code(key: str, coupon_id: str, text: str = "Spring20", **terms: Any) -> dict[str, Any]:
    return created(call("POST", "/v1/promotion_codes", key, {"coupon_id": coupon_id, "code": text, **terms}))


def order(key: str, customer_id: str, amount: int = 10_000, **extra: Any) -> tuple[int, Any]:
    body = {
        "customer_id": customer_id,
        "currency": "usd",
        "collection_method": "send_invoice",
        "lines": [{"description": "Seat", "quantity": 1, "unit_amount": amount}],
        **extra,
    }
    return call("POST", "/v1/orders", key, body)


def test_coupon_routes_create_read_list_rename_archive(key):
    made = coupon(key, id="LAUNCH-2026", metadata={"campaign": "launch"}, max_redemptions=5)
    assert (made["id"], made["percent_off"], made["times_redeemed"], made["valid"]) == ("LAUNCH-2026", "20", 0, True)
    refused(
        call("POST", "/v1/coupons", key, {"id": "LAUNCH-2026", "name": "x", "percent_off": 5, "duration": "once"}),
        "coupon_exists",
    )
    assert ok(call("GET", "/v1/coupons/LAUNCH-2026", key))["name"] == "20 % off"
    renamed = ok(call("POST", "/v1/coupons/LAUNCH-2026", key, {"name": "Launch", "metadata": {"campaign": None}}))
    assert (renamed["name"], renamed["metadata"], renamed["percent_off"]) == ("Launch", {}, "20")
    refused(call("POST", "/v1/coupons/LAUNCH-2026", key, {"percent_off": "50"}), "invalid_request", 422)
    amount = coupon(
        key, percent_off=None, amount_off={"usd": 500, "EUR": 450}, duration="repeating", duration_in_periods=3
    )
    assert amount["amount_off"] == {"usd": 500, "eur": 450}
    listed = ok(call("GET", "/v1/coupons", key))["data"]
    assert {c["id"] for c in listed} == {amount["id"], "LAUNCH-2026"}
    archived = ok(call("POST", "/v1/coupons/LAUNCH-2026/archive", key))
    assert (archived["status"], archived["valid"]) == ("archived", False)
    refused(call("POST", "/v1/coupons/LAUNCH-2026/archive", key), "coupon_archive_not_allowed")
    for bad in (
        {"name": "x", "percent_off": 12.5, "duration": "once"},  # a JSON float
        {"name": "x", "percent_off": "12.345", "duration": "once"},
        {"name": "x", "percent_off": "10", "amount_off": {"usd": 5}, "duration": "once"},
        {"name": "x", "percent_off": "10", "duration": "repeating"},
        {"name": "x", "amount_off": {"usd": 1.5}, "duration": "once"},
    ):
        refused(call("POST", "/v1/coupons", key, bad), "invalid_request", 422)
    refused(call("GET", "/v1/coupons/nope", key), "coupon_not_found", 404)


def test_promotion_codes_are_unique_in_any_case_and_found_by_code(key):
    c = coupon(key)
    made = code(key, c["id"], "Spring20", max_redemptions=3)
    assert made["id"].startswith("promo_") and made["times_redeemed"] == 0
    again = {"coupon_id": c["id"], "code": "SPRING20"}
    refused(call("POST", "/v1/promotion_codes", key, again), "promotion_code_exists")
    found = ok(call("GET", "/v1/promotion_codes", key, query={"code": "spring20"}))["data"]
    assert [p["id"] for p in found] == [made["id"]]
    assert ok(call("GET", "/v1/promotion_codes", key, query={"code": "other"}))["data"] == []
    assert ok(call("GET", f"/v1/promotion_codes/{made['id']}", key))["code"] == "Spring20"
    off = ok(call("POST", f"/v1/promotion_codes/{made['id']}", key, {"active": False}))
    assert off["active"] is False
    cus = customer(key)
    refused(order(key, cus, promotion_code="spring20"), "promotion_code_inactive")
    assert [p["id"] for p in ok(call("GET", "/v1/promotion_codes", key))["data"]] == [made["id"]]


def test_an_orders_coupon_is_one_discount_line_and_the_redemption_is_counted(key):
    cus = customer(key)
    c = coupon(key)
    terms = {"first_time_transaction": True, "minimum_amount": {"usd": 5000}}
    promo = code(key, c["id"], "WELCOME", restrictions=terms)
    refused(order(key, cus, amount=4999, promotion_code="welcome"), "promotion_code_minimum_amount")
    placed = ok(order(key, cus, amount=12_345, promotion_code="welcome"), 201)
    invoice = ok(call("GET", f"/v1/invoices/{placed['invoice_id']}", key))
    # 20 % of 123.45 = 24.69
    assert (invoice["subtotal"], invoice["discount"], invoice["total"]) == (12_345, 2469, 9876)
    assert [(d["name"], d["amount"], d["coupon_id"]) for d in invoice["discounts"]] == [("20 % off", 2469, c["id"])]
    assert ok(call("GET", f"/v1/coupons/{c['id']}", key))["times_redeemed"] == 1
    assert ok(call("GET", f"/v1/promotion_codes/{promo['id']}", key))["times_redeemed"] == 1
    refused(order(key, cus, amount=12_345, promotion_code="WELCOME"), "promotion_code_first_time_only")
    assert ok(call("GET", f"/v1/coupons/{c['id']}", key))["times_redeemed"] == 1  # a refusal changes nothing


def test_every_refusal_is_a_409_that_counts_nothing(deps, clock, key):
    cus = customer(key)
    limited = coupon(key, max_redemptions=1)
    ok(order(key, cus, coupon=limited["id"]), 201)
    refused(order(key, cus, coupon=limited["id"]), "coupon_max_redemptions")
    expiring = coupon(key, redeem_by=(START + timedelta(days=1)).isoformat())
    expiring_code = code(key, coupon(key)["id"], "SOON", expires_at=(START + timedelta(days=1)).isoformat())
    per_customer = code(key, coupon(key)["id"], "ONCE-EACH", restrictions={"per_customer_limit": 1})
    ok(order(key, cus, promotion_code="once-each"), 201)
    refused(order(key, cus, promotion_code="ONCE-EACH"), "promotion_code_customer_limit")
    euros = coupon(key, percent_off=None, amount_off={"eur": 500})
    refused(order(key, cus, coupon=euros["id"]), "coupon_currency")
    pro = plan(key, FLAT)
    for_pro = coupon(key, applies_to_plans=[pro])
    refused(order(key, cus, coupon=for_pro["id"]), "coupon_not_applicable")
    refused(order(key, cus, coupon="nope"), "coupon_not_found", 404)
    refused(order(key, cus, promotion_code="nope"), "promotion_code_not_found", 404)
    set_clock(clock, START + timedelta(days=1))
    refused(order(key, cus, coupon=expiring["id"]), "coupon_expired")
    refused(order(key, cus, promotion_code="soon"), "promotion_code_expired")
    for c in (expiring, euros, for_pro):
        assert ok(call("GET", f"/v1/coupons/{c['id']}", key))["times_redeemed"] == 0
    assert ok(call("GET", f"/v1/promotion_codes/{per_customer['id']}", key))["times_redeemed"] == 1
    assert ok(call("GET", f"/v1/promotion_codes/{expiring_code['id']}", key))["times_redeemed"] == 0
    both = {"coupon": limited["id"], "promotion_code": "SOON"}
    refused(call("POST", f"/v1/customers/{cus}/discount", key, both), "invalid_request", 422)


def test_a_three_period_coupon_discounts_periods_one_to_three_and_not_four(deps, clock, key):
    cus = customer(key)
    pro = plan(key, FLAT)  # 49.00 a month
    c = coupon(key, duration="repeating", duration_in_periods=3)
    sub = subscribe(key, cus, [{"plan_id": pro}], coupon=c["id"])
    state = ok(call("GET", f"/v1/subscriptions/{sub['id']}/discount", key))
    assert state["in_effect"] and state["discount"]["periods_left"] == 3
    starts = [sub["next_billing_at"]]
    for _ in range(4):
        billing_run(deps, clock, after(starts[-1]))
        starts.append(ok(call("GET", f"/v1/subscriptions/{sub['id']}", key))["next_billing_at"])
    invoices = invoices_of(key, cus)
    # 20 % of 49.00 = 9.80 off, three times
    assert [(i["subtotal"], i["discount"], i["total"]) for i in invoices] == [(4900, 980, 3920)] * 3 + [(4900, 0, 4900)]
    assert [len(i["discounts"]) for i in invoices] == [1, 1, 1, 0]
    state = ok(call("GET", f"/v1/subscriptions/{sub['id']}/discount", key))
    assert not state["in_effect"] and state["discount"]["periods_left"] == 0 and state["discount"]["invoices"] == 3
    assert datetime.fromisoformat(state["discount"]["end"]) == datetime.fromisoformat(starts[3])  # period 3's end
    events = ok(call("GET", "/v1/events", key, query={"type": "discount.ended"}))["data"]
    assert len(events) == 1 and events[0]["object"]["id"] == state["discount"]["id"]
    assert ok(call("GET", f"/v1/coupons/{c['id']}", key))["times_redeemed"] == 1


def test_a_change_in_a_discounted_period_credits_what_was_paid(deps, clock, key):
    cus = customer(key)
    pro = plan(key, FLAT)  # 49.00
    team = plan(key, {**FLAT, "name": "Team", "prices": [{"currency": "usd", "scheme": "flat", "amount": 9900}]})
    c = coupon(key, duration="forever")
    sub = subscribe(key, cus, [{"plan_id": pro}], coupon=c["id"])
    billing_run(deps, clock, after(sub["next_billing_at"]))
    current = ok(call("GET", f"/v1/subscriptions/{sub['id']}", key))
    begin = datetime.fromisoformat(current["billing_anchor"])
    end = datetime.fromisoformat(current["next_billing_at"])
    half = begin + (end - begin) / 2
    set_clock(clock, half)
    ok(call("POST", f"/v1/subscriptions/{sub['id']}/change", key, {"items": [{"plan_id": team}]}))
    pending = ok(call("GET", f"/v1/subscriptions/{sub['id']}", key))["pending_proration"]
    # half of 49.00 paid at 20 % off: credit 24.50 x 0.8 = 19.60; half of 99.00 = 49.50, 20 % off: 39.60
    assert [(p["amount"], p["discountable"]) for p in pending] == [(-1960, False), (3960, False)]
    assert all(p["description"].endswith("(20 % off)") for p in pending)
    billing_run(deps, clock, after(current["next_billing_at"]))
    second = invoices_of(key, cus)[1]
    # prorations as they are, then Team for the new period at 20 % off (99.00 - 19.80)
    assert [ln["amount"] - ln["discount_amount"] for ln in second["lines"]] == [-1960, 3960, 7920]
    assert second["total"] == -1960 + 3960 + 7920


def test_a_customers_discount_applies_where_there_is_none_of_their_own_and_can_be_removed(deps, clock, key):
    cus = customer(key)
    pro = plan(key, FLAT)
    half = coupon(key, percent_off="50", duration="forever")
    applied = ok(call("POST", f"/v1/customers/{cus}/discount", key, {"coupon": half["id"]}))
    assert applied["customer_id"] == cus and applied["subscription_id"] is None
    placed = ok(order(key, cus, amount=1000), 201)
    assert ok(call("GET", f"/v1/invoices/{placed['invoice_id']}", key))["discount"] == 500
    own = coupon(key, percent_off="10", duration="forever")
    with_own = ok(order(key, cus, amount=1000, coupon=own["id"]), 201)
    assert ok(call("GET", f"/v1/invoices/{with_own['invoice_id']}", key))["discount"] == 100  # its own wins
    sub = subscribe(key, cus, [{"plan_id": pro}])
    billing_run(deps, clock, after(sub["next_billing_at"]))
    first = [i for i in invoices_of(key, cus) if i.get("subscription_id")][0]
    assert (first["discount"], first["total"]) == (2450, 2450)
    removed = ok(call("DELETE", f"/v1/customers/{cus}/discount", key))
    assert removed["deleted"] is True
    assert ok(call("DELETE", f"/v1/customers/{cus}/discount", key))["deleted"] is False
    assert ok(call("GET", f"/v1/customers/{cus}/discount", key))["in_effect"] is False
    nxt = ok(call("GET", f"/v1/subscriptions/{sub['id']}", key))["next_billing_at"]
    billing_run(deps, clock, after(nxt))
    second = [i for i in invoices_of(key, cus) if i.get("subscription_id")][1]
    assert second["discount"] == 0


def test_a_discount_put_on_a_subscription_mid_period_starts_with_the_next_period(deps, clock, key):
    cus = customer(key)
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}])
    billing_run(deps, clock, after(sub["next_billing_at"]))
    set_clock(clock, START + timedelta(days=10))
    c = coupon(key, duration="forever")
    ok(call("POST", f"/v1/subscriptions/{sub['id']}/discount", key, {"promotion_code": code(key, c["id"])["code"]}))
    nxt = ok(call("GET", f"/v1/subscriptions/{sub['id']}", key))["next_billing_at"]
    billing_run(deps, clock, after(nxt))
    assert [i["discount"] for i in invoices_of(key, cus)] == [0, 980]
    assert ok(call("DELETE", f"/v1/subscriptions/{sub['id']}/discount", key))["deleted"] is True
    types = [e["type"] for e in ok(call("GET", "/v1/events", key, query={"object_id": sub["id"]}))["data"]]
    assert {"discount.applied", "discount.removed"} <= set(types)


def test_a_customers_once_discount_is_used_by_their_first_invoice_only(deps, clock, key):
    cus = customer(key)
    once = coupon(key, percent_off="50")
    ok(call("POST", f"/v1/customers/{cus}/discount", key, {"coupon": once["id"]}))
    sub = subscribe(key, cus, [{"plan_id": plan(key, FLAT)}])
    billing_run(deps, clock, after(sub["next_billing_at"]))  # the subscription's first period: 50 % off
    placed = ok(order(key, cus, amount=1000), 201)  # then an order: the discount is used up
    assert ok(call("GET", f"/v1/invoices/{placed['invoice_id']}", key))["discount"] == 0
    assert [i["discount"] for i in invoices_of(key, cus)] == [2450, 0]
    state = ok(call("GET", f"/v1/customers/{cus}/discount", key))
    assert state["in_effect"] is False and state["discount"]["end"] is not None
    ended = ok(call("GET", "/v1/events", key, query={"type": "discount.ended"}))["data"]
    assert [e["object"]["id"] for e in ended] == [state["discount"]["id"]]


def test_an_order_held_for_review_keeps_its_coupon_for_the_approval(key):
    cus = customer(key)
    c = coupon(key, percent_off="10")
    held = ok(order(key, cus, amount=2000, coupon=c["id"], metadata={"order_type": "enterprise"}), 201)
    assert held["status"] == "pending_review" and held["invoice_id"] is None
    assert ok(call("GET", f"/v1/coupons/{c['id']}", key))["times_redeemed"] == 1
    approved = ok(call("POST", f"/v1/orders/{held['id']}/approve", key))
    assert ok(call("GET", f"/v1/invoices/{approved['invoice_id']}", key))["discount"] == 200


ORDER = {
    "currency": "usd",
    "collection_method": "send_invoice",
    "lines": [{"description": "x", "quantity": 1, "unit_amount": 100}],
}


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/orders", ORDER), ("/v1/subscriptions", {"items": [{"plan_id": "p"}]})]
)
def test_a_coupon_and_a_promotion_code_at_once_are_refused_before_anything(key, path, body):
    both = {**body, "customer_id": "cus_x", "coupon": "co_x", "promotion_code": "SPRING"}
    status, body = call("POST", path, key, both)
    assert (status, body["code"]) == (422, "invalid_request"), body
    assert "not both" in json.dumps(body)
