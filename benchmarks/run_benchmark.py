#!/usr/bin/env python
"""The soe-pipeline benchmark: generation, the initial load, a steady-state weekly cycle and
the hand-written DuckDB floor, per stage (wall time, peak RSS, rows in / out).

    python benchmarks/run_benchmark.py --tier demo|medium|large [--out DIR] [--seed N] [--keep]
    python benchmarks/run_benchmark.py --smoke            # tiny demo-like tier, ~1 minute

See benchmarks/README.md for what every figure means. Results go to
<out>/results_<tier>.json; with results of a smaller tier in the same folder, the scaling
between them is printed too.

The data: the generator's history is not identical between two as_of dates for the same seed
(the demand model and the running order / shipment numbers depend on as_of; checked and
recorded under `history_check`), so the steady-state week cannot be cut from a second,
later generation. Instead:

- generation B: as_of = A + 7 with history_weeks + 1, so its event history starts on the
  same day as the tier's and runs one week longer; all event files come from it.
- generation A: the tier's scenario at as_of = A; only its snapshot files are used (the
  snapshots of B are extracted on A + 7 and cannot serve an as_of A run).
- initial load (as_of A): B's event files of the business days before A + A's snapshots.
- steady state (as_of A + 7): adds B's event files of the 7 days A .. A + 6 and B's snapshots.

Every measured phase runs in its own child process (benchmarks/_workers.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
WORKERS = BENCH / "_workers.py"
sys.path.insert(0, str(ROOT))

TIERS = ("demo", "medium", "large")
SMOKE_OVERRIDES = {"n_skus": 20, "history_weeks": 4}
DEFAULT_AS_OF = dt.date(2025, 11, 12)  # a Wednesday; A + 7 is one too
STAGES = ("ingest", "validate", "dbt", "sensing", "exceptions", "publish")
# Stages measured inside another one (not added to the total).
PART_OF = {"validate": "ingest", "sensing": "dbt", "exceptions": "dbt"}
CYCLES = ("initial", "steady")
CYCLE_TITLES = {"initial": "initial load", "steady": "steady-state week"}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("dagster", "dagster-dbt", "dbt-core", "dbt-duckdb", "duckdb",
                 "great-expectations", "pandas", "pyarrow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def parse_overrides(pairs: list[str]) -> dict:
    import yaml

    overrides = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not name or not _:
            raise SystemExit(f"--set expects NAME=VALUE, not {pair!r}")
        overrides[name.strip()] = yaml.safe_load(value)
    return overrides


# --- child processes --------------------------------------------------------------------------


SNAPSHOT_SKIP = {".venv", ".git", ".soe", "__pycache__", ".pytest_cache", ".hypothesis",
                 "target", "logs", "uncommitted", "out"}


def snapshot_code(destination: Path) -> dict:
    """Copy the working tree (code, dbt project, contracts) so that edits made while the
    benchmark runs do not reach it; returns the git revision it was taken from."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SNAPSHOT_SKIP or n.endswith((".duckdb", ".wal"))}
        if Path(folder).resolve() == BENCH:  # benchmark results and data
            skipped |= {n for n in names if n != "floor.sql" and not n.endswith(".py")}
        return skipped

    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(ROOT, destination, ignore=ignore)

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    return {"path": str(destination), "git_head": git("rev-parse", "--short", "HEAD"),
            "uncommitted_paths": len(changed)}


class Children:
    def __init__(self, work: Path, code: Path | None):
        self.work = work
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            **({"SOE_BENCH_CODE": str(code)} if code else {}),
            "GX_ANALYTICS_ENABLED": "false",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }

    def run(self, kind: str, name: str, spec: dict) -> dict:
        spec = {**spec, "loadavg_before": loadavg()}
        spec_path = self.work / "logs" / f"{name}.spec.json"
        result_path = self.work / "logs" / f"{name}.result.json"
        log_path = self.work / "logs" / f"{name}.log"
        spec_path.write_text(json.dumps(spec, indent=2, default=str) + "\n")
        result_path.unlink(missing_ok=True)
        started = time.time()
        with log_path.open("w") as handle:
            process = subprocess.run(
                [sys.executable, str(WORKERS), kind, str(spec_path), str(result_path)],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.env.get("SOE_BENCH_CODE", ROOT),
            )
        if process.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-30:]
            print("\n".join(tail), file=sys.stderr)
            raise SystemExit(f"{name} failed (exit {process.returncode}); log: {log_path}")
        result = json.loads(result_path.read_text())
        result["process_wall_s"] = round(time.time() - started, 2)
        return result


