"""Publishing output tables for BI: Parquet files, swapped in atomically per run.

    <exports>/runs/<as_of>__<run>/<table>.parquet    every row carries `published_run_label`
    <exports>/runs/<as_of>__<run>/serving.duckdb     the same tables in one read-only DuckDB file
    <exports>/runs/<as_of>__<run>/manifest.json      tables, row counts, sha256 of every file
    <exports>/runs/<as_of>__<run>/brief.html         reports made from those files (the S&OE brief)
    <exports>/current  -> runs/<as_of>__<run>        (symlink, replaced atomically)
    <exports>/history.jsonl                          every switch of `current` (publish, rollback)

A run's directory is complete (manifest written last) before it gets its final name, and
`current` moves only after that, so a reader sees the previous run or the new one, never a
mix; a published run directory is never modified afterwards. Readers never open the working
warehouse, and the pipeline never writes to a published file, so a reader holding one open
never blocks a run.

Reading one consistent run: resolve `current` once (`Path(...).resolve()`) and read every
file from that directory, or open `current/serving.duckdb` (one file, one run). Each Parquet
file also carries the run in its `published_run_label` column and in its key-value metadata
(`soe_run_label`), so a reader can prove it saw one run; `verify_run` checks a directory
against its manifest.

Crash safety: publishing and rollback hold an exclusive lock (`flock`, released by the
kernel when the process dies). Whatever a killed publisher leaves behind (a
`runs/.<label>.partial` staging folder, a `.current.<label>` temporary link) is, by
definition, stale once the lock is ours, and is removed before the next publication.

No Dagster here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from soe_pipeline.landing import sql_literal

RUNS_DIR = "runs"
CURRENT = "current"
MANIFEST = "manifest.json"
SERVING_DB = "serving.duckdb"
HISTORY = "history.jsonl"
LOCK = ".publish.lock"
PARTIAL_SUFFIX = ".partial"
RUN_COLUMN = "published_run_label"
RUN_METADATA_KEY = "soe_run_label"
PUBLICATION_TABLE = "_publication"

# Test hook (tests/test_publishing.py): seconds to sleep once the staging folder is complete,
# right before it is renamed and `current` switched, so a test can SIGKILL a run at that
# exact point. Read at publish time; unset in production.
PAUSE_BEFORE_SWAP_ENV = "SOE_TEST_PAUSE_BEFORE_SWAP"

_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Publication:
    run_dir: Path
    current: Path
    row_counts: dict[str, int]
    manifest: dict[str, object]

    @property
    def run_label(self) -> str:
        return self.run_dir.name


@dataclass(frozen=True)
class PublishedRun:
    """A complete run directory under <exports>/runs, as `soe rollback` lists it."""

    label: str
    path: Path
    published_at: str
    as_of: str | None
    is_current: bool
    withdrawn: bool  # rolled back from, and not made current again since


@dataclass(frozen=True)
class Rollback:
    from_label: str
    to_label: str
    runs: list[PublishedRun]


class RollbackError(Exception):
    """Nothing (valid) to roll back to; the message says why and what is kept."""


def publish_tables(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    tables: list[str],
    exports_dir: Path,
    run_label: str,
    manifest_extra: dict[str, object],
    keep_runs: int = 5,
    serving_db: bool = True,
    reports: Callable[[Path], list[Path]] | None = None,
) -> Publication:
    """Write `schema.<table>` for each table as one run directory, then make it `current`.

    `reports(run_dir)` writes files made from the run's Parquet files (the brief) into the
    directory before it is sealed, so they are published with the tables, atomically. It runs
    in the calling thread once every Parquet file is written.

    Independent work overlaps on a small thread pool (DuckDB, fsync and sha256 of large
    buffers release the GIL): the serving DuckDB file is built from the same tables on a
    second connection while the Parquet files are written and the reports render, and each
    Parquet file is fsynced and hashed while the next is written. Results are collected in
    table order, so the manifest does not depend on which finishes first. The pool is idle
    again before an error propagates (nothing is still writing into the staging folder) and
    before anything is renamed, so a failed run leaves nothing published."""
    for name in [schema, *tables]:
        if not _TABLE_NAME.match(name):
            raise ValueError(f"not a plain table name: {name!r}")
    exports_dir = Path(exports_dir)
    runs_dir = exports_dir / RUNS_DIR
    runs_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(exports_dir):
        remove_leftovers(exports_dir)
        # A retried publish step inside the same Dagster run gets a new directory: a
        # published run directory is never rewritten under a reader.
        run_label = _unused_label(runs_dir, run_label)
        staging_dir = runs_dir / f".{run_label}{PARTIAL_SUFFIX}"
        staging_dir.mkdir()
        published_at = _utc_now()
        publication = {**manifest_extra, "run_label": run_label, "published_at": published_at}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish") as pool:
            serving = (
                pool.submit(_build_serving_db, con.cursor(), schema, tables, staging_dir,
                            publication)
                if serving_db
                else None
            )
            sealed = {}
            for table in tables:
                path = staging_dir / f"{table}.parquet"
                # Identifiers are checked above; values and paths go in as parameters.
                con.execute(
                    f"copy (select *, $1::varchar as {RUN_COLUMN} from {schema}.{table}) to $2 "
                    f"(format parquet, kv_metadata {{{RUN_METADATA_KEY}: $1}})",
                    [run_label, str(path)],
                )
                sealed[table] = pool.submit(_seal_parquet, path)
            files = {table: future.result() for table, future in sealed.items()}
            manifest: dict[str, object] = {**publication, "run_column": RUN_COLUMN, "tables": files}
            report_digests = (
                {path.name: pool.submit(_digest, path) for path in reports(staging_dir)}
                if reports
                else None
            )
            if serving is not None:
                manifest["serving_db"] = serving.result()
            if report_digests is not None:
                manifest["reports"] = {
                    name: {"file": name, **digest.result()}
                    for name, digest in report_digests.items()
                }
        # Written last: a directory with a manifest is complete.
        _write_durably(staging_dir / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
        _fsync_dir(staging_dir)
        _pause_for_tests()

        run_dir = runs_dir / run_label
        os.replace(staging_dir, run_dir)
        _fsync_dir(runs_dir)
        previous = current_label(exports_dir)
        _switch_current(exports_dir, run_label)
        _append_history(exports_dir, "publish", previous, run_label)
        _prune(runs_dir, keep=keep_runs, protect={run_label})
    return Publication(
        run_dir=run_dir,
        current=exports_dir / CURRENT,
        row_counts={table: int(entry["rows"]) for table, entry in files.items()},
        manifest=manifest,
    )


def rollback(exports_dir: Path, to: str | None = None) -> Rollback:
    """Point `current` at the run published before it (or at run `to`), atomically.

    Rolling back withdraws the run left behind: "before" skips withdrawn runs, so rolling
    back twice walks back two publications, and a withdrawn run is not offered again after
    the next publication (`to` can still name it). The target's files are checked against
    its manifest first.
    """
    exports_dir = Path(exports_dir)
    if not (exports_dir / RUNS_DIR).is_dir():
        raise RollbackError(f"nothing published in {exports_dir}")
    with _exclusive_lock(exports_dir):
        remove_leftovers(exports_dir)
        runs = published_runs(exports_dir)
        kept = ", ".join(run.label for run in runs) or "none"
        current = current_label(exports_dir)
        if current is None:
            raise RollbackError(f"{exports_dir / CURRENT} does not point at a run; kept runs: {kept}")
        if to is not None:
            target = next((run for run in runs if run.label == to), None)
            if target is None:
                raise RollbackError(f"run {to!r} is not among the kept runs: {kept}")
            if target.is_current:
                raise RollbackError(f"run {to!r} is already current")
        else:
            labels = [run.label for run in runs]
            older = runs[labels.index(current) + 1 :] if current in labels else runs
            target = next((run for run in older if not run.withdrawn and not run.is_current), None)
            if target is None:
                raise RollbackError(
                    f"nothing to roll back to: no kept run was published before {current} "
                    f"(other than runs already rolled back from); kept runs: {kept}"
                )
        problems = verify_run(target.path)
        if problems:
            raise RollbackError(f"run {target.label} is damaged, not switching: " + "; ".join(problems))
        _switch_current(exports_dir, target.label)
        # Going back withdraws the run we leave; `--to` a newer run is a roll-forward.
        current_run = next((run for run in runs if run.label == current), None)
        backwards = current_run is None or target.published_at < current_run.published_at
        _append_history(exports_dir, "rollback" if backwards else "roll_forward", current, target.label)
        return Rollback(from_label=current, to_label=target.label, runs=published_runs(exports_dir))


def published_runs(exports_dir: Path) -> list[PublishedRun]:
    """Complete runs under <exports>/runs, newest publication first."""
    runs_dir = Path(exports_dir) / RUNS_DIR
    if not runs_dir.is_dir():
        return []
    current = current_label(exports_dir)
    withdrawn = _withdrawn(exports_dir)
    runs = []
    for path in runs_dir.iterdir():
        manifest_path = path / MANIFEST
        if path.name.startswith(".") or not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            continue
        published_at = manifest.get("published_at") or _mtime_iso(path)
        runs.append(
            PublishedRun(
                label=path.name,
                path=path,
                published_at=str(published_at),
                as_of=None if manifest.get("as_of") is None else str(manifest["as_of"]),
                is_current=path.name == current,
                withdrawn=path.name in withdrawn,
            )
        )
    return sorted(runs, key=lambda run: (run.published_at, run.label), reverse=True)


def current_label(exports_dir: Path) -> str | None:
    """The run `current` points at, or None when nothing was published yet."""
    link = Path(exports_dir) / CURRENT
    try:
        target = Path(os.readlink(link))
    except OSError:
        return None
    return target.name if (link.parent / target / MANIFEST).is_file() else None


def read_manifest(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / MANIFEST).read_text())


def verify_run(run_dir: Path) -> list[str]:
    """Problems with a run directory: files missing or not matching the manifest's sha256."""
    run_dir = Path(run_dir)
    try:
        manifest = read_manifest(run_dir)
    except (OSError, ValueError) as error:
        return [f"unreadable manifest in {run_dir}: {error}"]
    entries = list(manifest.get("tables", {}).values())
    if manifest.get("serving_db"):
        entries.append(manifest["serving_db"])
    entries.extend(manifest.get("reports", {}).values())
    problems = []
    for entry in entries:
        if not isinstance(entry, dict) or "sha256" not in entry:
            continue  # a manifest written before files were hashed
        path = run_dir / str(entry["file"])
        if not path.is_file():
            problems.append(f"{path.name} is missing")
        elif _digest(path)["sha256"] != entry["sha256"]:
            problems.append(f"{path.name} does not match its sha256 in the manifest")
    return problems


