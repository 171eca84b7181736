"""Each 404 the OpenAPI document declares is what the operation answers: an object named by id in the path or the
body that does not exist for the tenant gives 404 with one of the codes the document lists for that operation."""

from __future__ import annotations

import json
import re

import pytest

from functions.api import app
from tests.e2e.conftest import ROOT
from tests.integration.conftest import FakeLambdaContext, http_event

pytestmark = pytest.mark.usefixtures("deps")

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text())
MISSING = "missing0000"
# A body each operation takes but for the object it names (the document's own schemas say what is required)
BODIES = {
    "place_order": {
        "customer_id": MISSING,
        "currency": "usd",
        "lines": [{"description": "x", "quantity": 1, "unit_amount": 100}],
        "collection_method": "send_invoice",
    },
    "create_subscription": {
        "customer_id": MISSING,
        "items": [{"plan_id": MISSING, "quantity": 1}],
        "collection_method": "send_invoice",
    },
    "record_usage": {"subscription_id": MISSING, "plan_id": MISSING, "quantity": 1, "idempotency_key": "k1"},
    "preview_dunning": {"invoice_id": MISSING},
    "refund_invoice": {"reason": "other"},
    "agree_payment_plan": {"defer_to": "2027-01-01"},
    "change_subscription": {"items": [{"plan_id": MISSING, "quantity": 1}]},
    "cancel_subscription": {"at_period_end": True},
    "assign_collection_case": {"assignee": "ana@example.com"},
    "add_collection_case_note": {"text": "called, no answer"},
    "record_promise_to_pay": {"date": "2027-01-01"},
    "resolve_collection_case": {"resolution": "other"},
    "update_customer": {"name": "x"},
    "record_payment": {"amount": 1, "method": "cash", "reference": "r1", "received_at": "2026-01-01T00:00:00Z"},
    "reverse_payment": {"reason": "check bounced"},
    "update_webhook_endpoint": {"description": "x"},
    "update_tax_rate": {"active": False},
    "replay_webhooks": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
    "create_invoice_item": {"customer_id": MISSING, "currency": "usd", "amount": 100, "description": "x"},
    "create_balance_transaction": {"amount": 100, "currency": "usd", "description": "x"},
    "issue_credit_note": {"amount": 100, "reason": "other", "credit_to": "balance"},
    "add_subscription_item": {"plan_id": MISSING},
    "update_subscription_item": {"quantity": 1},
    "create_promotion_code": {"coupon_id": MISSING, "code": "SPRING"},
    "update_promotion_code": {"active": False},
    "apply_subscription_discount": {"coupon": MISSING},
    "apply_customer_discount": {"coupon": MISSING},
}


def declared_not_found():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            answer = operation.get("responses", {}).get("404", {})
            schema = answer.get("content", {}).get("application/problem+json", {}).get("schema", {})
            codes = next(
                (part["properties"]["code"]["enum"] for part in schema.get("allOf", []) if "properties" in part), None
            )
            if codes:
                yield pytest.param(method.upper(), path, operation["operationId"], codes, id=operation["operationId"])


@pytest.mark.parametrize(("method", "path", "operation", "codes"), list(declared_not_found()))
def test_a_missing_object_answers_a_declared_not_found(tenant, method, path, operation, codes):
    body = BODIES.get(operation, {} if method == "POST" else None)
    event = http_event(method, re.sub(r"\{\w+\}", MISSING, path), tenant[1], body)
    answer = app.lambda_handler(event, FakeLambdaContext())
    problem = json.loads(answer["body"])
    assert answer["statusCode"] == 404, problem
    assert problem["code"] in codes


def test_each_body_is_for_an_operation_of_the_document():
    operations = {o["operationId"] for item in DOCUMENT["paths"].values() for o in item.values()}
    assert set(BODIES) <= operations


def test_only_operations_that_name_an_object_declare_not_found():
    undeclared = [
        operation["operationId"]
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/") and "404" not in operation["responses"]
    ]
    assert sorted(undeclared) == sorted(
        [
            "create_customer",
            "list_customers",
            "create_dashboard_session",
            "list_invoices",
            "list_invoice_items",
            "list_events",
            "list_plans",
            "create_plan",
            "list_subscriptions",
            "get_dunning_policy",
            "put_dunning_policy",
            "get_profile",
            "list_collection_cases",
            "put_profile",
            "create_webhook_endpoint",
            "list_webhook_endpoints",
            "create_coupon",
            "list_coupons",
            "list_promotion_codes",
            "create_tax_rate",
            "list_tax_rates",
            "create_api_key",
            "list_api_keys",
            "get_tax_settings",
            "put_tax_settings",
        ]
    )
