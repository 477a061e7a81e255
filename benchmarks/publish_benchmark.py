#!/usr/bin/env python
"""Publish-step benchmark: `publish_tables` with the brief, as the `publish__bi_exports` asset
calls it, against a baseline revision of the same code and the floor, on the same marts.

    python benchmarks/publish_benchmark.py --baseline REV [--warehouse PATH] [--repeat N]
                                           [--work DIR]

- **floor**: `COPY marts.<table> TO '<table>.parquet'` for every mart: the Parquet copies
  alone (`run_benchmark.py`'s publish floor also writes the marts into a DuckDB file, the
  serving file; here the ratio to the copies alone shows what the DuckDB file costs).
- **baseline**: `soe_pipeline` at git revision REV (223c862 is the code before the work on
  publishing), extracted with `git archive`.
- **current**: `soe_pipeline` of this working tree.

The schema `marts` of the warehouse is first copied into `<work>/warehouse.duckdb` (the
source is opened read-only, once). Every measured publish runs in its own child process,
imports done before the clock starts, like the asset in a Dagster run; the three variants take
turns within each repeat (in a rotating order), so a ratio compares runs made under the same
machine load. The machine may be busy: compare the ratios, not the seconds.

Per part, the figures are busy seconds (wall time spent inside the part, in whichever thread,
not counting parts nested in it). The current code overlaps parts in threads, so its parts
add up to more than its total. Each repeat gives baseline and current the same run label, and
the script checks their outputs agree: the Parquet files and the brief byte for byte, the
manifest keys, the serving file table by table (row count and a hash of every row).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from _workers import process_cpu  # this folder: the script's own

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WAREHOUSE = ROOT / "benchmarks" / "out" / "medium" / "warehouse.duckdb"
VARIANTS = ("floor", "baseline", "current")
# Parts in the order they happen; each names the functions of soe_pipeline.publish it times.
PARTS = {
    "copy to Parquet": (),  # the connection's execute
    "fsync (files, folders, manifest)": ("_fsync_file", "_fsync_dir", "_write_durably"),
    "row counts (Parquet footers)": ("_parquet_rows",),
    "sha256": ("_digest",),
    "serving DuckDB file": ("_build_serving_db",),
    "brief": (),  # the reports callback
    "swap, history, prune": ("remove_leftovers", "_switch_current", "_append_history", "_prune"),
}


# --- child processes ------------------------------------------------------------------------


class PartTimer:
    """Busy seconds per part; time in a part nested inside another counts for the inner one."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, part: str, function):
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = stack.pop()
                if stack:
                    stack[-1] += elapsed
                with self._lock:
                    self.busy[part] += elapsed - nested

        return timed


class TimedConnection:
    """The warehouse connection as publish_tables uses it, its statements timed."""

    def __init__(self, con, timer: PartTimer) -> None:
        self._execute = timer.wrap("copy to Parquet", con.execute)
        # a second connection to the same database (the serving file is built on one)
        self.cursor = con.cursor

    def execute(self, *args, **kwargs):
        return self._execute(*args, **kwargs)


def _child(args: argparse.Namespace) -> None:
    import duckdb

    import soe_pipeline
    from soe_pipeline.warehouse import memory_limit

    # PYTHONPATH names the code under test; an installed copy must not shadow it.
    if not Path(soe_pipeline.__file__).resolve().is_relative_to(Path(args.code).resolve()):
        raise SystemExit(f"imported {soe_pipeline.__file__}, expected code from {args.code}")
    # Read-write, as in a run (a copy of the marts): the serving file is attached to it.
    con = duckdb.connect(args.warehouse, config={"memory_limit": memory_limit()})
    tables = [
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
    ]
    exports = Path(args.exports)
    result: dict[str, object] = {"tables": tables}
    if args.child == "floor":
        target = exports / args.label
        target.mkdir(parents=True)
        start, cpu = time.perf_counter(), process_cpu()
        for table in tables:  # names come from the catalog of our own copy
            con.execute(f"copy marts.{table} to $1", [str(target / f"{table}.parquet")])
        result |= {"total": time.perf_counter() - start, "cpu": process_cpu() - cpu}
        shutil.rmtree(target)
    else:
        import soe_pipeline.publish as publish
        from soe_pipeline.brief import render_brief

        (as_of,) = con.execute("select max(as_of)::varchar from marts.sku_location_status").fetchone()
        timer = PartTimer()
        for part, names in PARTS.items():
            for name in names:
                if hasattr(publish, name):
                    setattr(publish, name, timer.wrap(part, getattr(publish, name)))
        brief = timer.wrap("brief", lambda run_dir: [render_brief(run_dir)])
        start, cpu = time.perf_counter(), process_cpu()
        publication = publish.publish_tables(
            TimedConnection(con, timer),
            schema="marts",
            tables=tables,
            exports_dir=exports,
            run_label=args.label,
            manifest_extra={"as_of": as_of, "run_id": f"benchmark-{args.label}"},
            reports=brief,
        )
        result |= {
            "total": time.perf_counter() - start,
            "cpu": process_cpu() - cpu,
            "parts": dict(timer.busy),
            "run_dir": str(publication.run_dir),
        }
    Path(args.result).write_text(json.dumps(result, indent=2))


# --- the parent -----------------------------------------------------------------------------


def _copy_marts(source: Path, target: Path) -> list[str]:
    import duckdb

    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute("attach $1 as source (read_only)", [str(source)])
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'source' and schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        con.execute("create schema marts")
        for table in tables:  # names from the source's own catalog
            con.execute(f"create table marts.{table} as select * from source.marts.{table}")
        con.execute("detach source")
        con.execute("checkpoint")
    return tables


