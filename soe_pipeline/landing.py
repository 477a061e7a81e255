"""The landing folder: discovering extract files and loading them into the warehouse `raw` schema.

`<landing>/<system>/<extract>/<extract>_<YYYYMMDD>T<HHMMSS>Z.csv|parquet` (DESIGN section 3).
No Dagster here: the ingestion assets call `load_extract` and report what it returns.

Each raw table holds the contract columns, typed, plus lineage (`_source_file`,
`_extracted_at`, `_loaded_at`). Rows that break a row-level rule (a value that does not cast
to its contract type, a null where the contract forbids it) go to `raw.<extract>__rejected`
with the reason. `raw._loaded_files` remembers every file loaded with its size, modification
time and content hash, so a weekly run only reads what is new; a file re-delivered under the
same name with other content is loaded again as a correction (its earlier rows replaced),
and an event file whose content was already loaded under another name is skipped and
recorded in `raw._skipped_files`. One extract loads in one transaction: a failure leaves the
warehouse as it was.

Real exports differ from DESIGN section 3 in small ways: a UTF-8 byte-order mark, CRLF line
ends, quoted fields with commas or line breaks, header names in another case or with spaces
are accepted as they are; a delimiter, decimal comma, date format, encoding or column names
of its own are mapped by the deployment config (`soe_pipeline.deployment`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from soe_pipeline.contracts import FILE_NAME, LINEAGE_COLUMNS, Column, Contract, load_contracts
from soe_pipeline.deployment import DEFAULT_SETTINGS, CsvDialect, ExtractSettings

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
    "file_size": ("BIGINT", "File size in bytes when loaded."),
    "file_mtime_ns": ("BIGINT", "File modification time (ns) when loaded: unchanged size and "
                      "time mean unchanged content, without hashing the file again."),
    "content_sha256": ("VARCHAR", "SHA-256 of the file's bytes when loaded."),
    "reloaded_at": ("TIMESTAMP", "When the file was last loaded again because its content "
                    "changed under the same name (null: loaded once)."),
    "replaced_first_date": ("DATE", "Earliest business date of the rows that reload replaced."),
    "replaced_last_date": ("DATE", "Latest business date of the rows that reload replaced."),
}
SKIPPED_FILES_TABLE = f"{RAW_SCHEMA}._skipped_files"
SKIPPED_FILES_COLUMNS: dict[str, tuple[str, str]] = {
    "extract": ("VARCHAR", "Raw table name, <system>__<extract>."),
    "source_file": ("VARCHAR", "The skipped landing file, relative to the landing folder."),
    "extracted_at": ("TIMESTAMP", "Extraction time from its file name (UTC)."),
    "duplicate_of": ("VARCHAR", "The file already loaded with the same content."),
    "file_size": ("BIGINT", "File size in bytes."),
    "file_mtime_ns": ("BIGINT", "File modification time (ns)."),
    "content_sha256": ("VARCHAR", "SHA-256 of the file's bytes."),
    "skipped_at": ("TIMESTAMP", "When the pipeline first saw and skipped it (UTC)."),
}


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal, for statements that take no parameters (ATTACH, SET)."""
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    """A column name from a file, quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


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
    files_reloaded: list[str] = field(default_factory=list)  # changed content under the same name
    files_skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, duplicate of)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    newest_extracted_at: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    reject_example: str | None = None  # the first rejected row: rule, file and values

    @property
    def needs_attention(self) -> bool:
        """Rejected rows, corrections and duplicates: the run goes on, and says so."""
        return bool(self.rows_rejected or self.files_reloaded or self.files_skipped)

    def summary(self) -> str:
        reloaded = len(self.files_reloaded)
        text = (
            f"{len(self.files_loaded) - reloaded} new of {self.files_found} files"
            + (f", {reloaded} re-delivered with changed content and reloaded "
               f"({_names(self.files_reloaded)})" if reloaded else "")
            + (f", {len(self.files_skipped)} skipped as duplicates ("
               + _names([f"{name} = {original}" for name, original in self.files_skipped]) + ")"
               if self.files_skipped else "")
            + f", {self.rows_loaded} rows loaded, {self.rows_rejected} rejected"
        )
        return f"{text}, e.g. {self.reject_example}" if self.reject_example else text


def _names(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


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


def _header(file: LandingFile, con: duckdb.DuckDBPyConnection, dialect: CsvDialect) -> list[str]:
    """The file's column names as it writes them (surrounding spaces and a BOM removed)."""
    if file.format == "parquet":
        try:
            # The first schema element is the root group (named `schema`, `duckdb_schema`, ...
            # by the writer), not a column.
            rows = con.execute("select name from parquet_schema(?)", [str(file.path)]).fetchall()[1:]
        except duckdb.Error as error:
            raise LandingError(file.path, "not a Parquet file", str(error).splitlines()[0]) from error
        return [row[0] for row in rows]
    try:
        with file.path.open(newline="", encoding=dialect.python_encoding) as handle:
            first = next(csv.reader(handle, delimiter=dialect.delimiter, quotechar=dialect.quote), None)
    except UnicodeDecodeError as error:
        raise LandingError(
            file.path, f"not a {dialect.encoding.upper()} CSV file", f"{error} (set the extract's "
            "csv.encoding in the deployment config if the export uses another encoding)"
        ) from error
    except csv.Error as error:
        raise LandingError(file.path, "unreadable file", f"header: {error}") from error
    if not first:
        raise LandingError(file.path, "empty file", "no header row")
    return [name.strip() for name in first]


