"""The Great Expectations gate on newly loaded rows (a `landing.Validator`).

Runs inside the load transaction on the rows that passed the row rules: a batch the suite
refuses raises LandingError, so nothing of it is kept. Uniqueness is a per-file rule (each
snapshot file is a full picture; an event file's row may correct an earlier file's), so
event batches are first reduced to each key's newest file and snapshots are validated one
file at a time. Chunks of whole files keep pandas memory bounded on big initial loads.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from soe_pipeline.contracts import Contract
from soe_pipeline.landing import LINEAGE_COLUMNS, LandingError, Validator, master_values_sql
from soe_pipeline.quality.suites import to_metadata, validate_batch

MAX_ROWS_PER_VALIDATION = 1_000_000


def _chunks(con: duckdb.DuckDBPyConnection, table: str, contract: Contract) -> list[list[str]]:
    files = con.execute(
        f"select _source_file, count(*) from {table} group by all order by 1"
    ).fetchall()
    chunks: list[list[str]] = []
    rows = 0
    for name, count in files:
        if not chunks or contract.kind == "snapshot" or rows + count > MAX_ROWS_PER_VALIDATION:
            chunks.append([])
            rows = 0
        chunks[-1].append(name)
        rows += count
    return chunks


def suite_validator(contract: Contract, *, as_of: dt.date) -> Validator:
    def validate(con: duckdb.DuckDBPyConnection, table: str) -> None:
        known_values = {
            column.references: {
                row[0] for row in con.execute(master_values_sql(column.references)).fetchall()
            }
            for column in contract.columns
            if column.references
        }
        columns = ", ".join(contract.column_names)
        newest_file_per_key = (
            f"qualify dense_rank() over (partition by {', '.join(contract.key)} "
            "order by _extracted_at desc, _source_file desc) = 1"
            if contract.kind == "event"
            else ""
        )
        con.execute(
            f"create or replace temp table _to_validate as "
            f"select {columns}, {', '.join(LINEAGE_COLUMNS)} from {table} {newest_file_per_key}"
        )
        for files in _chunks(con, "_to_validate", contract):
            placeholders = ", ".join("?" for _ in files)
            frame = con.execute(
                f"select {columns} from _to_validate where _source_file in ({placeholders})", files
            ).df()
            result = validate_batch(frame, contract, as_of=as_of, known_values=known_values)
            if not result.success:
                first = result.failures[0]
                raise LandingError(
                    files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} files)",
                    f"contract suite: {first.label}",
                    result.summary(),
                    metadata=to_metadata(result),
                )
        con.execute("drop table _to_validate")

    return validate
