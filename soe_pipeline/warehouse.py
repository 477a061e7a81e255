"""Warehouse access that is not dbt's: the run context table. No Dagster here."""

import duckdb

from soe_pipeline.landing import RAW_SCHEMA
from soe_pipeline.settings import RunContext, run_context_columns


def write_run_context(con: duckdb.DuckDBPyConnection, run: RunContext) -> None:
    columns = run_context_columns()
    row = run.row()
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    definition = ", ".join(f"{name} {type_}" for name, (type_, _) in columns.items())
    con.execute(f"create or replace table {RAW_SCHEMA}.run_context ({definition})")
    placeholders = ", ".join("?" for _ in columns)
    con.execute(
        f"insert into {RAW_SCHEMA}.run_context values ({placeholders})",
        [row[name] for name in columns],
    )


def read_run_context(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    cursor = con.execute(f"select * from {RAW_SCHEMA}.run_context")
    (values,) = cursor.fetchall()
    return dict(zip([d[0] for d in cursor.description], values, strict=True))
