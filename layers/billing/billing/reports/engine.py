"""The reports' SQL: one file per query in ``sql/``, written in DuckDB's dialect with ``:name`` parameters.

A query is bound by replacing each parameter with a typed literal in the parsed tree (sqlglot), never by pasting
text, then written out for the engine that runs it: DuckDB here and in the API, Trino (Athena) in AWS.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # sqlglot loads on the first report, not with the API
    from sqlglot import exp

SQL_DIR = Path(__file__).parent / "sql"
Param = str | int | date | datetime | None


@cache
def parsed(name: str) -> exp.Expression:
    """The query in ``sql/<name>.sql``, parsed once."""
    import sqlglot

    return sqlglot.parse_one((SQL_DIR / f"{name}.sql").read_text(), read="duckdb")


def names() -> list[str]:
    return sorted(p.stem for p in SQL_DIR.glob("*.sql"))


def parameters(name: str) -> set[str]:
    from sqlglot import exp

    return {p.name for p in parsed(name).find_all(exp.Placeholder)}


def bind(name: str, params: dict[str, Param]) -> exp.Expression:
    """The query with every ``:parameter`` replaced by the literal of its value (a missing one is a bug)."""
    from sqlglot import exp

    missing = parameters(name) - set(params)
    if missing:
        raise KeyError(f"{name}.sql needs {', '.join(sorted(missing))}")

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return _literal(params[node.name])
        return node

    return parsed(name).copy().transform(literal)


def to_duckdb(name: str, params: dict[str, Param]) -> str:
    return bind(name, params).sql(dialect="duckdb")


def to_trino(name: str, params: dict[str, Param]) -> str:
    """The query as Athena (Trino) runs it."""
    return bind(name, params).sql(dialect="trino")


def run(con: Any, name: str, params: dict[str, Param]) -> list[dict[str, Any]]:
    """The query's rows on a DuckDB connection, as dicts by column name."""
    cursor = con.execute(to_duckdb(name, params))
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _literal(value: Param) -> exp.Expression:
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        raise TypeError("no boolean parameters")
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, datetime):  # before date: a datetime is a date
        if value.tzinfo is not None:
            raise ValueError("instants are bound as naive UTC")
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    return exp.Literal.string(value)
