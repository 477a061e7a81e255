"""Warehouse access that is not dbt's: the run context and check results. No Dagster here."""

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from soe_pipeline.contracts import Contract
from soe_pipeline.landing import (
    LOADED_FILES_TABLE,
    RAW_SCHEMA,
    SKIPPED_FILES_TABLE,
    ensure_loaded_files_table,
    ensure_table,
)
from soe_pipeline.lanes import LANE_COLUMNS, Lane, lane_rows
from soe_pipeline.quality.freshness import Freshness, SilentLocation, evaluate_freshness
from soe_pipeline.settings import RunContext, files_visible_before, run_context_columns

# DuckDB takes 80 % of the machine's memory by default; the pipeline caps it so that a big
# backfill spills to `<warehouse>.tmp` instead of claiming (or running out of) all of it.
MEMORY_LIMIT_ENV = "SOE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_SHARE = 0.25


def memory_limit() -> str:
    """DuckDB memory_limit for every connection the pipeline opens (its own and dbt's):
    $SOE_DUCKDB_MEMORY_LIMIT (e.g. "6GB"), else a quarter of physical memory."""
    if os.environ.get(MEMORY_LIMIT_ENV):
        return os.environ[MEMORY_LIMIT_ENV]
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(physical * DEFAULT_MEMORY_SHARE / 2**20)}MiB"


def write_run_context(con: duckdb.DuckDBPyConnection, run: RunContext) -> None:
    """Replace raw.run_context with this run's row; make sure the pipeline's tables exist."""
    ensure_loaded_files_table(con)
    _ensure_extract_checks_table(con)
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


EXTRACT_CHECKS_TABLE = f"{RAW_SCHEMA}.extract_checks"

# Column -> (DuckDB type, description) of raw.extract_checks, one row per as_of, extract and
# check; a re-run of the same as_of replaces its rows.
EXTRACT_CHECK_COLUMNS: dict[str, tuple[str, str]] = {
    "as_of": ("DATE", "Business date of the run that checked."),
    "run_id": ("VARCHAR", "Dagster run id of that run."),
    "system": ("VARCHAR", "Source system (erp, wms, pos)."),
    "extract": ("VARCHAR", "Extract name."),
    "check_name": ("VARCHAR", "contract or freshness."),
    "status": ("VARCHAR", "pass, warn or error (error blocks the run)."),
    "rule": ("VARCHAR", "The rule that failed, if any."),
    "message": ("VARCHAR", "Plain-language result naming the file, the rule and an example."),
    "newest_extracted_at": ("TIMESTAMP", "Newest visible file's extraction time (freshness)."),
    "newest_business_date": ("DATE", "Newest business date inside the visible data (freshness)."),
    "checked_at": ("TIMESTAMP", "When the check ran (UTC)."),
    "extraction_status": (
        "VARCHAR",
        "Freshness: the extraction clock alone (ok, warn, error): is the feed alive? Stale "
        "inputs of this level lower the confidence of every exception computed from the extract.",
    ),
}

STALE_LOCATIONS_TABLE = f"{RAW_SCHEMA}.stale_locations"

# Column -> (DuckDB type, description) of raw.stale_locations: the locations a freshness check
# found silent (no activity on as_of - 1 in a fresh feed where activity is expected daily).
STALE_LOCATION_COLUMNS: dict[str, tuple[str, str]] = {
    "as_of": ("DATE", "Business date of the run that checked."),
    "system": ("VARCHAR", "Source system."),
    "extract": ("VARCHAR", "Extract name."),
    "location_id": ("VARCHAR", "The silent location: activity in the lookback window, none on as_of - 1."),
    "last_business_date": ("DATE", "Its newest business date in the extract."),
}


def _ensure_extract_checks_table(con: duckdb.DuckDBPyConnection) -> None:
    ensure_table(con, EXTRACT_CHECKS_TABLE, EXTRACT_CHECK_COLUMNS)
    ensure_table(con, STALE_LOCATIONS_TABLE, STALE_LOCATION_COLUMNS)


def record_stale_locations(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date, contract: Contract, silent: list[SilentLocation]
) -> None:
    """Replace the run's silent locations of one extract (none is a valid answer)."""
    _ensure_extract_checks_table(con)
    con.execute(
        f"delete from {STALE_LOCATIONS_TABLE} where as_of = ? and system = ? and extract = ?",
        [as_of, contract.system, contract.extract],
    )
    if silent:
        con.executemany(
            f"insert into {STALE_LOCATIONS_TABLE} ({', '.join(STALE_LOCATION_COLUMNS)}) "
            "values (?, ?, ?, ?, ?)",
            [[as_of, contract.system, contract.extract, s.location_id, s.last_business_date]
             for s in silent],
        )


