"""The landing folder: discovering extract files and loading them into the warehouse `raw` schema.

`<landing>/<system>/<extract>/<extract>_<YYYYMMDD>T<HHMMSS>Z.csv|parquet` (DESIGN section 3).
No Dagster here: the ingestion assets call `load_extract` and report what it returns.

Each raw table holds the contract columns, typed, plus lineage (`_source_file`,
`_extracted_at`, `_loaded_at`). Rows that break a row-level rule (a value that does not cast
to its contract type, a null where the contract forbids it) go to `raw.<extract>__rejected`
with the reason. `raw._loaded_files` remembers every file loaded, so a file is never loaded
twice and a weekly run only reads what is new. One extract loads in one transaction: a
failure leaves the warehouse as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from soe_pipeline.contracts import FILE_NAME, LINEAGE_COLUMNS, Column, Contract

RAW_SCHEMA = "raw"
LOADED_FILES_TABLE = f"{RAW_SCHEMA}._loaded_files"


class LandingError(Exception):
    """A file-level problem that makes an extract unusable: names the file, the rule, an example."""

    def __init__(self, file: Path | str, rule: str, detail: str):
        self.file = str(file)
        self.rule = rule
        self.detail = detail
        super().__init__(f"{self.file}: {rule}: {detail}")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    extracted_at: dt.datetime
    format: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class LoadReport:
    """What one ingestion of one extract did."""

    extract: str
    files_found: int = 0
    files_loaded: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    newest_extracted_at: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)


def parse_file_name(path: Path, contract: Contract) -> LandingFile:
    match = FILE_NAME.match(path.name)
    if not match or match["extract"] != contract.extract:
        raise LandingError(
            path,
            "file name",
            f"expected {contract.extract}_<YYYYMMDD>T<HHMMSS>Z.csv or .parquet",
        )
    try:
        extracted_at = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ")
    except ValueError as error:
        raise LandingError(path, "file name", f"invalid timestamp {match['stamp']!r}") from error
    return LandingFile(path=path, extracted_at=extracted_at, format=match["format"])


def discover(landing_dir: Path, contract: Contract) -> list[LandingFile]:
    """Extract files for one contract, oldest first. Hidden and partial files are ignored."""
    folder = Path(landing_dir) / contract.system / contract.extract
    if not folder.is_dir():
        return []
    paths = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))]
    files = [parse_file_name(p, contract) for p in paths]
    return sorted(files, key=lambda f: (f.extracted_at, f.name))


def _header(file: LandingFile, con: duckdb.DuckDBPyConnection) -> list[str]:
    if file.format == "parquet":
        try:
            rows = con.execute(
                "select name from parquet_schema(?) where name <> 'schema'", [str(file.path)]
            ).fetchall()
        except duckdb.Error as error:
            raise LandingError(file.path, "not a Parquet file", str(error).splitlines()[0]) from error
        return [row[0] for row in rows]
    try:
        with file.path.open(newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle), None)
    except UnicodeDecodeError as error:
        raise LandingError(file.path, "not a UTF-8 CSV file", str(error)) from error
    if not first:
        raise LandingError(file.path, "empty file", "no header row")
    return [name.strip() for name in first]


def check_header(file: LandingFile, contract: Contract, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Raise when contract columns are missing; return warnings for extra columns."""
    header = _header(file, con)
    missing = [c for c in contract.column_names if c not in header]
    if missing:
        extra = [c for c in header if c not in contract.column_names]
        hint = f"; found unexpected {extra}" if extra else ""
        raise LandingError(
            file.path,
            "missing columns",
            f"{missing} not in header {header[:12]}{hint}",
        )
    extra = [c for c in header if c not in contract.column_names]
    return [f"{file.name}: extra columns ignored: {extra}"] if extra else []


def _typed(column: Column) -> str:
    """SQL casting one staged value to its contract type (NULL when it does not cast)."""
    if column.type == "integer":
        # TRY_CAST('1.5' AS BIGINT) rounds: an integer column must hold a whole number.
        as_double = f"TRY_CAST({column.name} AS DOUBLE)"
        return f"CASE WHEN {as_double} = round({as_double}) THEN TRY_CAST({column.name} AS BIGINT) END"
    return f"TRY_CAST({column.name} AS {column.duckdb_type})"


