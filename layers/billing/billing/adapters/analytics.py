"""Where the reports' facts are read from: the analytics bucket's latest export (one tenant's Parquet files, fetched
into the function's scratch space), or a directory of them (tests, benchmarks). Either gives a DuckDB connection
with the fact tables as views, and the instant the facts run to."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class OpenFacts:
    connection: Any  # duckdb.DuckDBPyConnection over one tenant's facts
    data_through: datetime | None  # the export's point in time; None before the first export

    def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        from billing.reports import engine

        return engine.run(self.connection, sql, params)


@dataclass
class DirectoryFacts:
    root: Path
    data_through: datetime | None = None

    def open(self, tenant_id: str) -> OpenFacts:
        import duckdb

        from billing.reports import store

        con = duckdb.connect()
        store.attach(con, self.root, tenant_id)
        return OpenFacts(con, self.data_through)


@dataclass
class BucketFacts:
    """The latest export in the analytics bucket: one tenant's files are fetched per question (a few MB for a
    tenant of thousands of invoices; docs/benchmarks.md measures where this stops being the right way)."""

    s3: Any
    bucket: str

    def open(self, tenant_id: str) -> OpenFacts:
        import duckdb

        from billing.reports import export, store

        scratch = Path(tempfile.mkdtemp(prefix="facts-"))
        marker = export.download(self.s3, self.bucket, tenant_id, scratch)
        con = duckdb.connect()
        store.attach(con, scratch, tenant_id)
        through = datetime.fromisoformat(marker["data_through"]) if marker else None
        return OpenFacts(con, through)
