"""Facts on disk: Parquet files laid out as the Glue tables read them (``<table>/tenant_id=<t>/month=<m>/*.parquet``),
written and read with DuckDB.

A DuckDB connection over one tenant's files is what every report runs on here; in AWS the same layout sits in the
analytics bucket and Athena reads it through the Glue tables.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from billing.reports.facts import PARTITIONS, TABLES, Row


def _columns(table: str) -> dict[str, str]:
    return {**{p: "VARCHAR" for p in PARTITIONS}, **TABLES[table]}


def write(facts: dict[str, list[Row]], root: Path, file_name: str = "data") -> int:
    """Write ``facts`` under ``root``, one Parquet file per table, tenant and month (named ``<file_name>_0.parquet``,
    so a second export under the same name replaces the first). Returns the rows written."""
    import duckdb

    written = 0
    with duckdb.connect() as con, tempfile.TemporaryDirectory() as scratch:
        for table, rows in facts.items():
            if not rows:
                continue
            lines = Path(scratch) / f"{table}.jsonl"
            lines.write_text("".join(json.dumps(row) + "\n" for row in rows))
            columns = _columns(table)
            out = root / table
            out.mkdir(parents=True, exist_ok=True)
            source = f"read_json(?, format='newline_delimited', columns={_struct(columns)})"
            con.execute(
                f"COPY (SELECT {', '.join(columns)} FROM {source})"
                f" TO '{out}' (FORMAT parquet, PARTITION_BY ({', '.join(PARTITIONS)}), OVERWRITE_OR_IGNORE,"
                f" FILENAME_PATTERN '{file_name}_{{i}}')",
                [str(lines)],
            )
            written += len(rows)
    return written


def attach(con: Any, root: Path, tenant_id: str) -> None:
    """Make each fact table a view on ``con`` over ``tenant_id``'s files under ``root`` (an empty table where it
    has none yet). The views keep every column, partitions included."""
    for table in TABLES:
        columns = _columns(table)
        files = sorted((root / table / f"tenant_id={tenant_id}").glob("month=*/*.parquet"))
        if files:
            paths = ", ".join(f"'{f}'" for f in files)
            partitions = _struct(dict.fromkeys(PARTITIONS, "VARCHAR"))
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT {', '.join(columns)}"
                f" FROM read_parquet([{paths}], hive_partitioning=true, hive_types={partitions})"
            )
        else:
            typed = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns.items())
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {typed} WHERE false")


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
