#!/usr/bin/env python
"""Demand-sensing benchmark: speed and accuracy of `soe_pipeline.sensing.sense` against
statsmodels fitted series by series, the committed plan and seasonal naive.

    python benchmarks/sensing_benchmark.py [--sizes 1000,10000,100000] [--loop-sample 200]
                                           [--seed N]

Synthetic data (seeded numpy): 8 product families x 3 regions, each with its own annual
season and trend; SKU-location levels log-normal, ~12 % intermittent (rate < 1/wk), ~8 %
launched during the history; negative-binomial noise; 104 weeks of history + 4 holdout
weeks. ~2 % of the series shift (x2 or x0.4) over the last 6 history weeks and stay shifted
through the holdout. The plan is the true expected demand without the shift, for the last 8
history weeks and the 4 holdout weeks: right for stable series, wrong after a shift.

Every size runs in its own child process so its peak RSS is its own. Accuracy is WAPE over
the 4 holdout weeks, pooled over the series of a slice. The statsmodels loop runs on a
random sample of `--loop-sample` series; its total is extrapolated to all series.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soe_pipeline.sensing import (
    seasonal_naive,
    sense,
    statsmodels_loop_forecast,
    wape,
)

WEEK0 = dt.date(2025, 11, 10)  # a Monday
HISTORY_WEEKS, HOLDOUT_WEEKS, PLAN_HISTORY_WEEKS = 104, 4, 8
SHIFT_WEEKS = 6
N_FAMILIES, N_REGIONS = 8, 3
NB_DISPERSION = 8.0  # negative-binomial size: variance = mu + mu^2 / 8
TARGET_SECONDS_100K, TARGET_SPEEDUP = 120.0, 30.0


def simulate(n_series: int, seed: int) -> dict:
    """Synthetic actuals, series, plan and the holdout truth (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_weeks = HISTORY_WEEKS + HOLDOUT_WEEKS
    t = np.arange(n_weeks)
    n_groups = N_FAMILIES * N_REGIONS
    amplitude = rng.uniform(0.1, 0.45, n_groups)
    phase = rng.uniform(0, 2 * np.pi, (n_groups, 2))
    trend = rng.uniform(-0.08, 0.15, n_groups)  # per year
    season = (
        1
        + amplitude[:, None] * np.sin(2 * np.pi * t / 52 + phase[:, :1])
        + 0.3 * amplitude[:, None] * np.sin(4 * np.pi * t / 52 + phase[:, 1:])
    )
    group_curve = season * (1 + trend[:, None] * t / 52)

    group = rng.integers(0, n_groups, n_series)
    level = rng.lognormal(np.log(15), 1.0, n_series)
    intermittent = rng.random(n_series) < 0.12
    level[intermittent] = rng.uniform(0.1, 0.8, intermittent.sum())
    launch = np.where(rng.random(n_series) < 0.08, rng.integers(10, 90, n_series), 0)
    expected = level[:, None] * group_curve[group] * (t[None, :] >= launch[:, None])

    shift = np.ones(n_series)
    shifted = rng.random(n_series) < 0.02
    shift[shifted] = np.where(rng.random(shifted.sum()) < 0.5, 2.0, 0.4)
    shift_from = HISTORY_WEEKS - SHIFT_WEEKS
    true_mean = expected * np.where(t[None, :] >= shift_from, shift[:, None], 1.0)
    p = NB_DISPERSION / (NB_DISPERSION + true_mean)
    units = rng.negative_binomial(NB_DISPERSION, p).astype(float)

    sku = np.array([f"S{i:07d}" for i in range(n_series)], dtype=object)
    location = np.array([f"L{i % 40:03d}" for i in range(n_series)], dtype=object)
    week_start = pd.to_datetime(WEEK0) + pd.to_timedelta(7 * (t - HISTORY_WEEKS), unit="D")

    history = units[:, :HISTORY_WEEKS]
    row, col = np.nonzero(history)  # extracts leave out zero weeks
    actuals = pd.DataFrame(
        {
            "sku": sku[row],
            "location_id": location[row],
            "week_start": week_start[col],
            "units": history[row, col],
        }
    )
    plan_weeks = np.arange(HISTORY_WEEKS - PLAN_HISTORY_WEEKS, n_weeks)
    plan = pd.DataFrame(
        {
            "sku": np.repeat(sku, len(plan_weeks)),
            "location_id": np.repeat(location, len(plan_weeks)),
            "week_start": np.tile(week_start[plan_weeks], n_series),
            "plan_units": np.round(expected[:, plan_weeks], 2).ravel(),
        }
    )
    series = pd.DataFrame(
        {
            "sku": sku,
            "location_id": location,
            "product_family": [f"FAM{g // N_REGIONS + 1}" for g in group],
            "region": [f"R{g % N_REGIONS + 1}" for g in group],
        }
    )
    history_matrix = np.where(t[None, :HISTORY_WEEKS] >= launch[:, None], history, np.nan)
    return {
        "actuals": actuals,
        "series": series,
        "plan": plan,
        "history_matrix": history_matrix,
        "holdout": units[:, HISTORY_WEEKS:],
        "plan_holdout": np.round(expected[:, HISTORY_WEEKS:], 2),
        "shifted": shifted,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_size(n_series: int, loop_sample: int, seed: int) -> dict:
    """One size, in this process: time `sense`, the loop on a sample, and accuracies."""
    started = time.perf_counter()
    data = simulate(n_series, seed)
    generate_seconds = time.perf_counter() - started
    rss_before = peak_rss_mb()

    started = time.perf_counter()
    result = sense(data["actuals"], data["series"], data["plan"], WEEK0)
    sense_seconds = time.perf_counter() - started
    rss_after = peak_rss_mb()

    # sense sorts by (sku, location_id); the synthetic keys are generated in that order.
    forecast = result.forecast
    assert (forecast["sku"].to_numpy()[::HOLDOUT_WEEKS] == data["series"]["sku"].to_numpy()).all()
    sensed = forecast["sensed_units"].to_numpy().reshape(n_series, HOLDOUT_WEEKS)
    model = forecast["model_units"].to_numpy().reshape(n_series, HOLDOUT_WEEKS)
    naive = seasonal_naive(data["history_matrix"], HOLDOUT_WEEKS)

    rng = np.random.default_rng(seed + 1)
    sample = np.sort(rng.choice(n_series, size=min(loop_sample, n_series), replace=False))
    started = time.perf_counter()
    loop = statsmodels_loop_forecast(data["history_matrix"][sample], HOLDOUT_WEEKS)
    loop_seconds = time.perf_counter() - started
    loop_per_series = loop_seconds / max(len(sample), 1)

    truth, shifted = data["holdout"], data["shifted"]
    forecasts = {
        "sensed": sensed,
        "model": model,
        "plan": data["plan_holdout"],
        "naive": naive,
    }

    def accuracy(rows: np.ndarray, with_loop: bool) -> dict:
        slices = {
            "all": np.ones(len(rows), bool),
            "stable": ~shifted[rows],
            "shifted": shifted[rows],
        }
        table = {}
        for name, mask in slices.items():
            chosen = rows[mask]
            entry = {"n": len(chosen)}
            for label, values in forecasts.items():
                entry[label] = wape(truth[chosen], values[chosen])
            if with_loop:
                entry["loop"] = wape(truth[chosen], loop[mask])
            table[name] = entry
        return table

    methods = result.series["method"].value_counts().to_dict()
    gated = int((result.series["gate_weight"] > 0).sum())
    return {
        "n_series": n_series,
        "generate_seconds": generate_seconds,
        "sense_seconds": sense_seconds,
        "per_series_ms": 1000 * sense_seconds / n_series,
        "rss_before_mb": rss_before,
        "peak_rss_mb": rss_after,
        "loop_sample": len(sample),
        "loop_per_series_ms": 1000 * loop_per_series,
        "loop_total_seconds": loop_per_series * n_series,
        "speedup": loop_per_series * n_series / sense_seconds,
        "accuracy_sample": accuracy(sample, with_loop=True),
        "accuracy_all": accuracy(np.arange(n_series), with_loop=False),
        "methods": methods,
        "gated_series": gated,
        "group_models": result.groups["model"].value_counts().to_dict(),
    }


def print_report(results: list[dict]) -> None:
    print(
        "\nSpeed (sense = the whole engine on all series; RSS before = after generating the "
        "inputs; loop = statsmodels per series, extrapolated)"
    )
    print(
        f"{'series':>8} {'sense s':>8} {'ms/series':>9} {'RSS MB before/peak':>18} "
        f"{'loop ms/series':>14} {'loop total s':>12} {'speed-up':>8}"
    )
    for r in results:
        print(
            f"{r['n_series']:>8,} {r['sense_seconds']:>8.1f} {r['per_series_ms']:>9.3f} "
            f"{r['rss_before_mb']:>8,.0f} / {r['peak_rss_mb']:>7,.0f} {r['loop_per_series_ms']:>14.1f} "
            f"{r['loop_total_seconds']:>12,.0f} {r['speedup']:>7.0f}x"
        )
    print("\nHoldout WAPE (4 weeks; lower is better)")
    columns = ["sensed", "model", "loop", "plan", "naive"]
    print(
        f"{'series':>8} {'scope':<7} {'slice':<8} {'n':>7} " + " ".join(f"{c:>7}" for c in columns)
    )
    for r in results:
        for scope, key in (("sample", "accuracy_sample"), ("all", "accuracy_all")):
            for slice_name, entry in r[key].items():
                if entry["n"] == 0:
                    continue
                cells = " ".join(
                    f"{entry[c]:>7.3f}" if c in entry else f"{'-':>7}" for c in columns
                )
                print(f"{r['n_series']:>8,} {scope:<7} {slice_name:<8} {entry['n']:>7,} {cells}")
    print("\nTargets")
    for r in results:
        sample = r["accuracy_sample"]["all"]
        checks = [
            f"speed-up {r['speedup']:.0f}x {'>=' if r['speedup'] >= TARGET_SPEEDUP else '<'} "
            f"{TARGET_SPEEDUP:.0f}x",
            f"sensed WAPE {sample['sensed']:.3f} {'<=' if sample['sensed'] <= sample['loop'] else '>'}"
            f" loop {sample['loop']:.3f} (sample)",
        ]
        if r["n_series"] >= 100_000:
            ok = r["sense_seconds"] < TARGET_SECONDS_100K
            checks.insert(0, f"{r['sense_seconds']:.0f} s {'<' if ok else '>='} 120 s")
        print(f"{r['n_series']:>8,}: " + "; ".join(checks))
    last = results[-1]
    print(
        f"\nAt {last['n_series']:,} series: methods {last['methods']}; "
        f"{last['gated_series']:,} series moved off the plan (gate > 0); "
        f"family models {last['group_models']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--loop-sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()

    if args.one_size:
        print(json.dumps(run_size(args.one_size, args.loop_sample, args.seed)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        command = [
            sys.executable,
            __file__,
            "--one-size",
            str(size),
            "--loop-sample",
            str(args.loop_sample),
            "--seed",
            str(args.seed),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            sys.exit(f"size {size} failed:\n{completed.stderr}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        print(
            f"{size:>8,} series: sense {result['sense_seconds']:.1f} s "
            f"(generation {result['generate_seconds']:.1f} s)",
            flush=True,
        )
        results.append(result)
    print_report(results)


if __name__ == "__main__":
    main()
