"""Demand sensing (soe_pipeline.sensing): fallbacks, the plan gate, the family models and the
accuracy helpers, on small hand-made series mixed into a seeded synthetic assortment."""

from __future__ import annotations

import datetime as dt
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soe_pipeline.dbt_models import demand_sensing
from soe_pipeline.sensing import (
    SensingResult,
    SensingSettings,
    bias,
    seasonal_naive,
    sense,
    sense_batches,
    statsmodels_loop_forecast,
    wape,
)
from soe_pipeline.sensing.smoothing import local_median

WEEK0 = dt.date(2025, 11, 10)  # a Monday
HISTORY = 110
HORIZON = 4
WINDOW = 8
T = np.arange(-HISTORY, HORIZON)  # week index relative to WEEK0


def week_start(index: int) -> dt.date:
    return WEEK0 + dt.timedelta(weeks=int(index))


def seasonal_mean(level: float, phase: float = 0.0) -> np.ndarray:
    """Expected weekly demand over weeks -HISTORY .. HORIZON-1."""
    return level * (1 + 0.3 * np.sin(2 * np.pi * T / 52 + phase))


class World:
    """A seeded assortment: 2 families x 2 regions of seasonal negative-binomial series, plus
    named hand-made series in BG1/R1 and short families for the model-choice test."""

    def __init__(self, seed: int = 3) -> None:
        self.rng = np.random.default_rng(seed)
        self.actual_rows: list[dict] = []
        self.plan_rows: list[dict] = []
        self.series_rows: list[dict] = []
        self.expected: dict[str, np.ndarray] = {}

    def add(
        self,
        sku: str,
        units: np.ndarray | None,
        plan: np.ndarray | None = None,
        family: str = "BG1",
        region: str = "R1",
    ) -> None:
        """units: weekly actuals over the last len(units) history weeks (NaN = no row);
        plan: values over weeks -WINDOW .. HORIZON-1 (NaN = no plan)."""
        self.series_rows.append(
            {"sku": sku, "location_id": "L1", "product_family": family, "region": region}
        )
        if units is not None:
            for offset, value in zip(range(-len(units), 0), units, strict=True):
                if not np.isnan(value):
                    self.actual_rows.append(
                        {
                            "sku": sku,
                            "location_id": "L1",
                            "week_start": week_start(offset),
                            "units": float(value),
                        }
                    )
        if plan is not None:
            for offset, value in zip(range(-WINDOW, HORIZON), plan, strict=True):
                if not np.isnan(value):
                    self.plan_rows.append(
                        {
                            "sku": sku,
                            "location_id": "L1",
                            "week_start": week_start(offset),
                            "plan_units": float(value),
                        }
                    )

    def negative_binomial(self, mean: np.ndarray, dispersion: float = 20.0) -> np.ndarray:
        return self.rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(
            float
        )

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return (
            pd.DataFrame(self.actual_rows),
            pd.DataFrame(self.series_rows),
            pd.DataFrame(self.plan_rows),
        )


def plan_of(expected: np.ndarray) -> np.ndarray:
    """The plan over weeks -WINDOW .. HORIZON-1 from an expected-demand curve over T."""
    return np.round(expected[HISTORY - WINDOW :], 2)