def header_columns(header: list[str], contract: Contract, settings: ExtractSettings) -> list[str | None]:
    """The contract column each header name maps to (None for an extra column).

    Names match a contract column ignoring case and surrounding spaces, or through the
    deployment config's `rename` (export name -> contract column, matched the same way)."""
    renames = {name.strip().casefold(): column for name, column in settings.rename.items()}
    columns = {column.casefold(): column for column in contract.column_names}
    return [renames.get(name.casefold()) or columns.get(name.casefold()) for name in header]


def check_header(
    file: LandingFile,
    contract: Contract,
    con: duckdb.DuckDBPyConnection,
    settings: ExtractSettings = DEFAULT_SETTINGS,
) -> tuple[list[str], list[str | None]]:
    """The file's header and the contract column of each name; raises LandingError when
    contract columns are missing or two names map to one column."""
    dialect = settings.csv
    header = _header(file, con, dialect)
    if len(header) == 1:
        other = [sep for sep in (",", ";", "\t", "|") if sep != dialect.delimiter and sep in header[0]]
        if other:
            raise LandingError(
                file.path,
                "wrong delimiter",
                f"header {header[0][:80]!r} is not separated by {dialect.delimiter!r} (it looks "
                f"{other[0]!r}-separated: set the extract's csv.delimiter in the deployment config)",
            )
    mapped = header_columns(header, contract, settings)
    repeated = sorted({c for c in mapped if c and mapped.count(c) > 1})
    if repeated:
        names = [name for name, c in zip(header, mapped, strict=True) if c == repeated[0]]
        raise LandingError(file.path, "ambiguous header", f"{names} all map to column {repeated[0]!r}")
    missing = [c for c in contract.column_names if c not in mapped]
    if missing:
        extra = [name for name, c in zip(header, mapped, strict=True) if c is None]
        hint = (f"; found unexpected {extra} (a column named differently is mapped by "
                f"extracts.{contract.system}/{contract.extract}.rename in the deployment config)"
                if extra else "")
        raise LandingError(
            file.path,
            "missing columns",
            f"{missing} not in header {header[:12]}{hint}",
        )
    return header, mapped


def _typed(column: Column, value: str, dialect: CsvDialect = DEFAULT_SETTINGS.csv) -> str:
    """SQL casting a text value to the column's contract type (NULL when it does not cast),
    in the file's dialect (decimal comma, date and timestamp formats)."""
    if column.type in ("integer", "decimal") and dialect.decimal == ",":
        value = f"replace({value}, ',', '.')"
    if column.type == "integer":
        # TRY_CAST('1.5' AS BIGINT) rounds: an integer column must hold a whole number.
        as_double = f"TRY_CAST({value} AS DOUBLE)"
        return f"CASE WHEN {as_double} = round({as_double}) THEN TRY_CAST({value} AS BIGINT) END"
    fmt = {"date": dialect.date_format, "timestamp": dialect.timestamp_format}.get(column.type)
    if fmt:
        return f"TRY_CAST(try_strptime({value}, {sql_literal(fmt)}) AS {column.duckdb_type})"
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


