"""The Glue tables Athena reads are the facts DuckDB writes: one table per ``facts.TABLES`` entry, the same columns in
the same order with the same types, the same partitions, and each table's files where ``export.publish`` puts them."""

from __future__ import annotations

import pytest

from billing.reports import export, facts
from infra.local import template as tpl

GLUE_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "TIMESTAMP": "timestamp", "DATE": "date"}
TEMPLATE = tpl.load()
GLUE_TABLES = {
    res["Properties"]["TableInput"]["Name"]: res["Properties"]
    for res in tpl.resources(TEMPLATE, "AWS::Glue::Table").values()
}


def _sub(value: dict) -> str:
    (text,) = value.values()
    return text


def test_one_glue_table_per_fact_table():
    assert sorted(GLUE_TABLES) == sorted(facts.TABLES)


@pytest.mark.parametrize("table", sorted(facts.TABLES))
def test_columns_and_types_are_the_facts(table):
    table_input = GLUE_TABLES[table]["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    assert columns == [(name, GLUE_TYPES[kind]) for name, kind in facts.TABLES[table].items()]
    assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == [(p, "string") for p in facts.PARTITIONS]


@pytest.mark.parametrize("table", sorted(facts.TABLES))
def test_partitions_are_projected_where_publish_writes_them(table):
    props = GLUE_TABLES[table]
    assert props["DatabaseName"] == {"Ref": "AnalyticsDatabase"}
    params = props["TableInput"]["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.tenant_id.type"] == "injected"
    assert (params["projection.month.type"], params["projection.month.format"]) == ("date", "yyyy-MM")
    assert params["projection.month.range"] == "2020-01,NOW"
    location = _sub(params["storage.location.template"])
    assert location == f"s3://${{AnalyticsBucket}}/{export.FACTS}{table}/tenant_id=${{!tenant_id}}/month=${{!month}}"
    serde = props["TableInput"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def test_the_workgroup_writes_into_the_bucket_and_caps_a_query():
    (workgroup,) = tpl.resources(TEMPLATE, "AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert _sub(config["ResultConfiguration"]["OutputLocation"]) == "s3://${AnalyticsBucket}/athena-results/"
    assert config["BytesScannedCutoffPerQuery"] > 0 and config["EnforceWorkGroupConfiguration"]