def build_world() -> World:
    world = World()
    phases = {}
    for family in ("BG1", "BG2"):
        for region in ("R1", "R2"):
            phase = phases[family, region] = world.rng.uniform(0, 2 * np.pi)
            for i in range(8):
                expected = seasonal_mean(world.rng.uniform(5, 60), phase)
                units = world.negative_binomial(expected[:HISTORY])
                world.add(f"{family}{region}-{i}", units, plan_of(expected), family, region)

    bg_phase = phases["BG1", "R1"]  # the hand-made series share BG1/R1's season
    stable = seasonal_mean(50, bg_phase)
    world.expected["STABLE"] = stable
    world.add("STABLE", world.rng.poisson(stable[:HISTORY]).astype(float), plan_of(stable))

    for name, factor in (("SPIKE", 2.0), ("DROP", 0.4)):
        base = seasonal_mean(40, bg_phase)
        shifted = base * np.where(T >= -6, factor, 1.0)
        world.expected[name] = shifted
        world.add(name, world.rng.poisson(shifted[:HISTORY]).astype(float), plan_of(base))

    base = seasonal_mean(40, bg_phase)
    world.add(
        "SPIKE-NO-PLAN", world.rng.poisson(base[:HISTORY] * np.where(T[:HISTORY] >= -6, 2, 1))
    )
    sparse = np.where(world.rng.random(60) < 0.3, world.rng.poisson(3, 60) + 1, 0).astype(float)
    world.add("SPARSE", sparse)

    world.add("NEW3", np.array([4.0, 6.0, 5.0]))
    world.add("NEW3-PLANNED", np.array([4.0, 6.0, 5.0]), np.full(WINDOW + HORIZON, 9.0))
    world.add("ZERO", np.zeros(20))
    world.add("ZERO-PLANNED", np.zeros(20), np.full(WINDOW + HORIZON, 5.0))

    outlier = world.rng.poisson(10, 40).astype(float)
    outlier[-20] = 5000.0
    world.add("OUTLIER", outlier)
    outlier_last = world.rng.poisson(10, 40).astype(float)
    outlier_last[-1] = 5000.0
    world.add("OUTLIER-LAST", outlier_last)

    returns = world.rng.poisson(10, 30).astype(float)
    returns[[-25, -12, -3]] = -5.0
    world.add("RETURNS", returns)

    world.add("NEW-PLANNED", None, np.r_[np.full(WINDOW, np.nan), [7.0, 7.0, 8.0, 8.0]])
    world.add("NOTHING", None)

    # Families whose history length decides their statsmodels model.
    for family, weeks in (("MID", 20), ("SHORT", 6), ("TINY", 2)):
        for i in range(3):
            world.add(f"{family}-{i}", world.rng.poisson(20, weeks).astype(float), None, family)
    return world


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def result(world):
    actuals, series, plan = world.frames()
    return sense(actuals, series, plan, WEEK0)


def row(result, sku: str) -> pd.Series:
    rows = result.series[result.series["sku"] == sku]
    assert len(rows) == 1, sku
    return rows.iloc[0]


def weekly(result, sku: str, column: str) -> np.ndarray:
    forecast = result.forecast[result.forecast["sku"] == sku].sort_values("week_index")
    return forecast[column].to_numpy(dtype=float, na_value=np.nan)


# --- outputs a user relies on -------------------------------------------------------------


def test_every_series_gets_finite_non_negative_forecasts_and_a_stated_method(world, result):
    n_series = len(world.series_rows)
    assert len(result.series) == n_series
    assert len(result.forecast) == n_series * HORIZON
    for column in ("sensed_units", "model_units"):
        values = result.forecast[column].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values >= 0).all(), column
    assert result.series["method"].str.len().gt(0).all()
    assert result.series["explanation"].str.len().gt(0).all()
    assert result.series["gate_weight"].between(0, 1).all()
    assert np.isfinite(result.series["level"].to_numpy(dtype=float)).all()


def test_output_columns_and_weeks(result):
    assert list(result.forecast.columns) == [
        "sku",
        "location_id",
        "week_index",
        "week_start",
        "sensed_units",
        "model_units",
        "plan_units",
    ]
    assert list(result.series.columns) == [
        "sku",
        "location_id",
        "method",
        "season_model",
        "alpha",
        "ma_weeks",
        "level",
        "sigma",
        "history_weeks",
        "nonzero_weeks",
        "intermittent",
        "window_actual_units",
        "window_plan_units",
        "tracking_signal",
        "z_score",
        "gate_weight",
        "explanation",
    ]
    assert list(result.groups.columns) == [
        "product_family",
        "region",
        "model",
        "alpha",
        "beta",
        "gamma",
        "phi",
        "n_weeks",
        "n_series",
        "aicc",
        "shape_kept",
        "backtest_model_score",
        "backtest_plan_score",
        "backtest_plan_series",
        "backtest_model_series",
        "plan_kept",
    ]
    one = result.forecast[result.forecast["sku"] == "STABLE"]
    assert one["week_index"].tolist() == list(range(HORIZON))
    assert one["week_start"].tolist() == [week_start(h) for h in range(HORIZON)]


# --- fallbacks ----------------------------------------------------------------------------


def test_three_week_old_sku_uses_its_mean_or_the_plan(result):
    young = row(result, "NEW3")
    assert young["method"] == "short_history_mean"
    assert young["history_weeks"] == 3
    assert weekly(result, "NEW3", "sensed_units") == pytest.approx([5.0] * HORIZON)

    planned = row(result, "NEW3-PLANNED")
    assert planned["method"] == "short_history_plan"
    assert weekly(result, "NEW3-PLANNED", "sensed_units") == pytest.approx([9.0] * HORIZON)


