"""Reports for finance: facts exported from the table, one set of SQL files run by DuckDB here and Athena in AWS."""
