"""The Great Expectations gate on newly loaded rows (a `landing.Validator`).

Runs inside the load transaction on the rows that passed the row rules: a batch the gate
refuses raises LandingError, so nothing of it is kept. The gate sends its sample to the GX
worker and returns; the key check runs here while GX works, then the load inserts the rows
(same transaction) and waits for GX's verdict before it commits: GX's seconds overlap
the load's own SQL instead of adding to it.

- Key uniqueness is checked in SQL over every new row: it is the one contract rule that
  is about the batch rather than the row. It is a per-file rule (each snapshot file is a
  full picture; an event file's row may correct an earlier file's, so a key may repeat
  across files but not within one).
- The contract's Great Expectations suite (types, nulls, allowed values, bounds, dates,
  known masters) then runs on a sample of at most MAX_ROWS_FOR_SUITE rows per snapshot
  file, or per event batch (all rows when there are fewer), in the GX worker process
  (`quality.worker`). Every row has already passed the same rules in SQL on its way in
  (landing._row_rules): the suite is the independent second opinion, not the only line of
  defence. A sample of 20,000 rows finds a rule broken in 0.05 % of a batch's rows with
  probability 1 - 0.9995^20000 > 99.99 %; GX costs ~0.15 s per validation plus ~0.3 s per
  100,000 rows (benchmarks/gate_benchmark.py), so 100,000-row samples cost a steady medium
  week ~6 s more (benchmarks/README.md, "Night of 2026-11-23"). An event sample is reduced
  to each key's newest file, as the suite expects unique keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb

from soe_pipeline.contracts import Contract
from soe_pipeline.landing import LandingError, Validator, master_values_sql
from soe_pipeline.quality import worker as gx_worker
from soe_pipeline.quality.suites import to_metadata

MAX_ROWS_FOR_SUITE = 20_000
SAMPLE_SEED = 42


def check_unique_keys(con: duckdb.DuckDBPyConnection, contract: Contract, relation: str) -> None:
    key = ", ".join(contract.key)
    # Equal keys of one file have equal hashes: sorting one 64-bit hash per row and comparing
    # neighbours proves a batch clean with a fraction of the time and memory of grouping by
    # the keys (measured in benchmarks/ingest_benchmark.py); the keys themselves are grouped
    # only when a hash repeats (a duplicate, or a rare collision).
    ((repeated_hashes,),) = con.execute(
        "select count(*) from (select key_hash, lag(key_hash) over (order by key_hash) as previous_hash "
        f"from (select hash(_source_file, {key}) as key_hash from {relation})) "
        "where key_hash = previous_hash"
    ).fetchall()
    if not repeated_hashes:
        return
    duplicates = con.execute(
        f"select _source_file, {key}, count(*) as copies from {relation} "
        f"group by _source_file, {key} having count(*) > 1 order by all limit 5"
    ).fetchall()
    if duplicates:
        ((count,),) = con.execute(
            f"select count(*) from (select 1 from {relation} group by _source_file, {key} "
            "having count(*) > 1)"
        ).fetchall()
        source_file = duplicates[0][0]
        examples = " | ".join(
            ", ".join(f"{name}={value}" for name, value in zip(contract.key, row[1:-1], strict=True))
            for row in duplicates
        )
        raise LandingError(
            source_file,
            f"contract suite: key_unique({key})",
            f"{count} keys appear more than once in the same file, e.g. {examples}",
            metadata={"rule": "key_unique", "duplicate_keys": count, "examples": examples},
        )


def suite_validator(contract: Contract, *, as_of: dt.date) -> Validator:
    def validate(con: duckdb.DuckDBPyConnection, relation: str) -> Callable[[], None]:
        columns = ", ".join(contract.column_names)
        known_values = {
            column.references: {row[0] for row in con.execute(master_values_sql(column.references)).fetchall()}
            for column in contract.columns
            if column.references
        }
        if contract.kind == "snapshot":
            groups = [[row[0]] for row in con.execute(
                f"select distinct _source_file from {relation} order by 1").fetchall()]
        else:
            groups = [None]
        # Sample first, then (events) keep each sampled key's newest file: never a pass over
        # every new row just for the sample's sake.
        newest_file_per_key = (
            f"qualify dense_rank() over (partition by {', '.join(contract.key)} "
            "order by _extracted_at desc, _source_file desc) = 1"
            if contract.kind == "event"
            else ""
        )
        pending: tuple[list[str] | None, gx_worker.Pending] | None = None
        for files in groups:
            if pending is not None:  # one validation in the worker at a time
                _refuse_failed(*pending)
            where = "where _source_file = ?" if files else ""
            sample = (
                f"with sampled as (select {columns}, _source_file, _extracted_at "
                f"from (select * from {relation} {where}) "
                f"using sample reservoir({MAX_ROWS_FOR_SUITE} rows) repeatable ({SAMPLE_SEED})) "
                f"select {columns} from sampled {newest_file_per_key}"
            )
            frame = con.execute(sample, files or []).df()
            pending = (files, gx_worker.submit(frame, contract, as_of=as_of, known_values=known_values))
        # Great Expectations validates the last sample in its worker meanwhile.
        check_unique_keys(con, contract, relation)

        def verdict() -> None:
            if pending is not None:
                _refuse_failed(*pending)

        return verdict

    def _refuse_failed(files: list[str] | None, validation: gx_worker.Pending) -> None:
        result = validation.result()
        if not result.success:
            first = result.failures[0]
            raise LandingError(
                files[0] if files else f"{contract.system}/{contract.extract} new files",
                f"contract suite: {first.label}",
                result.summary(),
                metadata=to_metadata(result),
            )

    return validate