def test_all_zero_history_forecasts_zero_and_eight_zero_weeks_overrule_a_plan(result):
    zero = row(result, "ZERO")
    assert zero["method"] == "all_zero_history"
    assert zero["history_weeks"] == 20
    assert (weekly(result, "ZERO", "sensed_units") == 0).all()

    planned = row(result, "ZERO-PLANNED")
    assert planned["method"] == "all_zero_history"
    assert planned["z_score"] < -4 and planned["gate_weight"] == 1
    assert (weekly(result, "ZERO-PLANNED", "sensed_units") == 0).all()
    assert "0.0x the plan" in planned["explanation"]


@pytest.mark.parametrize("sku", ["OUTLIER", "OUTLIER-LAST"])
def test_one_huge_week_does_not_blow_up_the_level(result, sku):
    outlier = row(result, sku)
    assert outlier["method"] == "combined_x_family_shape"
    assert outlier["level"] < 20  # the series sells ~10 a week; the outlier week is 5,000
    assert weekly(result, sku, "sensed_units").max() < 25


def test_intermittent_series_get_the_combination_and_say_so(result):
    sparse = row(result, "SPARSE")
    assert sparse["intermittent"] and sparse["method"] == "combined_x_family_shape"
    # ~30 % of weeks sell 1 + Poisson(3): about 1.2 a week.
    assert 0.5 < sparse["level"] < 3
    assert "intermittent, 7" in sparse["explanation"] and "zero weeks" in sparse["explanation"]
    assert "TSB" in sparse["explanation"]


def test_a_shift_without_a_plan_resets_the_model_level(result):
    spike = row(result, "SPIKE-NO-PLAN")
    assert spike["method"] == "level_shift_x_family_shape"
    assert pd.isna(spike["z_score"]) and spike["gate_weight"] == 1
    assert spike["explanation"].startswith("no plan for the sensing weeks: level")
    assert spike["explanation"].count("re-estimated on the last") == 1
    assert spike["level"] > 60  # ~40/wk before, ~80/wk over the last 6 weeks


def test_negative_weeks_are_returns_not_negative_demand(result):
    returns = row(result, "RETURNS")
    assert returns["method"] == "combined_x_family_shape"
    assert 5 < returns["level"] < 15
    assert (weekly(result, "RETURNS", "sensed_units") >= 0).all()


def test_new_item_uses_the_plan_or_zero(result):
    planned = row(result, "NEW-PLANNED")
    assert planned["method"] == "new_item_plan"
    assert planned["history_weeks"] == 0 and pd.isna(planned["sigma"])
    assert weekly(result, "NEW-PLANNED", "sensed_units") == pytest.approx([7, 7, 8, 8])
    assert weekly(result, "NEW-PLANNED", "model_units") == pytest.approx([7, 7, 8, 8])

    nothing = row(result, "NOTHING")
    assert nothing["method"] == "no_history_no_plan"
    assert (weekly(result, "NOTHING", "sensed_units") == 0).all()
    assert weekly(result, "NOTHING", "plan_units") == pytest.approx([np.nan] * HORIZON, nan_ok=True)


# --- the plan gate ------------------------------------------------------------------------


def test_stable_series_with_a_correct_plan_keeps_the_plan(world, result):
    stable = row(result, "STABLE")
    assert abs(stable["z_score"]) < 2
    assert stable["gate_weight"] == 0
    # BG1/R1: 8 seasonal series with a right plan, STABLE, and SPIKE and DROP, where it is
    # wrong; the plan forecast most of them at least as well as the model.
    assert stable["explanation"].startswith("plan kept: in the last 26 weeks the plan forecast 6 of 11 BG1/R1")
    assert stable["explanation"].endswith("actuals within noise of the plan (z=0.2)")
    sensed = weekly(result, "STABLE", "sensed_units")
    assert sensed == pytest.approx(plan_of(world.expected["STABLE"])[WINDOW:])


def test_doubled_actuals_move_the_forecast_off_the_plan(world, result):
    spike = row(result, "SPIKE")
    assert spike["gate_weight"] == 1
    assert spike["z_score"] > 4 and spike["tracking_signal"] > 4
    new_level = world.expected["SPIKE"][HISTORY:]
    sensed = weekly(result, "SPIKE", "sensed_units")
    plan = weekly(result, "SPIKE", "plan_units")
    assert np.abs(sensed - new_level).mean() < np.abs(plan - new_level).mean()
    assert "x the plan over 8 weeks" in spike["explanation"]


