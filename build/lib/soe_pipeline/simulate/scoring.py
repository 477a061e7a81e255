"""Score a pipeline run on a generated scenario against what the generator knows.

Exceptions: recall of the ground truth (planted and incidental rows) and precision of what
the pipeline raised. Demand sensing: WAPE of the sensed forecast, the committed plan and
seasonal-naive against what actually sold afterwards (future_demand.csv), separately for the
SKU-locations with a planted demand shift and for the undisturbed ones.

Used by tests/test_end_to_end.py (one seed) and benchmarks/quality_report.py (several).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

# Exception types raised per SKU-location (stale_data concerns whole extracts).
SKU_LOCATION_TYPES = (
    "projected_stockout",
    "below_safety_stock",
    "excess_inventory",
    "expiry_risk",
    "late_supply",
    "demand_shift",
    "inventory_mismatch",
    "schedule_miss",
)
SHIFT_DISRUPTIONS = ("demand_spike", "demand_drop")


@dataclass
class ExceptionScore:
    planted: int
    planted_found: int
    truth_rows: int
    truth_found: int
    raised: int
    raised_explained: int
    missing: pd.DataFrame  # ground-truth rows not raised
    unexplained: pd.DataFrame  # raised rows not in the ground truth

    @property
    def planted_recall(self) -> float:
        return self.planted_found / self.planted if self.planted else float("nan")

    @property
    def recall(self) -> float:
        return self.truth_found / self.truth_rows if self.truth_rows else float("nan")

    @property
    def precision(self) -> float:
        return self.raised_explained / self.raised if self.raised else float("nan")


def read_truth(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def raised_exceptions(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select exception_type, sku, location_id, "
            "strftime(first_week_start, '%Y-%m-%d') as first_week_start, reason "
            "from marts.exceptions where list_contains(?, exception_type)",
            [list(SKU_LOCATION_TYPES)],
        ).df()


def _matches(truth_row, found_row) -> bool:
    same = (truth_row.exception_type, truth_row.sku, truth_row.location_id) == (
        found_row.exception_type,
        found_row.sku,
        found_row.location_id,
    )
    if not same:
        return False
    if truth_row.exception_type in ("projected_stockout", "below_safety_stock"):
        return truth_row.first_week_start == found_row.first_week_start
    if truth_row.exception_type == "demand_shift":
        direction = "up" if truth_row.disruption == "demand_spike" else "down"
        return f"demand {direction}" in found_row.reason
    return True


def score_exceptions(truth: pd.DataFrame, raised: pd.DataFrame) -> ExceptionScore:
    """A ground-truth row is found when a raised exception has its type, SKU-location, first
    week (stockout / below safety stock) and direction (demand shift)."""
    truth = truth[truth["exception_type"].isin(SKU_LOCATION_TYPES)].reset_index(drop=True)
    by_key: dict[tuple, list] = {}
    for row in raised.itertuples():
        by_key.setdefault((row.exception_type, row.sku, row.location_id), []).append(row)
    found_truth = []
    explained: set[int] = set()
    for row in truth.itertuples():
        hits = [
            f
            for f in by_key.get((row.exception_type, row.sku, row.location_id), [])
            if _matches(row, f)
        ]
        found_truth.append(bool(hits))
        explained.update(f.Index for f in hits)
    found = pd.Series(found_truth, dtype=bool, index=truth.index)
    planted = truth["role"] == "planted"
    # A raised row is explained when it matches a truth row; a second run of the same type at
    # a SKU-location the truth lists only once is unexplained.
    unexplained = raised.drop(index=sorted(explained))
    return ExceptionScore(
        planted=int(planted.sum()),
        planted_found=int((found & planted).sum()),
        truth_rows=len(truth),
        truth_found=int(found.sum()),
        raised=len(raised),
        raised_explained=len(explained),
        missing=truth[~found],
        unexplained=unexplained,
    )


def score_sensing(
    warehouse: Path, future_demand_path: Path, disruptions_path: Path, as_of: dt.date
) -> pd.DataFrame:
    """WAPE over the sensing weeks of the sensed forecast, the plan and seasonal-naive against
    the actual units that sold (and against the demand process's noise-free mean), for the
    SKU-locations with a planted spike, with a planted drop, and the undisturbed ones."""
    future = pd.read_csv(future_demand_path, dtype={"sku": str, "location_id": str})
    touched = pd.read_csv(disruptions_path, dtype=str)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        forecasts = con.execute(
            "select sku, location_id, week_index, sensed_units, plan_units, seasonal_naive_units "
            "from intermediate.int_forecast_history where as_of = ?",
            [as_of],
        ).df()
    scored = forecasts.merge(future, on=["sku", "location_id", "week_index"], how="inner")
    shifted = touched[touched["disruption"].isin(SHIFT_DISRUPTIONS) & (touched["role"] == "target")]
    key = scored["sku"] + "@" + scored["location_id"]
    shifted_keys = dict(
        zip(shifted["sku"] + "@" + shifted["location_id"], shifted["disruption"], strict=True)
    )
    touched_keys = set(touched["sku"] + "@" + touched["location_id"])
    scored["group"] = key.map(shifted_keys).where(key.isin(shifted_keys), None)
    scored.loc[scored["group"].isna() & ~key.isin(touched_keys), "group"] = "undisturbed"
    rows = []
    forecasts = (
        ("sensed", "sensed_units"),
        ("plan", "plan_units"),
        ("seasonal_naive", "seasonal_naive_units"),
    )
    for group, part in scored.dropna(subset=["group"]).groupby("group"):
        rows.append(
            {
                "group": group,
                "sku_locations": part[["sku", "location_id"]].drop_duplicates().shape[0],
                "weeks": int(part["week_index"].nunique()),
                # Against what sold (one noisy draw) and against the noise-free mean.
                **{f"{name}_wape": _wape(part["actual_units"], part[c]) for name, c in forecasts},
                **{
                    f"{name}_wape_vs_mean": _wape(part["expected_units"], part[c])
                    for name, c in forecasts
                },
            }
        )
    return pd.DataFrame(rows)


def _wape(actual: pd.Series, forecast: pd.Series) -> float:
    denominator = actual.abs().sum()
    return float((actual - forecast.fillna(0)).abs().sum() / denominator) if denominator else float("nan")