def remove_leftovers(exports_dir: Path) -> list[Path]:
    """Remove what a killed publisher leaves behind; call only while holding the lock."""
    exports_dir = Path(exports_dir)
    removed = []
    for partial in (exports_dir / RUNS_DIR).glob(f".*{PARTIAL_SUFFIX}"):
        shutil.rmtree(partial, ignore_errors=True)
        removed.append(partial)
    for temporary_link in exports_dir.glob(f".{CURRENT}.*"):
        if temporary_link.is_symlink() or temporary_link.is_file():
            temporary_link.unlink(missing_ok=True)
            removed.append(temporary_link)
    return removed


@contextlib.contextmanager
def _exclusive_lock(exports_dir: Path) -> Iterator[None]:
    """One publisher (or rollback) per exports folder; the kernel drops it if we are killed."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the leftovers clean-up still applies
        yield
        return
    with open(Path(exports_dir) / LOCK, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _build_serving_db(
    cursor: duckdb.DuckDBPyConnection,
    schema: str,
    tables: list[str],
    staging_dir: Path,
    publication: dict[str, object],
) -> dict[str, object]:
    """The run's tables in one DuckDB file, copied from `schema` on `cursor`, a connection of
    its own to the working warehouse, while the calling thread writes the Parquet files.

    A BI tool that speaks DuckDB gets typed tables and one consistent run per connection;
    it is made read-only on disk so an accidental read-write open fails instead of locking
    or changing a published run.

    The longest part of a publication (~1.6 s at medium: DuckDB writing its compressed
    storage). Built from the Parquet files once they were all written, it ran after the
    copies; from the tables it runs beside them (benchmarks/README.md, "Publishing").
    """
    path = staging_dir / SERVING_DB
    alias = "_soe_serving"
    with cursor:
        cursor.execute(f"attach {sql_literal(str(path))} as {alias}")
        try:
            for table in tables:
                cursor.execute(
                    f"create table {alias}.{table} as "
                    f"select *, $1::varchar as {RUN_COLUMN} from {schema}.{table}",
                    [publication["run_label"]],
                )
            cursor.execute(
                f"create table {alias}.{PUBLICATION_TABLE} as select $1::varchar as run_label, "
                "$2::varchar as run_id, $3::date as as_of, $4::timestamp as published_at",
                [publication["run_label"], publication.get("run_id"), publication.get("as_of"),
                 publication["published_at"]],
            )
            cursor.execute(f"checkpoint {alias}")
        finally:
            cursor.execute(f"detach {alias}")
    _fsync_file(path)
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return {"file": path.name, **_digest(path)}


def _switch_current(exports_dir: Path, run_label: str) -> None:
    link = exports_dir / CURRENT
    tmp_link = exports_dir / f".{CURRENT}.{run_label}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(RUNS_DIR) / run_label, target_is_directory=True)
    os.replace(tmp_link, link)
    _fsync_dir(exports_dir)


def _append_history(exports_dir: Path, action: str, from_label: str | None, to_label: str) -> None:
    entry = {"at": _utc_now(), "action": action, "from": from_label, "to": to_label}
    with open(exports_dir / HISTORY, "a+b") as history:
        # a line cut short by a killed process must not swallow this one
        history.seek(0, os.SEEK_END)
        if history.tell():
            history.seek(-1, os.SEEK_END)
            if history.read(1) != b"\n":
                history.write(b"\n")
        history.write(json.dumps(entry).encode() + b"\n")
        history.flush()
        os.fsync(history.fileno())


def _withdrawn(exports_dir: Path) -> set[str]:
    """Runs rolled back from and not made current again since (from history.jsonl)."""
    withdrawn: set[str] = set()
    try:
        lines = (Path(exports_dir) / HISTORY).read_text().splitlines()
    except OSError:
        return withdrawn
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed process
        if entry.get("action") == "rollback" and entry.get("from"):
            withdrawn.add(entry["from"])
        withdrawn.discard(entry.get("to"))
    return withdrawn


def _prune(runs_dir: Path, keep: int, protect: set[str]) -> None:
    """Keep the newest `keep` published runs (by publish time) so a bad one can be rolled back."""
    exports_dir = runs_dir.parent
    protect = protect | {label for label in [current_label(exports_dir)] if label}
    for old in published_runs(exports_dir)[max(keep, 1) :]:
        if old.label not in protect:
            shutil.rmtree(old.path, ignore_errors=True)


def _unused_label(runs_dir: Path, run_label: str) -> str:
    label, attempt = run_label, 1
    while (runs_dir / label).exists():
        attempt += 1
        label = f"{run_label}-{attempt}"
    return label


def _seal_parquet(path: Path) -> dict[str, object]:
    """A written Parquet file made durable, and its manifest entry (rows from its footer)."""
    _fsync_file(path)
    return {"file": path.name, "rows": _parquet_rows(path), **_digest(path)}


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _digest(path: Path) -> dict[str, object]:
    sha256 = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": sha256.hexdigest()}


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make renames and new entries in `path` survive a power cut, not just a killed process."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not fsync directories
    finally:
        os.close(fd)


def _pause_for_tests() -> None:
    seconds = os.environ.get(PAUSE_BEFORE_SWAP_ENV)
    if seconds:
        time.sleep(float(seconds))


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _mtime_iso(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None).isoformat(
        timespec="microseconds"
    )
