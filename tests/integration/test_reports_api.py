"""Issue 14: GET /v1/reports/{report_name} on moto: the facts of the analytics bucket's latest export, one tenant's
only, fetched once per export by a warm function; JSON or CSV; every bad question a problem with its code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from billing.adapters.analytics import BucketFacts
from billing.reports import export
from billing.reports.facts import TABLES
from billing.services import customers
from billing.services.commands import CreateCustomer
from functions.api import app
from tests.integration.conftest import FakeLambdaContext, http_event

BUCKET = "billing-test-analytics"


@pytest.fixture
def analytics(deps):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    deps.env["ANALYTICS_BUCKET"] = BUCKET
    deps.__dict__.pop("facts", None)
    return deps


def call(key, path, query=None, headers=None):
    answer = app.lambda_handler(http_event("GET", path, key, headers=headers, query=query), FakeLambdaContext())
    body = answer["body"]
    is_json = answer["headers"]["Content-Type"].endswith("json")
    return answer["statusCode"], json.loads(body) if is_json else body, answer["headers"]


def invoice_row(tenant_id, invoice_id, total, issued):
    return {
        "tenant_id": tenant_id, "month": issued[:7], "invoice_id": invoice_id, "number": invoice_id,
        "customer_id": "cus_1", "subscription_id": None, "currency": "usd", "status": "open", "subtotal": total,
        "discount": 0, "tax": 0, "total": total, "credit_applied": 0, "owed": total, "issued_at": issued,
        "due_date": issued[:10], "voided_at": None,
    }  # fmt: skip


def publish(tenant_rows, through):
    facts = {name: [] for name in TABLES}
    facts["invoices"] = tenant_rows
    export.publish(boto3.client("s3"), BUCKET, facts, through, export_id=through.isoformat())


def test_a_report_answers_from_the_latest_export_and_only_with_the_tenants_facts(analytics, tenant, monkeypatch):
    tenant_id, key = tenant
    status, empty, _ = call(key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-11"})
    assert status == 200, empty
    assert (empty["data_through"], empty["months"]) == (None, [])

    publish(
        [
            invoice_row(tenant_id, "in_1", 1200, "2026-10-03 10:00:00"),
            invoice_row(tenant_id, "in_2", 800, "2026-11-20 10:00:00"),
            invoice_row("ten_other", "in_9", 99999, "2026-11-20 10:00:00"),
        ],
        datetime(2026, 11, 23, 11, 0, tzinfo=UTC),
    )
    fetched = []
    real = export.download
    monkeypatch.setattr(export, "download", lambda *a: fetched.append(a[2]) or real(*a))
    status, answer, _ = call(key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-11"})
    assert status == 200, answer
    assert answer["data_through"] == "2026-11-23T11:00:00+00:00"
    assert [(m["month"], m["invoiced"]) for m in answer["months"]] == [("2026-10-01", 1200), ("2026-11-01", 800)]
    # a second question is answered from the files fetched for the first: only the marker is read
    status, again, _ = call(key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-11", "currency": "usd"})
    assert status == 200 and again["months"] == answer["months"] and fetched == [tenant_id]

    publish([invoice_row(tenant_id, "in_1", 1200, "2026-10-03 10:00:00")], datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    status, later, _ = call(key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-11"})
    assert [(m["month"], m["invoiced"]) for m in later["months"]] == [("2026-10-01", 1200), ("2026-11-01", 0)]
    assert fetched == [tenant_id, tenant_id]  # a new export's files are fetched again


def test_a_report_comes_as_csv_when_asked(analytics, tenant):
    tenant_id, key = tenant
    publish([invoice_row(tenant_id, "in_1", 1200, "2026-10-03 10:00:00")], datetime(2026, 11, 23, tzinfo=UTC))
    status, body, headers = call(
        key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-10"}, {"Accept": "text/csv"}
    )
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8", body.get("errors")
    assert body.splitlines()[:2] == [
        "month,currency,invoiced,voided,collected,refunded,written_off,tax",
        "2026-10-01,usd,1200,0,0,0,0,0",
    ]
    assert 'filename="revenue-months-2026-10-01-2026-10-31.csv"' in headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        ("/v1/reports/profit", {}, 404, "report_not_found"),
        ("/v1/reports/revenue", {"from": "2026-13"}, 422, "invalid_date"),
        ("/v1/reports/revenue", {"from": "2026-11-02", "to": "2026-11-01"}, 422, "invalid_range"),
        ("/v1/reports/revenue", {"currency": "usx"}, 422, "unknown_currency"),
        ("/v1/reports/revenue", {"section": "profit"}, 422, "unknown_section"),
        ("/v1/reports/revenue", {"limit": "5"}, 400, "unknown_query_parameter"),
        ("/v1/reports/statement", {}, 422, "customer_required"),
        ("/v1/reports/statement", {"customer_id": "cus_missing"}, 404, "customer_not_found"),
        ("/v1/reports/aging", {"customer_id": "cus_1"}, 422, "customer_not_applicable"),
        ("/v1/reports/Revenue", {}, 404, "report_not_found"),
        ("/v1/reports/rev-enue", {}, 422, "invalid_request"),
    ],
)
def test_a_bad_question_is_a_problem_with_its_code(analytics, tenant, path, query, status, code):
    got, problem, _ = call(tenant[1], path, query)
    assert (got, problem["code"]) == (status, code), problem


def test_a_statement_is_in_the_customers_currency(analytics, tenant, deps):
    tenant_id, key = tenant
    body = CreateCustomer(email="e@example.com", name="E", locale="en", currency="eur")
    customer = customers.create_customer(deps.context, tenant_id, body, None)
    status, answer, _ = call(key, "/v1/reports/statement", {"customer_id": customer.id})
    assert (
        status == 200
        and answer["currency"] == "eur"
        and answer["balances"] == [{"opening_balance": 0, "closing_balance": 0}]
    )
    status, problem, _ = call(key, "/v1/reports/statement", {"customer_id": customer.id, "currency": "usd"})
    assert (status, problem["code"]) == (422, "currency_not_applicable")


def test_the_bucket_facts_hold_nothing_before_the_first_export(analytics):
    opened = BucketFacts(boto3.client("s3"), BUCKET).open("ten_1")
    assert opened.data_through is None and opened.run("revenue", _revenue_params()) == []


def _revenue_params():
    return {
        "tenant_id": "ten_1",
        "currency": None,
        "from_month": datetime(2026, 1, 1).date(),
        "to_month": datetime(2026, 2, 1).date(),
    }  # noqa: E501


def test_a_tenant_past_the_line_is_answered_by_athena_with_the_same_sql(analytics, tenant, monkeypatch):
    from billing.adapters import analytics as facts_adapter

    tenant_id, key = tenant
    athena = boto3.client("athena")
    athena.create_work_group(Name="billing-test", Configuration={})
    analytics.env.update(ATHENA_WORKGROUP="billing-test", GLUE_DATABASE="billing_test")
    analytics.__dict__.pop("facts", None)
    monkeypatch.setattr(facts_adapter, "ATHENA_LINE_BYTES", 0)  # every tenant with facts is past it
    publish([invoice_row(tenant_id, "in_1", 1200, "2026-10-03 10:00:00")], datetime(2026, 11, 23, tzinfo=UTC))
    status, answer, _ = call(key, "/v1/reports/revenue", {"from": "2026-10", "to": "2026-10"})
    assert status == 200 and answer["data_through"] == "2026-11-23T00:00:00+00:00", answer
    queries = [
        athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]
        for q in athena.list_query_executions(WorkGroup="billing-test")["QueryExecutionIds"]
    ]
    # one query per section, as Trino text bound to this tenant, in the stack's workgroup and Glue database
    assert len(queries) == 2
    for query in queries:
        assert f"tenant_id = '{tenant_id}'" in query["Query"] and "SEQUENCE(" in query["Query"]
        assert query["QueryExecutionContext"]["Database"] == "billing_test"
