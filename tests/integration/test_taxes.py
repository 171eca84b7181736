"""Taxes over the API, on moto: tax rates and tax settings (every bad input a 4xx problem that writes nothing),
customers' tax status and tax ids, and lines taxed at the rate they get (an order line's, a plan's, the settings')."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from billing import bootstrap
from billing.services import subscriptions
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event
from tests.integration.numbering import number_drafts
from tests.integration.test_events_out import assert_valid, trail


def call(method, path, key, body=None, query=None, headers=None):
    answer = app.lambda_handler(http_event(method, path, key, body, headers, query), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def events(key, object_id=None, event_type=None):
    query = {k: v for k, v in {"object_id": object_id, "type": event_type}.items() if v}
    status, page = call("GET", "/v1/events", key, query=query)
    assert status == 200, page
    return page["data"]


def rate(key, **fields):
    body = {"display_name": "VAT", "percentage": "20", **fields}
    status, created = call("POST", "/v1/tax_rates", key, body)
    assert status == 201, created
    return created


def customer(key, **fields):
    body = {"email": "ada@example.com", "name": "Ada", "locale": "en", "currency": "usd", **fields}
    status, created = call("POST", "/v1/customers", key, body)
    assert status == 201, created
    return created


def test_a_rate_is_created_listed_renamed_and_archived_but_never_changes_its_percentage(tenant, clock):
    key = tenant[1]
    vat = rate(key, jurisdiction="GB", description="UK standard rate")
    clock.advance(timedelta(seconds=1))  # ids sort by creation time
    assert (vat["percentage"], vat["inclusive"], vat["active"], vat["id"][:4]) == ("20", False, True, "txr_")
    ny = rate(key, display_name="Sales tax", percentage="8.875", jurisdiction="US-NY")
    assert call("GET", f"/v1/tax_rates/{ny['id']}", key)[1]["percentage"] == "8.875"

    status, renamed = call("POST", f"/v1/tax_rates/{vat['id']}", key, {"display_name": "UK VAT", "active": False})
    assert status == 200 and (renamed["display_name"], renamed["active"]) == ("UK VAT", False)
    status, refused = call("POST", f"/v1/tax_rates/{vat['id']}", key, {"percentage": "21"})
    assert status == 422 and refused["code"] == "tax_rate_immutable" and refused["fields"] == ["percentage"]
    assert call("GET", f"/v1/tax_rates/{vat['id']}", key)[1]["percentage"] == "20"

    status, listed = call("GET", "/v1/tax_rates", key)
    assert status == 200 and [r["id"] for r in listed["data"]] == [vat["id"], ny["id"]]
    assert [r["id"] for r in call("GET", "/v1/tax_rates", key, query={"active": "true"})[1]["data"]] == [ny["id"]]
    assert [r["id"] for r in call("GET", "/v1/tax_rates", key, query={"active": "false"})[1]["data"]] == [vat["id"]]
    first = call("GET", "/v1/tax_rates", key, query={"limit": "1"})[1]
    assert first["has_more"] and [r["id"] for r in first["data"]] == [vat["id"]]
    rest = call("GET", "/v1/tax_rates", key, query={"limit": "1", "cursor": first["next_cursor"]})[1]
    assert [r["id"] for r in rest["data"]] == [ny["id"]]

    (updated,) = events(key, vat["id"], "tax_rate.updated")
    assert updated["data"]["changes"] == {
        "display_name": {"before": "VAT", "after": "UK VAT"},
        "active": {"before": True, "after": False},
    }
    assert [e["type"] for e in events(key, ny["id"])] == ["tax_rate.created"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"display_name": "VAT", "percentage": 20.5}, 422, "invalid_request"),  # a JSON float
        ({"display_name": "VAT", "percentage": "100.5"}, 422, "invalid_request"),
        ({"display_name": "VAT", "percentage": "8.12345"}, 422, "invalid_request"),
        ({"display_name": "VAT", "percentage": "-1"}, 422, "invalid_request"),
        ({"display_name": "", "percentage": "20"}, 422, "invalid_request"),
        ({"display_name": "x" * 51, "percentage": "20"}, 422, "invalid_request"),
        ({"display_name": "VAT", "percentage": "20", "jurisdiction": "usa"}, 422, "invalid_jurisdiction"),
        ({"display_name": "VAT", "percentage": "20", "rate": "1"}, 422, "invalid_request"),
        ({"percentage": "20"}, 422, "invalid_request"),
        ("{not json", 400, "malformed_json"),
    ],
)
def test_a_bad_rate_is_a_problem_and_writes_nothing(tenant, body, status, code):
    key = tenant[1]
    answer, problem = call("POST", "/v1/tax_rates", key, body)
    assert (answer, problem["code"]) == (status, code)
    assert call("GET", "/v1/tax_rates", key)[1]["data"] == []
    assert events(key, event_type="tax_rate.created") == []


def test_unknown_rates_and_bad_queries_are_problems(tenant):
    key = tenant[1]
    assert call("GET", "/v1/tax_rates/txr_nope", key)[0] == 404
    assert call("POST", "/v1/tax_rates/txr_nope", key, {"active": False})[1]["code"] == "tax_rate_not_found"
    assert call("GET", "/v1/tax_rates", key, query={"active": "maybe"})[0] == 422
    assert call("GET", "/v1/tax_rates", key, query={"cursor": "bogus"})[1]["code"] == "invalid_cursor"
    assert call("GET", "/v1/tax_rates", key, query={"status": "x"})[1]["code"] == "unknown_query_parameter"
    vat = rate(key)
    assert call("POST", f"/v1/tax_rates/{vat['id']}", key, {"active": None})[0] == 422
    assert call("GET", f"/v1/tax_rates/{vat['id']}", key)[1]["active"] is True


def test_the_tax_settings_name_active_rates_and_keep_them_so(tenant):
    key = tenant[1]
    assert call("GET", "/v1/settings/tax", key) == (200, {"default_tax_rate_id": None, "rules": []})
    default, us, ny = rate(key, display_name="VAT"), rate(key, percentage="4"), rate(key, percentage="8.875")
    settings = {
        "default_tax_rate_id": default["id"],
        "rules": [
            {"country": "US", "tax_rate_id": us["id"]},
            {"country": "US", "region": "NY", "tax_rate_id": ny["id"]},
        ],
    }
    status, saved = call("PUT", "/v1/settings/tax", key, settings)
    assert status == 200 and [r.get("region") for r in saved["rules"]] == ["NY", None]  # the most specific first
    assert call("GET", "/v1/settings/tax", key)[1] == saved
    (changed,) = events(key, tenant[0], "tenant.tax_settings_updated")
    assert changed["data"]["changes"]["default_tax_rate_id"] == {"before": None, "after": default["id"]}

    status, in_use = call("POST", f"/v1/tax_rates/{ny['id']}", key, {"active": False})
    assert (status, in_use["code"]) == (409, "tax_rate_in_use")
    assert call("GET", f"/v1/tax_rates/{ny['id']}", key)[1]["active"] is True

    archived = rate(key, active=False)
    for bad, status, code in [
        ({"default_tax_rate_id": "txr_nope"}, 422, "tax_rate_not_found"),
        ({"default_tax_rate_id": archived["id"]}, 422, "tax_rate_inactive"),
        ({"rules": [{"country": "us", "tax_rate_id": us["id"]}]}, 422, "invalid_request"),
        ({"rules": [{"country": "US", "tax_rate_id": us["id"]}] * 2}, 422, "duplicate_tax_rule"),
        ({"rules": [{"country": "US"}]}, 422, "invalid_request"),
        ({"default": default["id"]}, 422, "invalid_request"),
    ]:
        answer, problem = call("PUT", "/v1/settings/tax", key, bad)
        assert (answer, problem["code"]) == (status, code), bad
    assert call("GET", "/v1/settings/tax", key)[1] == saved
    assert len(events(key, tenant[0], "tenant.tax_settings_updated")) == 1
    # the events of the flow, as they go out, against their published schemas
    call("POST", f"/v1/tax_rates/{archived['id']}", key, {"display_name": "Old VAT"})
    seen = assert_valid(trail(key))
    assert {"tax_rate.created", "tax_rate.updated", "tenant.tax_settings_updated"} <= seen


def test_a_customer_has_a_tax_status_and_tax_ids_kept_compact(tenant):
    key = tenant[1]
    business = customer(key, tax_exempt="reverse", tax_ids=[{"type": "eu_vat", "value": "de 136 695 976"}])
    assert business["tax_exempt"] == "reverse"
    assert business["tax_ids"] == [{"type": "eu_vat", "value": "DE136695976"}]

    for bad, code in [
        ({"tax_exempt": "reverse"}, "reverse_charge_needs_tax_id"),
        ({"tax_ids": [{"type": "eu_vat", "value": "DE136695977"}]}, "invalid_tax_id"),
        ({"tax_ids": [{"type": "ru_inn", "value": "7707083894"}]}, "invalid_tax_id"),
        ({"tax_ids": [{"type": "xx_vat", "value": "1"}]}, "invalid_request"),
        ({"tax_ids": [{"type": "cn_uscc", "value": "91110000600037341L"}] * 2}, "duplicate_tax_id"),
        ({"tax_exempt": "partly"}, "invalid_request"),
    ]:
        status, problem = call(
            "POST",
            "/v1/customers",
            key,
            {**bad, "email": "b@example.com", "name": "B", "locale": "en", "currency": "usd"},
        )
        assert (status, problem["code"]) == (422, code), bad
    assert call("GET", "/v1/customers", key, query={"email": "b@example.com"})[1]["data"] == []


def test_a_customer_patch_changes_its_tax_ids_and_status_with_the_changes_on_the_trail(tenant):
    key = tenant[1]
    ada = customer(key)
    path = f"/v1/customers/{ada['id']}"
    status, problem = call("PATCH", path, key, {"tax_exempt": "reverse"})
    assert (status, problem["code"]) == (422, "reverse_charge_needs_tax_id")
    status, problem = call("PATCH", path, key, {"tax_ids": [{"type": "eu_vat", "value": "FR40303265046"}]})
    assert (status, problem["code"], problem["type"]) == (422, "invalid_tax_id", "urn:billing:problem:invalid_tax_id")
    assert problem["tax_id_type"] == "eu_vat"
    assert call("GET", path, key)[1]["version"] == ada["version"]

    ids = [{"type": "eu_vat", "value": "FR 40 303 265 045"}, {"type": "ru_inn", "value": "7707083893"}]
    status, patched = call("PATCH", path, key, {"tax_exempt": "reverse", "tax_ids": ids})
    assert status == 200 and patched["tax_ids"][0] == {"type": "eu_vat", "value": "FR40303265045"}
    (updated,) = events(key, ada["id"], "customer.updated")
    assert updated["data"]["changes"] == {
        "tax_exempt": {"before": "none", "after": "reverse"},
        "tax_ids": {
            "before": [],
            "after": [{"type": "eu_vat", "value": "FR40303265045"}, {"type": "ru_inn", "value": "7707083893"}],
        },
    }
    status, problem = call("PATCH", path, key, {"tax_ids": None})  # a reverse-charge customer keeps a tax id
    assert (status, problem["code"]) == (422, "reverse_charge_needs_tax_id")
    status, cleared = call("PATCH", path, key, {"tax_ids": None, "tax_exempt": "exempt"})
    assert status == 200 and (cleared["tax_ids"], cleared["tax_exempt"]) == ([], "exempt")
    assert call("PATCH", path, key, {"tax_exempt": None})[0] == 422


def _order(key, customer_id, **line):
    body = {
        "customer_id": customer_id,
        "currency": "usd",
        "collection_method": "send_invoice",
        "lines": [{"description": "Widget", "quantity": 2, "unit_amount": 5000, **line}],
    }
    return call("POST", "/v1/orders", key, body)


def test_an_order_line_is_taxed_at_the_rate_it_names(tenant):
    key = tenant[1]
    ny = rate(key, display_name="Sales tax", percentage="8.875", jurisdiction="US-NY")
    ada = customer(key)
    status, order = _order(key, ada["id"], tax_rate_id=ny["id"])
    assert status == 201, order
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    (line,) = invoice["lines"]
    assert line["tax_rate"]["id"] == ny["id"] and line["tax_rate"]["display_name"] == "Sales tax"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (10000, 888, 10888)  # 887.5 rounds half up


def test_order_lines_with_a_bad_rate_are_refused_and_write_nothing(tenant):
    key = tenant[1]
    ada = customer(key)
    archived = rate(key, active=False)
    for line, code in [
        ({"tax_rate_id": "txr_nope"}, "tax_rate_not_found"),
        ({"tax_rate_id": archived["id"]}, "tax_rate_inactive"),
        ({"tax_rate_id": archived["id"], "tax_rate_percent": "5"}, "tax_rate_ambiguous"),
    ]:
        status, problem = _order(key, ada["id"], **line)
        assert (status, problem["code"]) == (422, code), line
    assert call("GET", "/v1/invoices", key)[1]["data"] == []


def test_the_free_form_percent_still_works_and_settings_apply_to_lines_that_name_no_rate(tenant):
    key = tenant[1]
    ny = rate(key, display_name="Sales tax", percentage="8.875", jurisdiction="US-NY")
    call("PUT", "/v1/settings/tax", key, {"rules": [{"country": "US", "region": "NY", "tax_rate_id": ny["id"]}]})
    new_yorker = customer(key, address={"country": "US", "state": "NY", "city": "New York"})
    status, order = _order(key, new_yorker["id"], tax_rate_percent="5")  # compatibility: the line's own rate
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert invoice["tax"] == 500 and invoice["lines"][0]["tax_rate"]["id"] is None
    status, order = _order(key, new_yorker["id"])  # no rate: the place rule's
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert invoice["tax"] == 888 and invoice["lines"][0]["tax_rate"]["id"] == ny["id"]
    exempt = customer(key, email="e@example.com", address={"country": "US", "state": "NY"}, tax_exempt="exempt")
    status, order = _order(key, exempt["id"], tax_rate_id=ny["id"])
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert (invoice["tax"], invoice["total"], invoice["lines"][0]["tax_rate"]) == (0, 10000, None)


def test_a_plan_names_an_active_rate_and_its_subscription_is_taxed_at_it(tenant, clock):
    key = tenant[1]
    vat = rate(key, percentage="20")
    plan = {
        "name": "Pro",
        "interval": {"unit": "month"},
        "prices": [{"currency": "usd", "scheme": "flat", "amount": 10000}],
    }
    assert call("POST", "/v1/plans", key, {**plan, "tax_rate_id": "txr_nope"})[1]["code"] == "tax_rate_not_found"
    status, pro = call("POST", "/v1/plans", key, {**plan, "tax_rate_id": vat["id"]})
    assert status == 201 and pro["tax_rate_id"] == vat["id"]
    ada = customer(key)
    status, sub = call("POST", "/v1/subscriptions", key, {"customer_id": ada["id"], "items": [{"plan_id": pro["id"]}]})
    assert status == 201 and sub["items"][0]["tax_rate_id"] == vat["id"]
    # the rate is archived: the subscription bills on at the rate its item was made with
    call("POST", f"/v1/tax_rates/{vat['id']}", key, {"active": False})
    bob = customer(key, email="bob@example.com")
    status, problem = call(
        "POST", "/v1/subscriptions", key, {"customer_id": bob["id"], "items": [{"plan_id": pro["id"]}]}
    )
    assert (status, problem["code"]) == (422, "tax_rate_inactive")  # a new subscription needs the rate active
    clock.advance(subscriptions.RUN_DELAY + timedelta(seconds=1))
    subscriptions.bill_subscriptions(bootstrap.deps().context, tenant[0], [sub["id"]])
    number_drafts(bootstrap.deps())
    (invoice,) = call("GET", "/v1/invoices", key, query={"customer_id": ada["id"]})[1]["data"]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (10000, 2000, 12000)
    assert invoice["lines"][0]["tax_rate"]["id"] == vat["id"]


def test_a_held_order_is_taxed_at_approval_and_refused_if_its_rate_was_archived_meanwhile(tenant):
    key = tenant[1]
    vat = rate(key, percentage="20")
    ada = customer(key)
    body = {
        "customer_id": ada["id"],
        "currency": "usd",
        "collection_method": "send_invoice",
        "metadata": {"order_type": "enterprise"},
        "lines": [{"description": "Seats", "quantity": 1, "unit_amount": 1000, "tax_rate_id": vat["id"]}],
    }
    first, second = (call("POST", "/v1/orders", key, body)[1] for _ in range(2))
    assert first["status"] == second["status"] == "pending_review"
    status, approved = call("POST", f"/v1/orders/{first['id']}/approve", key, {})
    assert status == 200
    invoice = call("GET", f"/v1/invoices/{approved['invoice_id']}", key)[1]
    assert (invoice["tax"], invoice["total"]) == (200, 1200)
    call("POST", f"/v1/tax_rates/{vat['id']}", key, {"active": False})
    status, problem = call("POST", f"/v1/orders/{second['id']}/approve", key, {})
    assert (status, problem["code"]) == (422, "tax_rate_inactive")
    assert call("GET", f"/v1/orders/{second['id']}", key)[1]["status"] == "pending_review"


def test_a_jpy_order_at_an_inclusive_rate_splits_the_tax_out_of_the_price(tenant):
    key = tenant[1]
    consumption = rate(key, display_name="消费税", percentage="10", inclusive=True, jurisdiction="JP")
    taro = customer(key, currency="jpy", locale="zh")
    body = {
        "customer_id": taro["id"],
        "currency": "jpy",
        "collection_method": "send_invoice",
        "lines": [
            {"description": "Plan", "quantity": 1, "unit_amount": 11000, "tax_rate_id": consumption["id"]},
            {"description": "Extra", "quantity": 3, "unit_amount": 333, "tax_rate_id": consumption["id"]},
        ],
    }
    status, order = call("POST", "/v1/orders", key, body)
    assert status == 201, order
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    # 11000 x 10/110 = 1000; 999 x 10/110 = 90.8 -> 91: the prices are what is paid
    assert [line["tax_amount"] for line in invoice["lines"]] == [1000, 91]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (10908, 1091, 11999)
    (row,) = invoice["tax_summary"]
    assert (row["tax_rate_id"], row["inclusive"], row["taxable_amount"], row["tax_amount"]) == (
        consumption["id"],
        True,
        10908,
        1091,
    )


def test_a_reverse_charge_invoice_states_it_on_its_hosted_page(tenant, deps):
    from billing.services import hosted_page
    from tests.integration.test_hosted_page import text_of

    key = tenant[1]
    vat = rate(key, percentage="19", jurisdiction="DE")
    business = customer(
        key, locale="ru", currency="eur", tax_exempt="reverse", tax_ids=[{"type": "eu_vat", "value": "DE136695976"}]
    )
    body = {
        "customer_id": business["id"],
        "currency": "eur",
        "collection_method": "send_invoice",
        "lines": [{"description": "Consulting", "quantity": 1, "unit_amount": 50000, "tax_rate_id": vat["id"]}],
    }
    order = call("POST", "/v1/orders", key, body)[1]
    invoice = call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]
    assert (invoice["tax"], invoice["total"], invoice["tax_exempt"]) == (0, 50000, "reverse")
    assert invoice["customer_tax_ids"] == [{"type": "eu_vat", "value": "DE136695976"}]
    path = hosted_page.pay_link(deps.context, tenant[0], invoice["id"])
    answer = app.lambda_handler(http_event("GET", path), FakeLambdaContext())
    shown = text_of(answer["body"])
    assert "Обратное начисление: НДС уплачивает получатель (ст. 196 Директивы 2006/112/ЕС)." in shown
    assert "НДС ЕС DE136695976" in shown
