#!/usr/bin/env python
"""Sensing panel (issue 25): the pipeline's sensed forecast against a panel of baselines, by
rolling-origin evaluation on real store x item sales.

    .venv/bin/python benchmarks/sensing_panel.py [--data ../shared/data/real] [--origins 8]
        [--spacing 4] [--lookback 26] [--cut WEEKS] [--speed N]

Data (../shared/data/real, see its README), each as a weekly store x item matrix:
- dunnhumby: weekly units by `week_start` as they are (a missing store-UPC-week is 0);
  product family = category, region = the store's state (for the engine's family shapes).
- M5 sample: daily units summed per ISO week (Monday start); a series' week is kept only
  when all 7 days are in the data (so its partial first week and 2015-01-01..04 are not);
  family = department, region = state.
A series starts at its first sale (`baselines.span_history`).

Evaluation: `--origins` forecast origins (default 8), the last ones, `--spacing` weeks
apart (default 4: the last origin's 4-week horizon ends with the data, and every one of the
last 32 weeks is forecast exactly once), horizon 4; `--cut N` ends the data N weeks early to
evaluate an earlier period. At every origin every series with a week of history before it
is scored over the 4 horizon weeks. The committed plan at origin t is the 13-week mean as of
4 weeks before t (weeks t-17 .. t-5), flat, the same for every method; no plan (too new a
series) counts as a plan of 0.

Rows:
- the panel (`soe_pipeline.sensing.baselines`): plan; ma_8; moving average with a window of
  2-14 weeks chosen per series and origin on its own one-step errors; SES with alpha
  0.1-0.3 chosen likewise; Croston and SBA (alpha 0.1); TSB (0.1, 0.1); ADIDA (4-week
  buckets, SES); seasonal naive 52 weeks (naive where the year-ago week is before the first
  sale);
- `sensed`: the pipeline's engine (`soe_pipeline.sensing.sense`, default settings, called as
  `soe_pipeline.dbt_models.demand_sensing` calls it) on the history before each origin and
  the same plan, and `sensed_model_ungated`, its model before the plan gate. The engine's
  trailing 8-week gate window needs the plan of past weeks: the plan committed at the
  4-weekly planning cycle the week fell in (cycles aligned on the evaluation origins);
- the prototypes of issue 25 item 4 (`made_from_panel`): `selected` (per series, the panel
  method, plan included, with the least sum|e| + |sum e| over its own latest 26 past origins
  whose horizon had ended), `selected_by_class` (the same per demand class, pooled),
  `combined` (mean of SES, moving average and TSB), `combined_debiased` (x its trailing
  pooled bias ratio per demand class) and `combined_or_plan` (per series, the plan where it
  did better); then variants of their settings, marked ~, as a sensitivity check.

Measures (`baselines.panel_scores`, pooled over every series x origin x horizon week): WAPE,
bias, VN1 = WAPE + |bias|, RMSSE (mean over series). Tables rank by VN1 and by RMSSE; the
acceptance lines compare each forecast with the best of the panel (within 1 %, |bias| <
10 %). `--speed N` also times `sense` and the prototypes on N synthetic series x 104 weeks
(`sensing_benchmark.simulate`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soe_pipeline.sensing import SensingSettings, sense
from soe_pipeline.sensing.baselines import (
    DEMAND_CLASSES,
    SELECTION_LOOKBACK,
    PanelScore,
    bias_corrected,
    combined_forecast,
    combined_sensing_forecast,
    committed_plan_path,
    demand_classes,
    first_sale,
    horizon_actuals,
    naive_scale,
    panel_forecasts,
    panel_scores,
    select_per_class,
    select_per_series,
    span_history,
)
from soe_pipeline.sensing.engine import BACKTEST_WEEKS, MAX_HISTORY_WEEKS

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
HORIZON = 4
PLAN_CYCLE_WEEKS = 4  # the planner re-commits every 4 weeks (the engine's gate reads it)
SERIES_COLUMNS = ["sku", "location_id", "product_family", "region"]


@dataclass
class WeeklySales:
    """One data set as the panel sees it: a (series x week) history, NaN before each
    series' first sale, and the series in the engine's terms (product family x region)."""

    name: str
    history: np.ndarray
    week_starts: pd.DatetimeIndex
    series: pd.DataFrame  # SERIES_COLUMNS, one row per history row


def load_dunnhumby(folder: Path) -> WeeklySales:
    """Store x UPC weekly units; family = product category, region = the store's state."""
    sales = pd.read_csv(
        folder / "dunnhumby_transactions.csv.gz",
        usecols=["week_start", "store_id", "upc_id", "units"],
        parse_dates=["week_start"],
    )
    products = pd.read_csv(folder / "dunnhumby_products.csv", usecols=["upc_id", "category"])
    stores = pd.read_csv(
        folder / "dunnhumby_stores.csv", usecols=["store_id", "address_state_prov_code"]
    )
    sales = sales.merge(products, on="upc_id", how="left").merge(stores, on="store_id", how="left")
    sales["sku"] = sales["upc_id"].astype(str)
    sales["location_id"] = sales["store_id"].astype(str)
    sales["product_family"] = sales["category"].fillna("UNKNOWN")
    sales["region"] = sales["address_state_prov_code"].fillna("UNKNOWN")
    return _weekly_matrix("dunnhumby", sales, "units")