def ensure_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, tuple[str, str]], constraint: str = ""
) -> None:
    """Create a pipeline table, or add the columns a warehouse of an older version lacks
    (one catalog look-up when nothing is missing: this runs before every load and check)."""
    definition = ", ".join(f"{name} {type_}" for name, (type_, _) in columns.items())
    con.execute(f"create table if not exists {table} ({definition}{constraint})")
    schema, name = table.split(".")
    present = {row[0] for row in con.execute(
        "select column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, name]).fetchall()}
    for column, (type_, _) in columns.items():
        if column not in present:
            con.execute(f"alter table {table} add column {column} {type_}")


def ensure_loaded_files_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    ensure_table(con, LOADED_FILES_TABLE, LOADED_FILES_COLUMNS, ", primary key (extract, source_file)")
    ensure_table(con, SKIPPED_FILES_TABLE, SKIPPED_FILES_COLUMNS, ", primary key (extract, source_file)")


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


@dataclass(frozen=True)
class _KnownFile:
    """A landing file the warehouse has seen: loaded, or skipped as a duplicate."""

    size: int | None
    mtime_ns: int | None
    sha256: str | None


def _known_files(con: duckdb.DuckDBPyConnection, table: str, contract: Contract) -> dict[str, _KnownFile]:
    rows = con.execute(
        f"select source_file, file_size, file_mtime_ns, content_sha256 from {table} where extract = ?",
        [contract.name],
    ).fetchall()
    return {row[0]: _KnownFile(*row[1:]) for row in rows}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _FilePlan:
    """What this load does with each file of the extract."""

    new: list[LandingFile] = field(default_factory=list)  # to load (reloads included)
    reloads: list[LandingFile] = field(default_factory=list)  # same name, changed content
    duplicates: list[tuple[LandingFile, str]] = field(default_factory=list)  # (file, loaded name)
    stats: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> size, mtime, sha


def _plan_files(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile], landing_dir: Path
) -> _FilePlan:
    """Sort the landing files into unchanged (nothing to do), new, reloads and duplicates.

    A loaded file whose size and modification time are unchanged is not read again. Otherwise
    its content hash decides: another hash under the same name is a re-delivered correction;
    for event extracts, a new name whose content was already loaded is a duplicate (a later
    file's rows would replace identical rows). Snapshots are never duplicates: a new
    extraction with the same content is the source saying nothing changed.
    """
    plan = _FilePlan()
    loaded = _known_files(con, LOADED_FILES_TABLE, contract)
    skipped = _known_files(con, SKIPPED_FILES_TABLE, contract)
    loaded_by_hash = {known.sha256: name for name, known in loaded.items() if known.sha256}
    for file in files:
        name = str(file.path.relative_to(landing_dir))
        stat = file.path.stat()
        known = loaded.get(name) or skipped.get(name)
        if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            continue
        sha256 = file_sha256(file.path)
        plan.stats[name] = (stat.st_size, stat.st_mtime_ns, sha256)
        if name in loaded:
            if known.sha256 is not None and known.sha256 != sha256:
                plan.reloads.append(file)
                plan.new.append(file)
            # else: touched, or loaded before hashes were kept: only its stat is refreshed
        elif name in skipped and skipped[name].sha256 == sha256:
            continue
        elif contract.kind == "event" and sha256 in loaded_by_hash:
            plan.duplicates.append((file, loaded_by_hash[sha256]))
        else:
            plan.new.append(file)
            loaded_by_hash.setdefault(sha256, name)
    return plan


def _forget_reloaded(
    con: duckdb.DuckDBPyConnection, contract: Contract, names: list[str]
) -> dict[str, tuple[dt.date | None, dt.date | None, int]]:
    """Delete the rows of files about to be loaded again; per file, the business-date range and
    count of the rows replaced (incremental models recompute those dates' weeks)."""
    replaced = {}
    day = contract.business_date_column
    dates = f"cast(min({day}) as date), cast(max({day}) as date)" if day else "null, null"
    for name in names:
        first, last, count = con.execute(
            f"select {dates}, count(*) from {RAW_SCHEMA}.{contract.name} where _source_file = ?", [name]
        ).fetchall()[0]
        replaced[name] = (first, last, count)
        for table in (f"{RAW_SCHEMA}.{contract.name}", f"{RAW_SCHEMA}.{contract.name}__rejected"):
            con.execute(f"delete from {table} where _source_file = ?", [name])
        con.execute(f"delete from {LOADED_FILES_TABLE} where extract = ? and source_file = ?",
                    [contract.name, name])
    return replaced


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


def _read_batch(
    con: duckdb.DuckDBPyConnection,
    files: list[LandingFile],
    contract: Contract,
    header: list[str],
    mapped: list[str | None],
    dialect: CsvDialect,
) -> None:
    """New files of one format and one header into `_checked` in one pass.

    CSV is read as text, its columns named by the contract column each header name maps to
    (`mapped`; extra columns get placeholder names). Parquet columns already of their
    contract type are kept as they are (no round trip through text); the others are read as
    text, as CSV.
    """
    paths = [str(f.path) for f in files]
    if files[0].format == "parquet":
        source = "read_parquet(?, filename = true, union_by_name = true)"
        source_names = {c: name for name, c in zip(header, mapped, strict=True) if c}
    else:
        # Files of one call share a header (see load_extract): no per-file schema sniffing,
        # which costs seconds over a year of daily files.
        names = ", ".join(sql_literal(c or f"_extra_{i}") for i, c in enumerate(mapped))
        source = (
            f"read_csv(?, header = true, all_varchar = true, delim = {sql_literal(dialect.delimiter)}, "
            f"quote = {sql_literal(dialect.quote)}, encoding = {sql_literal(dialect.encoding)}, "
            f"names = [{names}], filename = true, null_padding = false)"
        )
        source_names = {c: c for c in contract.column_names}
    try:
        if files[0].format == "parquet":
            types = dict(
                row[:2] for row in con.execute(f"describe select * from {source}", [paths]).fetchall()
            )
            types = {c: types[name] for c, name in source_names.items()}
        else:
            types = dict.fromkeys(contract.column_names, "VARCHAR")
        native = frozenset(
            c.name for c in contract.columns if c.type != "string" and types[c.name] == c.duckdb_type
        )
        read = []
        for column in contract.columns:
            value = f"s.{_identifier(source_names[column.name])}"
            text = value if types[column.name] == "VARCHAR" else f"CAST({value} AS VARCHAR)"
            if column.type == "string":
                read.append(f"{text} as {column.name}")
            elif column.name in native:
                read.append(f"{value} as {column.name}")
            else:
                read.append(f"{text} as {_text_column(column)}")
        typed = [
            f"{_typed(c, _text_column(c), dialect)} as {c.name}"
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
    settings: ExtractSettings = DEFAULT_SETTINGS,
) -> LoadReport:
    """Load every new or re-delivered file of one extract into `raw.<system>__<extract>`.

    All files load in one transaction: any file-level problem, a batch the validator
    refuses, or a snapshot with no rows after one with rows raises LandingError and leaves
    the warehouse (and the list of loaded files) as it was, so the next run tries again.
    `settings` maps the export's CSV dialect and column names (the deployment config).

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
    plan = _plan_files(con, contract, files, landing_dir)
    if not plan.stats:
        return report
    new_files = plan.new
    batches: dict[tuple[str, ...], tuple[list[str], list[str | None], list[LandingFile]]] = {}
    for file in new_files:
        header, mapped = check_header(file, contract, con, settings)
        extra = [name for name, column in zip(header, mapped, strict=True) if column is None]
        if extra:
            report.warnings.append(f"{file.name}: extra columns ignored: {extra}")
        batch_key = (file.format, *header) if file.format == "csv" else (file.format,)
        batches.setdefault(batch_key, (header, mapped, []))[2].append(file)

    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    relative = {file.path: str(file.path.relative_to(landing_dir)) for file in files}
    con.execute("begin transaction")
    try:
        for name, (size, mtime_ns, sha256) in plan.stats.items():
            con.execute(
                f"update {LOADED_FILES_TABLE} set file_size = ?, file_mtime_ns = ?, content_sha256 = ? "
                "where extract = ? and source_file = ?",
                [size, mtime_ns, sha256, contract.name, name],
            )
        replaced = _forget_reloaded(con, contract, [relative[f.path] for f in plan.reloads])
        for file, original in plan.duplicates:
            name = relative[file.path]
            size, mtime_ns, sha256 = plan.stats[name]
            con.execute(
                f"insert or replace into {SKIPPED_FILES_TABLE} ({', '.join(SKIPPED_FILES_COLUMNS)}) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                [contract.name, name, file.extracted_at, original, size, mtime_ns, sha256, loaded_at],
            )
            report.files_skipped.append((name, original))
            report.warnings.append(
                f"{contract.system}/{contract.extract}: {name} skipped: same content as {original}, "
                "already loaded"
            )
        if new_files:
            _load_new_files(con, contract, new_files, landing_dir, loaded_at, batches, validate,
                            report, plan, replaced, settings.csv)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _load_new_files(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    new_files: list[LandingFile],
    landing_dir: Path,
    loaded_at: dt.datetime,
    batches: dict,
    validate: Validator | None,
    report: LoadReport,
    plan: _FilePlan,
    replaced: dict[str, tuple[dt.date | None, dt.date | None, int]],
    dialect: CsvDialect,
) -> None:
    """Read, check, validate and insert the new files' rows (inside load_extract's transaction)."""
    columns = ", ".join(contract.column_names)
    lineage = ", ".join(LINEAGE_COLUMNS)
    _create_work_tables(con, contract, new_files, landing_dir, loaded_at)
    for header, mapped, batch in batches.values():
        _read_batch(con, batch, contract, header, mapped, dialect)
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
        size, mtime_ns, sha256 = plan.stats[name]
        first, last, _ = replaced.get(name, (None, None, 0))
        values = {
            "extract": contract.name, "source_file": name, "extracted_at": file.extracted_at,
            "loaded_at": loaded_at, "rows_read": read, "rows_loaded": good, "rows_rejected": read - good,
            "file_size": size, "file_mtime_ns": mtime_ns, "content_sha256": sha256,
            "reloaded_at": loaded_at if name in replaced else None,
            "replaced_first_date": first, "replaced_last_date": last,
        }
        con.execute(
            f"insert into {LOADED_FILES_TABLE} ({', '.join(values)}) values ({', '.join('?' for _ in values)})",
            list(values.values()),
        )
        report.files_loaded.append(name)
        report.rows_read += read
        report.rows_loaded += good
        if name in replaced:
            report.files_reloaded.append(name)
            report.warnings.append(
                f"{contract.system}/{contract.extract}: {name} was re-delivered with changed content: "
                f"loaded again as a correction, its {replaced[name][2]} earlier rows replaced by {good}"
            )
    report.rows_rejected = report.rows_read - report.rows_loaded
    if report.rows_rejected:
        report.reject_example = _first_reject(con, contract)
    report.newest_extracted_at = max(f.extracted_at for f in new_files)
    con.execute("drop view _accepted")
    for table in ("_checked", "_files"):
        con.execute(f"drop table {table}")
    if verdict is not None:
        verdict()


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


def _previous_snapshot(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    file: LandingFile,
    name: str,
    files: list[LandingFile],
    landing_dir: Path,
    per_file: dict[str, tuple[int, int]],
) -> tuple[dt.datetime, str, int] | None:
    """(extracted_at, file, rows loaded) of the snapshot before `file`, loaded or in this batch."""
    history = con.execute(
        f"select extracted_at, source_file, rows_loaded from {LOADED_FILES_TABLE} where extract = ?",
        [contract.name],
    ).fetchall()
    for other in files:
        other_name = str(other.path.relative_to(landing_dir))
        history.append((other.extracted_at, other_name, per_file.get(other_name, (0, 0))[1]))
    earlier = [entry for entry in history if entry[:2] < (file.extracted_at, name)]
    return max(earlier) if earlier else None


def _check_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[LandingFile],
    landing_dir: Path,
    per_file: dict[str, tuple[int, int]],
) -> None:
    """File-level rules on the staged batch: no empty snapshot after one with rows (it would
    wipe every row; a source that never had any, e.g. no production orders, may send none),
    not mostly rejected rows."""
    for file in files:
        name = str(file.path.relative_to(landing_dir))
        read, good = per_file.get(name, (0, 0))
        if read == 0 and contract.kind == "snapshot":
            previous = _previous_snapshot(con, contract, file, name, files, landing_dir, per_file)
            if previous and previous[2]:
                raise LandingError(
                    file.path, "empty snapshot",
                    f"header only, no rows, after {previous[1]} with {previous[2]} rows: a snapshot "
                    "must be the full picture, so it would wipe every row",
                )
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
