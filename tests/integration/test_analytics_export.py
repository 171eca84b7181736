"""The analytics export on moto: the schedule's first run starts a table export, the next converts it into the
reports' facts in the analytics bucket; one tenant's facts come back for DuckDB, and no other tenant's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import duckdb
import pytest

from billing.reports import export, store
from billing.services import analytics, tenants
from functions.analytics_export import app as export_app
from functions.api import app as api_app
from tests.integration.conftest import TABLE, FakeLambdaContext, http_event

BUCKET = "billing-test-analytics"
FIRST = datetime(2026, 11, 23, 12, 40, tzinfo=UTC)


@pytest.fixture
def analytics_env(deps):
    dynamodb = boto3.client("dynamodb")
    # as template.yaml declares the table (an export needs point-in-time recovery)
    dynamodb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    deps.env["TABLE_ARN"] = dynamodb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    deps.env["ANALYTICS_BUCKET"] = BUCKET
    return deps


def call(method, path, key, body=None):
    answer = api_app.lambda_handler(http_event(method, path, key, body), FakeLambdaContext())
    assert answer["statusCode"] in (200, 201), answer
    return json.loads(answer["body"])


def order(key, customer_id, amount, rate="20"):
    return call(
        "POST",
        "/v1/orders",
        key,
        {
            "customer_id": customer_id,
            "currency": "eur",
            "lines": [{"description": "Pro", "quantity": 1, "unit_amount": amount, "tax_rate_percent": rate}],
            "collection_method": "send_invoice",
            "days_until_due": 14,
        },
    )


def fire(when: datetime) -> dict:
    event = {"schedule": "analytics-export", "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return export_app.lambda_handler(event, FakeLambdaContext())


def wait_for_exports(dynamodb, table_arn):
    """moto exports in a thread; it is done in milliseconds, but not before the handler returns."""
    import time

    for _ in range(100):
        summaries = dynamodb.list_exports(TableArn=table_arn)["ExportSummaries"]
        if all(s["ExportStatus"] != "IN_PROGRESS" for s in summaries):
            return
        time.sleep(0.02)


def tenant_facts(tmp_path, tenant_id):
    marker = export.download(boto3.client("s3"), BUCKET, tenant_id, tmp_path / tenant_id)
    con = duckdb.connect()
    store.attach(con, tmp_path / tenant_id, tenant_id)
    return marker, con


def test_first_run_starts_an_export_the_next_converts_it(analytics_env, tmp_path):
    acme, acme_key = tenants.create_tenant(analytics_env.context, "Acme Cloud")
    other, other_key = tenants.create_tenant(analytics_env.context, "Other Co")
    ana = call(
        "POST",
        "/v1/customers",
        acme_key,
        {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "eur"},
    )
    bo = call(
        "POST", "/v1/customers", other_key, {"email": "bo@example.com", "name": "Bo", "locale": "en", "currency": "eur"}
    )
    first = order(acme_key, ana["id"], 10000)
    second = order(acme_key, ana["id"], 5000, rate="7.5")
    call("POST", f"/v1/invoices/{second['invoice_id']}/void", acme_key)
    order(other_key, bo["id"], 99900)

    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    assert export.download(s3, BUCKET, acme.id, tmp_path / "none") is None  # no export yet

    started = fire(FIRST)
    assert started["converted"] is None and started["started"]["new"]
    wait_for_exports(dynamodb, analytics_env.env["TABLE_ARN"])

    converted = fire(FIRST + timedelta(hours=1))
    assert converted["converted"]["data_through"] == FIRST.isoformat()  # moto's exports carry no ExportTime
    assert converted["started"]["new"]

    marker, con = tenant_facts(tmp_path, acme.id)
    assert marker["export"] == converted["converted"]["export"] and marker["data_through"] == FIRST.isoformat()
    invoices = con.execute("SELECT invoice_id, status, total, tenant_id FROM invoices ORDER BY total").fetchall()
    assert invoices == [
        (second["invoice_id"], "void", 5375, acme.id),
        (first["invoice_id"], "open", 12000, acme.id),
    ]
    taxes = con.execute("SELECT tax_rate, taxable, tax FROM invoice_taxes ORDER BY tax_rate").fetchall()
    assert taxes == [("20", 10000, 2000), ("7.5", 5000, 375)]
    assert con.execute("SELECT customer_id, name FROM customers").fetchall() == [(ana["id"], "Ana")]
    events = con.execute("SELECT type, count(*) FROM invoice_events GROUP BY type ORDER BY type").fetchall()
    assert events == [("invoice.finalized", 2), ("invoice.voided", 1)]
    everything = [f.as_posix() for f in (tmp_path / acme.id).rglob("*.parquet")]
    assert everything and all(f"tenant_id={acme.id}/" in f for f in everything)  # nothing of the other tenant
    assert con.execute("SELECT count(*) FROM invoices WHERE tenant_id = ?", [other.id]).fetchone() == (0,)

    _, theirs = tenant_facts(tmp_path, other.id)
    assert theirs.execute("SELECT total FROM invoices").fetchall() == [(119880,)]

    # a repeated firing of either run starts nothing more (it may convert the second run's export, which is done)
    # (once the second run's export is converted, it is deleted, and its run has nothing to start either)
    repeated = fire(FIRST + timedelta(hours=1))["started"]
    assert not repeated["new"] and repeated["export_arn"] in (converted["started"]["export_arn"], None)
    # the first run's export was converted and deleted: a late repeat of that run starts none again
    assert fire(FIRST)["started"] == {"export_arn": None, "prefix": started["started"]["prefix"], "new": False}
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=started["started"]["prefix"]).get("KeyCount") == 0
    wait_for_exports(dynamodb, analytics_env.env["TABLE_ARN"])
    fire(FIRST + timedelta(hours=1))  # converts the second run's export if the repeats came before it was done
    assert fire(FIRST + timedelta(hours=1))["converted"] is None
    assert len(dynamodb.list_exports(TableArn=analytics_env.env["TABLE_ARN"])["ExportSummaries"]) == 2


def test_nothing_changed_moves_the_marker_only_and_a_vanished_partition_is_deleted(analytics_env, tmp_path):
    acme, key = tenants.create_tenant(analytics_env.context, "Acme Cloud")
    ana = call(
        "POST", "/v1/customers", key, {"email": "ana@example.com", "name": "Ana", "locale": "en", "currency": "eur"}
    )
    order(key, ana["id"], 10000)
    s3, dynamodb, arn = boto3.client("s3"), boto3.client("dynamodb"), analytics_env.env["TABLE_ARN"]
    for hour in range(3):
        fire(FIRST + timedelta(hours=hour))
        wait_for_exports(dynamodb, arn)
    published = export.marker(s3, BUCKET)
    assert published["data_through"] == (FIRST + timedelta(hours=1)).isoformat()
    # the second conversion found the same facts: no file was written again
    files = s3.list_objects_v2(Bucket=BUCKET, Prefix="facts/")["Contents"]
    data = [f for f in files if f["Key"] != export.MARKER]
    heads = {f["Key"]: s3.head_object(Bucket=BUCKET, Key=f["Key"])["Metadata"]["export"] for f in data}
    assert set(heads.values()) == {published["files_export"]} != {published["export"]}

    # a stray partition (an export's facts that are gone since) is deleted by the next full publish
    s3.put_object(Bucket=BUCKET, Key="facts/invoices/tenant_id=gone/month=2020-01/data_0.parquet", Body=b"x")
    assert analytics.convert_latest(dynamodb, s3, BUCKET, export.marker(s3, BUCKET))  # the third run's export
    assert analytics.convert_latest(dynamodb, s3, BUCKET, export.marker(s3, BUCKET)) is None  # nothing newer
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="facts/invoices/tenant_id=gone/").get("KeyCount") == 1
    rows = {t: [] for t in export.store.TABLES}
    export.publish(s3, BUCKET, rows, FIRST, "empty")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="facts/")["Contents"]] == [export.MARKER]
    assert export.download(s3, BUCKET, acme.id, tmp_path)["rows"] == 0
