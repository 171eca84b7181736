"""The API handler on moto, driven by API Gateway HTTP API events built from events/http_api_request.json."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from functions.api import app
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

pytestmark = pytest.mark.usefixtures("deps")


def call(method, path, api_key=None, body=None, headers=None, query=None):
    answer = app.lambda_handler(http_event(method, path, api_key, body, headers, query), FakeLambdaContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None, answer.get("headers", {})


CUSTOMER = {"email": "ana@example.com", "name": "Ana Lima", "locale": "en", "currency": "usd"}


def order_body(customer_id, **extra):
    return {
        "customer_id": customer_id,
        "currency": "usd",
        "lines": [{"description": "Pro plan", "quantity": 2, "unit_amount": 1999, "tax_rate_percent": "8.25"}],
        "collection_method": "send_invoice",
        "days_until_due": 14,
        **extra,
    }


@pytest.fixture
def customer_id(key):
    status, body, _ = call("POST", "/v1/customers", key, CUSTOMER)
    assert status == 201, body
    return body["id"]


def test_order_becomes_a_numbered_finalized_invoice(key, customer_id):
    status, order, _ = call("POST", "/v1/orders", key, order_body(customer_id, discount={"percent_off": "10"}))
    assert status == 201, order
    assert order["status"] == "invoiced" and order["invoice_id"]
    status, invoice, _ = call("GET", f"/v1/invoices/{order['invoice_id']}", key)
    assert status == 200
    assert invoice["number"] == "INV-2026-000001"
    assert invoice["status"] == "open"
    assert (invoice["subtotal"], invoice["discount"], invoice["tax"], invoice["total"]) == (3998, 400, 297, 3895)
    assert invoice["amount_due"] == 3895 and invoice["amount_paid"] == 0
    assert invoice["due_date"] == "2026-12-07" and invoice["issued_at"].startswith("2026-11-23T12:00:00")
    assert invoice["customer_id"] == customer_id and invoice["order_id"] == order["id"]


def test_numbers_are_sequential_and_a_voided_invoice_keeps_its_number(key, customer_id):
    numbers = []
    for _ in range(3):
        _, order, _ = call("POST", "/v1/orders", key, order_body(customer_id))
        numbers.append(call("GET", f"/v1/invoices/{order['invoice_id']}", key)[1]["number"])
    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    listed = call("GET", "/v1/invoices", key, query={"status": "open"})[1]["data"]
    first = next(inv for inv in listed if inv["number"] == "INV-2026-000001")
    status, voided, _ = call("POST", f"/v1/invoices/{first['id']}/void", key)
    assert status == 200 and voided["status"] == "void" and voided["number"] == "INV-2026-000001"
    status, problem, _ = call("POST", f"/v1/invoices/{first['id']}/void", key)
    assert status == 409 and problem["code"] == "invoice_void_not_allowed"


def test_review_rule_holds_trial_orders_until_approved(key, customer_id):
    status, order, _ = call("POST", "/v1/orders", key, order_body(customer_id, metadata={"order_type": "trial"}))
    assert status == 201 and order["status"] == "pending_review" and order["invoice_id"] is None
    status, approved, _ = call("POST", f"/v1/orders/{order['id']}/approve", key)
    assert status == 200 and approved["status"] == "invoiced" and approved["invoice_id"]
    status, problem, _ = call("POST", f"/v1/orders/{order['id']}/cancel", key)
    assert status == 409 and problem["code"] == "order_cancel_not_allowed"


def test_a_held_order_can_be_canceled_and_then_not_approved(key, customer_id):
    _, order, _ = call("POST", "/v1/orders", key, order_body(customer_id, metadata={"order_type": "enterprise"}))
    assert call("POST", f"/v1/orders/{order['id']}/cancel", key)[1]["status"] == "canceled"
    status, problem, _ = call("POST", f"/v1/orders/{order['id']}/approve", key)
    assert status == 409 and problem["code"] == "order_approve_not_allowed"
    assert call("GET", "/v1/invoices", key)[1]["data"] == []


def test_duplicate_external_id_is_refused_and_names_the_first(key, customer_id):
    _, first, _ = call("POST", "/v1/orders", key, order_body(customer_id, external_id="shop-42"))
    status, problem, headers = call("POST", "/v1/orders", key, order_body(customer_id, external_id="shop-42"))
    assert status == 409 and problem["code"] == "duplicate_external_id" and problem["existing_id"] == first["id"]
    assert headers["Content-Type"] == "application/problem+json"
    assert len(call("GET", "/v1/invoices", key)[1]["data"]) == 1


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(key):
    headers = {"Idempotency-Key": "create-ana-1"}
    first = call("POST", "/v1/customers", key, CUSTOMER, headers)
    again = call("POST", "/v1/customers", key, {**CUSTOMER}, headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    status, problem, _ = call("POST", "/v1/customers", key, {**CUSTOMER, "name": "Other"}, headers)
    assert status == 409 and problem["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ({**CUSTOMER, "currency": "usdx"}, 422, "invalid_request"),
        ({**CUSTOMER, "locale": "xx"}, 422, "invalid_request"),
        ({**CUSTOMER, "email": "nope"}, 422, "invalid_request"),
        ({**CUSTOMER, "surprise": 1}, 422, "invalid_request"),
        ({k: v for k, v in CUSTOMER.items() if k != "name"}, 422, "invalid_request"),
    ],
)
def test_bad_customer_input_is_a_problem_and_writes_nothing(key, body, status, code):
    got, problem, headers = call("POST", "/v1/customers", key, body)
    assert (got, problem["code"]) == (status, code)
    assert headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"currency": "eur"}, "currency_mismatch"),
        ({"lines": []}, "invalid_request"),
        ({"lines": [{"description": "x", "quantity": 0, "unit_amount": 1}]}, "invalid_request"),
        ({"lines": [{"description": "x", "quantity": 1, "unit_amount": 1.5}]}, "invalid_request"),
        ({"lines": [{"description": "x", "quantity": 1, "unit_amount": -1}]}, "invalid_request"),
        ({"discount": {"amount_off": 10**6}}, "discount_exceeds_subtotal"),
        ({"discount": {"amount_off": 1, "percent_off": "5"}}, "invalid_request"),
        ({"collection_method": "cash"}, "invalid_request"),
        ({"customer_id": "cus_missing"}, "customer_not_found"),
        # a percent is exact: a JSON fraction is a binary float
        (
            {"lines": [{"description": "x", "quantity": 1, "unit_amount": 1, "tax_rate_percent": 8.25}]},
            "invalid_request",
        ),
        (
            {"lines": [{"description": "x", "quantity": 1, "unit_amount": 1, "tax_rate_percent": "8.25.1"}]},
            "invalid_request",
        ),
        ({"discount": {"percent_off": 12.5}}, "invalid_request"),
    ],
)
def test_bad_orders_are_refused_and_change_nothing(key, customer_id, change, code):
    status, problem, _ = call("POST", "/v1/orders", key, {**order_body(customer_id), **change})
    assert problem["code"] == code, problem
    assert status in (400, 404, 422)
    assert call("GET", "/v1/invoices", key)[1]["data"] == []


def test_tenants_are_isolated_and_keys_are_checked(deps, key, customer_id):
    from billing.services import tenants

    _, other_key = tenants.create_tenant(deps.context, "Other Co")
    status, problem, _ = call("GET", f"/v1/customers/{customer_id}", other_key)
    assert status == 404 and problem["code"] == "customer_not_found"
    assert call("GET", f"/v1/customers/{customer_id}", None)[0] == 401
    assert call("GET", f"/v1/customers/{customer_id}", key[:-2] + "xx")[0] == 401
    assert call("GET", f"/v1/customers/{customer_id}", "bk_nosuchtenant.abc")[0] == 401


def test_listing_pages_with_a_cursor_and_refuses_a_forged_one(key, customer_id, clock):
    ids = []
    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        ids.append(call("POST", "/v1/orders", key, order_body(customer_id))[1]["invoice_id"])
    seen, cursor = [], None
    while True:
        query = {"customer_id": customer_id, "limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page, _ = call("GET", "/v1/invoices", key, query=query)
        assert status == 200
        seen += [inv["id"] for inv in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == list(reversed(ids))
    status, problem, _ = call("GET", "/v1/invoices", key, query={"cursor": "eyJwayI6IHsiUyI6ICJUI290aGVyIn19"})
    assert status == 422 and problem["code"] == "invalid_cursor"


def test_openapi_document_describes_every_route():
    status, doc, _ = call("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in [
        ("/v1/customers", "post"),
        ("/v1/customers/{customer_id}", "get"),
        ("/v1/orders", "post"),
        ("/v1/orders/{order_id}", "get"),
        ("/v1/orders/{order_id}/approve", "post"),
        ("/v1/orders/{order_id}/cancel", "post"),
        ("/v1/invoices/{invoice_id}", "get"),
        ("/v1/invoices", "get"),
        ("/v1/invoices/{invoice_id}/void", "post"),
    ]:
        assert method in paths[path], (path, method)
    assert "PlaceOrder" in doc["components"]["schemas"]
    # the doors beside the API a storefront meets too, without the API key
    assert paths["/pay/{token}"]["get"]["security"] == [] and "text/html" in str(paths["/pay/{token}"]["get"])
    assert paths["/webhooks/stripe"]["post"]["security"] == []
    assert paths["/webhooks/stripe"]["post"]["parameters"][0]["name"] == "Stripe-Signature"


@pytest.mark.parametrize(
    ("content_type", "body", "encoded", "status", "code"),
    [
        ("text/plain", '{"a": 1}', False, 415, "unsupported_media_type"),
        ("multipart/form-data", '{"a": 1}', False, 415, "unsupported_media_type"),
        ("application/json", "jZpfBQ==", True, 400, "malformed_json"),  # base64 of bytes that are not UTF-8
        ("application/json", "!!not base64", True, 400, "malformed_json"),
    ],
)
def test_a_body_that_is_not_utf8_json_is_a_problem_not_a_crash(key, content_type, body, encoded, status, code):
    event = http_event("POST", "/v1/customers", key, None, {"Content-Type": content_type})
    event.update(body=body, isBase64Encoded=encoded)
    answer = app.lambda_handler(event, FakeLambdaContext())
    assert answer["statusCode"] == status and json.loads(answer["body"])["code"] == code


def test_a_cursor_only_continues_the_listing_it_came_from(key, customer_id):
    for _ in range(3):
        call("POST", "/v1/orders", key, order_body(customer_id))
    cursor = call("GET", "/v1/invoices", key, query={"limit": "1"})[1]["next_cursor"]
    assert call("GET", "/v1/invoices", key, query={"limit": "1", "cursor": cursor})[0] == 200
    status, problem, _ = call("GET", "/v1/invoices", key, query={"limit": "1", "status": "open", "cursor": cursor})
    assert status == 422 and problem["code"] == "invalid_cursor"


def test_an_invoice_total_above_the_ceiling_is_refused(key, customer_id):
    line = {"description": "x", "quantity": 1_000_000, "unit_amount": 99_999_999_999, "tax_rate_percent": "100"}
    status, problem, _ = call("POST", "/v1/orders", key, order_body(customer_id, lines=[line]))
    assert status == 422 and problem["code"] == "amount_too_large"
    assert call("GET", "/v1/invoices", key)[1]["data"] == []


@pytest.mark.parametrize("field", ["quantity", "unit_amount"])
def test_a_boolean_is_not_a_number_of_minor_units(key, customer_id, field):
    line = {"description": "x", "quantity": 1, "unit_amount": 100, field: True}
    status, problem, _ = call("POST", "/v1/orders", key, order_body(customer_id, lines=[line]))
    assert status == 422 and problem["code"] == "invalid_request"


def test_a_percent_is_a_decimal_string_or_a_whole_number(key, customer_id):
    lines = [
        {"description": "a", "quantity": 1, "unit_amount": 10000, "tax_rate_percent": "8.25"},
        {"description": "b", "quantity": 1, "unit_amount": 10000, "tax_rate_percent": 20},
    ]
    status, placed, _ = call("POST", "/v1/orders", key, order_body(customer_id, lines=lines))
    assert status == 201, placed
    invoice = call("GET", f"/v1/invoices/{placed['invoice_id']}", key)[1]
    assert invoice["tax"] == 825 + 2000


@pytest.mark.parametrize(
    ("path", "query", "unknown"),
    [
        ("/v1/subscriptions", {"customer_id": "cus_1"}, "customer_id"),
        ("/v1/invoices", {"customer": "cus_1"}, "customer"),
        ("/v1/invoices", {"limit": "5", "sort": "asc", "expand": "lines"}, "expand, sort"),
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_refused(key, path, query, unknown):
    status, problem, _ = call("GET", path, key, query=query)
    assert status == 400 and problem["code"] == "unknown_query_parameter", problem
    assert f"no query parameter {unknown}" in problem["detail"]


def test_the_query_parameters_a_route_takes_are_accepted(key, customer_id):
    status, listing, _ = call("GET", "/v1/invoices", key, query={"customer_id": customer_id, "limit": "5"})
    assert status == 200 and listing["data"] == []


@pytest.mark.parametrize("field", ["line1", "line2", "city", "state", "postal_code", "country"])
@pytest.mark.parametrize(
    "size, refusal", [(1_000, (422, "invalid_request")), (400_000, (413, "body_too_large"))], ids=["long", "huge"]
)
def test_an_address_field_too_long_is_a_problem_and_nothing_is_written(tenant, field, size, refusal):
    body = {**CUSTOMER, "address": {field: "x" * size}}
    status, answer, _ = call("POST", "/v1/customers", tenant[1], body)
    assert (status, answer["code"]) == refusal
    customers = boto3.client("dynamodb").scan(
        TableName=TABLE,
        FilterExpression="#t = :c",
        ExpressionAttributeNames={"#t": "type"},
        ExpressionAttributeValues={":c": {"S": "customer"}},
    )["Items"]
    assert customers == []