def test_a_drop_to_40_percent_is_negative_and_followed(world, result):
    drop = row(result, "DROP")
    assert drop["z_score"] < -4 and drop["tracking_signal"] < -4
    assert drop["gate_weight"] == 1
    new_level = world.expected["DROP"][HISTORY:]
    sensed = weekly(result, "DROP", "sensed_units")
    plan = weekly(result, "DROP", "plan_units")
    assert (sensed < plan).all()
    assert np.abs(sensed - new_level).mean() < np.abs(plan - new_level).mean()


def test_gate_thresholds_come_from_the_settings(world):
    actuals, series, plan = world.frames()
    strict = sense(actuals, series, plan, WEEK0, SensingSettings(gate_z_low=50, gate_z_high=60))
    spike = row(strict, "SPIKE")
    assert spike["gate_weight"] == 0
    assert weekly(strict, "SPIKE", "sensed_units") == pytest.approx(
        weekly(strict, "SPIKE", "plan_units")
    )


def backtest_world(plan_bias: dict[str, float], phases: dict[str, float] | None = None):
    """Groups of 12 Poisson series (level 20, with a 52-week season of +-30 % whose phase
    is per series), 110 weeks, and a plan over the last 26 weeks and the horizon of
    (1 + plan_bias of the group) x the expected demand."""
    rng = np.random.default_rng(11)
    actual_rows, series_rows, plan_rows = [], [], []
    phases = phases or {}
    for family, factor in plan_bias.items():
        for i in range(12):
            sku = f"{family}-{i}"
            phase = phases.get(family, 0.0) * (i % 2)
            expected = seasonal_mean(20, phase)
            units = rng.poisson(expected[:HISTORY]).astype(float)
            series_rows.append(
                {"sku": sku, "location_id": "L1", "product_family": family, "region": "R9"}
            )
            actual_rows += [
                {"sku": sku, "location_id": "L1", "week_start": week_start(t), "units": u}
                for t, u in zip(range(-HISTORY, 0), units, strict=True)
            ]
            plan_rows += [
                {"sku": sku, "location_id": "L1", "week_start": week_start(t), "plan_units": p}
                for t, p in zip(T[HISTORY - 26 :], (1 + factor) * expected[HISTORY - 26 :], strict=True)
            ]
    return pd.DataFrame(actual_rows), pd.DataFrame(series_rows), pd.DataFrame(plan_rows)


def test_the_backtest_keeps_a_right_plan_and_leaves_a_stale_one():
    """A plan 12 % too high is within the weekly noise of a 20-a-week series (the shift test
    does not fire: |z| < 2.5) but the model forecast most series better over 26 weeks."""
    actuals, series, plan = backtest_world({"RIGHT": 0.0, "HIGH": 0.12})
    result = sense(actuals, series, plan, WEEK0)
    groups = result.groups.set_index("product_family")
    assert bool(groups.loc["RIGHT", "plan_kept"]) and not bool(groups.loc["HIGH", "plan_kept"])
    assert groups.loc["HIGH", "backtest_model_series"] > groups.loc["HIGH", "backtest_plan_series"]
    assert groups.loc["HIGH", "backtest_plan_score"] > groups.loc["HIGH", "backtest_model_score"]
    described = result.series.set_index("sku")
    right, high = described.loc["RIGHT-0"], described.loc["HIGH-0"]
    assert right["gate_weight"] == 0 and high["gate_weight"] == 1
    assert abs(high["z_score"]) < 2.5
    assert high["explanation"].startswith("model, not the plan: in the last 26 weeks the plan")
    assert "HIGH/R9 SKU-locations at least as well as the model" in high["explanation"]
    # The right plan's group is forecast by the plan, the high one by the model.
    forecast = result.forecast.set_index("sku")
    assert (forecast.loc["RIGHT-0", "sensed_units"] == forecast.loc["RIGHT-0", "plan_units"]).all()
    assert (forecast.loc["HIGH-0", "sensed_units"] == forecast.loc["HIGH-0", "model_units"]).all()