def _extract(revision: str, target: Path) -> str:
    """`soe_pipeline` at `revision` into `target`; returns the full commit id."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", revision], check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "soe_pipeline"],
        check=True,
        capture_output=True,
    ).stdout
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return commit


def _run_child(variant: str, code: Path, work: Path, label: str) -> dict:
    result = work / f"result_{variant}.json"
    result.unlink(missing_ok=True)
    completed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "floor" if variant == "floor" else "publish",
            "--code",
            str(code),
            "--warehouse",
            str(work / "warehouse.duckdb"),
            "--exports",
            str(work / f"exports_{variant}"),
            "--label",
            label,
            "--result",
            str(result),
        ],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise SystemExit(f"{variant} failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(result.read_text())


def _keys(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        keys = set()
        for key, inner in value.items():
            keys |= {f"{prefix}{key}"} | _keys(inner, f"{prefix}{key}.")
        return keys
    return set()


def _serving_summary(path: Path) -> dict[str, tuple]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        tables = [name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {
            table: con.execute(
                # _publication holds the publication time, which differs by design
                f"select count(*), bit_xor(hash(t)) from {table} t"
                if table != "_publication"
                else f"select count(*), first(run_label), first(as_of) from {table}"
            ).fetchone()
            for table in sorted(tables)
        }


def _compare(baseline_dir: Path, current_dir: Path) -> list[str]:
    """How the current run's outputs differ from the baseline's (same label, same data)."""
    old, new = (json.loads((d / "manifest.json").read_text()) for d in (baseline_dir, current_dir))
    problems = []
    if _keys(old) != _keys(new):
        problems.append(f"manifest keys differ: {sorted(_keys(old) ^ _keys(new))}")
    for table, entry in old["tables"].items():
        other = new["tables"].get(table, {})
        if (entry["rows"], entry["sha256"]) != (other.get("rows"), other.get("sha256")):
            problems.append(f"{entry['file']} differs")
    for name, entry in old.get("reports", {}).items():
        if entry["sha256"] != new.get("reports", {}).get(name, {}).get("sha256"):
            problems.append(f"{name} differs")
    if _serving_summary(baseline_dir / "serving.duckdb") != _serving_summary(
        current_dir / "serving.duckdb"
    ):
        problems.append("serving.duckdb tables differ")
    return problems


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--baseline", help="git revision to compare with (required)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "publish")
    for hidden in ("--child", "--code", "--exports", "--label", "--result"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    if not args.baseline:
        parser.error("--baseline REV is required")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not args.warehouse.is_file():
        parser.error(f"no warehouse at {args.warehouse} (make one with run_benchmark.py --keep)")
    started = time.perf_counter()
    tables = _copy_marts(args.warehouse, work / "warehouse.duckdb")
    commit = _extract(args.baseline, work / "baseline")
    print(f"marts of {args.warehouse}: {len(tables)} tables, copied in {time.perf_counter() - started:.1f} s")
    print(f"baseline: {args.baseline} = {commit[:10]}; current: working tree {ROOT}")
    code = {"floor": ROOT, "baseline": work / "baseline", "current": ROOT}

    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    problems: list[str] = []
    stamp = time.strftime("%H%M%S")
    for repeat in range(args.repeat):
        label = f"bench_{stamp}_{repeat:02d}"
        order = VARIANTS[repeat % 3 :] + VARIANTS[: repeat % 3]
        for variant in order:
            runs[variant].append(_run_child(variant, code[variant], work, label))
        baseline_dir, current_dir = (Path(runs[v][-1]["run_dir"]) for v in ("baseline", "current"))
        problems += [f"repeat {repeat}: {p}" for p in _compare(baseline_dir, current_dir)]
        line = ", ".join(f"{v} {runs[v][-1]['total']:.2f} s" for v in VARIANTS)
        load = os.getloadavg()[0]
        print(f"repeat {repeat + 1}/{args.repeat}: {line} (load average {load:.1f})", flush=True)

    floor = [run["total"] for run in runs["floor"]]
    print(f"\nMedians of {args.repeat} repeats (busy seconds per part; see the docstring):\n")
    print("| part | baseline s | current s |\n|---|---:|---:|")
    for part in PARTS:
        cells = [_median([run["parts"].get(part, 0.0) for run in runs[v]]) for v in ("baseline", "current")]
        print(f"| {part} | {cells[0]:.3f} | {cells[1]:.3f} |")
    summary = {
        "sum of parts": lambda run: sum(run["parts"].values()),
        "**total (wall)**": lambda run: run["total"],
        "process CPU s": lambda run: run["cpu"],
    }
    for name, value in summary.items():
        cells = [_median([value(run) for run in runs[v]]) for v in ("baseline", "current")]
        print(f"| {name} | {cells[0]:.3f} | {cells[1]:.3f} |")
    ratios = {
        v: _median([run["total"] / low for run, low in zip(runs[v], floor, strict=True)])
        for v in ("baseline", "current")
    }
    print(f"| **ratio to the floor** | {ratios['baseline']:.1f}x | {ratios['current']:.1f}x |")
    speedup = _median(
        [old["total"] / new["total"] for old, new in zip(runs["baseline"], runs["current"], strict=True)]
    )
    print(
        f"\nfloor (COPY per mart): {_median(floor):.3f} s wall, "
        f"{_median([run['cpu'] for run in runs['floor']]):.3f} s CPU; "
        f"current vs baseline: {speedup:.2f}x faster (median of per-repeat ratios)"
    )
    print("outputs: " + ("; ".join(problems) if problems else "identical (Parquet, brief, manifest keys, serving tables)"))
    (work / "results.json").write_text(
        json.dumps({"baseline": commit, "runs": runs, "problems": problems}, indent=2)
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