def load_m5(folder: Path) -> WeeklySales:
    """Store x item daily units summed per ISO week (Monday start), full weeks only;
    family = department, region = state."""
    daily = pd.read_csv(
        folder / "m5_sample_daily.csv.gz",
        usecols=["item_id", "dept_id", "store_id", "state_id", "date", "sales"],
        parse_dates=["date"],
    )
    daily["week_start"] = daily["date"] - pd.to_timedelta(daily["date"].dt.day_of_week, unit="D")
    keys = ["item_id", "dept_id", "store_id", "state_id", "week_start"]
    weekly = daily.groupby(keys, as_index=False).agg(units=("sales", "sum"), days=("sales", "size"))
    weekly = weekly[weekly["days"] == 7].rename(
        columns={
            "item_id": "sku",
            "store_id": "location_id",
            "dept_id": "product_family",
            "state_id": "region",
        }
    )
    return _weekly_matrix("m5", weekly, "units")


def _weekly_matrix(name: str, rows: pd.DataFrame, column: str) -> WeeklySales:
    """Dense (series x week) matrix over the data set's weeks; a missing week is 0, then
    everything before a series' first sale NaN."""
    series = (
        rows[SERIES_COLUMNS]
        .drop_duplicates(["sku", "location_id"])
        .sort_values(["sku", "location_id"], ignore_index=True)
    )
    first, last = rows["week_start"].min(), rows["week_start"].max()
    week_starts = pd.date_range(first, last, freq="7D")
    row = pd.MultiIndex.from_frame(series[["sku", "location_id"]]).get_indexer(
        pd.MultiIndex.from_frame(rows[["sku", "location_id"]])
    )
    week = ((rows["week_start"] - first).dt.days // 7).to_numpy()
    units = np.zeros((len(series), len(week_starts)))
    np.add.at(units, (row, week), rows[column].to_numpy(dtype=float))
    return WeeklySales(name, span_history(units), week_starts, series)


# --- evaluation ----------------------------------------------------------------------------------


def evaluation_origins(n_weeks: int, count: int, spacing: int) -> np.ndarray:
    """The last `count` origins, `spacing` weeks apart, the last one's horizon ending with
    the data; oldest first."""
    origins = n_weeks - HORIZON - spacing * np.arange(count)[::-1]
    if origins[0] < 2 * HORIZON:
        raise ValueError(f"{count} origins {spacing} weeks apart need more than {n_weeks} weeks")
    return origins


def sensed_forecasts(
    data: WeeklySales, origins: np.ndarray, plan_path: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """The engine's sensed forecast and its model's forecast (before the plan gate) at
    every origin, (2, horizon, n_series, n_origins), and a count of the engine's methods and
    gate decisions per origin.

    The engine gets the weeks before the origin (at most MAX_HISTORY_WEEKS, as rows of
    series_row / week_index / units: zero weeks included) and the plan of its trailing
    window and horizon, the plan of a past week being the one committed at its planning
    cycle."""
    settings = SensingSettings(horizon_weeks=HORIZON)
    n_series = len(data.series)
    keys = pd.MultiIndex.from_frame(data.series[["sku", "location_id"]])
    sensed = np.empty((2, HORIZON, n_series, len(origins)))
    usage = []
    for column, origin in enumerate(origins):
        oldest = max(0, origin - MAX_HISTORY_WEEKS)
        history = data.history[:, oldest:origin]
        row, week = np.nonzero(~np.isnan(history))
        actuals = pd.DataFrame(
            {
                "series_row": row,
                "week_index": week - history.shape[1],
                "units": history[row, week],
            }
        )
        weeks = np.arange(origin - BACKTEST_WEEKS, origin + HORIZON)
        behind = np.clip(origin - weeks, 0, None)
        cycle = origin - PLAN_CYCLE_WEEKS * -(-behind // PLAN_CYCLE_WEEKS)
        planned = plan_path[:, cycle]
        row, week = np.nonzero(~np.isnan(planned))
        plan = pd.DataFrame(
            {
                "series_row": row,
                "week_index": weeks[week] - origin,
                "plan_units": planned[row, week],
            }
        )
        week0 = data.week_starts[origin].date()
        result = sense(actuals, data.series, plan, week0, settings)
        forecast = result.forecast
        rows = keys.get_indexer(pd.MultiIndex.from_frame(forecast[["sku", "location_id"]]))
        week = forecast["week_index"].to_numpy()
        sensed[0, week, rows, column] = forecast["sensed_units"]
        sensed[1, week, rows, column] = forecast["model_units"]
        described = result.series
        usage.append(
            {
                "origin": data.week_starts[origin].date(),
                **described["method"].value_counts().to_dict(),
                "off_plan": int((described["gate_weight"] > 0).sum()),
            }
        )
    return sensed, pd.DataFrame(usage).fillna(0)


@dataclass
class Evaluation:
    """Everything scored on one data set."""

    data: WeeklySales
    origins: np.ndarray
    actual: np.ndarray  # (horizon, n_series, n_origins), NaN where not scored
    scale: np.ndarray  # (n_series, n_origins)
    classes: np.ndarray  # (n_series, n_origins) demand class code at the origin
    forecasts: dict[str, np.ndarray]  # name -> (horizon, n_series, n_origins)
    engine_usage: pd.DataFrame
    seconds: dict[str, float]


def evaluate(data: WeeklySales, origins: np.ndarray, lookback: int) -> Evaluation:
    """The panel, the prototypes and the engine on one data set, scored at `origins`."""
    history = data.history
    seconds = {}
    started = time.perf_counter()
    panel = panel_forecasts(history, HORIZON)
    seconds["panel"] = time.perf_counter() - started

    started = time.perf_counter()
    prototypes = made_from_panel(history, panel, lookback)
    seconds["prototypes"] = time.perf_counter() - started
    variants = _selection_variants(history, panel, lookback)

    started = time.perf_counter()
    sensed, usage = sensed_forecasts(data, origins, panel["plan"][0])
    seconds["sensed"] = time.perf_counter() - started

    scored = first_sale(history)[:, None] < origins[None, :]
    actual = horizon_actuals(history, HORIZON)[:, :, origins]
    actual = np.where(scored[None], actual, np.nan)
    shape = (HORIZON, *panel["plan"].shape[1:])
    forecasts = {
        # No plan (too new a series) is a plan of 0.
        name: np.nan_to_num(np.broadcast_to(f, shape)[..., origins], nan=0.0)
        for name, f in {**panel, **prototypes, **variants}.items()
    }
    forecasts["sensed"], forecasts["sensed_model_ungated"] = sensed
    return Evaluation(
        data=data,
        origins=origins,
        actual=actual,
        scale=naive_scale(history)[:, origins],
        classes=demand_classes(history)[2][:, origins],
        forecasts=forecasts,
        engine_usage=usage,
        seconds=seconds,
    )


def made_from_panel(
    history: np.ndarray, panel: dict[str, np.ndarray], lookback: int
) -> dict[str, np.ndarray]:
    """The prototypes of issue 25 item 4, every origin at once:
    - selected: per series, the panel method with the least sum|e| + |sum e| over its own
      latest `lookback` past origins (plan kept on ties and before any past origin);
    - selected_by_class: per demand class, the panel method with the best pooled VN1 there;
    - combined, combined_debiased, combined_or_plan: `combined_sensing_forecast` (the mean
      of SES, the chosen moving average and TSB; x its trailing pooled bias ratio per
      demand class; per series the plan where it did better).
    """
    classes = demand_classes(history)[2]
    combined = combined_sensing_forecast(history, panel["plan"][0], HORIZON, lookback)
    return {
        "selected": select_per_series(history, panel, HORIZON, lookback=lookback)[0],
        "selected_by_class": select_per_class(history, panel, classes, HORIZON, lookback=lookback)[
            0
        ],
        "combined": combined.combined,
        "combined_debiased": combined.debiased,
        "combined_or_plan": combined.plan_or_debiased,
    }


def _selection_variants(
    history: np.ndarray, panel: dict[str, np.ndarray], lookback: int
) -> dict[str, np.ndarray]:
    """Other settings of the prototypes, shown beside them as a sensitivity check (the
    prototypes' settings are the modules' defaults, not the best of these)."""
    classes = demand_classes(history)[2]
    variants = {}
    for criterion in ("mae", "mse"):
        variants[f"~selected_{criterion}"] = select_per_series(
            history, panel, HORIZON, lookback=lookback, criterion=criterion
        )[0]
    variants["~selected_lookback_52"] = select_per_series(history, panel, HORIZON, lookback=52)[0]
    variants["~selected_keep_plan_10pct"] = select_per_series(
        history, panel, HORIZON, lookback=lookback, margin=0.1
    )[0]
    variants["~selected_by_class_52"] = select_per_class(
        history, panel, classes, HORIZON, lookback=52
    )[0]
    variants["~combined_debiased_26"] = bias_corrected(
        history, combined_forecast(panel), classes, HORIZON, lookback=26
    )
    return variants


# --- report --------------------------------------------------------------------------------------

PANEL = [
    "plan",
    "ma_8",
    "ma_chosen",
    "ses_chosen",
    "croston",
    "sba",
    "tsb",
    "adida",
    "seasonal_naive",
]
PROTOTYPES = ["selected", "selected_by_class", "combined", "combined_debiased", "combined_or_plan"]
ENGINE = ["sensed", "sensed_model_ungated"]  # the engine's output, and its model alone
JUDGED = [*ENGINE, *PROTOTYPES]  # held to issue 25's acceptance against PANEL


def print_evaluation(evaluation: Evaluation) -> dict[str, PanelScore]:
    """The data set's tables: every method, the prototypes' variants, the acceptance, the
    winners per demand class and what the engine did."""
    data, origins, actual = evaluation.data, evaluation.origins, evaluation.actual
    weeks = data.week_starts
    print(
        f"\n=== {data.name}: {len(data.series):,} series x {len(weeks)} weeks "
        f"({weeks[0].date()} .. {weeks[-1].date()}); {len(origins)} origins "
        f"{weeks[origins[0]].date()} .. {weeks[origins[-1]].date()} "
        f"({origins[1] - origins[0] if len(origins) > 1 else 0} weeks apart), horizon {HORIZON}; "
        f"{int((~np.isnan(actual[0])).any(axis=1).sum()):,} series scored, "
        f"{int((~np.isnan(actual)).sum()):,} forecast cells, {np.nansum(actual):,.0f} units"
    )
    scores = {
        name: panel_scores(actual, forecast, evaluation.scale)
        for name, forecast in evaluation.forecasts.items()
    }
    _print_table(
        {name: scores[name] for name in [*PANEL, *JUDGED]},
        "All origins pooled: the panel, the pipeline's sensed forecast, the prototypes",
    )
    _print_table(
        {name: s for name, s in scores.items() if name in PROTOTYPES or name.startswith("~")},
        "Prototype settings (sensitivity; ranks within this table)",
    )
    _print_acceptance(scores)
    _print_classes(evaluation)
    usage = evaluation.engine_usage.set_index("origin")
    print("\nEngine per origin (series by method; off_plan = series with gate weight > 0):")
    print(usage.astype(int).to_string())
    print("Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in evaluation.seconds.items()))
    return scores


def _print_table(scores: dict[str, PanelScore], title: str) -> None:
    vn1_rank = _ranks({name: s.vn1 for name, s in scores.items()})
    rmsse_rank = _ranks({name: s.rmsse for name, s in scores.items()})
    print(f"\n{title}")
    header = f"{'method':<26} {'WAPE':>6} {'bias':>7} {'VN1':>6} {'RMSSE':>6}"
    print(f"{header} {'rank VN1':>8} {'RMSSE':>5}")
    for name, s in sorted(scores.items(), key=lambda item: item[1].vn1):
        print(
            f"{name:<26} {s.wape:>6.3f} {s.bias:>+7.1%} {s.vn1:>6.3f} {s.rmsse:>6.3f} "
            f"{vn1_rank[name]:>8} {rmsse_rank[name]:>5}"
        )


def _ranks(values: dict[str, float]) -> dict[str, int]:
    ordered = sorted(values, key=values.get)
    return {name: ordered.index(name) + 1 for name in values}


def _print_acceptance(scores: dict[str, PanelScore]) -> None:
    """Issue 25's acceptance for the sensed forecast and each prototype, against the panel:
    VN1 and RMSSE each the best or within 1 % of the panel's best, and |bias| < 10 %."""
    best_vn1 = min(PANEL, key=lambda n: scores[n].vn1)
    best_rmsse = min(PANEL, key=lambda n: scores[n].rmsse)
    print(
        f"\nAcceptance (best panel VN1 {best_vn1} {scores[best_vn1].vn1:.3f}, "
        f"RMSSE {best_rmsse} {scores[best_rmsse].rmsse:.3f}; within 1 %, |bias| < 10 %)"
    )
    for name in JUDGED:
        s = scores[name]
        vn1_gap = s.vn1 / scores[best_vn1].vn1 - 1
        rmsse_gap = s.rmsse / scores[best_rmsse].rmsse - 1
        meets = vn1_gap <= 0.01 and rmsse_gap <= 0.01 and abs(s.bias) < 0.10
        print(
            f"  {name:<20} VN1 {vn1_gap:>+6.1%}  RMSSE {rmsse_gap:>+6.1%}  bias {s.bias:>+6.1%}  "
            f"{'MEETS' if meets else 'fails'}"
        )


def _print_classes(evaluation: Evaluation) -> None:
    """Per demand class at the origin: the best panel method by VN1 and by RMSSE, and the
    sensed forecast's and two prototypes' VN1 / RMSSE."""
    shown = ["sensed", "selected", "combined_debiased"]
    print("\nBy demand class at the origin (ADI cut-off 1.32, CV^2 0.49), VN1 / RMSSE")
    print(
        f"{'class':<13} {'cells':>7} {'units':>6} {'best panel by VN1':>24} "
        f"{'best panel by RMSSE':>24} " + " ".join(f"{name:>17}" for name in shown)
    )
    total_units = np.nansum(evaluation.actual)
    for code, label in enumerate(DEMAND_CLASSES):
        in_class = (evaluation.classes == code)[None] & ~np.isnan(evaluation.actual)
        if not in_class.any():
            continue
        actual = np.where(in_class, evaluation.actual, np.nan)
        scores = {
            name: panel_scores(actual, evaluation.forecasts[name], evaluation.scale)
            for name in [*PANEL, *shown]
        }
        by_vn1 = min(PANEL, key=lambda n: scores[n].vn1)
        by_rmsse = min(PANEL, key=lambda n: scores[n].rmsse)
        figures = " ".join(f"{scores[name].vn1:>8.3f}/{scores[name].rmsse:<8.3f}" for name in shown)
        print(
            f"{label:<13} {int(in_class[0].sum()):>7,} {np.nansum(actual) / total_units:>6.1%} "
            f"{by_vn1:>16} {scores[by_vn1].vn1:>7.3f} "
            f"{by_rmsse:>16} {scores[by_rmsse].rmsse:>7.3f} {figures}"
        )


# --- speed ---------------------------------------------------------------------------------------


def measure_speed(n_series: int, lookback: int, repeats: int = 2) -> None:
    """`sense` against the prototypes on the same synthetic 104-week history, each the best
    of `repeats` alternating runs (the machine is shared): `combined_sensing_forecast`
    (combined, combined_debiased and combined_or_plan at every origin) and the whole panel
    with per-series selection (`selected`, in chunks of rows)."""
    from sensing_benchmark import WEEK0, simulate

    data = simulate(n_series, seed=7)
    history = span_history(data["history_matrix"])
    plan_path = committed_plan_path(history)

    def panel_and_selected() -> None:
        chunk = 25_000  # rows are independent: bounded memory, the same result
        for first in range(0, len(history), chunk):
            rows = history[first : first + chunk]
            select_per_series(rows, panel_forecasts(rows, HORIZON), HORIZON, lookback=lookback)

    runs = {
        "sense": lambda: sense(data["actuals"], data["series"], data["plan"], WEEK0),
        "combined": lambda: combined_sensing_forecast(history, plan_path, HORIZON, lookback),
        "selected": panel_and_selected,
    }
    seconds = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name] = min(seconds[name], time.perf_counter() - started)
    base, combined, selected = seconds["sense"], seconds["combined"], seconds["selected"]
    print(
        f"\nSpeed, {n_series:,} synthetic series x {history.shape[1]} weeks (best of {repeats}): "
        f"sense {base:.1f} s; combined_sensing_forecast (every origin) {combined:.1f} s "
        f"= {combined / base:.2f}x sense (sense + it {1 + combined / base:.2f}x); "
        f"whole panel + selected {selected:.1f} s = {selected / base:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL_DATA)
    parser.add_argument("--origins", type=int, default=8)
    parser.add_argument("--spacing", type=int, default=4)
    parser.add_argument("--lookback", type=int, default=SELECTION_LOOKBACK)
    parser.add_argument(
        "--cut", type=int, default=0, help="drop the last N weeks: evaluate an earlier period"
    )
    parser.add_argument("--speed", type=int, default=0, help="also time N synthetic series")
    args = parser.parse_args()

    started = time.perf_counter()
    for loader in (load_dunnhumby, load_m5):
        data = loader(args.data)
        if args.cut:
            data.history = data.history[:, : -args.cut]
        try:
            origins = evaluation_origins(data.history.shape[1], args.origins, args.spacing)
        except ValueError as error:
            print(f"\n=== {data.name}: skipped, {error}")
            continue
        print_evaluation(evaluate(data, origins, args.lookback))
    if args.speed:
        measure_speed(args.speed, args.lookback)
    print(f"\nTotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
