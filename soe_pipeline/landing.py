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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from soe_pipeline.contracts import FILE_NAME, LINEAGE_COLUMNS, Column, Contract, load_contracts

RAW_SCHEMA = "raw"
LOADED_FILES_TABLE = f"{RAW_SCHEMA}._loaded_files"
LOADED_FILES_COLUMNS: dict[str, tuple[str, str]] = {
    "extract": ("VARCHAR", "Raw table name, <system>__<extract>."),
    "source_file": ("VARCHAR", "Landing file, relative to the landing folder."),
    "extracted_at": ("TIMESTAMP", "Extraction time from the file name (UTC)."),
    "loaded_at": ("TIMESTAMP", "When the file was loaded (UTC)."),
    "rows_read": ("BIGINT", "Data rows in the file."),
    "rows_loaded": ("BIGINT", "Rows that passed the row rules and were loaded."),
    "rows_rejected": ("BIGINT", "Rows kept in the rejected table with their reason."),
}


class LandingError(Exception):
    """A file-level problem that makes an extract unusable: names the file, the rule, an example."""

    def __init__(self, file: Path | str, rule: str, detail: str, metadata: dict | None = None):
        self.file = str(file)
        self.rule = rule
        self.detail = detail
        self.metadata = metadata or {}
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
    reject_example: str | None = None  # the first rejected row: rule, file and values

    def summary(self) -> str:
        text = (
            f"{len(self.files_loaded)} new of {self.files_found} files, "
            f"{self.rows_loaded} rows loaded, {self.rows_rejected} rejected"
        )
        return f"{text}, e.g. {self.reject_example}" if self.reject_example else text


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
    """The file's header; raises LandingError when contract columns are missing."""
    header = _header(file, con)
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise LandingError(
            file.path, "wrong delimiter", f"header {header[0][:80]!r} is not comma-separated"
        )
    missing = [c for c in contract.column_names if c not in header]
    if missing:
        extra = [c for c in header if c not in contract.column_names]
        hint = f"; found unexpected {extra}" if extra else ""
        raise LandingError(
            file.path,
            "missing columns",
            f"{missing} not in header {header[:12]}{hint}",
        )
    return header


def _typed(column: Column) -> str:
    """SQL casting one staged value to its contract type (NULL when it does not cast)."""
    if column.type == "integer":
        # TRY_CAST('1.5' AS BIGINT) rounds: an integer column must hold a whole number.
        as_double = f"TRY_CAST({column.name} AS DOUBLE)"
        return f"CASE WHEN {as_double} = round({as_double}) THEN TRY_CAST({column.name} AS BIGINT) END"
    return f"TRY_CAST({column.name} AS {column.duckdb_type})"


def referenced_masters(contract: Contract) -> list[Contract]:
    """Master extracts whose values this extract's `references` columns must match."""
    extracts = {c.references.split(".")[0] for c in contract.columns if c.references}
    return [c for c in load_contracts() if c.extract in extracts]


def master_values_sql(reference: str) -> str:
    """SQL listing the values of `<extract>.<column>` in the newest loaded file of that master."""
    extract, column = reference.split(".")
    master = next(c for c in load_contracts() if c.extract == extract)
    return (
        f"select {master.column(column).name} from {RAW_SCHEMA}.{master.name} "
        f"where _source_file = (select source_file from {LOADED_FILES_TABLE} "
        f"where extract = '{master.name}' order by extracted_at desc, source_file desc limit 1)"
    )


def _row_rules(contract: Contract) -> list[str]:
    """One SQL expression per row-level rule: the broken rule's text, or NULL.

    Rules come from the contract: the value casts to its type, non-nullable columns are not
    null, `min` bounds, `allowed` values, dates not after the file's extraction date, and
    `references` to values known to the newest master file.
    """
    rules = []
    for column in contract.columns:
        typed = _typed(column)
        name = column.name
        rules.append(
            f"CASE WHEN {name} IS NOT NULL AND ({typed}) IS NULL "
            f"THEN '{name}: not a valid {column.type}' END"
        )
        if not column.nullable:
            rules.append(f"CASE WHEN {name} IS NULL THEN '{name}: null' END")
        if column.min is not None:
            rules.append(
                f"CASE WHEN ({typed}) < {float(column.min)} THEN '{name}: below {column.min:g}' END"
            )
        if column.allowed:
            values = ", ".join(f"'{v}'" for v in column.allowed)
            rules.append(
                f"CASE WHEN {name} NOT IN ({values}) "
                f"THEN '{name}: not one of {'/'.join(column.allowed)}' END"
            )
        if column.not_after_as_of:
            rules.append(
                f"CASE WHEN CAST(({typed}) AS DATE) > CAST(_extracted_at AS DATE) "
                f"THEN '{name}: after the file''s extraction date' END"
            )
        if column.references:
            rules.append(
                f"CASE WHEN {name} IS NOT NULL AND {name} NOT IN ({master_values_sql(column.references)}) "
                f"THEN '{name}: unknown in {column.references.split('.')[0]}' END"
            )
    return rules


def _reject_reason(contract: Contract) -> str:
    """SQL giving the broken row-level rules of a staged row, or NULL when it is good."""
    return f"nullif(concat_ws('; ', {', '.join(_row_rules(contract))}), '')"


