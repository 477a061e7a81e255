#!/usr/bin/env python
"""Great Expectations gate benchmark: `quality.gate.suite_validator` on the new rows of a
steady-state week, one validation per extract, as the ingestion assets run it.

    python benchmarks/gate_benchmark.py [--landing DIR] [--baseline REV] [--repeat N]
                                        [--sizes 1000,10000,25000,50000,100000]
                                        [--max-rows 10000,25000,50000] [--out DIR]

The week: in a landing folder (default: the medium tier's, `benchmarks/out/medium/landing`,
left by `run_benchmark.py --tier medium --keep`; without it the demo tier is generated with
`soe_pipeline.simulate.generate`), the newest file of every snapshot extract and the event
files extracted in the 7 days up to the newest one, 13 validations at medium: each snapshot
validates its one file, each daily event extract one batch of 7 files. They are loaded once,
without the gate, into `<out>/warehouse.duckdb` (reused while the files are the same), so
every raw table holds exactly one week's new rows.

Each measurement runs in its own child process (GX import included: the GX worker process
starts at the first validation, which waits for its import; a run starts it earlier)
and opens that warehouse read-only. It times:

- **gate**: `suite_validator(contract, as_of)(con, view)` per extract, where the view holds
  the extract's new rows (the same relation `landing.load_extract` hands the gate, without
  its join to the staging tables), masters first; "GX" is `validate_batch` inside it.
- **curve** (`--sizes`, after the gate, so with GX imported): `validate_batch` on reservoir
  samples of each size from the snapshot extracts with at least the largest size of rows,
  best of 3; a least-squares line per extract gives the fixed cost per validation and the
  cost per 100,000 rows.

`--max-rows N,...` then runs the working tree's gate with `MAX_ROWS_FOR_SUITE` set to each N
(the constant is patched in the child process only), for the time against sample size.

`--baseline REV` also measures the code of git revision REV (exported with `git archive`)
on the same warehouse, alternating with the working tree when `--repeat` > 1, and prints
the ratios of the best runs. The machine is shared: compare the two, not absolute times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
MEDIUM_LANDING = REPO / "benchmarks" / "out" / "medium" / "landing"
MASTERS = ("items", "locations")
CURVE_REPEATS = 3


def week_files(landing: Path) -> tuple[dict[str, list[Path]], dt.date]:
    """Per contract, the steady-state week's files; and the as_of (the newest extraction date)."""
    from soe_pipeline.contracts import load_contracts
    from soe_pipeline.landing import discover

    found = {
        contract.name: (contract, discover(landing, contract)) for contract in load_contracts()
    }
    as_of = max(f.extracted_at for _, files in found.values() for f in files).date()
    week: dict[str, list[Path]] = {}
    for name, (contract, files) in found.items():
        if not files:
            continue
        if contract.kind == "snapshot":
            week[name] = [max(files, key=lambda f: f.extracted_at).path]
        else:
            first = as_of - dt.timedelta(days=7)
            week[name] = sorted(f.path for f in files if first < f.extracted_at.date() <= as_of)
    return week, as_of


def prepare(landing: Path, out: Path) -> tuple[Path, dt.date]:
    """The warehouse holding one week's new rows per extract (built once per set of files)."""
    from soe_pipeline.contracts import load_contracts
    from soe_pipeline.landing import load_extract

    week, as_of = week_files(landing)
    manifest = {
        "as_of": as_of.isoformat(),
        "files": {k: [str(p) for p in v] for k, v in week.items()},
    }
    warehouse, stamp = out / "warehouse.duckdb", out / "warehouse.json"
    if warehouse.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == manifest:
        return warehouse, as_of
    week_landing = out / "week_landing"
    shutil.rmtree(week_landing, ignore_errors=True)
    for paths in week.values():
        for path in paths:
            link = week_landing / path.relative_to(landing)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    warehouse.unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    contracts = sorted(load_contracts(), key=lambda c: c.extract not in MASTERS)
    rows = sum(load_extract(con, c, week_landing).rows_loaded for c in contracts if c.name in week)
    con.close()
    stamp.write_text(json.dumps(manifest))
    print(
        f"loaded {rows:,} rows of {sum(map(len, week.values()))} files (as_of {as_of}) "
        f"into {warehouse} in {time.perf_counter() - started:.1f} s"
    )
    return warehouse, as_of


