"""Publishing output tables for BI: Parquet files, swapped in atomically per run.

    <exports>/runs/<as_of>__<run>/<table>.parquet + manifest.json
    <exports>/current  -> runs/<as_of>__<run>      (symlink, replaced atomically)

A run's files are complete before `current` moves, so a reader sees the previous run or the
new one, never a mix; readers never open the working warehouse. No Dagster here.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

RUNS_DIR = "runs"
CURRENT = "current"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Publication:
    run_dir: Path
    current: Path
    row_counts: dict[str, int]


def publish_tables(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    tables: list[str],
    exports_dir: Path,
    run_label: str,
    manifest_extra: dict[str, object],
    keep_runs: int = 5,
) -> Publication:
    exports_dir = Path(exports_dir)
    runs_dir = exports_dir / RUNS_DIR
    run_dir = runs_dir / run_label
    staging_dir = runs_dir / f".{run_label}.partial"
    shutil.rmtree(staging_dir, ignore_errors=True)
    staging_dir.mkdir(parents=True)
    row_counts = {}
    for table in tables:
        relation = con.table(f"{schema}.{table}")
        relation.write_parquet(str(staging_dir / f"{table}.parquet"))
        row_counts[table] = con.execute(f"select count(*) from {schema}.{table}").fetchall()[0][0]
    manifest = {**manifest_extra, "run_label": run_label, "tables": row_counts}
    (staging_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.replace(staging_dir, run_dir)

    link = exports_dir / CURRENT
    tmp_link = exports_dir / f".{CURRENT}.{run_label}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(RUNS_DIR) / run_label, target_is_directory=True)
    os.replace(tmp_link, link)
    _prune(runs_dir, keep=keep_runs, protect=run_dir)
    return Publication(run_dir=run_dir, current=link, row_counts=row_counts)


def _prune(runs_dir: Path, keep: int, protect: Path) -> None:
    """Keep the newest `keep` published runs (by publish time) so a bad one can be rolled back."""
    runs = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in runs[max(keep, 1):]:
        if old != protect:
            shutil.rmtree(old, ignore_errors=True)