def ensure_loaded_files_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    columns = ", ".join(f"{name} {type_}" for name, (type_, _) in LOADED_FILES_COLUMNS.items())
    con.execute(
        f"create table if not exists {LOADED_FILES_TABLE} ({columns}, primary key (extract, source_file))"
    )


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    ensure_loaded_files_table(con)
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
        # Files of one call share a header (see load_extract): no per-file schema sniffing,
        # which costs seconds over a year of daily files.
        source = (
            "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', "
            "filename = true, null_padding = false)"
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


Validator = Callable[[duckdb.DuckDBPyConnection, str], None]
"""Called with the connection and the temp table of accepted new rows before they are
committed; raises LandingError to block the whole batch (e.g. a Great Expectations suite)."""

# More rejected rows than this share means the file is broken, not a few rows.
MAX_REJECTED_SHARE = 0.5


def load_extract(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    landing_dir: Path,
    validate: Validator | None = None,
) -> LoadReport:
    """Load every not-yet-loaded file of one extract into `raw.<system>__<extract>`.

    All new files load in one transaction: any file-level problem, a batch the validator
    refuses, or a snapshot with no rows raises LandingError and leaves the warehouse (and
    the list of loaded files) as it was, so the next run tries again.
    """
    landing_dir = Path(landing_dir).resolve()
    report = LoadReport(extract=contract.name)
    for table_contract in [contract, *referenced_masters(contract)]:
        ensure_raw_tables(con, table_contract)
    files = discover(landing_dir, contract)
    report.files_found = len(files)
    already = _loaded_file_names(con, contract)
    new_files = [f for f in files if str(f.path.relative_to(landing_dir)) not in already]
    if not new_files:
        return report
    batches: dict[tuple[str, ...], list[LandingFile]] = {}
    for file in new_files:
        header = check_header(file, contract, con)
        extra = [c for c in header if c not in contract.column_names]
        if extra:
            report.warnings.append(f"{file.name}: extra columns ignored: {extra}")
        batch_key = (file.format, *header) if file.format == "csv" else (file.format,)
        batches.setdefault(batch_key, []).append(file)

    staged_columns = ", ".join(f"{c} VARCHAR" for c in contract.column_names)
    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace temp table _stage ({staged_columns}, filename VARCHAR)")
        for batch in batches.values():
            _stage(con, batch, contract)
        con.execute(
            "create or replace temp table _with_lineage as select *, "
            "substr(filename, length(?) + 2) as _source_file, "
            "strptime(regexp_extract(filename, '_(\\d{8}T\\d{6}Z)\\.[a-z]+$', 1), '%Y%m%dT%H%M%SZ') "
            "as _extracted_at, ?::timestamp as _loaded_at from _stage",
            [str(landing_dir), loaded_at],
        )
        con.execute(
            f"create or replace temp table _checked as "
            f"select *, {_reject_reason(contract)} as _reject_reason from _with_lineage"
        )
        typed = ", ".join(f"{_typed(c)} as {c.name}" for c in contract.columns)
        lineage = ", ".join(LINEAGE_COLUMNS)
        con.execute(
            f"create or replace temp table _accepted as "
            f"select {typed}, {lineage} from _checked where _reject_reason is null"
        )
        per_file = {
            name: (read, good)
            for name, read, good in con.execute(
                "select _source_file, count(*), count(*) filter (_reject_reason is null) "
                "from _checked group by all"
            ).fetchall()
        }
        _check_batch(con, contract, new_files, landing_dir, per_file)
        if validate is not None:
            validate(con, "_accepted")
        con.execute(f"insert into {RAW_SCHEMA}.{contract.name} select * from _accepted")
        con.execute(
            f"insert into {RAW_SCHEMA}.{contract.name}__rejected "
            f"select {', '.join(contract.column_names)}, {lineage}, _reject_reason "
            f"from _checked where _reject_reason is not null"
        )
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
        if report.rows_rejected:
            report.reject_example = _first_reject(con, contract)
        report.newest_extracted_at = max(f.extracted_at for f in new_files)
        for table in ("_stage", "_with_lineage", "_checked", "_accepted"):
            con.execute(f"drop table {table}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _row_text(contract: Contract) -> str:
    """SQL rendering a staged row's contract values as a CSV-like line, for messages."""
    values = ", ".join(f"coalesce({c}, '')" for c in contract.column_names)
    return f"concat_ws(',', {values})"


def _first_reject(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    reason, source_file, row = con.execute(
        f"select _reject_reason, _source_file, {_row_text(contract)} from _checked "
        "where _reject_reason is not null order by _source_file limit 1"
    ).fetchall()[0]
    return f"{reason!r} in {source_file}: [{row}]"


def _check_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[LandingFile],
    landing_dir: Path,
    per_file: dict[str, tuple[int, int]],
) -> None:
    """File-level rules on the staged batch: no empty snapshot, not mostly rejected rows."""
    for file in files:
        name = str(file.path.relative_to(landing_dir))
        read, good = per_file.get(name, (0, 0))
        if read == 0 and contract.kind == "snapshot":
            raise LandingError(file.path, "empty snapshot", "header only, no rows: a snapshot "
                               "must be the full picture, so it would wipe every row")
        if read and (read - good) / read > MAX_REJECTED_SHARE:
            reason, example = con.execute(
                f"select _reject_reason, {_row_text(contract)} "
                "from _checked where _source_file = ? and _reject_reason is not null limit 1",
                [name],
            ).fetchall()[0]
            raise LandingError(
                file.path,
                "most rows rejected",
                f"{read - good} of {read} rows break row rules, e.g. {reason!r} in row [{example}]",
            )