def worker(warehouse: Path, as_of: dt.date, sizes: list[int], max_rows: int | None) -> None:
    """One measurement (in a child process): prints its figures as JSON on the last line."""
    import soe_pipeline.quality.gate as gate
    from soe_pipeline.contracts import load_contracts
    from soe_pipeline.landing import master_values_sql

    if max_rows is not None:
        gate.MAX_ROWS_FOR_SUITE = max_rows  # read by the gate's sample query at each call

    import soe_pipeline.quality.worker as gx_worker

    original_submit = gx_worker.submit
    gx_rows: dict[str, int] = {}

    def counted_submit(frame, contract, **kwargs):
        gx_rows[contract.name] = gx_rows.get(contract.name, 0) + len(frame)
        return original_submit(frame, contract, **kwargs)

    # "GX s" is the worker's own validation time (it reports it with each answer).
    gx_worker.submit = counted_submit
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    contracts = [
        c
        for c in sorted(load_contracts(), key=lambda c: c.extract not in MASTERS)
        if c.name in tables
    ]
    extracts = []
    for contract in contracts:
        con.execute(f"create or replace temp view _new_rows as select * from raw.{contract.name}")
        started, gx_before = time.perf_counter(), gx_worker.stats()
        verdict = gate.suite_validator(contract, as_of=as_of)(con, "_new_rows")
        verdict()  # nothing to overlap here: the load's inserts are not part of this benchmark
        gx_after = gx_worker.stats()
        gx_s = sum(gx_after[k] - gx_before[k] for k in ("validate_s", "waited_s"))
        extracts.append(
            {
                "extract": contract.name,
                "gate_s": round(time.perf_counter() - started, 3),
                "gx_s": round(gx_s, 3),
                "rows": gx_rows.get(contract.name, 0),
            }
        )
    gx_worker.submit = original_submit

    curve = {}
    for contract in contracts:
        ((rows,),) = con.execute(f"select count(*) from raw.{contract.name}").fetchall()
        if not sizes or contract.kind != "snapshot" or rows < max(sizes):
            continue
        known_values = {
            column.references: {
                row[0] for row in con.execute(master_values_sql(column.references)).fetchall()
            }
            for column in contract.columns
            if column.references
        }
        seconds = []
        for size in sizes:
            frame = con.execute(
                f"select {', '.join(contract.column_names)} from raw.{contract.name} "
                f"using sample reservoir({int(size)} rows) repeatable (42)"
            ).df()
            best = float("inf")
            for _ in range(CURVE_REPEATS):
                started = time.perf_counter()
                gx_worker.validate_batch(frame, contract, as_of=as_of, known_values=known_values)
                best = min(best, time.perf_counter() - started)
            seconds.append(round(best, 4))
        curve[contract.name] = seconds
    con.close()
    print(json.dumps({"extracts": extracts, "sizes": sizes, "curve": curve}))


