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
            # The first schema element is the root group (named `schema`, `duckdb_schema`, ...
            # by the writer), not a column.
            rows = con.execute("select name from parquet_schema(?)", [str(file.path)]).fetchall()[1:]
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


def _typed(column: Column, value: str) -> str:
    """SQL casting a text value to the column's contract type (NULL when it does not cast)."""
    if column.type == "integer":
        # TRY_CAST('1.5' AS BIGINT) rounds: an integer column must hold a whole number.
        as_double = f"TRY_CAST({value} AS DOUBLE)"
        return f"CASE WHEN {as_double} = round({as_double}) THEN TRY_CAST({value} AS BIGINT) END"
    return f"TRY_CAST({value} AS {column.duckdb_type})"


def _text_column(column: Column) -> str:
    """The `_checked` column holding a rejected row's value as the file wrote it.

    String columns hold their text as their typed value; the others keep it in
    `_<name>_text`, filled for rejected rows only (accepted rows need no copy of it).
    """
    return column.name if column.type == "string" else f"_{column.name}_text"


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


def _row_rules(contract: Contract, native: frozenset[str]) -> list[str]:
    """One SQL expression per row-level rule: the broken rule's text, or NULL.

    Rules come from the contract: the value casts to its type, non-nullable columns are not
    null, `min` bounds, `allowed` values, dates not after the file's extraction date, and
    `references` to values known to the newest master file.

    They read the staged batch (see `_read_batch`): `<name>` is the typed value and, for a
    column read as text that is not a string, `_<name>_text` the text. `native` columns are
    already of their contract type in the file (Parquet): their text is their value cast
    to VARCHAR, which always casts back, so the type rule cannot break there.
    """
    rules = []
    for column in contract.columns:
        name = column.name
        as_text = column.type != "string" and name not in native
        text = f"CAST({name} AS VARCHAR)" if name in native else _text_column(column)
        if as_text:
            rules.append(
                f"CASE WHEN {text} IS NOT NULL AND {name} IS NULL "
                f"THEN '{name}: not a valid {column.type}' END"
            )
        if not column.nullable:
            rules.append(f"CASE WHEN {text if as_text else name} IS NULL THEN '{name}: null' END")
        if column.min is not None:
            rules.append(f"CASE WHEN {name} < {float(column.min)} THEN '{name}: below {column.min:g}' END")
        if column.allowed:
            values = ", ".join(f"'{v}'" for v in column.allowed)
            rules.append(
                f"CASE WHEN {text} NOT IN ({values}) "
                f"THEN '{name}: not one of {'/'.join(column.allowed)}' END"
            )
        if column.not_after_as_of:
            rules.append(
                f"CASE WHEN CAST({name} AS DATE) > CAST(_extracted_at AS DATE) "
                f"THEN '{name}: after the file''s extraction date' END"
            )
        if column.references:
            rules.append(
                f"CASE WHEN {text} IS NOT NULL AND {text} NOT IN ({master_values_sql(column.references)}) "
                f"THEN '{name}: unknown in {column.references.split('.')[0]}' END"
            )
    return rules


def _reject_reason(contract: Contract, native: frozenset[str]) -> str:
    """SQL giving the broken row-level rules of a staged row, or NULL when it is good."""
    return f"nullif(concat_ws('; ', {', '.join(_row_rules(contract, native))}), '')"


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


def _create_work_tables(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[LandingFile],
    landing_dir: Path,
    loaded_at: dt.datetime,
) -> None:
    """`_files`: one row per new file with its lineage, so no row parses its file name.
    `_checked`: every new row, typed, with the rules it breaks (filled by `_read_batch`)."""
    con.execute(
        "create or replace temp table _files (_file_id INTEGER primary key, filename VARCHAR, "
        "_source_file VARCHAR, _extracted_at TIMESTAMP, _loaded_at TIMESTAMP)"
    )
    con.execute(
        "insert into _files select unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::TIMESTAMP[]), ?::TIMESTAMP",
        [
            list(range(len(files))),
            [str(f.path) for f in files],  # as DuckDB's `filename` column reports it
            [str(f.path.relative_to(landing_dir)) for f in files],
            [f.extracted_at for f in files],
            loaded_at,
        ],
    )
    columns = [f"{c.name} {c.duckdb_type}" for c in contract.columns]
    texts = [f"{_text_column(c)} VARCHAR" for c in contract.columns if c.type != "string"]
    con.execute(
        f"create or replace temp table _checked ({', '.join(columns + texts)}, "
        "_file_id INTEGER NOT NULL, _reject_reason VARCHAR)"
    )


