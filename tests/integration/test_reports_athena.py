"""A report on moto's Athena: the query goes to the stack's workgroup and database, moto answers the rows queued for
it (moto runs no SQL), and they come back typed as DuckDB would give them."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from moto.athena.models import QueryResults, athena_backends

from billing.reports import athena, engine

PARAMS = {"tenant_id": "ten_1", "currency": "usd", "from_month": date(2026, 1, 1), "to_month": date(2026, 2, 1)}


@pytest.fixture
def workgroup(aws):
    boto3.client("s3").create_bucket(Bucket="billing-test-analytics")
    client = boto3.client("athena")
    client.create_work_group(
        Name="billing-test",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://billing-test-analytics/athena-results/"}},
    )
    return client


def test_a_report_runs_in_the_workgroup_and_its_rows_are_typed(workgroup):
    columns = [
        {"Name": "month", "Type": "date"},
        {"Name": "currency", "Type": "varchar"},
        {"Name": "invoiced", "Type": "bigint"},
        {"Name": "tax", "Type": "bigint"},
    ]
    answer = [
        ["month", "currency", "invoiced", "tax"],
        ["2026-01-01", "usd", "199000", None],
        ["2026-02-01", "usd", "42000", "0"],
    ]
    rows = [{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in answer]
    athena_backends["123456789012"]["us-east-1"].query_results_queue.append(QueryResults(rows, columns))

    got = athena.run(workgroup, "revenue", PARAMS, workgroup="billing-test", database="billing_test")

    assert got == [
        {"month": date(2026, 1, 1), "currency": "usd", "invoiced": 199000, "tax": None},
        {"month": date(2026, 2, 1), "currency": "usd", "invoiced": 42000, "tax": 0},
    ]
    [execution] = workgroup.list_query_executions(WorkGroup="billing-test")["QueryExecutionIds"]
    ran = workgroup.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
    assert ran["Query"] == engine.to_trino("revenue", PARAMS)
    assert ran["QueryExecutionContext"]["Database"] == "billing_test"
