"""billing.reports.athena against Athena's own answer shapes (botocore's Stubber): polling with backoff to a deadline,
every page of results read once without the header row, values typed as DuckDB types them, and a clear error when a
query fails, is cancelled or runs past its deadline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from billing.reports import athena, engine

PARAMS = {
    "tenant_id": "ten_1",
    "currency": None,
    "from_month": date(2026, 1, 1),
    "to_month": date(2026, 3, 1),
}
COLUMNS = [
    {"Name": "month", "Type": "date"},
    {"Name": "currency", "Type": "varchar"},
    {"Name": "invoiced", "Type": "bigint"},
    {"Name": "at", "Type": "timestamp"},
    {"Name": "rate", "Type": "decimal(5,2)"},
    {"Name": "share", "Type": "double"},
    {"Name": "late", "Type": "boolean"},
    {"Name": "step", "Type": "integer"},
]


def row(*values):
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def stubbed():
    client = boto3.client("athena", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
    stub.assert_no_pending_responses()


def started(stub, name="revenue"):
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": engine.to_trino(name, PARAMS),
            "WorkGroup": "billing-test",
            "QueryExecutionContext": {"Database": "billing_test"},
        },
    )


def state(stub, value, **extra):
    stub.add_response(
        "get_query_execution",
        {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": value, **extra}}},
        {"QueryExecutionId": "q-1"},
    )


def run(client, clock, deadline=60.0):
    return athena.run(
        client,
        "revenue",
        PARAMS,
        workgroup="billing-test",
        database="billing_test",
        deadline=deadline,
        sleep=clock.sleep,
        clock=lambda: clock.now,
    )


def test_polls_with_backoff_then_reads_every_page_typed(stubbed):
    client, stub = stubbed
    clock = Clock()
    started(stub)
    for value in ("QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"):
        state(stub, value)
    header = row(*(c["Name"] for c in COLUMNS))
    first = row("2026-01-01", "usd", "199000", "2026-01-04 09:00:00.000", "7.50", "0.25", "true", "2")
    second = row("2026-02-01", "eur", "9000", None, None, None, "false", None)
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [header, first], "ResultSetMetadata": {"ColumnInfo": COLUMNS}}, "NextToken": "p2"},
        {"QueryExecutionId": "q-1", "MaxResults": ANY},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": [second], "ResultSetMetadata": {"ColumnInfo": COLUMNS}}},
        {"QueryExecutionId": "q-1", "MaxResults": ANY, "NextToken": "p2"},
    )
    rows = run(client, clock)
    assert rows == [
        {
            "month": date(2026, 1, 1),
            "currency": "usd",
            "invoiced": 199000,
            "at": datetime(2026, 1, 4, 9, 0),
            "rate": Decimal("7.50"),
            "share": 0.25,
            "late": True,
            "step": 2,
        },
        {
            "month": date(2026, 2, 1),
            "currency": "eur",
            "invoiced": 9000,
            "at": None,
            "rate": None,
            "share": None,
            "late": False,
            "step": None,
        },
    ]
    assert clock.slept == [0.2, 0.4, 0.8, 1.6]  # doubled each time, up to 2 s


@pytest.mark.parametrize("final", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_query_says_why(stubbed, final):
    client, stub = stubbed
    started(stub)
    state(stub, "RUNNING")
    state(stub, final, StateChangeReason="COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved")
    with pytest.raises(athena.AthenaQueryError, match=f"q-1.*{final.lower()}.*COLUMN_NOT_FOUND") as raised:
        run(client, Clock())
    assert raised.value.state == final and raised.value.name == "revenue"


def test_a_query_still_running_at_its_deadline_is_stopped(stubbed):
    client, stub = stubbed
    clock = Clock()
    started(stub)
    for _ in range(5):  # 0.2 + 0.4 + 0.8 + 1.6 = 3.0 s slept; the next wait (2 s) would pass the 4 s deadline
        state(stub, "RUNNING")
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    with pytest.raises(athena.AthenaQueryError, match="timed out: still running after 4 s"):
        run(client, clock, deadline=4.0)
    assert clock.now == pytest.approx(3.0)