def _read_batch(con: duckdb.DuckDBPyConnection, files: list[LandingFile], contract: Contract) -> None:
    """New files of one format (and, for CSV, one header) into `_checked` in one pass.

    CSV is read as text. Parquet columns already of their contract type are kept as they
    are (no round trip through text); the others are read as text, as CSV.
    """
    paths = [str(f.path) for f in files]
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
        if files[0].format == "parquet":
            types = dict(
                row[:2] for row in con.execute(f"describe select * from {source}", [paths]).fetchall()
            )
        else:
            types = dict.fromkeys(contract.column_names, "VARCHAR")
        native = frozenset(
            c.name for c in contract.columns if c.type != "string" and types[c.name] == c.duckdb_type
        )
        read = []
        for column in contract.columns:
            value = f"s.{column.name}"
            text = value if types[column.name] == "VARCHAR" else f"CAST({value} AS VARCHAR)"
            if column.type == "string":
                read.append(f"{text} as {column.name}")
            elif column.name in native:
                read.append(f"{value} as {column.name}")
            else:
                read.append(f"{text} as {_text_column(column)}")
        typed = [
            f"{_typed(c, _text_column(c))} as {c.name}"
            for c in contract.columns
            if c.type != "string" and c.name not in native
        ]
        rejected_text = [
            f"case when _reject_reason is not null then "
            f"{_text_column(c) if c.name not in native else f'CAST({c.name} AS VARCHAR)'} end"
            for c in contract.columns
            if c.type != "string"
        ]
        kept = [*contract.column_names, *rejected_text, "_file_id", "_reject_reason"]
        # A file missing from `_files` would leave `_file_id` null, which `_checked` refuses.
        con.execute(
            f"insert into _checked "
            f"with file_rows as (select {', '.join(read)}, f._file_id, f._extracted_at "
            f"  from {source} as s left join _files as f on f.filename = s.filename), "
            f"typed_rows as (select *{''.join(f', {t}' for t in typed)} from file_rows), "
            f"checked_rows as (select *, {_reject_reason(contract, native)} as _reject_reason from typed_rows) "
            f"select {', '.join(kept)} from checked_rows",
            [paths],
        )
    except duckdb.Error as error:
        # DuckDB names the failing file and line in its message; keep its first lines.
        message = " ".join(str(error).split("\n")[:3])
        culprit = next((p for p in paths if Path(p).name in message), ", ".join(paths[:3]))
        raise LandingError(culprit, "unreadable file", message) from error


Validator = Callable[[duckdb.DuckDBPyConnection, str], Callable[[], None] | None]
"""Called with the connection and the name of a temp relation (a view) of the accepted new
rows before they are inserted, with the raw table's columns (contract columns, typed, and
lineage); raises LandingError to block the whole batch (e.g. a Great Expectations suite).
It may return a verdict still to come: a function called after the inserts, before the
commit, that raises LandingError in the same way (the work behind it overlaps the inserts)."""

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

    The rows are held once before the insert (temp table `_checked`: typed values, the
    rules each breaks, and the file's text of the rejected ones); lineage is joined per
    file from `_files`.
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

    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    columns = ", ".join(contract.column_names)
    lineage = ", ".join(LINEAGE_COLUMNS)
    con.execute("begin transaction")
    try:
        _create_work_tables(con, contract, new_files, landing_dir, loaded_at)
        for batch in batches.values():
            _read_batch(con, batch, contract)
        con.execute(
            f"create or replace temp view _accepted as select {columns}, {lineage} "
            "from _checked join _files using (_file_id) where _reject_reason is null"
        )
        per_file = {
            name: (read, good)
            for name, read, good in con.execute(
                "select _source_file, read, good from _files join (select _file_id, count(*) as read, "
                "count(*) filter (_reject_reason is null) as good from _checked group by all) "
                "using (_file_id)"
            ).fetchall()
        }
        _check_batch(con, contract, new_files, landing_dir, per_file)
        verdict = validate(con, "_accepted") if validate is not None else None
        con.execute(f"insert into {RAW_SCHEMA}.{contract.name} select {columns}, {lineage} from _accepted")
        texts = ", ".join(_text_column(c) for c in contract.columns)
        con.execute(
            f"insert into {RAW_SCHEMA}.{contract.name}__rejected "
            f"select {texts}, {lineage}, _reject_reason "
            f"from _checked join _files using (_file_id) where _reject_reason is not null"
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
        con.execute("drop view _accepted")
        for table in ("_checked", "_files"):
            con.execute(f"drop table {table}")
        if verdict is not None:
            verdict()
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _row_text(contract: Contract) -> str:
    """SQL rendering a rejected row's values as the file wrote them, a CSV-like line for messages."""
    values = ", ".join(f"coalesce({_text_column(c)}, '')" for c in contract.columns)
    return f"concat_ws(',', {values})"


def _first_reject(con: duckdb.DuckDBPyConnection, contract: Contract) -> str:
    reason, source_file, row = con.execute(
        f"select _reject_reason, _source_file, {_row_text(contract)} from _checked "
        "join _files using (_file_id) where _reject_reason is not null order by _source_file limit 1"
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
                f"select _reject_reason, {_row_text(contract)} from _checked join _files using (_file_id) "
                "where _source_file = ? and _reject_reason is not null limit 1",
                [name],
            ).fetchall()[0]
            raise LandingError(
                file.path,
                "most rows rejected",
                f"{read - good} of {read} rows break row rules, e.g. {reason!r} in row [{example}]",
            )