def test_a_run_of_a_few_units_does_not_move_an_intermittent_series_off_a_kept_plan():
    """A series selling 0-2 units in most weeks, planned at 0.65 a week, sells 17 units in
    the last 8 weeks (the run a generated healthy store once drew): significant (z > 3.5),
    but an intermittent series leaves the plan only through the backtest, which keeps it."""
    actuals, series, plan = backtest_world({"RIGHT": 0.0})
    units = [2, 1, 2, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 2, 1, 5, 3, 0, 3, 2]
    weeks = range(-len(units), 0)
    sparse = pd.DataFrame(
        {"sku": "RUN", "location_id": "L1", "week_start": [week_start(t) for t in weeks], "units": units}
    )
    planned = pd.DataFrame(
        {"sku": "RUN", "location_id": "L1", "week_start": [week_start(t) for t in range(-26, HORIZON)],
         "plan_units": 0.65}
    )
    result = sense(
        pd.concat([actuals, sparse]),
        pd.concat([series, pd.DataFrame([{"sku": "RUN", "location_id": "L1",
                                          "product_family": "RIGHT", "region": "R9"}])]),
        pd.concat([plan, planned]),
        WEEK0,
    )
    run = row(result, "RUN")
    assert run["intermittent"] and run["z_score"] > 3.5
    assert run["gate_weight"] == 0
    assert weekly(result, "RUN", "sensed_units") == pytest.approx([0.65] * HORIZON)
    assert "intermittent demand, which a run of a few units does not move off the plan" in (
        run["explanation"]
    )


def test_weeks_without_a_sale_are_no_new_level():
    """A series without a plan that sold 18-22 a week for 30 weeks and nothing in the last 4
    (a stock-out or a gap in the feed more often than demand gone; M5's FOODS_3_723 in TX_2):
    the level-shift test would fire (z far beyond 3.5) but a run without a sale is no level."""
    actuals, series, plan = backtest_world({"RIGHT": 0.0})
    units = [18, 22] * 15 + [0, 0, 0, 0]
    weeks = range(-len(units), 0)
    gap = pd.DataFrame(
        {"sku": "GAP", "location_id": "L1", "week_start": [week_start(t) for t in weeks], "units": units}
    )
    result = sense(
        pd.concat([actuals, gap]),
        pd.concat([series, pd.DataFrame([{"sku": "GAP", "location_id": "L1",
                                          "product_family": "RIGHT", "region": "R9"}])]),
        plan,
        WEEK0,
    )
    gapped = row(result, "GAP")
    assert not gapped["method"].startswith("level_shift")
    assert gapped["level"] > 5  # the combination after 4 empty weeks, not 0


def test_a_family_season_that_is_not_its_series_season_is_dropped():
    """SAME: every series follows the family's season, which is kept. HALF: half the series
    run the opposite season, so the family sum is flat and dividing by its shape would
    only add noise: its series are forecast flat, and the explanation says why."""
    actuals, series, plan = backtest_world({"SAME": 0.0, "HALF": 0.0}, phases={"HALF": np.pi})
    result = sense(actuals, series, plan.iloc[0:0], WEEK0)
    groups = result.groups.set_index("product_family")
    assert groups.loc["SAME", "model"] == "holt_winters_damped"
    assert bool(groups.loc["SAME", "shape_kept"])
    assert not bool(groups.loc["HALF", "shape_kept"])
    described = result.series.set_index("sku")
    assert described.loc["SAME-1", "method"] == "combined_x_family_shape"
    assert described.loc["HALF-1", "method"] == "combined_flat"
    assert "flat: the HALF/R9 " in described.loc["HALF-1", "explanation"]
    assert described.loc["HALF-1", "explanation"].endswith("did not help its series")


# --- family models ------------------------------------------------------------------------


def test_family_model_follows_history_length(result):
    groups = result.groups.set_index(["product_family", "region"])
    assert groups.loc[("BG1", "R2"), "model"] == "holt_winters_damped"
    assert groups.loc[("BG1", "R2"), "n_weeks"] == HISTORY
    assert groups.loc[("MID", "R1"), "model"] == "holt_damped"
    assert groups.loc[("MID", "R1"), "n_weeks"] == 20
    assert groups.loc[("SHORT", "R1"), "model"] == "ses"
    assert groups.loc[("TINY", "R1"), "model"] == "none"
    assert groups.loc[("TINY", "R1"), "n_series"] == 3
    assert pd.isna(groups.loc[("TINY", "R1"), "alpha"])
    seasonal = groups.loc[("BG1", "R2")]
    assert 0 <= seasonal["alpha"] <= 1 and 0 < seasonal["phi"] <= 1
    assert row(result, "BG1R2-0")["season_model"] == "holt_winters_damped"


