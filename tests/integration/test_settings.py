"""Dunning settings over the API: read the default, replace it, preview it on an invoice."""

from __future__ import annotations

import json
from datetime import timedelta

from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event


def call(method, path, key, body=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


POLICY = {"steps": [{"day": 2, "actions": ["email_reminder"]}, {"day": 10, "actions": ["final_notice"]}]}


def test_a_tenant_starts_with_the_default_policy_and_can_replace_it(tenant):
    key = tenant[1]
    status, policy = call("GET", "/v1/settings/dunning", key)
    assert status == 200 and [s["day"] for s in policy["steps"]] == [1, 3, 7, 14, 30]
    status, saved = call("PUT", "/v1/settings/dunning", key, POLICY)
    assert status == 200 and [s["day"] for s in saved["steps"]] == [2, 10]
    assert call("GET", "/v1/settings/dunning", key)[1] == saved


def test_a_bad_policy_is_refused_and_changes_nothing(tenant):
    key = tenant[1]
    bad = {"steps": [{"day": 5, "actions": ["email_reminder"]}, {"day": 1, "actions": ["retry_charge"]}]}
    status, problem = call("PUT", "/v1/settings/dunning", key, bad)
    assert status == 422 and problem["code"] == "invalid_request"
    assert [s["day"] for s in call("GET", "/v1/settings/dunning", key)[1]["steps"]] == [1, 3, 7, 14, 30]


def test_preview_dates_the_steps_on_an_invoice_without_saving_anything(tenant, clock):
    key = tenant[1]
    customer = call(
        "POST", "/v1/customers", key, {"email": "d@example.com", "name": "D", "locale": "en", "currency": "usd"}
    )[1]
    order = call(
        "POST",
        "/v1/orders",
        key,
        {
            "customer_id": customer["id"],
            "currency": "usd",
            "collection_method": "send_invoice",
            "days_until_due": 10,
            "lines": [{"description": "Plan", "quantity": 1, "unit_amount": 1000}],
        },
    )[1]
    clock.advance(timedelta(days=13))  # due 2026-12-03; now 2026-12-06
    status, preview = call(
        "POST", "/v1/settings/dunning/preview", key, {"invoice_id": order["invoice_id"], "policy": POLICY}
    )
    assert status == 200 and preview["amount_due"] == 1000
    assert [(s["at"][:10], s["state"]) for s in preview["steps"]] == [("2026-12-05", "past"), ("2026-12-13", "planned")]
    assert [s["day"] for s in call("GET", "/v1/settings/dunning", key)[1]["steps"]] == [1, 3, 7, 14, 30]
    call("POST", f"/v1/invoices/{order['invoice_id']}/void", key)
    states = {
        s["state"]
        for s in call("POST", "/v1/settings/dunning/preview", key, {"invoice_id": order["invoice_id"]})[1]["steps"]
    }
    assert states == {"not_needed"}
