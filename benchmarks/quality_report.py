"""Exception recall / precision and demand-sensing accuracy over several generated scenarios.

    .venv/bin/python benchmarks/quality_report.py                 # seeds 1-5, ~5 min
    .venv/bin/python benchmarks/quality_report.py --seeds 1,2 --n-skus 40 --keep /tmp/quality

For each seed: generate a scenario (demo preset, smaller network), run the weekly cycle
through Dagster exactly as `soe run` does, and score it with soe_pipeline.simulate.scoring:
recall of the planted disruptions and of every ground-truth row, precision of what was
raised, the WAPE of the sensed forecast, the plan and seasonal-naive over the sensing
weeks against what actually sold afterwards (the generator's future_demand.csv), and what
the recommended actions look like to a planner: transfers per covered shortage, median
transfer size, share of transfers arriving in their need week, escalations per cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

from soe_pipeline.defs.transform.project import prepare_manifest  # noqa: E402
from soe_pipeline.runner import run_weekly_cycle  # noqa: E402
from soe_pipeline.simulate import generate  # noqa: E402
from soe_pipeline.simulate.scoring import (  # noqa: E402
    raised_exceptions,
    read_truth,
    score_exceptions,
    score_sensing,
)

AS_OF = dt.date(2026, 3, 11)


def action_figures(warehouse: Path) -> dict:
    """What a planner would be sent: one cycle's transfers and escalations."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        transfers, receivers, median_units, just_in_time = con.execute(
            "select count(*), count(distinct (sku, to_location_id)), median(units), "
            "count(*) filter (arrival_week_index = need_week_index) "
            "from marts.recommended_actions where action_type = 'transfer'").fetchone()
        (escalations,) = con.execute(
            "select count(*) from marts.exceptions where escalate_to_sop").fetchone()
    return {
        "transfers": transfers,
        "covered_shortages": receivers,  # SKU-locations receiving a transfer
        "transfers_per_covered_shortage": transfers / receivers if receivers else 0.0,
        "median_transfer_units": float(median_units or 0.0),
        "arriving_in_need_week": just_in_time / transfers if transfers else 1.0,
        "escalations": escalations,
    }


def run_seed(seed: int, work: Path, n_skus: int, history_weeks: int) -> tuple[dict, pd.DataFrame]:
    started = time.perf_counter()
    generated = generate(
        work / f"seed{seed}", scale="demo", seed=seed, as_of=AS_OF, n_skus=n_skus,
        history_weeks=history_weeks,
    )
    warehouse = work / f"seed{seed}" / "warehouse.duckdb"
    # Dagster's and dbt's own output goes to a log per seed; the terminal gets the scores.
    with (work / f"seed{seed}" / "run.log").open("w") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        outcome = run_weekly_cycle(
            landing=generated.landing_dir, warehouse=warehouse,
            exports=work / f"seed{seed}" / "exports", as_of=AS_OF, progress=False,
        )
    if not outcome.success:
        raise SystemExit(f"seed {seed}: the run failed: {outcome.errors}")
    score = score_exceptions(read_truth(generated.ground_truth_path), raised_exceptions(warehouse))
    sensing = score_sensing(warehouse, generated.future_demand_path, generated.disruptions_path, AS_OF)
    sensing.insert(0, "seed", seed)
    row = {
        "seed": seed,
        "sku_locations": generated.n_sku_locations,
        "planted": score.planted,
        "planted_recall": score.planted_recall,
        "truth_rows": score.truth_rows,
        "recall": score.recall,
        "raised": score.raised,
        "precision": score.precision,
        **action_figures(warehouse),
        "seconds": round(time.perf_counter() - started, 1),
    }
    for label, frame in (("missing", score.missing), ("unexplained", score.unexplained)):
        if len(frame):
            print(f"seed {seed}: {label}:\n{frame.to_string(index=False)}")
    return row, sensing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--n-skus", type=int, default=60)
    parser.add_argument("--history-weeks", type=int, default=26)
    parser.add_argument("--keep", type=Path, help="keep scenarios and warehouses in this folder")
    args = parser.parse_args(argv)
    prepare_manifest()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, sensing = [], []
    with contextlib.ExitStack() as stack:
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soe-quality-")))
        for seed in seeds:
            row, frame = run_seed(seed, work, args.n_skus, args.history_weeks)
            print(f"seed {seed}: planted recall {row['planted_recall']:.1%}, "
                  f"precision {row['precision']:.1%} ({row['seconds']} s)", flush=True)
            rows.append(row)
            sensing.append(frame)
    table = pd.DataFrame(rows)
    total = {
        "seed": "all",
        "sku_locations": table["sku_locations"].sum(),
        "planted": table["planted"].sum(),
        "planted_recall": (table["planted_recall"] * table["planted"]).sum() / table["planted"].sum(),
        "truth_rows": table["truth_rows"].sum(),
        "recall": (table["recall"] * table["truth_rows"]).sum() / table["truth_rows"].sum(),
        "raised": table["raised"].sum(),
        "precision": (table["precision"] * table["raised"]).sum() / table["raised"].sum(),
        "transfers": table["transfers"].sum(),
        "covered_shortages": table["covered_shortages"].sum(),
        "transfers_per_covered_shortage": table["transfers"].sum()
        / max(table["covered_shortages"].sum(), 1),
        "median_transfer_units": table["median_transfer_units"].median(),
        "arriving_in_need_week": (table["arriving_in_need_week"] * table["transfers"]).sum()
        / max(table["transfers"].sum(), 1),
        "escalations": table["escalations"].mean(),  # per cycle
        "seconds": table["seconds"].sum(),
    }
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    pd.set_option("display.width", 160)
    print("\nExceptions vs ground truth, and the actions of each cycle (the 'all' row: escalations "
          "per cycle, the median of the seeds' median transfer sizes)")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    accuracy = pd.concat(sensing, ignore_index=True)
    print("\nDemand sensing: WAPE over the sensing weeks against what sold afterwards")
    print(accuracy.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\n(_vs_mean: against the demand process's noise-free mean instead of one draw)")
    summary = accuracy.groupby("group")[
        [c for c in accuracy.columns if c.endswith("_wape") or c.endswith("_vs_mean")]
    ].mean()
    print("\nMean over seeds")
    print(summary.to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