def fit(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least-squares line: (seconds at 0 rows, seconds per 100,000 rows)."""
    slope, intercept = statistics.linear_regression(sizes, seconds)
    return intercept, slope * 100_000


def measure(
    code: Path, warehouse: Path, as_of: dt.date, sizes: list[int], max_rows: int | None = None
) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "GX_ANALYTICS_ENABLED": "false"}
    args = [
        sys.executable,
        __file__,
        "--worker",
        "--warehouse",
        str(warehouse),
        "--as-of",
        as_of.isoformat(),
        "--sizes",
        ",".join(map(str, sizes)),
        *(["--max-rows", str(max_rows)] if max_rows is not None else []),
    ]
    done = subprocess.run(args, env=env, cwd=code, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"worker failed ({code}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["gate_s"] = sum(e["gate_s"] for e in result["extracts"])
    result["gx_s"] = sum(e["gx_s"] for e in result["extracts"])
    return result


def export_revision(revision: str, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def show(label: str, result: dict) -> None:
    extracts = result["extracts"]
    print(
        f"\n{label}: gate {result['gate_s']:.2f} s for {len(extracts)} validations, "
        f"of which GX {result['gx_s']:.2f} s (first validation {extracts[0]['gx_s']:.2f} s, "
        f"with the GX import)"
    )
    print(f"  {'extract':<26}{'rows':>9}{'gate s':>9}{'GX s':>8}")
    for e in extracts:
        print(f"  {e['extract']:<26}{e['rows']:>9,}{e['gate_s']:>9.2f}{e['gx_s']:>8.2f}")
    if result["curve"]:
        sizes = result["sizes"]
        print(
            "  validate_batch alone, best of 3, by sample rows: "
            + " ".join(f"{s:>8,}" for s in sizes)
            + "    fixed  per 100k"
        )
        for name, seconds in result["curve"].items():
            fixed, per_100k = fit(sizes, seconds)
            print(
                f"  {name:<26}{'':>24}"
                + " ".join(f"{s:>8.3f}" for s in seconds)
                + f"  {fixed:>7.3f}  {per_100k:>7.3f}"
            )


def summary(result: dict) -> dict:
    fits = [fit(result["sizes"], s) for s in result["curve"].values()]
    return {
        "gate_s": result["gate_s"],
        "gx_s": result["gx_s"],
        "first_gx_s": result["extracts"][0]["gx_s"],
        "fixed_s": statistics.mean(f for f, _ in fits) if fits else None,
        "per_100k_s": statistics.mean(p for _, p in fits) if fits else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", type=Path, default=MEDIUM_LANDING)
    parser.add_argument("--baseline", help="git revision to compare with, e.g. HEAD~1")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--sizes",
        default="1000,10000,25000,50000,100000",
        help="sample sizes of the curve, comma-separated ('' for none)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "gate")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-rows",
        default="",
        help="also run the working tree's gate with MAX_ROWS_FOR_SUITE set to each of these "
        "sample sizes (comma-separated), e.g. 10000,25000,50000",
    )
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.worker:
        worker(args.warehouse, args.as_of, sizes, int(args.max_rows) if args.max_rows else None)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    landing = args.landing
    if not landing.is_dir():
        from soe_pipeline.simulate import generate

        print(f"{landing} not found: generating the demo tier into {args.out / 'demo'}")
        landing = generate(args.out / "demo", scale="demo", seed=42).landing_dir
    warehouse, as_of = prepare(landing, args.out)
    variants = {"working tree": REPO}
    if args.baseline:
        variants = {
            args.baseline: export_revision(args.baseline, args.out / "baseline_code"),
            **variants,
        }
    results: dict[str, list[dict]] = {label: [] for label in variants}
    for _ in range(args.repeat):
        for label, code in variants.items():
            result = measure(code, warehouse, as_of, sizes)
            results[label].append(result)
            show(label, result)
    print(f"\nbest of {args.repeat}:")
    best = {label: summary(min(runs, key=lambda r: r["gate_s"])) for label, runs in results.items()}
    for label, figures in best.items():
        line = (
            f"  {label}: gate {figures['gate_s']:.2f} s, GX {figures['gx_s']:.2f} s "
            f"(first validation {figures['first_gx_s']:.2f} s)"
        )
        if figures["fixed_s"] is not None:
            line += (
                f"; validate_batch {figures['fixed_s']:.3f} s fixed + "
                f"{figures['per_100k_s']:.3f} s per 100k rows"
            )
        print(line)
    if args.baseline:
        before, after = best[args.baseline], best["working tree"]
        print(
            f"  {args.baseline} -> working tree: gate {before['gate_s'] / after['gate_s']:.2f}x faster, "
            f"GX {before['gx_s'] / after['gx_s']:.2f}x"
        )
        shutil.rmtree(args.out / "baseline_code")
    sweep = [int(n) for n in args.max_rows.split(",") if n]
    if sweep:
        print(f"\nworking tree, gate by sample size (MAX_ROWS_FOR_SUITE), best of {args.repeat}:")
        print(
            f"  {'max rows':>9}{'rows to GX':>12}{'gate s':>9}{'GX s':>8}{'GX after the first s':>22}"
        )
        for max_rows in sweep:
            runs = [measure(REPO, warehouse, as_of, [], max_rows) for _ in range(args.repeat)]
            run = min(runs, key=lambda r: r["gate_s"])
            later = run["gx_s"] - run["extracts"][0]["gx_s"]
            rows = sum(e["rows"] for e in run["extracts"])
            print(
                f"  {max_rows:>9,}{rows:>12,}{run['gate_s']:>9.2f}{run['gx_s']:>8.2f}{later:>22.2f}"
            )


if __name__ == "__main__":
    main()