# --- landing folders --------------------------------------------------------------------------


def _landing_files(landing: Path) -> dict[str, list[tuple[dt.datetime, Path]]]:
    """Contract name -> [(extracted_at, path)] of a generated landing folder."""
    from soe_pipeline.contracts import FILE_NAME, load_contracts

    found: dict[str, list[tuple[dt.datetime, Path]]] = {}
    for contract in load_contracts():
        folder = landing / contract.system / contract.extract
        entries = []
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            match = FILE_NAME.match(path.name)
            if match:
                entries.append((dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ"), path))
        found[contract.name] = entries
    return found


def history_check(gen_a: Path, gen_b: Path, samples: int = 3) -> dict:
    """Are the event files of days both generations cover byte-identical? (They are not.)"""
    from soe_pipeline.contracts import load_contracts

    report = {}
    for contract in load_contracts():
        if contract.kind != "event":
            continue
        folder_a = gen_a / "landing" / contract.system / contract.extract
        folder_b = gen_b / "landing" / contract.system / contract.extract
        common = sorted({p.name for p in folder_a.glob("*")} & {p.name for p in folder_b.glob("*")})
        step = max(1, len(common) // samples)
        picked = common[::step][:samples]
        identical = sum(
            filecmp.cmp(folder_a / name, folder_b / name, shallow=False) for name in picked
        )
        report[contract.name] = {"common_files": len(common), "compared": len(picked),
                                 "identical": identical}
    report["identical"] = all(
        v["identical"] == v["compared"] for v in report.values() if isinstance(v, dict)
    )
    return report


def _link(source: Path, landing: Path) -> Path:
    relative = source.relative_to(source.parents[2])  # <system>/<extract>/<file>
    target = landing / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def plan_landing(gen_a: Path, gen_b: Path, as_of: dt.date) -> dict[str, dict[str, list[Path]]]:
    """Files of each cycle: {"initial"|"steady": {contract: [source paths]}}."""
    from soe_pipeline.contracts import load_contracts

    kinds = {c.name: c.kind for c in load_contracts()}
    files_a, files_b = _landing_files(gen_a / "landing"), _landing_files(gen_b / "landing")
    steady_as_of = as_of + dt.timedelta(days=7)
    plan: dict[str, dict[str, list[Path]]] = {"initial": {}, "steady": {}}
    for name, kind in kinds.items():
        if kind == "snapshot":
            plan["initial"][name] = [p for _, p in files_a[name]]
            plan["steady"][name] = [p for _, p in files_b[name]]
            continue
        plan["initial"][name] = [p for at, p in files_b[name] if at.date() <= as_of]
        plan["steady"][name] = [p for at, p in files_b[name] if as_of < at.date() <= steady_as_of]
        late = [p for at, p in files_b[name] if at.date() > steady_as_of]
        if late:
            raise SystemExit(f"unexpected files after {steady_as_of}: {late[:3]}")
    return plan


# --- results ----------------------------------------------------------------------------------


def merge_floor(cycle: dict, floor: dict) -> None:
    """Put each floor phase beside its pipeline stage, with the ratio pipeline / floor."""
    stages = cycle["stages"]
    for name in STAGES:
        phase = floor["phases"].get(name)
        if not phase:
            continue
        stage = stages[name]
        stage["floor_s"] = phase["wall_s"]
        stage["floor_peak_rss_mb"] = phase["peak_rss_mb"]
        stage["floor_rows_in"] = phase["rows_in"]
        stage["floor_rows_out"] = phase["rows_out"]
        stage["ratio"] = _ratio(stage["wall_s"], phase["wall_s"])
    # The pipeline's ingest stage includes its validation (row rules while staging, the GX
    # gate): its floor is the floor's load plus the floor's contract rules.
    load, rules = floor["phases"].get("ingest"), floor["phases"].get("validate")
    if load and rules:
        ingest = stages["ingest"]
        ingest["floor_load_s"] = load["wall_s"]
        ingest["floor_s"] = round(load["wall_s"] + rules["wall_s"], 3)
        ingest["floor_peak_rss_mb"] = max(load["peak_rss_mb"], rules["peak_rss_mb"])
        ingest["ratio"] = _ratio(ingest["wall_s"], ingest["floor_s"])
        ingest["ratio_load_floor_only"] = _ratio(ingest["wall_s"], load["wall_s"])
    # Two ratios that leave out what the floor cannot share, beside the headline ratio:
    # dbt against the floor's projection core alone (the floor's definition before it
    # computed the weekly actuals too), validate without the time validations waited for
    # Great Expectations' import in its worker (4-6 s when nothing hides it, larger than the
    # whole validate floor; 0 when the worker imported it while the definitions loaded).
    parts = floor["phases"].get("dbt", {}).get("parts_s") or {}
    if "core" in parts:
        stages["dbt"]["floor_core_s"] = parts["core"]
        stages["dbt"]["ratio_core_only"] = _ratio(stages["dbt"]["wall_s"], parts["core"])
    waited_s = stages["validate"]["detail"].get("gx_import_waited_s")
    if waited_s is not None and "validate" in floor["phases"]:
        stages["validate"]["ratio_without_gx_import"] = _ratio(
            stages["validate"]["wall_s"] - waited_s, floor["phases"]["validate"]["wall_s"]
        )
    # Publishing's floor writes the same files (Parquet and the serving DuckDB file); the
    # ratio against its Parquet copies alone is printed beside it.
    parquet_only = floor["phases"].get("publish", {}).get("parquet_only_s")
    if parquet_only:
        stages["publish"]["ratio_parquet_only"] = _ratio(stages["publish"]["wall_s"], parquet_only)
    floor_total = sum(floor["phases"][n]["wall_s"] for n in STAGES if n in floor["phases"])
    # Validation runs inside ingestion: the total counts the ingest floor and the validate
    # floor once each, as the pipeline's total counts ingest (which includes validation).
    stages["total"]["floor_s"] = round(floor_total, 3)
    stages["total"]["floor_peak_rss_mb"] = max(p["peak_rss_mb"] for p in floor["phases"].values())
    stages["total"]["ratio"] = _ratio(stages["total"]["wall_s"], floor_total)
    cycle["floor"] = floor


def _ratio(pipeline: float, floor: float) -> float | None:
    if not floor or floor <= 0:
        return None
    return round(pipeline / max(floor, 0.001), 1)


def _fmt_n(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _fmt_s(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _fmt_ratio(value) -> str:
    return "-" if value is None else f"{value:,.1f}x"


def print_cycle(name: str, cycle: dict) -> None:
    stages = cycle["stages"]
    print()
    print(f"{CYCLE_TITLES[name]} (as_of {cycle['as_of']}), run {cycle['run_id'][:8]}: "
          f"{cycle['wall_s']:.1f} s in Dagster, + {cycle['import_s']:.1f} s imports, "
          f"orchestration between steps {cycle['orchestration_overhead_s']:.1f} s")
    header = (f"  {'stage':<12}{'wall s':>9}{'peak RSS MB':>13}{'rows in':>14}{'rows out':>14}"
              f"{'floor s':>10}{'floor MB':>10}{'pipeline/floor':>16}")
    print(header)
    for stage in (*STAGES, "other", "total"):
        if stage not in stages:
            continue
        s = stages[stage]
        label = f"  {stage}*" if stage in PART_OF else stage
        print(f"  {label:<12}{_fmt_s(s['wall_s']):>9}{_fmt_n(s['peak_rss_mb']):>13}"
              f"{_fmt_n(s.get('rows_in')):>14}{_fmt_n(s.get('rows_out')):>14}"
              f"{_fmt_s(s.get('floor_s')):>10}{_fmt_n(s.get('floor_peak_rss_mb')):>10}"
              f"{_fmt_ratio(s.get('ratio')):>16}")
    print("  * inside the stage above, included in it: validate = the Great Expectations gate in "
          "ingest; sensing (int_demand_sensing) and exceptions (exception and action models) = "
          "seconds of those dbt models")
    ingest = stages["ingest"]["detail"]
    systems = ", ".join(
        f"{k} {v['wall_s']:.1f} s ({v['rows_in']:,} rows, checks {v['checks_s']:.1f} s)"
        for k, v in sorted(ingest["by_system"].items())
    )
    print(f"  ingest by system: {systems}")
    validate = stages["validate"]["detail"]
    print(f"  validate: the gate {validate['gate_s']:.1f} s (sample, DuckDB->pandas, key check) "
          f"+ waiting for GX's verdicts {validate['waited_for_verdict_s']:.1f} s; Great "
          f"Expectations {validate['great_expectations_s']:.1f} s in its worker process, "
          f"beside the load (import {validate.get('gx_import_s', 0):.1f} s while the "
          f"definitions loaded, validations waited {validate.get('gx_import_waited_s', 0):.1f} s "
          f"for it); ingest without the gate {ingest['load_excluding_validate_s']:.1f} s; "
          f"validate / floor without the import wait "
          f"{_fmt_ratio(stages['validate'].get('ratio_without_gx_import'))}")
    if stages["ingest"].get("floor_load_s") is not None:
        print(f"  ingest floor: load {stages['ingest']['floor_load_s']:.2f} s + contract rules "
              f"{stages['ingest']['floor_s'] - stages['ingest']['floor_load_s']:.2f} s (the "
              f"validate floor: the pipeline's ingest includes its validation); ingest / the "
              f"load floor alone {_fmt_ratio(stages['ingest'].get('ratio_load_floor_only'))}")
    publish = stages["publish"].get("detail") or {}
    if publish.get("publish_tables_s") is not None:
        print(f"  publish: publish_tables {publish['publish_tables_s']:.2f} s of the step's "
              f"{stages['publish']['wall_s']:.2f} s; in it the serving DuckDB file "
              f"{publish.get('serving_db_s', 0):.2f} s in a worker thread, beside the Parquet "
              f"copies {publish['parquet_copies_s']:.2f} s and then the brief "
              f"{publish.get('brief_s', 0):.2f} s")
        print(f"  publish CPU: {publish.get('publish_cpu_s', 0):.2f} CPU-s in this process; the "
              f"machine was busy {publish.get('machine_busy_cpu_s', 0):.2f} CPU-s meanwhile "
              f"(all processes; {publish.get('machine_steal_s', 0):.2f} s stolen by the "
              f"hypervisor)")
    floor_publish = (cycle.get("floor") or {}).get("phases", {}).get("publish") or {}
    if floor_publish.get("parquet_only_s") is not None:
        print(f"  publish floor: the same files by hand, {floor_publish['wall_s']:.2f} s, "
              f"{floor_publish['cpu_s']:.2f} CPU-s, of which the Parquet copies "
              f"{floor_publish['parquet_only_s']:.2f} s, {floor_publish['parquet_only_cpu_s']:.2f} "
              f"CPU-s, and the marts in a DuckDB file (the serving file) the rest; publish / "
              f"the Parquet copies alone "
              f"{_fmt_ratio(stages['publish'].get('ratio_parquet_only'))}")
    dbt = stages["dbt"]["detail"]
    if dbt.get("dbt_elapsed_s") is not None:
        layers = ", ".join(f"{k} {v:.1f}" for k, v in dbt["thread_s_by_layer"].items())
        print(f"  dbt: `dbt build` {dbt['dbt_elapsed_s']:.1f} s, outside it (process start, "
              f"parse, events) {dbt.get('outside_dbt_s', 0):.1f} s; thread-seconds {layers}")
        top = ", ".join(f"{n['node']} {n['s']:.1f}" for n in dbt["top_nodes"][:5])
        print(f"  slowest dbt nodes (s): {top}")
    parts = cycle.get("floor", {}).get("phases", {}).get("dbt", {}).get("parts_s")
    if parts:
        print("  dbt floor by part (s): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
              + f"; dbt / the core part alone {_fmt_ratio(stages['dbt'].get('ratio_core_only'))}")
    agreement = cycle.get("floor", {}).get("agreement", {})
    if agreement:
        print(f"  floor vs marts: {agreement}")


def print_final(results: dict) -> None:
    cycles = results["cycles"]
    gen = results["generation"]
    print()
    print(f"== {results['label']}: {gen['n_sku_locations']:,} SKU-locations, "
          f"{results['history_weeks']} weeks of history, {gen['format']} ==")
    print(f"generate: {gen['wall_s']:.1f} s (tier at A {gen['a']['wall_s']:.1f} s, "
          f"{gen['a']['rows_total']:,} rows, {gen['a']['landing_mb']:,.0f} MB; "
          f"events generation at A+7 {gen['b']['wall_s']:.1f} s), "
          f"peak RSS {gen['peak_rss_mb']:,.0f} MB")
    header = (f"{'stage':<11}" + "".join(
        f"{CYCLE_TITLES[c] + ' s':>20}{'RSS MB':>9}{'vs floor':>10}" for c in CYCLES if c in cycles
    ))
    print(header)
    for stage in (*STAGES, "total"):
        row = f"{stage:<11}"
        for c in CYCLES:
            if c not in cycles:
                continue
            s = cycles[c]["stages"].get(stage, {})
            row += (f"{_fmt_s(s.get('wall_s')):>20}{_fmt_n(s.get('peak_rss_mb')):>9}"
                    f"{_fmt_ratio(s.get('ratio')):>10}")
        print(row)


def print_scaling(out: Path) -> list[dict]:
    """Per-stage growth between consecutive tiers with results in the same folder."""
    found = {}
    for tier in TIERS:
        path = out / f"results_{tier}.json"
        if path.exists():
            found[tier] = json.loads(path.read_text())
    pairs = [(a, b) for a, b in itertools.pairwise(TIERS) if a in found and b in found]
    scaling = []
    for small, big in pairs:
        s, b = found[small], found[big]
        size = b["generation"]["n_sku_locations"] / max(1, s["generation"]["n_sku_locations"])
        rows = (b["cycles"]["initial"]["stages"]["ingest"]["rows_in"]
                / max(1, s["cycles"]["initial"]["stages"]["ingest"]["rows_in"]))
        print()
        print(f"scaling {small} -> {big}: x{size:,.0f} SKU-locations, x{rows:,.1f} raw rows "
              f"in the initial load")
        print(f"  {'stage':<11}{'initial time':>14}{'initial RSS':>13}{'steady time':>13}"
              f"{'steady RSS':>12}")
        entry = {"from": small, "to": big, "sku_locations": round(size, 1),
                 "initial_rows": round(rows, 1), "stages": {}}
        gen = b["generation"]["wall_s"] / max(0.001, s["generation"]["wall_s"])
        print(f"  {'generate':<11}{'x' + format(gen, ',.1f'):>14}")
        for stage in (*STAGES, "total"):
            cells = {}
            if any(stage not in r["cycles"][c]["stages"] for r in (s, b) for c in CYCLES):
                continue
            for c in CYCLES:
                bs, ss = b["cycles"][c]["stages"][stage], s["cycles"][c]["stages"][stage]
                cells[f"{c}_time"] = round(bs["wall_s"] / max(0.001, ss["wall_s"]), 1)
                cells[f"{c}_rss"] = round(bs["peak_rss_mb"] / max(0.1, ss["peak_rss_mb"]), 1)
            entry["stages"][stage] = cells
            print(f"  {stage:<11}{'x' + format(cells['initial_time'], ',.1f'):>14}"
                  f"{'x' + format(cells['initial_rss'], ',.1f'):>13}"
                  f"{'x' + format(cells['steady_time'], ',.1f'):>13}"
                  f"{'x' + format(cells['steady_rss'], ',.1f'):>12}")
        scaling.append(entry)
    return scaling


# --- generation -------------------------------------------------------------------------------


def generate_both(children, args, scenario, overrides, gen_a, gen_b, as_of) -> tuple[dict, dict]:
    log("generating the tier at as_of A ...")
    a = children.run("generate", "generate_a", {
        "out": str(gen_a), "scale": args.tier, "seed": args.seed, "as_of": as_of.isoformat(),
        "overrides": overrides,
    })
    log(f"  {a['wall_s']:.1f} s, {a['rows_total']:,} rows in {a['files_total']:,} files, "
        f"{a['landing_mb']:,.0f} MB, peak RSS {a['peak_rss_mb']:,.0f} MB")
    log("generating A+7 with one more week of history (event files of both cycles) ...")
    b = children.run("generate", "generate_b", {
        "out": str(gen_b), "scale": args.tier, "seed": args.seed,
        "as_of": (as_of + dt.timedelta(days=7)).isoformat(),
        "overrides": {**overrides, "history_weeks": scenario.history_weeks + 1},
    })
    log(f"  {b['wall_s']:.1f} s, {b['rows_total']:,} rows")
    return a, b


def _previous_generation(work: Path, seed: int, as_of: dt.date, overrides: dict):
    """The generation results of an earlier --keep run with the same parameters, if any."""
    try:
        a = json.loads((work / "logs" / "generate_a.result.json").read_text())
        b = json.loads((work / "logs" / "generate_b.result.json").read_text())
        spec = json.loads((work / "logs" / "generate_a.spec.json").read_text())
    except (OSError, ValueError):
        return None
    same = (spec.get("seed") == seed and spec.get("as_of") == as_of.isoformat()
            and spec.get("overrides") == overrides)
    complete = all((work / g / "scenario.json").exists() for g in ("gen_a", "gen_b"))
    return (a, b) if same and complete else None


# --- main -------------------------------------------------------------------------------------


def report(out: Path) -> int:
    """Print the stored results and refresh the scaling stored in each tier's file."""
    found = [t for t in TIERS if (out / f"results_{t}.json").exists()]
    if not found:
        print(f"no results_<tier>.json in {out}", file=sys.stderr)
        return 1
    for tier in found:
        results = json.loads((out / f"results_{tier}.json").read_text())
        print_final(results)
    scaling = print_scaling(out)
    for tier in found:
        path = out / f"results_{tier}.json"
        results = json.loads(path.read_text())
        results["scaling"] = [s for s in scaling if tier in (s["from"], s["to"])]
        path.write_text(json.dumps(results, indent=2) + "\n")
    return 0



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", choices=TIERS, default="demo")
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=DEFAULT_AS_OF,
                        help="as_of A of the initial load; the steady-state week is A + 7")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated files, landing folder and warehouse")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny demo-like tier ({SMOKE_OVERRIDES}), results_smoke.json")
    parser.add_argument("--reuse-data", action="store_true",
                        help="reuse the generated files of a previous --keep run of the same "
                        "tier, seed and as_of (generation figures are taken from that run)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="run the working tree in place instead of a copy taken at start")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: print the stored results of every tier in --out "
                        "and the scaling between them")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="NAME=VALUE", help="generator override, e.g. n_skus=500")
    args = parser.parse_args(argv)

    if args.report:
        return report(args.out.resolve())

    from soe_pipeline.simulate.scenario import load_scenario

    overrides = {**(SMOKE_OVERRIDES if args.smoke else {}), **parse_overrides(args.overrides)}
    label = "smoke" if args.smoke else (args.tier if not overrides else f"{args.tier}-custom")
    scenario = load_scenario(args.tier, **overrides)
    as_of = args.as_of
    steady_as_of = as_of + dt.timedelta(days=7)
    out = args.out.resolve()
    work = out / label
    gen_a, gen_b = work / "gen_a", work / "gen_b"
    previous = _previous_generation(work, args.seed, as_of, overrides) if args.reuse_data else None
    if previous:
        for path in work.iterdir():
            if path.name not in ("gen_a", "gen_b", "logs"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    else:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    began = time.time()
    code = None if args.no_snapshot else snapshot_code(work / "code")
    children = Children(work, Path(code["path"]) if code else None)
    results: dict = {
        "tier": args.tier,
        "label": label,
        "seed": args.seed,
        "overrides": overrides,
        "history_weeks": scenario.history_weeks,
        "as_of_initial": as_of.isoformat(),
        "as_of_steady": steady_as_of.isoformat(),
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "loadavg_start": loadavg(),
        "code": code or {"path": str(ROOT), "snapshot": False},
    }
    log(f"{label}: {scenario.n_sku_locations:,} SKU-locations, {scenario.history_weeks} weeks, "
        f"as_of {as_of} then {steady_as_of}; work folder {work}")

    # (a) generation
    if previous:
        a, b = previous
        log(f"reusing the generated files of the previous run ({a['wall_s']:.1f} s + "
            f"{b['wall_s']:.1f} s to generate)")
    else:
        a, b = generate_both(children, args, scenario, overrides, gen_a, gen_b, as_of)
    results["generation"] = {
        "a": a, "b": b,
        "wall_s": round(a["wall_s"] + b["wall_s"], 2),
        "peak_rss_mb": max(a["peak_rss_mb"], b["peak_rss_mb"]),
        "n_sku_locations": a["n_sku_locations"],
        "format": a["format"],
    }
    results["history_check"] = history_check(gen_a, gen_b)
    log(f"history identical between as_of A and A+7 generations: "
        f"{results['history_check']['identical']} (so event files come from generation B)")
    plan = plan_landing(gen_a, gen_b, as_of)
    results["landing_files"] = {c: {k: len(v) for k, v in plan[c].items()} for c in CYCLES}

    landing = work / "landing"
    warehouse = work / "warehouse.duckdb"
    exports = work / "exports"
    floor_db = work / "floor_ingest.duckdb"
    results["cycles"] = {}
    for batch, (cycle, cycle_as_of) in enumerate((("initial", as_of), ("steady", steady_as_of))):
        linked = {name: [str(_link(p, landing)) for p in paths]
                  for name, paths in plan[cycle].items()}
        log(f"{CYCLE_TITLES[cycle]}: {sum(len(v) for v in linked.values()):,} new files, "
            f"running the weekly cycle for as_of {cycle_as_of} ...")
        result = children.run("cycle", f"cycle_{cycle}", {
            "landing": str(landing), "warehouse": str(warehouse), "exports": str(exports),
            "as_of": cycle_as_of.isoformat(),
        })
        log(f"  {'succeeded' if result['success'] else 'FAILED'} in {result['wall_s']:.1f} s")
        results["cycles"][cycle] = result
        if not result["success"]:
            for step in result["steps"]:
                print(f"  {step['step']:<40}{step['wall_s']:>10.1f} s{step['peak_rss_mb']:>10,.0f} MB")
            print("\n".join(result["errors"]), file=sys.stderr)
            (out / f"results_{label}.json").write_text(json.dumps(results, indent=2) + "\n")
            return 1
        log("  floor: DuckDB ingest, SQL validation, floor.sql, COPY to Parquet ...")
        floor = children.run("floor", f"floor_{cycle}", {
            "as_of": cycle_as_of.isoformat(), "batch": batch, "files": linked,
            "floor_db": str(floor_db), "warehouse": str(warehouse), "work": str(work / "floor"),
        })
        merge_floor(result, floor)
        print_cycle(cycle, result)

    results["total_wall_s"] = round(time.time() - began, 1)
    results["loadavg_end"] = loadavg()
    results_path = out / f"results_{label}.json"
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print_final(results)
    if label in TIERS:
        results["scaling"] = print_scaling(out)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep:
        for path in (gen_a, gen_b, landing, exports, work / "floor", work / "code"):
            shutil.rmtree(path, ignore_errors=True)
        for path in work.glob("*.duckdb*"):
            path.unlink(missing_ok=True)
    print()
    print(f"results: {results_path}  (logs and per-phase JSON: {work / 'logs'})")
    log(f"benchmark finished in {results['total_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
