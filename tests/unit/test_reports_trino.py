"""Every report's SQL as Athena gets it: bound with sample params and written for Trino (``engine.to_trino``), it parses
as Trino, and read back from Trino into DuckDB it gives the same rows as the file run on DuckDB directly, on two
datasets (the dashboard's known year, and a generated month mix of every kind of fact)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
import sqlglot

from bench.reports import generate
from billing.reports import engine, store
from billing.reports.catalog import Window
from tests.fixtures import dashboard_facts

SCENARIO = "ten_dash"  # the dashboard's year (2026), as of 2026-11-23
GENERATED = "ten_00"  # bench.reports' facts (2025-2026): every event kind, failed payments, credit notes, MRR moves


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    root: Path = tmp_path_factory.mktemp("facts")
    dashboard_facts.write_scenario(root, SCENARIO)
    store.write(generate(1500, seed=3, tenants=[GENERATED, "ten_01"]), root, file_name="generated")
    connection = duckdb.connect()
    return connection, root


def windows() -> list[tuple[str, Window]]:
    return [
        (SCENARIO, Window(SCENARIO, date(2026, 1, 1), date(2026, 11, 23), date(2026, 11, 23), None, "cus_bob")),
        (SCENARIO, Window(SCENARIO, date(2026, 6, 1), date(2026, 9, 30), date(2026, 7, 15), "usd", "cus_ada")),
        (GENERATED, Window(GENERATED, date(2025, 1, 1), date(2026, 12, 31), date(2026, 6, 30), None, None)),
        (GENERATED, Window(GENERATED, date(2025, 7, 1), date(2026, 3, 31), date(2025, 12, 31), "eur", None)),
    ]


def params_for(name: str, window: Window, customer: str | None) -> dict:
    params = {**window.params(), "customer_id": window.customer_id or customer}
    if name == "statement" and params["currency"] is None:
        params["currency"] = "usd"
    return {k: v for k, v in params.items() if k in engine.parameters(name)}


@pytest.mark.parametrize("name", engine.names())
def test_trino_text_parses_and_reads_back_to_the_same_rows(con, name):
    connection, root = con
    compared = 0
    for tenant, window in windows():
        store.attach(connection, root, tenant)
        customer = connection.execute("SELECT min(customer_id) FROM invoices").fetchone()[0]
        params = params_for(name, window, customer)
        trino = engine.to_trino(name, params)
        parsed = sqlglot.parse_one(trino, read="trino")  # raises on what Trino's grammar does not have
        back = parsed.sql(dialect="duckdb")
        expected = engine.run(connection, name, params)
        cursor = connection.execute(back)
        columns = [d[0] for d in cursor.description]
        got = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        assert got == expected, f"{name} for {tenant}: {back}"
        compared += len(expected)
    assert compared, f"{name} gave no rows on any dataset: the comparison proves nothing"