# --- determinism --------------------------------------------------------------------------


def test_same_inputs_in_any_row_order_give_identical_outputs(world, result):
    actuals, series, plan = world.frames()
    again = sense(actuals, series, plan, WEEK0)
    shuffled = sense(
        actuals.sample(frac=1, random_state=1).assign(
            week_start=lambda f: pd.to_datetime(f["week_start"])  # datetime64, not dates
        ),
        series.sample(frac=1, random_state=2),
        plan.sample(frac=1, random_state=3),
        WEEK0,
    )
    for other in (again, shuffled):
        pd.testing.assert_frame_equal(result.forecast, other.forecast)
        pd.testing.assert_frame_equal(result.series, other.series)
        pd.testing.assert_frame_equal(result.groups, other.groups)


def test_series_row_codes_stand_for_the_key_strings(world, result):
    actuals, series, plan = world.frames()
    series = series.sample(frac=1, random_state=4, ignore_index=True)
    position = pd.Series(
        series.index, index=pd.MultiIndex.from_frame(series[["sku", "location_id"]])
    )

    def coded(frame: pd.DataFrame) -> pd.DataFrame:
        keys = pd.MultiIndex.from_frame(frame[["sku", "location_id"]])
        return frame.drop(columns=["sku", "location_id"]).assign(
            series_row=position.reindex(keys).to_numpy()
        )

    # Rows of a SKU-location that is not in `series` are ignored, as with key strings.
    stray = pd.DataFrame(
        {"series_row": [-1, len(series)], "week_start": week_start(-1), "units": 1e6}
    )
    again = sense(pd.concat([coded(actuals), stray]), series, coded(plan), WEEK0)
    pd.testing.assert_frame_equal(result.forecast, again.forecast)
    pd.testing.assert_frame_equal(result.series, again.series)
    pd.testing.assert_frame_equal(result.groups, again.groups)


def test_batches_of_whole_groups_give_the_result_of_all_series_at_once(world, result):
    actuals, series, plan = world.frames()
    # TINY has 2 weeks of history, SHORT 6, MID 20: alone, each sees fewer weeks.
    batches = []
    for _, group in series.groupby(["product_family", "region"]):
        keys = pd.MultiIndex.from_frame(group[["sku", "location_id"]])

        def member(frame: pd.DataFrame, keys: pd.MultiIndex = keys) -> pd.DataFrame:
            return frame[pd.MultiIndex.from_frame(frame[["sku", "location_id"]]).isin(keys)]

        batches.append(lambda g=group, m=member: (m(actuals), g, m(plan)))
    assert len(batches) > 3
    batched = sense_batches(batches, WEEK0)
    pd.testing.assert_frame_equal(result.forecast, batched.forecast)
    pd.testing.assert_frame_equal(result.series, batched.series)
    pd.testing.assert_frame_equal(result.groups, batched.groups)
    # Sensed apart, a group of 8 series cannot show that its family shape helps (a sign
    # test needs 7 of 8): the verdict over all series, which sense_batches carries across
    # batches, keeps the shapes.
    apart = SensingResult.concat([sense(*read(), WEEK0) for read in batches])
    assert result.groups["shape_kept"].sum() > apart.groups["shape_kept"].sum()


def test_the_dbt_model_senses_in_batches_with_identical_results(world):
    """soe_pipeline.dbt_models.demand_sensing on DuckDB relations, as dbt-duckdb calls it:
    one group per batch gives the same table as everything in one batch."""
    actuals, series, plan = world.frames()
    con = duckdb.connect()
    run_context = pd.DataFrame(
        {
            "as_of": [WEEK0 + dt.timedelta(days=2)],
            "week0_start": [WEEK0],
            "sensing_weeks": [HORIZON],
            "sensing_gate_z_low": [2.5],
            "sensing_gate_z_high": [3.5],
        }
    )
    relations = {
        "run_context": con.from_df(run_context),
        "sku_locations": con.from_df(series),
        "actuals": con.from_df(actuals),
        "plan": con.from_df(plan),
    }
    whole = demand_sensing(**relations)
    batched = demand_sensing(**relations, batch_series=1)
    assert len(whole) == len(series) * HORIZON
    assert series.groupby(["product_family", "region"]).ngroups > 3  # batches of one group
    pd.testing.assert_frame_equal(whole, batched)
    # The same as the engine on the frames, key strings and dates.
    direct = sense(actuals, series, plan, WEEK0)
    pd.testing.assert_series_equal(
        whole["sensed_units"], direct.forecast["sensed_units"], check_names=False
    )
    # No SKU-location at all: no rows, the same columns.
    nothing = {name: relation.limit(0) for name, relation in relations.items()}
    empty = demand_sensing(**{**nothing, "run_context": relations["run_context"]})
    assert empty.empty and list(empty.columns) == list(whole.columns)