def record_check(con: duckdb.DuckDBPyConnection, **values: object) -> None:
    """Store one check result for data_health and stale_data exceptions (replacing a re-run's)."""
    _ensure_extract_checks_table(con)
    row = {name: values.get(name) for name in EXTRACT_CHECK_COLUMNS}
    row["checked_at"] = row["checked_at"] or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(
        f"delete from {EXTRACT_CHECKS_TABLE} "
        "where as_of = ? and system = ? and extract = ? and check_name = ?",
        [row["as_of"], row["system"], row["extract"], row["check_name"]],
    )
    placeholders = ", ".join("?" for _ in row)
    con.execute(
        f"insert into {EXTRACT_CHECKS_TABLE} ({', '.join(row)}) values ({placeholders})",
        list(row.values()),
    )


def newest_visible(
    con: duckdb.DuckDBPyConnection, contract: Contract, visible_before: dt.datetime
) -> tuple[dt.datetime | None, dt.date | None]:
    """The two freshness clocks of an extract for a run: newest visible file, newest business date.

    A file skipped because its content was already loaded (a rolling-window export re-sent
    unchanged) still shows the feed is alive: its extraction time counts."""
    ((newest_extracted_at,),) = con.execute(
        f"select max(extracted_at) from (select extracted_at from {LOADED_FILES_TABLE} where extract = ? "
        f"union all select extracted_at from {SKIPPED_FILES_TABLE} where extract = ?) "
        "where extracted_at < ?",
        [contract.name, contract.name, visible_before],
    ).fetchall()
    newest_business_date = None
    if contract.business_date_column:
        ((newest_business_date,),) = con.execute(
            f"select cast(max({contract.business_date_column}) as date) "
            f"from {RAW_SCHEMA}.{contract.name} where _extracted_at < ?",
            [visible_before],
        ).fetchall()
    return newest_extracted_at, newest_business_date


def silent_locations(
    con: duckdb.DuckDBPyConnection, contract: Contract, as_of: dt.date, visible_before: dt.datetime
) -> tuple[list[SilentLocation], int]:
    """The contract's `daily_activity` locations with visible rows in the lookback window
    before as_of but none on as_of - 1 or later, and how many locations were active."""
    activity = contract.daily_activity
    if activity is None:
        return [], 0
    day = contract.business_date_column
    rows = con.execute(
        f"select {activity.per}, max(cast({day} as date)) as last_day "
        f"from {RAW_SCHEMA}.{contract.name} "
        f"where _extracted_at < ? and cast({day} as date) >= ? and cast({day} as date) <= ? "
        f"group by all order by last_day, {activity.per}",
        [visible_before, as_of - dt.timedelta(days=activity.lookback_days), as_of],
    ).fetchall()
    yesterday = as_of - dt.timedelta(days=1)
    silent = [SilentLocation(location, last) for location, last in rows if last < yesterday]
    return silent, len(rows)


TRANSFER_LANES_TABLE = f"{RAW_SCHEMA}.transfer_lanes"


def write_transfer_lanes(con: duckdb.DuckDBPyConnection, lanes: tuple[Lane, ...]) -> None:
    """Replace raw.transfer_lanes with the lanes in force for this run."""
    definition = ", ".join(f"{name} {type_}" for name, (type_, _) in LANE_COLUMNS.items())
    con.execute(f"create or replace table {TRANSFER_LANES_TABLE} ({definition})")
    rows = lane_rows(lanes)
    con.executemany(
        f"insert into {TRANSFER_LANES_TABLE} ({', '.join(LANE_COLUMNS)}) "
        f"values ({', '.join('?' for _ in LANE_COLUMNS)})",
        [[row[name] for name in LANE_COLUMNS] for row in rows],
    )


@dataclass(frozen=True)
class FreshnessJudgement:
    """An extract's freshness for a run, with the facts behind it (for data_health)."""

    result: Freshness
    silent: list[SilentLocation]
    newest_extracted_at: dt.datetime | None
    newest_business_date: dt.date | None


def judge_freshness(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    as_of: dt.date,
    overrides: Mapping[str, tuple[int, int]] | None = None,
) -> FreshnessJudgement:
    """Both clocks of one extract for a run as of `as_of`, judged against its SLA: what the
    freshness check of a run and `soe check` both report."""
    visible_before = files_visible_before(as_of)
    newest_extracted_at, newest_business_date = newest_visible(con, contract, visible_before)
    silent, active = silent_locations(con, contract, as_of, visible_before)
    result = evaluate_freshness(
        contract, as_of=as_of, newest_extracted_at=newest_extracted_at,
        newest_business_date=newest_business_date, silent=silent, active_locations=active,
        overrides=overrides,
    )
    return FreshnessJudgement(result, silent, newest_extracted_at, newest_business_date)
