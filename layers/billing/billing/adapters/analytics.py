"""Where the reports' facts are read from: the analytics bucket's latest export (one tenant's Parquet files, fetched
into the function's scratch space), or a directory of them (tests, benchmarks). Either gives a DuckDB connection
with the fact tables as views, and the instant the facts run to."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
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
class AthenaFacts:
    """The same facts through Athena (the Glue tables over the whole bucket): for a tenant past the line."""

    athena: Any
    workgroup: str
    database: str
    data_through: datetime | None

    def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        from billing.reports import athena

        return athena.run(self.athena, sql, params, workgroup=self.workgroup, database=self.database, deadline=20)


# Where a tenant's questions go to Athena instead of DuckDB in the function: its facts past 32 MB of Parquet (about
# 300,000 invoices). Below it every report takes under 0.5 s on DuckDB after a download of under a second; at 1M
# invoices (96 MB) the collections report alone takes 6 s (docs/benchmarks.md §6).
ATHENA_LINE_BYTES = 32 * 2**20
MAX_TENANTS_HELD = 4  # tenants whose files a warm function keeps in its 512 MB of /tmp


@dataclass
class BucketFacts:
    """The latest export in the analytics bucket. One tenant's files are fetched into the function's scratch space
    and kept while the export they came from is the latest: a warm function asks S3 for the marker only (one GET)
    and fetches again when another export's files are published. A tenant whose facts are past the line is
    answered by Athena, when the stack has it."""

    s3: Any
    bucket: str
    athena: Any = None  # (client, workgroup, database), or None: every tenant in the function
    scratch: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "facts")
    _held: dict[str, str] = field(default_factory=dict)  # tenant -> the export its files here are from, oldest first

    def open(self, tenant_id: str) -> OpenFacts | AthenaFacts:
        import duckdb

        from billing.reports import export, store

        root = self.scratch / tenant_id
        latest = export.marker(self.s3, self.bucket)
        if latest is not None and self._held.get(tenant_id) != _files_export(latest):
            if self.athena is not None and export.size(self.s3, self.bucket, tenant_id) > ATHENA_LINE_BYTES:
                client, workgroup, database = self.athena
                return AthenaFacts(client, workgroup, database, datetime.fromisoformat(latest["data_through"]))
            self._make_room(tenant_id)
            latest = export.download(self.s3, self.bucket, tenant_id, root)
            if latest is not None:
                self._held[tenant_id] = _files_export(latest)
        con = duckdb.connect()
        store.attach(con, root if latest is not None else self.scratch / "_none", tenant_id)
        return OpenFacts(con, datetime.fromisoformat(latest["data_through"]) if latest is not None else None)

    def _make_room(self, tenant_id: str) -> None:
        self._held.pop(tenant_id, None)
        while len(self._held) >= MAX_TENANTS_HELD:
            oldest = next(iter(self._held))
            del self._held[oldest]
            shutil.rmtree(self.scratch / oldest, ignore_errors=True)


def _files_export(marker: dict[str, Any]) -> str:
    return marker.get("files_export", marker.get("export"))