# --- helpers ------------------------------------------------------------------------------


def test_local_median_is_the_median_of_the_known_weeks_around_each_week():
    rng = np.random.default_rng(5)
    matrix = rng.poisson(4, (2500, 12)).astype(float) * rng.random((2500, 12))  # > 1 chunk
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    padded = np.pad(matrix, ((0, 0), (2, 2)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 5, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
        expected = np.nanmedian(windows, axis=2)
    assert local_median(matrix) == pytest.approx(expected, nan_ok=True, rel=1e-12)


def test_wape_and_bias_by_hand():
    actual = [10, 20, 0, 10]
    forecast = [12, 15, 5, 10]
    assert wape(actual, forecast) == pytest.approx(12 / 40)
    assert bias(actual, forecast) == pytest.approx(2 / 40)
    assert np.isnan(wape([0, 0], [1, 2]))
    assert np.isnan(bias([0, 0], [1, 2]))


def test_seasonal_naive_takes_the_same_week_last_year_or_the_last_value():
    long = np.arange(60, dtype=float)[None, :]
    assert seasonal_naive(long, 3)[0].tolist() == [8.0, 9.0, 10.0]
    short = np.r_[np.full(5, np.nan), [3.0, 4.0]][None, :]
    assert seasonal_naive(short, 2)[0].tolist() == [4.0, 4.0]


def test_statsmodels_loop_forecast_handles_every_history_length(world):
    rng = np.random.default_rng(0)
    matrix = np.full((4, HISTORY), np.nan)
    matrix[0] = rng.poisson(seasonal_mean(30)[:HISTORY])
    matrix[1, -20:] = rng.poisson(20, 20)
    matrix[2, -1:] = 5.0
    forecast = statsmodels_loop_forecast(matrix, HORIZON)  # row 3: no history at all
    assert forecast.shape == (4, HORIZON)
    assert np.isfinite(forecast).all() and (forecast >= 0).all()
    assert 15 < forecast[0].mean() < 60 and 10 < forecast[1].mean() < 30
    assert forecast[2].tolist() == [5.0] * HORIZON and forecast[3].tolist() == [0.0] * HORIZON


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 4),  # series
            st.integers(-30, 3),  # week index (weeks >= 0 must be ignored)
            st.floats(-50, 1e6, allow_nan=False),
        ),
        max_size=60,
    ),
    plan_values=st.lists(st.one_of(st.none(), st.floats(0, 500)), min_size=12, max_size=12),
)
def test_any_input_gives_finite_non_negative_forecasts(data, plan_values):
    actuals = pd.DataFrame(
        [
            {"sku": f"S{s}", "location_id": "L", "week_start": week_start(w), "units": u}
            for s, w, u in data
        ],
        columns=["sku", "location_id", "week_start", "units"],
    )
    series = pd.DataFrame(
        {
            "sku": [f"S{s}" for s in range(5)],
            "location_id": "L",
            "product_family": "F",
            "region": ["A", "A", "B", "B", "B"],
        }
    )
    plan = pd.DataFrame(
        [
            {"sku": "S0", "location_id": "L", "week_start": week_start(w), "plan_units": p}
            for w, p in zip(range(-WINDOW, HORIZON), plan_values, strict=True)
            if p is not None
        ],
        columns=["sku", "location_id", "week_start", "plan_units"],
    )
    result = sense(actuals, series, plan, WEEK0)
    assert len(result.forecast) == 5 * HORIZON
    for column in ("sensed_units", "model_units"):
        values = result.forecast[column].to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values >= 0).all()
    assert result.series["gate_weight"].between(0, 1).all()
    assert np.isfinite(result.series["level"].to_numpy(dtype=float)).all()
