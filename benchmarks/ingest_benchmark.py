#!/usr/bin/env python
"""Ingestion benchmark: `landing.load_extract` of a backfill of daily POS files, with the
Great Expectations gate, as the ingestion asset runs it.

    python benchmarks/ingest_benchmark.py [--files 365] [--rows-per-file 40000]
                                          [--format parquet|csv] [--baseline REV] [--repeat N]
                                          [--out DIR] [--keep]

Synthetic landing folder written with DuckDB: an item master (2,000 SKUs) and a location
master (100 stores) as CSV, and one `pos/daily_sales` file per business day following the
contract: about `--rows-per-file` sales rows of the day, plus 1 % of the previous day's rows
re-sent with other figures (corrections: the same key in a later file), plus 0.02 % rows with
an unknown SKU (rejected by the row rules).

Each measurement runs in its own child process on a new warehouse file: it loads the two
masters, resets its peak RSS (`/proc/self/clear_refs`), then times `load_extract` of POS
with `quality.gate.suite_validator` and every statement on the connection. `--baseline REV`
also measures the code of git revision REV (exported with `git archive`) on the same files,
alternating with the working tree when `--repeat` > 1, and prints the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from _workers import process_cpu  # this folder: the script's own

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = dt.date(2024, 1, 1)
N_SKUS, N_STORES = 2_000, 100
CORRECTED_SHARE, UNKNOWN_SKU_SHARE = 0.01, 0.0002


def generate(landing: Path, n_files: int, rows_per_file: int, fmt: str) -> int:
    """The landing folder described in the module docstring; returns the number of POS rows."""
    if landing.exists():
        shutil.rmtree(landing)
    for folder in ("erp/items", "erp/locations", "pos/daily_sales"):
        (landing / folder).mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        "create table items as select printf('SKU%05d', i) as sku, 'item ' || i as description, "
        "'F' || (i % 12) as product_family, 2.5 as unit_cost, 5.0 as unit_price, "
        "null::bigint as shelf_life_days, 'active' as status from range(?) t(i)",
        [N_SKUS],
    )
    con.execute(
        "create table locations as select printf('ST%03d', i) as location_id, "
        "'store' as location_type, 'R' || (i % 3) as region from range(?) t(i)",
        [N_STORES],
    )
    master_stamp = f"{FIRST_DAY - dt.timedelta(days=1):%Y%m%d}T020000Z"
    for table in ("items", "locations"):
        con.execute(f"copy {table} to '{landing}/erp/{table}/{table}_{master_stamp}.csv' (header)")
    # A day's sales: the SKU-stores whose hash falls in the day's share of the grid.
    keep = rows_per_file / (N_SKUS * N_STORES)
    con.execute(
        "create table sales as "
        "select d::date as business_date, l.location_id, i.sku, "
        "round(1 + (hash(d, l.location_id, i.sku) % 700) / 100.0, 2) as units_sold "
        "from range(?::date, ?::date, interval 1 day) t(d), locations l, items i "
        "where hash(l.location_id, i.sku, d) % 1000000 < ?",
        [FIRST_DAY, FIRST_DAY + dt.timedelta(days=n_files), int(keep * 1_000_000)],
    )
    con.execute(
        "create table files as "
        "select business_date as file_date, business_date, location_id, "
        "  case when hash(sku, location_id, business_date, 'x') % 1000000 < ? "
        "  then 'X' || sku else sku end as sku, units_sold "
        "from sales "
        "union all "
        "select business_date + 1, business_date, location_id, sku, units_sold + 1 from sales "
        "where hash(business_date, sku, location_id, 'c') % 1000000 < ? "
        "and business_date + 1 < ?::date",
        [int(UNKNOWN_SKU_SHARE * 1_000_000), int(CORRECTED_SHARE * 1_000_000),
         FIRST_DAY + dt.timedelta(days=n_files)],
    )
    staging = landing / "_partitions"
    con.execute(
        f"copy (select file_date, business_date, location_id, sku, units_sold, "
        f"round(units_sold * 4.99, 2) as net_sales_amount from files) to '{staging}' "
        f"(format {fmt}, partition_by (file_date), write_partition_columns false"
        + (", header true" if fmt == "csv" else "")
        + ")"
    )
    for folder in staging.iterdir():
        file_date = dt.date.fromisoformat(folder.name.split("=")[1])
        (data,) = folder.iterdir()
        stamp = f"{file_date + dt.timedelta(days=1):%Y%m%d}T010000Z"
        data.rename(landing / "pos" / "daily_sales" / f"daily_sales_{stamp}.{fmt}")
    shutil.rmtree(staging)
    ((rows,),) = con.execute("select count(*) from files").fetchall()
    return rows


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS


class TimedConnection:
    """The DuckDB connection with every `execute` timed, and the peak RSS while it ran
    (a result's fetch is not included)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.statements: list[tuple[float, float, float, str]] = []  # (s, CPU s, peak MB, SQL)
        self.peak_mb = 0.0

    def __getattr__(self, name: str):
        return getattr(self._con, name)

    def execute(self, query: str, *args, **kwargs):
        self.peak_mb = max(self.peak_mb, peak_rss_mb())
        reset_peak_rss()
        started, cpu_started = time.perf_counter(), process_cpu()
        try:
            return self._con.execute(query, *args, **kwargs)
        finally:
            seconds, cpu, peak = time.perf_counter() - started, process_cpu() - cpu_started, peak_rss_mb()
            self.peak_mb = max(self.peak_mb, peak)
            self.statements.append((seconds, cpu, peak, " ".join(query.split())[:80]))


def worker(landing: Path, warehouse: Path, n_files: int) -> None:
    """One measurement (in a child process): prints its figures as JSON on the last line."""
    from soe_pipeline.contracts import get_contract
    from soe_pipeline.landing import load_extract
    from soe_pipeline.quality.gate import suite_validator

    as_of = FIRST_DAY + dt.timedelta(days=n_files)
    warehouse.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    for extract in ("items", "locations"):
        contract = get_contract("erp", extract)
        load_extract(con, contract, landing, validate=suite_validator(contract, as_of=as_of))
    process_peak_before = peak_rss_mb()
    reset_peak_rss()
    rss_before = peak_rss_mb()
    timed = TimedConnection(con)
    pos = get_contract("pos", "daily_sales")
    started, cpu_started = time.perf_counter(), process_cpu()
    report = load_extract(timed, pos, landing, validate=suite_validator(pos, as_of=as_of))
    wall, cpu = time.perf_counter() - started, process_cpu() - cpu_started
    load_peak = max(timed.peak_mb, peak_rss_mb())
    con.close()
    statements = sorted(timed.statements, reverse=True)[:8]
    print(json.dumps({
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(max(load_peak, process_peak_before)),
        "load_peak_rss_mb": round(load_peak),
        "rss_before_load_mb": round(rss_before),
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
        "files_loaded": len(report.files_loaded),
        "statements": [[round(s, 2), round(cpu, 2), round(peak), text] for s, cpu, peak, text in statements],
    }))
    warehouse.unlink(missing_ok=True)


def measure(code: Path, landing: Path, warehouse: Path, n_files: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "GX_ANALYTICS_ENABLED": "false"}
    args = [sys.executable, __file__, "--worker", "--landing", str(landing),
            "--warehouse", str(warehouse), "--files", str(n_files)]
    done = subprocess.run(args, env=env, cwd=code, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"worker failed ({code}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_revision(revision: str, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def show(label: str, result: dict) -> None:
    print(f"\n{label}: {result['wall_s']:.1f} s ({result['cpu_s']:.1f} s CPU), peak RSS {result['peak_rss_mb']:,} MB "
          f"(during the load {result['load_peak_rss_mb']:,} MB, {result['rss_before_load_mb']:,} before), "
          f"{result['rows_read']:,} rows read, {result['rows_loaded']:,} loaded, "
          f"{result['rows_rejected']:,} rejected, {result['files_loaded']} files")
    print("  slowest statements (wall, CPU, peak RSS while it ran):")
    for seconds, cpu, peak, text in result["statements"]:
        print(f"  {seconds:6.2f} s {cpu:6.2f} s {peak:7,} MB  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=365)
    parser.add_argument("--rows-per-file", type=int, default=40_000)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--baseline", help="git revision to compare with, e.g. HEAD~1")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "ingest")
    parser.add_argument("--keep", action="store_true", help="keep the generated landing folder")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--landing", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.landing, args.warehouse, args.files)
        return

    landing = args.out / f"landing_{args.format}_{args.files}x{args.rows_per_file}"
    warehouse = args.out / "warehouse.duckdb"
    if not (landing / "pos" / "daily_sales").is_dir():
        started = time.perf_counter()
        rows = generate(landing, args.files, args.rows_per_file, args.format)
        print(f"generated {rows:,} POS rows in {args.files} {args.format} files "
              f"in {time.perf_counter() - started:.1f} s ({landing})")
    variants = {"working tree": REPO}
    if args.baseline:
        variants = {args.baseline: export_revision(args.baseline, args.out / "baseline_code"), **variants}
    results: dict[str, list[dict]] = {label: [] for label in variants}
    for _ in range(args.repeat):
        for label, code in variants.items():
            result = measure(code, landing, warehouse, args.files)
            results[label].append(result)
            show(label, result)
    if args.baseline:
        before, after = (min(results[label], key=lambda r: r["wall_s"]) for label in variants)
        print(f"\nbest of {args.repeat}: {args.baseline} -> working tree: "
              f"wall {before['wall_s']:.1f} s -> {after['wall_s']:.1f} s "
              f"({before['wall_s'] / after['wall_s']:.2f}x faster), "
              f"CPU {before['cpu_s']:.1f} s -> {after['cpu_s']:.1f} s "
              f"({before['cpu_s'] / after['cpu_s']:.2f}x less), "
              f"peak RSS during the load {before['load_peak_rss_mb']:,} MB -> "
              f"{after['load_peak_rss_mb']:,} MB ({before['load_peak_rss_mb'] / after['load_peak_rss_mb']:.2f}x less)")
    if not args.keep:
        shutil.rmtree(landing)
        if args.baseline:
            shutil.rmtree(args.out / "baseline_code")


if __name__ == "__main__":
    main()