def _reject_reason(contract: Contract) -> str:
    """SQL giving the broken row-level rules of a staged row, or NULL when it is good."""
    rules = []
    for column in contract.columns:
        rules.append(
            f"CASE WHEN {column.name} IS NOT NULL AND ({_typed(column)}) IS NULL "
            f"THEN '{column.name}: not a valid {column.type}' END"
        )
        if not column.nullable:
            rules.append(f"CASE WHEN {column.name} IS NULL THEN '{column.name}: null' END")
    return f"nullif(concat_ws('; ', {', '.join(rules)}), '')"


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"""create table if not exists {LOADED_FILES_TABLE} (
            extract varchar, source_file varchar, extracted_at timestamp, loaded_at timestamp,
            rows_read bigint, rows_loaded bigint, rows_rejected bigint,
            primary key (extract, source_file))"""
    )
    lineage = [f"{name} {type_}" for name, type_ in LINEAGE_COLUMNS.items()]
    typed = [f"{c.name} {c.duckdb_type}" for c in contract.columns]
    con.execute(f"create table if not exists {RAW_SCHEMA}.{contract.name} ({', '.join(typed + lineage)})")
    untyped = [f"{c.name} VARCHAR" for c in contract.columns]
    con.execute(
        f"create table if not exists {RAW_SCHEMA}.{contract.name}__rejected "
        f"({', '.join(untyped + lineage)}, _reject_reason VARCHAR)"
    )


def _loaded_file_names(con: duckdb.DuckDBPyConnection, contract: Contract) -> set[str]:
    rows = con.execute(
        f"select source_file from {LOADED_FILES_TABLE} where extract = ?", [contract.name]
    ).fetchall()
    return {row[0] for row in rows}


def _stage(con: duckdb.DuckDBPyConnection, files: list[LandingFile], contract: Contract) -> None:
    """All new files of one format into temp table `_stage` (contract columns + file name)."""
    paths = [str(f.path) for f in files]
    columns = ", ".join(contract.column_names)
    if files[0].format == "parquet":
        source = "read_parquet(?, filename = true, union_by_name = true)"
    else:
        source = (
            "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', "
            "filename = true, union_by_name = true, null_padding = false)"
        )
    try:
        con.execute(
            f"insert into _stage select {columns}, filename from {source}", [paths]
        )
    except duckdb.Error as error:
        # DuckDB names the failing file and line in its message; keep its first lines.
        message = " ".join(str(error).split("\n")[:3])
        culprit = next((p for p in paths if Path(p).name in message), ", ".join(paths[:3]))
        raise LandingError(culprit, "unreadable file", message) from error


def load_extract(
    con: duckdb.DuckDBPyConnection, contract: Contract, landing_dir: Path
) -> LoadReport:
    """Load every not-yet-loaded file of one extract into `raw.<system>__<extract>`."""
    landing_dir = Path(landing_dir).resolve()
    report = LoadReport(extract=contract.name)
    ensure_raw_tables(con, contract)
    files = discover(landing_dir, contract)
    report.files_found = len(files)
    already = _loaded_file_names(con, contract)
    new_files = [f for f in files if str(f.path.relative_to(landing_dir)) not in already]
    if not new_files:
        return report
    for file in new_files:
        report.warnings += check_header(file, contract, con)

    staged_columns = ", ".join(f"{c} VARCHAR" for c in contract.column_names)
    lineage_sql = (
        "substr(filename, length(?) + 2) as _source_file, "
        "strptime(regexp_extract(filename, '_(\\d{8}T\\d{6}Z)\\.[a-z]+$', 1), '%Y%m%dT%H%M%SZ')"
        " as _extracted_at, ?::timestamp as _loaded_at"
    )
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    landing_prefix = str(Path(landing_dir))
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace temp table _stage ({staged_columns}, filename VARCHAR)")
        for fmt in ("csv", "parquet"):
            batch = [f for f in new_files if f.format == fmt]
            if batch:
                _stage(con, batch, contract)
        con.execute(
            f"create or replace temp table _checked as "
            f"select *, {_reject_reason(contract)} as _reject_reason from _stage"
        )
        typed = ", ".join(f"{_typed(c)} as {c.name}" for c in contract.columns)
        con.execute(
            f"insert into {RAW_SCHEMA}.{contract.name} "
            f"select {typed}, {lineage_sql} from _checked where _reject_reason is null",
            [landing_prefix, loaded_at],
        )
        con.execute(
            f"insert into {RAW_SCHEMA}.{contract.name}__rejected "
            f"select {', '.join(contract.column_names)}, {lineage_sql}, _reject_reason "
            f"from _checked where _reject_reason is not null",
            [landing_prefix, loaded_at],
        )
        counts = con.execute(
            "select substr(filename, length(?) + 2), count(*), count(*) filter (_reject_reason is null) "
            "from _checked group by all",
            [landing_prefix],
        ).fetchall()
        per_file = {name: (read, good) for name, read, good in counts}
        for file in new_files:
            name = str(file.path.relative_to(landing_dir))
            read, good = per_file.get(name, (0, 0))
            con.execute(
                f"insert into {LOADED_FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
                [contract.name, name, file.extracted_at, loaded_at, read, good, read - good],
            )
            report.files_loaded.append(name)
            report.rows_read += read
            report.rows_loaded += good
        report.rows_rejected = report.rows_read - report.rows_loaded
        report.newest_extracted_at = max(f.extracted_at for f in new_files)
        con.execute("drop table _stage")
        con.execute("drop table _checked")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report
