"""A report's SQL on Athena: the same file and parameters as on DuckDB (``engine.run``), written for Trino, run in the
stack's workgroup over the Glue tables, and its rows given back with the Python types DuckDB gives (int, date,
datetime, str, Decimal, float, bool, None).

Athena answers every value as text (``VarCharValue``, absent for NULL) with the column's type beside it in the
result's metadata; the first row of a SELECT's first page repeats the column names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.reports import engine

Rows = list[dict[str, Any]]
FIRST_POLL = 0.2  # seconds before the first GetQueryExecution; doubled each time up to MAX_POLL
MAX_POLL = 2.0
DEFAULT_DEADLINE = 120.0  # seconds a report may take before it is cancelled


class AthenaQueryError(RuntimeError):
    """A report's query did not succeed on Athena (failed, cancelled, or still running at its deadline)."""

    def __init__(self, name: str, query_id: str, state: str, reason: str | None) -> None:
        super().__init__(f"report {name!r} (Athena query {query_id}) {state.lower()}: {reason or 'no reason given'}")
        self.name, self.query_id, self.state, self.reason = name, query_id, state, reason


def run(
    athena: Any,
    name: str,
    params: dict[str, engine.Param],
    *,
    workgroup: str,
    database: str,
    deadline: float = DEFAULT_DEADLINE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Rows:
    """Run ``sql/<name>.sql`` bound with ``params`` on Athena and return its rows as dicts by column name."""
    started = clock()
    query_id = athena.start_query_execution(
        QueryString=engine.to_trino(name, params),
        WorkGroup=workgroup,
        QueryExecutionContext={"Database": database},
    )["QueryExecutionId"]
    wait = FIRST_POLL
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            reason = status.get("AthenaError", {}).get("ErrorMessage") or status.get("StateChangeReason")
            raise AthenaQueryError(name, query_id, state, reason)
        if clock() - started + wait > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise AthenaQueryError(name, query_id, "TIMED OUT", f"still {state.lower()} after {deadline:g} s")
        sleep(wait)
        wait = min(wait * 2, MAX_POLL)
    return results(athena, query_id)


def results(athena: Any, query_id: str) -> Rows:
    """Every page of the query's results, typed, without the header row."""
    rows: Rows = []
    columns: list[tuple[str, Callable[[str], Any]]] = []
    for page_number, page in enumerate(
        athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000}
        )
    ):
        result = page["ResultSet"]
        if not columns:
            columns = [(c["Name"], _parser(c["Type"])) for c in result["ResultSetMetadata"]["ColumnInfo"]]
        data = result.get("Rows", [])
        if page_number == 0 and data:
            data = data[1:]  # the column names
        for row in data:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append(
                {name: None if v is None else parse(v) for (name, parse), v in zip(columns, values, strict=True)}
            )
    return rows


def _parser(athena_type: str) -> Callable[[str], Any]:
    kind = athena_type.lower().split("(", 1)[0].strip()
    return _PARSERS.get(kind, str)


def _timestamp(text: str) -> datetime:
    # "2027-01-04 09:00:00.000" (Athena's millisecond text); a zone is never there: the facts' instants are UTC
    return datetime.fromisoformat(text)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "int": int,
    "bigint": int,
    "double": float,
    "real": float,
    "float": float,
    "decimal": Decimal,
    "boolean": lambda v: v == "true",
    "date": date.fromisoformat,
    "timestamp": _timestamp,
    "varchar": str,
    "char": str,
    "string": str,
}
