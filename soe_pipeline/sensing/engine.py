"""Demand sensing: a short-horizon forecast per SKU-location that keeps the committed plan
where the plan has earned it and follows the actuals where they have left it.

Why this shape: on real store x item sales (`benchmarks/sensing_panel.py`, issue 25) no
single method wins every window and choosing a method per series picks noise; the
equal-weight mean of SES, a moving average and TSB is close to the best everywhere. A
family-region season helps only where the family's season is the SKU-location's season, a
re-estimated level only where a run of weeks is a new level rather than a promotion, and a
committed plan is only as good as the planner who made it. So all three are *judged* on the
weeks just before week 0 (a backtest over the trailing `BACKTEST_WEEKS`), per product family
x region, by a sign test over its SKU-locations (`_Tally.won`): a group keeps what did
better on significantly more of its series, drops what did significantly worse, and
otherwise follows the same verdict over all series. The explanation says which and why.

Method, for every SKU-location of `series` (DESIGN section 4):

1. **Weekly matrix.** Actuals become a dense (series x week) matrix in one vectorised pass.
   A series' span starts at its first week with positive units; a week missing inside the
   span is 0. Negative weeks (net returns) are clipped to 0 for fitting and tracking: a
   return is not negative demand. History is cut at `MAX_HISTORY_WEEKS`.
2. **Outliers.** Each week is capped at max(its centred 5-week median, the series' typical
   non-zero week) + 5 x the series' robust noise scale (see `smoothing.cap_outliers`): one
   huge week cannot blow up a level, while a shift lasting 3 weeks or more is kept.
3. **Family shape.** Per product family x region, the capped actuals are summed (scaled so
   a SKU-location launched mid-history is not mistaken for growth) and fitted with
   statsmodels `ExponentialSmoothing`, the model chosen by the weeks available (Holt-Winters
   with damped trend and a 52-week season from 104 weeks, damped Holt from 16, SES from 4;
   see `family`). shape_t = fitted or forecast value / mean fitted value of the last 4 weeks.
   The shape is **kept for a group only when it helped its SKU-locations**: per series,
   over the backtest origins, SES (alpha `SHAPE_TEST_ALPHA`) of actual / shape x shape
   against SES of the actuals, one week ahead (score: sum|e| + |sum e|, the VN1 score's
   numerator); the sign test over series decides. Otherwise the group's series are
   forecast flat.
4. **SKU-location level: a forecast combination.** On actual_t / shape_t, the mean of SES
   (alpha per series from 0.1 / 0.2 / 0.3), the moving average (window per series from 2-14
   weeks) and, for a series with weeks without a sale, TSB (`baselines.combined_path`;
   each choice by in-sample one-step squared error). TSB models the chance of a sale: on a
   series that sells every week it is one more slow SES (on M5, +1 % bias). model_units_h =
   level x shape_h.
5. **Level shift.** When the actuals of a recent run of the trailing window (the most
   significant suffix of at least 3 weeks) sit more than `LEVEL_SHIFT_Z` standard errors
   away from what the level predicted before the window (the error of that level counted
   too), the level is re-estimated on that run alone. Smoothed, non-intermittent series
   only, and only where the shift test of step 8 moved the series off the plan (or it has
   no plan): on real sales a run of 3+ weeks is as often a promotion as a new level. A run
   without a sale is no new level (a stock-out or missing data more often than demand
   gone; the moving average and TSB follow a real end of sales). And per family x region,
   judged on the backtest (per series, the VN1-style score with and without the shift at
   each origin; the sign test over series): where it did not earn its place, it is not
   applied. On real sales it mostly is not; on planted shifts it is.
6. **Fallbacks**, each with its own `method` (see `METHODS`): short history -> the mean, or
   the plan below 4 weeks; a new item -> the plan, or 0; an all-zero history -> 0 (the plan
   gate then weighs that 0 against the plan, so a few zero weeks do not overrule a plan, but
   eight do).
7. **Noise.** sigma = 1.4826 x median |one-step residual| over the weeks BEFORE the trailing
   window (all weeks when fewer than 4), so a recent shift does not inflate it; floored at
   sqrt(the larger of the mean weekly actual and the mean window plan) -- the Poisson noise
   of the series, and the noise the plan itself implies -- and at 0.5 unit.
8. **Plan gate.** Two tests, either of which moves a series off the plan:
   - *the backtest*: per series, the model's forecasts made at each backtest origin (its
     level then x the shape) and the plan, for the `horizon` weeks after the origin, each
     scored sum|e| + |sum e| over the cells where the actual, the plan and the model all
     exist. Per product family x region, the sign test over its series
     (`_Backtest.plan_kept`) keeps the plan (weight b = 0) or the model (b = 1);
   - *the shift test* over the trailing window weeks that have a plan and an observed
     actual (A is the cleaned actual of steps 1-2; the same A makes window_actual_units):
     tracking_signal = sum(A - P) / mean|A - P|, z = sum(A - P) / (sigma x sqrt(n));
     weight k_z = clip((|z| - gate_z_low) / (gate_z_high - gate_z_low), 0, 1); 0 for an
     intermittent series (as for the level shift, a run of a few units is too weak a signal:
     such a series leaves the plan only through the backtest).
   k = max(b, k_z); sensed = plan + k x (model - plan) where the horizon week has a plan,
   else the model. Without plan history (fewer than 2 window weeks with a plan) or without
   any plan for the horizon k = 1 (the model); for the plan-based fallbacks k = 0. Sensed
   and model units are never negative.

The result is deterministic: the same inputs, in any row order, give identical outputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from soe_pipeline.sensing.baselines import combined_path, ses_path
from soe_pipeline.sensing.family import FamilyShape, family_shape
from soe_pipeline.sensing.smoothing import MAD_TO_SIGMA, cap_outliers, first_index, row_nanmedian

SERIES_KEY = ["sku", "location_id"]
SERIES_ROW = "series_row"  # in actuals and plan, may stand for SERIES_KEY (see `sense`)
WEEK_INDEX = "week_index"  # in actuals and plan, may stand for week_start (see `sense`)
GROUP_KEY = ["product_family", "region"]

MAX_HISTORY_WEEKS = 156
MIN_MODEL_WEEKS = 8  # below: short-history fallbacks
MIN_OWN_HISTORY_WEEKS = 4  # below, with a plan: the plan is the model
INTERMITTENT_ZERO_SHARE = 0.5
INTERMITTENT_INTERVAL = 1.32  # Syntetos-Boylan cut-off on the average inter-demand interval
LEVEL_SHIFT_Z = 3.5
LEVEL_SHIFT_MIN_WEEKS = 3
MIN_PRE_WINDOW_WEEKS = 4  # for sigma and the level-shift test
MIN_GATE_WEEKS = 2
SIGMA_FLOOR_UNITS = 0.5
BACKTEST_WEEKS = 26  # trailing weeks whose origins judge the family shape and the plan
SHAPE_TEST_ALPHA = 0.2  # SES weight of the family-shape test
SIGN_TEST_Z = 2.0  # the backtest's plan-or-model verdict needs this many standard deviations
_BLOCK_ROWS = 4_096  # series per block of the combined model: its arrays stay small

METHODS = {
    "combined_x_family_shape": "mean of SES, moving average (and TSB) x the family-region shape",
    "combined_flat": "mean of SES, moving average (and TSB), flat (the family shape did not help)",
    "level_shift_x_family_shape": "level re-estimated on the recent weeks after a shift x shape",
    "level_shift_flat": "level re-estimated on the recent weeks after a shift, flat",
    "short_history_mean": f"fewer than {MIN_MODEL_WEEKS} weeks of history: their mean, flat",
    "short_history_plan": f"fewer than {MIN_OWN_HISTORY_WEEKS} weeks of history: the plan",
    "new_item_plan": "no actuals yet: the plan",
    "no_history_no_plan": "no actuals and no plan: 0",
    "all_zero_history": "actuals reported but never positive: 0",
}
PLAN_METHODS = ("short_history_plan", "new_item_plan")
COMBINED_METHODS = ("combined_x_family_shape", "combined_flat")
SHIFT_METHODS = ("level_shift_x_family_shape", "level_shift_flat")

SEASON_LABELS = {
    "holt_winters_damped": "Holt-Winters season",
    "holt_damped": "damped-trend shape",
    "ses": "family level shape",
}


@dataclass(frozen=True)
class SensingSettings:
    horizon_weeks: int = 4  # sensing horizon: weeks 0..horizon_weeks-1 from week0_start
    window_weeks: int = 8  # trailing tracking window (weeks -8..-1)
    gate_z_low: float = 2.5  # below: sensed = plan
    gate_z_high: float = 3.5  # above: sensed = model; linear blend in between

    def __post_init__(self) -> None:
        if self.horizon_weeks < 1:
            raise ValueError(f"horizon_weeks must be >= 1, got {self.horizon_weeks}")
        if not 2 <= self.window_weeks < MAX_HISTORY_WEEKS:
            raise ValueError(f"window_weeks must be in 2..{MAX_HISTORY_WEEKS - 1}")
        if not 0 <= self.gate_z_low < self.gate_z_high:
            raise ValueError("need 0 <= gate_z_low < gate_z_high")


@dataclass
class SensingResult:
    forecast: pd.DataFrame  # one row per series x horizon week
    series: pd.DataFrame  # one row per series: the model used and why
    groups: pd.DataFrame  # one row per product_family x region: the statsmodels model fitted

    @classmethod
    def concat(cls, parts: list[SensingResult]) -> SensingResult:
        """The results of batches of whole product family x region groups (see `sense`) as
        the one result of all their series, in the same order."""

        def combined(name: str, by: list[str]) -> pd.DataFrame:
            frame = pd.concat([getattr(part, name) for part in parts], ignore_index=True)
            return frame.sort_values(by, kind="stable", ignore_index=True)

        return cls(
            forecast=combined("forecast", [*SERIES_KEY, "week_index"]),
            series=combined("series", SERIES_KEY),
            groups=combined("groups", GROUP_KEY),
        )


def sense(
    actuals: pd.DataFrame,
    series: pd.DataFrame,
    plan: pd.DataFrame,
    week0_start: dt.date,
    settings: SensingSettings = SensingSettings(),
) -> SensingResult:
    """Sensed forecast for every SKU-location of `series` over the sensing horizon.

    actuals: sku, location_id, week_start, units (weeks before week0_start; missing = 0).
    series: sku, location_id, product_family, region (one row per SKU-location to forecast).
    plan: sku, location_id, week_start, plan_units (the committed plan; missing = no plan).

    In actuals and plan, a `series_row` column (the position of the row's SKU-location in
    `series`, from 0) can stand for sku and location_id, and a `week_index` column (whole
    weeks from week0_start's week: -1 for the week before) for week_start: with millions of
    rows, integers cost far less time and memory than key strings and dates.
    """
    return sense_batches([lambda: (actuals, series, plan)], week0_start, settings)


def sense_batches(
    batches: Sequence[Callable[[], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]],
    week0_start: dt.date,
    settings: SensingSettings = SensingSettings(),
) -> SensingResult:
    """`sense` over batches of whole product family x region groups, each given by a
    function that reads its (actuals, series, plan): identical results to all series in one
    batch, in the memory of the largest batch. (A batch's matrix may cover fewer weeks than
    another's: weeks before a series' first actual are unknown, not zero.)

    Series are independent except within a group (its shape is fitted on all its series,
    and its shape, level shift and plan judged on them) and for two verdicts over all
    series: the defaults of the family-shape and the plan verdicts (`_Tally.won`). With
    several batches, each batch is read twice: first for the family-shape test alone, then
    modelled with the shape default of all batches; the plan gate of each is settled once
    every batch has been modelled, from their small remains (no series x week matrix).
    """
    week0 = np.datetime64(pd.Timestamp(week0_start).date(), "D")
    shape_default = None  # one batch: its own series give the default
    if len(batches) > 1:
        tallies = [_Prepared.read(*read(), week0, settings).shape_tally() for read in batches]
        shape_default = _Tally.sum(tallies).overall()
    pending = [
        _model_batch(_Prepared.read(*read(), week0, settings), settings, shape_default)
        for read in batches
    ]
    shift_default = _Tally.sum([p.shifts.tally for p in pending]).overall()
    plan_default = _Tally.sum([p.backtest.model_over_plan for p in pending]).overall()
    parts = [p.finish(shift_default, plan_default) for p in pending]
    return parts[0] if len(parts) == 1 else SensingResult.concat(parts)


@dataclass
class _Prepared:
    """A batch read into matrices, with its family shapes fitted."""

    keys: pd.DataFrame
    week0: np.datetime64
    group_codes: np.ndarray
    history: _History
    plan_past: np.ndarray  # (n, backtest weeks)
    plan_horizon: np.ndarray  # (n, H)
    shapes: list[FamilyShape]
    group_frame: pd.DataFrame
    method: np.ndarray  # the base method of each series

    @classmethod
    def read(
        cls,
        actuals: pd.DataFrame,
        series: pd.DataFrame,
        plan: pd.DataFrame,
        week0: np.datetime64,
        settings: SensingSettings,
    ) -> _Prepared:
        _require(series, [*SERIES_KEY, *GROUP_KEY], "series")
        horizon = settings.horizon_weeks
        keys = series.drop_duplicates(SERIES_KEY).sort_values(SERIES_KEY, ignore_index=True)
        index = pd.MultiIndex.from_frame(keys[SERIES_KEY])
        group_codes, group_keys = _group_codes(keys)

        actual_rows = _matrix_rows(actuals, "units", "actuals", series, index)
        raw, reported = _actuals_matrix(
            actuals, actual_rows, len(keys), week0, settings.window_weeks
        )
        backtest = min(BACKTEST_WEEKS, raw.shape[1])
        plan_rows = _matrix_rows(plan, "plan_units", "plan", series, index)
        plan_matrix = _weekly_matrix(
            plan, "plan_units", plan_rows, len(keys), week0, -backtest, backtest + horizon
        )[0]
        plan_horizon = plan_matrix[:, backtest:]
        history = _History.build(raw, reported)
        del raw, reported
        shapes, group_frame = _family_shapes(history, group_codes, group_keys, horizon)
        return cls(
            keys=keys,
            week0=week0,
            group_codes=group_codes,
            history=history,
            plan_past=plan_matrix[:, :backtest],
            plan_horizon=plan_horizon,
            shapes=shapes,
            group_frame=group_frame,
            method=_base_methods(history, _has_future_plan(plan_horizon)),
        )

    @property
    def backtest_weeks(self) -> int:
        return self.plan_past.shape[1]

    def shape_tally(self) -> _Tally:
        return _shape_tally(
            self.history,
            self.method,
            self.shapes,
            self.group_codes,
            self.history.n_weeks - self.backtest_weeks,
        )


def _has_future_plan(plan_horizon: np.ndarray) -> np.ndarray:
    """Per series: whether some horizon week has a plan."""
    return ~np.isnan(plan_horizon).all(axis=1)


def _has_shape(shapes: list[FamilyShape]) -> np.ndarray:
    """Per group: whether statsmodels fitted a family shape (enough weeks for one)."""
    return np.array([s.fit.model != "none" for s in shapes], dtype=bool)


def _model_batch(
    batch: _Prepared, settings: SensingSettings, shape_default: bool | None
) -> _Pending:
    """Everything of one batch but the plan gate's verdict (`sense_batches`); the shape
    verdict's default is `shape_default`, or this batch's own when None."""
    horizon, window = settings.horizon_weeks, settings.window_weeks
    history, method, group_codes = batch.history, batch.method.copy(), batch.group_codes
    n_groups, n_weeks, backtest = len(batch.shapes), history.n_weeks, batch.backtest_weeks
    plan_window = batch.plan_past[:, -window:]

    split = n_weeks - window  # first week of the trailing window
    judged_from = n_weeks - backtest  # first backtest origin
    model = _Model.empty(len(batch.keys), n_weeks, horizon, backtest)
    shape_tally = batch.shape_tally()
    shape_kept = _has_shape(batch.shapes) & shape_tally.won(
        shape_tally.overall() if shape_default is None else shape_default
    )
    _fit_regular(model, history, method, batch.shapes, shape_kept, group_codes, split, judged_from)
    _fit_short(model, history, method, batch.plan_horizon)

    sigma = _sigma(model, history, plan_window, split)
    backtest_scores = _backtest(model, history, batch.plan_past, group_codes, n_groups, horizon)
    gate = _gate(history, plan_window, _has_future_plan(batch.plan_horizon), sigma, settings)
    # A level is re-estimated only where the actuals have also left the plan (or there is
    # no plan to leave): on real sales, re-estimating on every run that left the model's
    # own prediction follows noise (issue 25's panel).
    unplanned = ~gate.tracked | ~gate.has_future_plan
    shift_tally = _shift_tally(
        model, history, method, sigma, group_codes, n_groups, window, horizon
    )
    allowed = unplanned | (gate.shift_weight > 0)
    shifts = _level_shifts(model, history, method, sigma, split, allowed, shift_tally)
    frame = batch.group_frame.copy()
    frame["shape_kept"] = shape_kept
    return _Pending(
        keys=batch.keys,
        week0=batch.week0,
        model_units=np.clip(model.units, 0, None),
        plan_horizon=batch.plan_horizon,
        method=method,
        gate=gate,
        sigma=sigma,
        facts=_SeriesFacts.of(history, model),
        group_frame=frame,
        group_codes=group_codes,
        backtest=backtest_scores,
        backtest_weeks=backtest,
        shifts=shifts,
    )


@dataclass
class _SeriesFacts:
    """What the series table says of each series' history and model."""

    history_weeks: np.ndarray
    nonzero_weeks: np.ndarray
    intermittent: np.ndarray
    alpha: np.ndarray
    ma_weeks: np.ndarray
    level: np.ndarray
    shift_weeks: np.ndarray

    @classmethod
    def of(cls, history: _History, model: _Model) -> _SeriesFacts:
        return cls(
            history.history_weeks,
            history.nonzero_weeks,
            history.intermittent,
            model.alpha,
            model.ma_weeks,
            model.level,
            model.shift_weeks,
        )


@dataclass
class _Pending:
    """A modelled batch waiting for the plan's default verdict (`sense_batches`)."""

    keys: pd.DataFrame
    week0: np.datetime64
    model_units: np.ndarray  # (n, H), >= 0
    plan_horizon: np.ndarray  # (n, H), NaN: no plan
    method: np.ndarray
    gate: _Gate  # weight not yet set
    sigma: np.ndarray
    facts: _SeriesFacts
    group_frame: pd.DataFrame
    group_codes: np.ndarray
    backtest: _Backtest
    backtest_weeks: int
    shifts: _LevelShifts

    def finish(self, shift_default: bool, plan_default: bool) -> SensingResult:
        """The kept level shifts, the plan gate (module docstring, step 8) and the output
        tables; the defaults: whether the shift helped, and the model beat the plan, over
        all series (`_Tally.won`)."""
        model_units, method, facts = self.shifts.apply(
            shift_default, self.group_codes, self.model_units, self.method, self.facts
        )
        plan_kept = self.backtest.plan_kept(plan_default)
        gate = self.gate.weighed(~plan_kept[self.group_codes], method)
        plan = self.plan_horizon
        sensed = np.where(
            np.isnan(plan), model_units, plan + gate.weight[:, None] * (model_units - plan)
        )
        sensed = np.clip(sensed, 0, None)
        group_frame = _group_judgements(self.group_frame, self.backtest, plan_kept)
        return SensingResult(
            forecast=_forecast_frame(self.keys, self.week0, model_units, sensed, plan),
            series=_series_frame(
                self.keys,
                facts,
                method,
                gate,
                self.sigma,
                group_frame,
                self.group_codes,
                self.backtest_weeks,
            ),
            groups=group_frame,
        )


# --- inputs -----------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; it has {list(frame.columns)}")


def _group_codes(keys: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    groups = keys[GROUP_KEY].drop_duplicates().sort_values(GROUP_KEY, ignore_index=True)
    codes = pd.MultiIndex.from_frame(groups).get_indexer(pd.MultiIndex.from_frame(keys[GROUP_KEY]))
    return codes, groups


def _matrix_rows(
    frame: pd.DataFrame, column: str, name: str, series: pd.DataFrame, index: pd.MultiIndex
) -> np.ndarray:
    """The matrix row of each row of `frame` (actuals or plan): the position of its
    SKU-location in `index`, -1 when that is not one of `series`."""
    week = WEEK_INDEX if WEEK_INDEX in frame.columns else "week_start"
    if SERIES_ROW not in frame.columns:
        _require(frame, [*SERIES_KEY, week, column], name)
        return index.get_indexer(pd.MultiIndex.from_arrays([frame[c] for c in SERIES_KEY]))
    _require(frame, [SERIES_ROW, week, column], name)
    # Matrix row of each position in `series`, and -1 for a position outside it (last).
    row_of_position = np.append(index.get_indexer(pd.MultiIndex.from_frame(series[SERIES_KEY])), -1)
    positions = frame[SERIES_ROW].to_numpy(dtype=np.int64, na_value=-1)
    outside = (positions < 0) | (positions >= len(series))
    return row_of_position[np.where(outside, len(series), positions)]


def _actuals_matrix(
    actuals: pd.DataFrame, rows: np.ndarray, n_series: int, week0: np.datetime64, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """(series x week) units summed per week, and whether any row was reported that week.
    Weeks run from -n_weeks to -1; n_weeks covers the oldest actual (capped at
    MAX_HISTORY_WEEKS) and at least the window plus one week."""
    offsets = _week_offsets(actuals, week0)
    past = offsets[(offsets < 0) & (offsets >= -MAX_HISTORY_WEEKS)]
    oldest = int(-past.min()) if len(past) else 0
    n_weeks = max(oldest, window + 1)
    return _weekly_matrix(actuals, "units", rows, n_series, week0, -n_weeks, n_weeks, offsets)


def _weekly_matrix(
    frame: pd.DataFrame,
    column: str,
    rows: np.ndarray,
    n_series: int,
    week0: np.datetime64,
    first_week: int,
    n_weeks: int,
    offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of `column` per series x week for weeks first_week .. first_week + n_weeks - 1;
    NaN where no row was given (the second array says where rows were given). `rows` is
    the matrix row of each row of `frame` (-1: none)."""
    if offsets is None:
        offsets = _week_offsets(frame, week0)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    columns = offsets - first_week
    keep = (rows >= 0) & (columns >= 0) & (columns < n_weeks) & ~np.isnan(values)
    cell = rows[keep].astype(np.int64) * n_weeks + columns[keep]
    size = n_series * n_weeks
    total = np.bincount(cell, weights=values[keep], minlength=size).reshape(n_series, n_weeks)
    given = np.bincount(cell, minlength=size).reshape(n_series, n_weeks) > 0
    return np.where(given, total, np.nan), given


def _week_offsets(frame: pd.DataFrame, week0: np.datetime64) -> np.ndarray:
    """Week index of each row relative to week0 (week0's week is 0, the one before -1):
    its `week_index`, or computed from its `week_start`; a huge positive number for a
    missing week so it is dropped."""
    missing = np.iinfo(np.int64).max // 4
    if WEEK_INDEX in frame.columns:
        return frame[WEEK_INDEX].to_numpy(dtype=np.int64, na_value=missing)
    week_start = frame["week_start"]
    codes, uniques = pd.factorize(week_start)
    if len(uniques) == 0:
        return np.full(len(week_start), missing, dtype=np.int64)
    days = (pd.to_datetime(pd.Index(uniques)).values.astype("datetime64[D]") - week0).astype(
        np.int64
    )
    offsets = np.floor_divide(days, 7)
    return np.where(codes >= 0, offsets[codes], missing)


# --- history ----------------------------------------------------------------------------


@dataclass
class _History:
    """The cleaned weekly actuals and what they say about each series."""

    capped: np.ndarray  # (n, T) clipped at 0, outliers capped, NaN before the span
    reported_from: np.ndarray  # first week with any actual row (T if none)
    start: np.ndarray  # first week with positive units: the span (T if none)
    history_weeks: np.ndarray
    nonzero_weeks: np.ndarray
    intermittent: np.ndarray

    @property
    def n_weeks(self) -> int:
        return self.capped.shape[1]

    @property
    def has_rows(self) -> np.ndarray:
        return self.reported_from < self.n_weeks

    @property
    def has_demand(self) -> np.ndarray:
        return self.start < self.n_weeks

    @classmethod
    def build(cls, raw: np.ndarray, reported: np.ndarray) -> _History:
        n_weeks = raw.shape[1]
        clipped = np.clip(np.nan_to_num(raw, nan=0.0), 0, None)
        start = first_index(clipped > 0)
        reported_from = first_index(reported)
        in_span = np.arange(n_weeks)[None, :] >= start[:, None]
        capped = cap_outliers(np.where(in_span, clipped, np.nan))
        span_weeks = n_weeks - start
        # An all-zero history counts the weeks since the first reported row.
        history_weeks = np.where(start < n_weeks, span_weeks, n_weeks - reported_from)
        nonzero = (capped > 0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            zero_share = 1 - nonzero / span_weeks
            interval = span_weeks / nonzero
        intermittent = (start < n_weeks) & (
            (zero_share > INTERMITTENT_ZERO_SHARE) | (interval > INTERMITTENT_INTERVAL)
        )
        return cls(capped, reported_from, start, history_weeks, nonzero, intermittent)

    def window_actuals(self, split: int) -> np.ndarray:
        """Capped actuals of the trailing window; 0 between the first reported row and the
        first positive week, NaN before anything was reported."""
        columns = np.arange(split, self.n_weeks)
        observed = columns[None, :] >= self.reported_from[:, None]
        return np.where(observed, np.nan_to_num(self.capped[:, split:], nan=0.0), np.nan)


def _family_shapes(
    history: _History, group_codes: np.ndarray, group_keys: pd.DataFrame, horizon: int
) -> tuple[list[FamilyShape], pd.DataFrame]:
    """Fit each product family x region on its aggregated actuals.

    The aggregate of week t is sum(actuals of the series active at t) / sum(their mean
    weekly actuals) x sum(mean weekly actuals of all the group's series): the plain sum when
    every series covers the whole history, and no jump when a new SKU-location starts.
    """
    n_groups, n_weeks = len(group_keys), history.n_weeks
    capped = history.capped
    active = ~np.isnan(capped)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_units = np.where(history.has_demand, np.nansum(capped, axis=1) / active.sum(axis=1), 0)
    filled = np.nan_to_num(capped, nan=0.0)
    units_sum = np.zeros((n_groups, n_weeks))
    scale_sum = np.zeros((n_groups, n_weeks))
    for g in range(n_groups):
        # Row by row in series order, as np.add.at would add them, but several times faster.
        members = group_codes == g
        units_sum[g] = filled[members].sum(axis=0)
        scale_sum[g] = (active[members] * mean_units[members, None]).sum(axis=0)
    scale_total = np.bincount(group_codes, weights=mean_units, minlength=n_groups)
    n_series = np.bincount(group_codes, weights=history.has_demand, minlength=n_groups)
    group_start = np.full(n_groups, n_weeks)
    np.minimum.at(group_start, group_codes, history.start)

    shapes, rows = [], []
    for g in range(n_groups):
        with np.errstate(invalid="ignore", divide="ignore"):
            aggregate = np.where(
                scale_sum[g] > 0, units_sum[g] / scale_sum[g] * scale_total[g], 0.0
            )
        shape = family_shape(aggregate, int(n_weeks - group_start[g]), horizon)
        shapes.append(shape)
        rows.append(
            {
                "model": shape.fit.model,
                **shape.fit.params,
                "n_weeks": shape.n_weeks,
                "n_series": int(n_series[g]),
                "aicc": shape.fit.aicc,
            }
        )
    frame = pd.concat([group_keys, pd.DataFrame(rows, index=group_keys.index)], axis=1)
    frame = frame.reindex(
        columns=[
            *GROUP_KEY,
            "model",
            "alpha",
            "beta",
            "gamma",
            "phi",
            "n_weeks",
            "n_series",
            "aicc",
        ]
    )
    for column in ("alpha", "beta", "gamma", "phi", "aicc"):
        frame[column] = pd.array(frame[column].astype(float), dtype="Float64")
    frame["n_weeks"] = frame["n_weeks"].astype(np.int64)
    frame["n_series"] = frame["n_series"].astype(np.int64)
    return shapes, frame


# --- models -----------------------------------------------------------------------------


@dataclass
class _Model:
    """What each series' model says: horizon units, level, alpha and what the tests need."""

    units: np.ndarray  # (n, H)
    level: np.ndarray
    alpha: np.ndarray  # NaN where the method has none
    level_before_window: np.ndarray  # smoothed level before the trailing window, else NaN
    shape_history: np.ndarray  # (n, T) family shape of smoothed series, else NaN
    shape_horizon: np.ndarray  # (n, H): units = level x shape_horizon for smoothed series
    residuals: np.ndarray  # (n, T) one-step residuals in units, NaN where none
    shift_weeks: np.ndarray  # weeks of the level-shift run, 0 when none
    origin_levels: np.ndarray  # (n, backtest) level the model had at each backtest origin
    origin_alphas: np.ndarray  # (n, backtest) SES alpha chosen at each backtest origin
    window_levels: np.ndarray  # (n, backtest) level before each origin's trailing window
    ma_weeks: np.ndarray  # moving-average window of the combination, 0 where none

    @classmethod
    def empty(cls, n_series: int, n_weeks: int, horizon: int, backtest: int) -> _Model:
        return cls(
            units=np.zeros((n_series, horizon)),
            level=np.zeros(n_series),
            alpha=np.full(n_series, np.nan),
            level_before_window=np.full(n_series, np.nan),
            shape_history=np.full((n_series, n_weeks), np.nan),
            shape_horizon=np.ones((n_series, horizon)),
            residuals=np.full((n_series, n_weeks), np.nan),
            shift_weeks=np.zeros(n_series, dtype=np.int64),
            origin_levels=np.full((n_series, backtest), np.nan),
            origin_alphas=np.full((n_series, backtest), np.nan),
            window_levels=np.full((n_series, backtest), np.nan),
            ma_weeks=np.zeros(n_series, dtype=np.int64),
        )


def _base_methods(history: _History, has_future_plan: np.ndarray) -> np.ndarray:
    weeks = history.history_weeks
    conditions = [
        ~history.has_rows & has_future_plan,
        ~history.has_rows,
        ~history.has_demand,
        (weeks < MIN_OWN_HISTORY_WEEKS) & has_future_plan,
        weeks < MIN_MODEL_WEEKS,
    ]
    choices = [
        "new_item_plan",
        "no_history_no_plan",
        "all_zero_history",
        "short_history_plan",
        "short_history_mean",
    ]
    return np.select(conditions, choices, default="combined_x_family_shape").astype(object)


def _shape_tally(
    history: _History,
    method: np.ndarray,
    shapes: list[FamilyShape],
    group_codes: np.ndarray,
    judged_from: int,
) -> _Tally:
    """Per group: on how many of its series its family shape helped, and on how many it
    hurt, over the backtest origins (module docstring, step 3). A group without a shape
    model has none."""
    n_groups = len(shapes)
    rows = np.flatnonzero((method == "combined_x_family_shape") & _has_shape(shapes)[group_codes])
    if len(rows) == 0:
        return _Tally(np.zeros(n_groups), np.zeros(n_groups))
    # Per series: |e| and e summed, of the shaped (0, 1) and the flat forecast (2, 3).
    errors = np.zeros((4, len(rows)))
    group_shapes = np.stack([s.history for s in shapes])
    for first in range(0, len(rows), _BLOCK_ROWS):
        block = rows[first : first + _BLOCK_ROWS]
        capped = history.capped[block]
        shape = group_shapes[group_codes[block]]
        actual = capped[:, judged_from:]
        shape_span = shape[:, judged_from:]
        shaped = ses_path(capped / shape, SHAPE_TEST_ALPHA)[:, judged_from:-1]
        flat = ses_path(capped, SHAPE_TEST_ALPHA)[:, judged_from:-1]
        # One step ahead only: the fitted shape of a later week has seen the weeks between.
        part = slice(first, first + len(block))
        errors[0:2, part] = _errors(shaped, shape_span, actual, 1).model
        errors[2:4, part] = _errors(flat, np.ones_like(shape_span), actual, 1).model
    shaped_score = errors[0] + np.abs(errors[1])
    flat_score = errors[2] + np.abs(errors[3])
    return _Tally.of(group_codes[rows], n_groups, shaped_score, flat_score)


@dataclass
class _Errors:
    """Per series, the backtest errors of the model and (given a plan) of the plan over the
    same cells, and the actual units of those cells."""

    model: tuple[np.ndarray, np.ndarray]  # sum|e|, sum e
    plan: tuple[np.ndarray, np.ndarray]  # zeros when no plan was given
    units: np.ndarray


def _errors(
    levels: np.ndarray,
    shape: np.ndarray,
    actual: np.ndarray,
    horizon: int,
    plan: np.ndarray | None = None,
) -> _Errors:
    """A backtest over a span of weeks: for every origin o of the span and week w = o ..
    o + horizon - 1 inside it, the model's forecast levels[o] x shape[w] (and the plan's
    plan[w]) against actual[w], over the cells where the forecast and the actual (and the
    plan, when given) exist. All arrays are (series, span)."""
    n, span = actual.shape
    sums = np.zeros((5, n))  # model |e|, model e, plan |e|, plan e, actual units
    for step in range(min(horizon, span)):
        forecast = levels[:, : span - step] * shape[:, step:]
        observed = actual[:, step:]
        used = ~np.isnan(forecast) & ~np.isnan(observed)
        if plan is not None:
            used &= ~np.isnan(plan[:, step:])
            plan_error = np.where(used, plan[:, step:] - observed, 0.0)
            sums[2] += np.abs(plan_error).sum(axis=1)
            sums[3] += plan_error.sum(axis=1)
        error = np.where(used, forecast - observed, 0.0)
        sums[0] += np.abs(error).sum(axis=1)
        sums[1] += error.sum(axis=1)
        sums[4] += np.where(used, observed, 0.0).sum(axis=1)
    return _Errors((sums[0], sums[1]), (sums[2], sums[3]), sums[4])


def _pooled_score(
    codes: np.ndarray, n_groups: int, errors: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """sum|e| + |sum e| pooled per group (the VN1 score times the actual units), from the
    per-series sum|e| and sum e."""
    absolute, total = errors
    pooled_absolute = np.bincount(codes, weights=absolute, minlength=n_groups)
    pooled_total = np.bincount(codes, weights=total, minlength=n_groups)
    return pooled_absolute + np.abs(pooled_total)


def _fit_regular(
    model: _Model,
    history: _History,
    method: np.ndarray,
    shapes: list[FamilyShape],
    shape_kept: np.ndarray,
    group_codes: np.ndarray,
    split: int,
    judged_from: int,
) -> None:
    rows = np.flatnonzero(method == "combined_x_family_shape")
    if len(rows) == 0:
        return
    codes = group_codes[rows]
    kept = shape_kept[codes]
    shape_history = np.where(kept[:, None], np.stack([s.history for s in shapes])[codes], 1.0)
    shape_horizon = np.where(kept[:, None], np.stack([s.horizon for s in shapes])[codes], 1.0)
    method[rows[~kept]] = "combined_flat"

    deseasonalised = history.capped[rows] / shape_history
    # TSB models the chance of a sale: on a series that sells every week it is one more
    # SES (alpha 0.1) that lags the level (issue 25's panel: +1 % bias on M5).
    with_tsb = history.nonzero_weeks[rows] < history.history_weeks[rows]
    # The week each backtest origin's trailing window starts with (as split for week 0).
    before_window = np.arange(judged_from, history.n_weeks) - (history.n_weeks - split)
    for first in range(0, len(rows), _BLOCK_ROWS):
        block = slice(first, first + _BLOCK_ROWS)
        target = rows[block]
        path, alpha, window = combined_path(deseasonalised[block], with_tsb[block])
        model.level[target] = path[:, -1]
        model.alpha[target] = alpha[:, -1]
        model.ma_weeks[target] = window[:, -1]
        model.level_before_window[target] = path[:, split]
        model.origin_levels[target] = path[:, judged_from:-1]
        model.origin_alphas[target] = alpha[:, judged_from:-1]
        model.window_levels[target] = np.where(
            before_window >= 0, path[:, np.clip(before_window, 0, None)], np.nan
        )
        model.residuals[target] = (deseasonalised[block] - path[:, :-1]) * shape_history[block]
    model.units[rows] = model.level[rows, None] * shape_horizon
    model.shape_history[rows] = shape_history
    model.shape_horizon[rows] = shape_horizon


def _fit_short(
    model: _Model, history: _History, method: np.ndarray, plan_horizon: np.ndarray
) -> None:
    rows = np.flatnonzero(method == "short_history_mean")
    if len(rows):
        capped = history.capped[rows]
        mean = np.nansum(capped, axis=1) / (~np.isnan(capped)).sum(axis=1)
        model.units[rows] = mean[:, None]
        model.level[rows] = mean
        model.residuals[rows] = capped - mean[:, None]
    rows = np.flatnonzero(np.isin(method, PLAN_METHODS))
    if len(rows):
        # A horizon week without a plan continues the mean plan of the others.
        planned = plan_horizon[rows]
        mean_plan = np.nanmean(planned, axis=1)
        model.units[rows] = np.where(np.isnan(planned), mean_plan[:, None], planned)
        model.level[rows] = mean_plan
    # all_zero_history and no_history_no_plan keep the empty model: 0.


def _sigma(model: _Model, history: _History, plan_window: np.ndarray, split: int) -> np.ndarray:
    """Weekly noise: robust scale of the one-step residuals before the window (all weeks
    when fewer than MIN_PRE_WINDOW_WEEKS), floored at Poisson size; NaN without actuals."""
    before = model.residuals[:, :split]
    enough = (~np.isnan(before)).sum(axis=1) >= MIN_PRE_WINDOW_WEEKS
    robust = MAD_TO_SIGMA * np.where(
        enough, row_nanmedian(np.abs(before)), row_nanmedian(np.abs(model.residuals))
    )
    capped_before = history.capped[:, :split]
    has_before = (~np.isnan(capped_before)).sum(axis=1) >= MIN_PRE_WINDOW_WEEKS
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_before = np.nansum(capped_before, axis=1) / (~np.isnan(capped_before)).sum(axis=1)
        mean_all = np.nansum(history.capped, axis=1) / (~np.isnan(history.capped)).sum(axis=1)
        window_actuals = history.window_actuals(split)
        planned = np.where(np.isnan(window_actuals), np.nan, plan_window)
        mean_plan = np.nansum(planned, axis=1) / (~np.isnan(planned)).sum(axis=1)
    typical = np.fmax(np.where(has_before, mean_before, mean_all), mean_plan)
    typical = np.nan_to_num(typical, nan=0.0)
    sigma = np.fmax(np.nan_to_num(robust, nan=0.0), np.sqrt(np.clip(typical, 0, None)))
    sigma = np.fmax(sigma, SIGMA_FLOOR_UNITS)
    return np.where(history.has_rows, sigma, np.nan)


@dataclass
class _LevelShifts:
    """The series whose level the shift test re-estimates (module docstring, step 5), and
    per group whether that helped over the backtest (a `_Tally`); applied by `apply` once
    the verdict over all series is known."""

    rows: np.ndarray
    weeks: np.ndarray  # weeks of each row's shift run
    level: np.ndarray  # each row's level after the shift
    units: np.ndarray  # (rows, H): each row's model units after the shift
    tally: _Tally

    def apply(
        self,
        default: bool,
        group_codes: np.ndarray,
        model_units: np.ndarray,
        method: np.ndarray,
        facts: _SeriesFacts,
    ) -> tuple[np.ndarray, np.ndarray, _SeriesFacts]:
        """The model units, methods and facts with the kept shifts; `default`: whether the
        shift helped over all series."""
        kept = self.tally.won(default)[group_codes[self.rows]]
        rows = self.rows[kept]
        model_units, method = model_units.copy(), method.copy()
        level, weeks = facts.level.copy(), facts.shift_weeks.copy()
        model_units[rows] = np.clip(self.units[kept], 0, None)
        level[rows] = self.level[kept]
        weeks[rows] = self.weeks[kept]
        relabel = dict(zip(COMBINED_METHODS, SHIFT_METHODS, strict=True))
        method[rows] = [relabel[m] for m in method[rows]]
        return model_units, method, replace(facts, level=level, shift_weeks=weeks)


def _level_shifts(
    model: _Model,
    history: _History,
    method: np.ndarray,
    sigma: np.ndarray,
    split: int,
    allowed: np.ndarray,
    tally: _Tally,
) -> _LevelShifts:
    """The series whose recent run of weeks left the model's own pre-window prediction by
    more than LEVEL_SHIFT_Z noise units, and their level on that run (module docstring)."""
    # Not for intermittent series: a short run of a few units is too weak a signal there.
    smoothed = np.isin(method, COMBINED_METHODS) & ~history.intermittent
    eligible = smoothed & allowed & (history.start <= split - MIN_PRE_WINDOW_WEEKS)
    rows = np.flatnonzero(eligible)
    shifted, run_weeks, level = _shift_runs(
        history.capped[rows, split:],
        model.shape_history[rows, split:],
        model.level_before_window[rows],
        model.alpha[rows],
        sigma[rows],
    )
    rows, run_weeks, level = rows[shifted], run_weeks[shifted], level[shifted]
    units = level[:, None] * model.shape_horizon[rows]
    return _LevelShifts(rows, run_weeks, level, units, tally)


def _shift_runs(
    actual: np.ndarray,
    shape: np.ndarray,
    level_before: np.ndarray,
    alpha: np.ndarray,
    sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The level-shift test over a trailing window (rows x window weeks, module docstring
    step 5): per row, whether its most significant suffix run of at least
    LEVEL_SHIFT_MIN_WEEKS weeks left the pre-window level by LEVEL_SHIFT_Z, the run's weeks,
    and the level after it (the run's own)."""
    deviation = actual - level_before[:, None] * shape
    window = actual.shape[1]
    # Suffix sums: element s covers weeks s .. window-1 of the window.
    suffix_deviation = np.cumsum(deviation[:, ::-1], axis=1)[:, ::-1]
    suffix_weeks = np.arange(window, 0, -1)
    # The pre-window level is itself an estimate: its error (variance sigma^2 x
    # alpha / (2 - alpha) for exponential smoothing) is shared by every week of the run.
    alpha = alpha[:, None]
    run_variance = suffix_weeks + suffix_weeks**2 * alpha / (2 - alpha)
    score = np.abs(suffix_deviation) / (sigma[:, None] * np.sqrt(run_variance))
    score[:, suffix_weeks < LEVEL_SHIFT_MIN_WEEKS] = -np.inf
    best = np.argmax(score, axis=1)
    shifted = score[np.arange(len(actual)), best] >= LEVEL_SHIFT_Z
    in_run = np.arange(window)[None, :] >= best[:, None]
    run_units = np.where(in_run, actual, 0.0).sum(axis=1)
    # A run without a sale is not a new level of a series that sells most weeks: it is a
    # stock-out or missing data more often than demand gone (the moving average and TSB
    # follow a real end of sales).
    shifted &= run_units > 0
    run_shape = np.where(in_run, shape, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = run_units / run_shape
    return shifted, window - best, level


def _shift_tally(
    model: _Model,
    history: _History,
    method: np.ndarray,
    sigma: np.ndarray,
    group_codes: np.ndarray,
    n_groups: int,
    window: int,
    horizon: int,
) -> _Tally:
    """Per group: on how many series re-estimating the level after a shift helped, and
    on how many it hurt, over the backtest origins (the shift test run at each origin on
    the window before it; sigma is today's), by sum|e| + |sum e| over `horizon` weeks with
    and without the shift. Judged as the plan is (`_Tally.won`): on real sales (issue 25's
    panel) a run of 3+ weeks is mostly a promotion and the shift is dropped; on generated
    scenarios it is kept."""
    rows = np.flatnonzero(np.isin(method, COMBINED_METHODS) & ~history.intermittent)
    if len(rows) == 0:
        return _Tally(np.zeros(n_groups), np.zeros(n_groups))
    backtest = model.origin_levels.shape[1]
    judged_from = history.n_weeks - backtest
    levels = model.origin_levels[rows]
    shifted_levels = levels.copy()
    for column in range(backtest):
        origin = judged_from + column
        split = origin - window
        eligible = np.flatnonzero(history.start[rows] <= split - MIN_PRE_WINDOW_WEEKS)
        if split < 0 or len(eligible) == 0:
            continue
        sub = rows[eligible]
        shifted, _, level = _shift_runs(
            history.capped[sub, split:origin],
            model.shape_history[sub, split:origin],
            model.window_levels[sub, column],
            model.origin_alphas[sub, column],
            sigma[sub],
        )
        shifted_levels[eligible[shifted], column] = level[shifted]
    actual = history.capped[rows, judged_from:]
    shape = np.nan_to_num(model.shape_history[rows, judged_from:], nan=1.0)
    with_errors = _errors(shifted_levels, shape, actual, horizon).model
    without_errors = _errors(levels, shape, actual, horizon).model
    with_score = with_errors[0] + np.abs(with_errors[1])
    without_score = without_errors[0] + np.abs(without_errors[1])
    # No default from all series: a shift is kept only where it won significantly.
    return _Tally.of(group_codes[rows], n_groups, with_score, without_score)


@dataclass
class _Tally:
    """A sign test of a challenger against a rival, per group: the series it did better
    on (wins) and worse on (losses). Counting series, not pooling units, so a few series
    whose demand shifted (the shift test's business) do not decide for all."""

    wins: np.ndarray
    losses: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, n_groups: int, score: np.ndarray, rival: np.ndarray) -> _Tally:
        """From per-series scores (lower is better) and each series' group code."""
        return cls(
            np.bincount(codes, weights=score < rival, minlength=n_groups),
            np.bincount(codes, weights=score > rival, minlength=n_groups),
        )

    @classmethod
    def sum(cls, tallies: list[_Tally]) -> _Tally:
        """All groups of several batches as one group."""
        return cls(
            np.array([sum(t.wins.sum() for t in tallies)]),
            np.array([sum(t.losses.sum() for t in tallies)]),
        )

    def overall(self) -> bool:
        """The verdict over all groups: the challenger won significantly."""
        return bool(_significantly_more(self.wins.sum(), self.losses.sum()))

    def won(self, default: bool) -> np.ndarray:
        """Per group: the challenger where it won significantly more series than it lost
        (by SIGN_TEST_Z standard deviations of a fair coin), the rival where it lost
        significantly, else `default` (a group of a dozen series rarely has a significant
        verdict: a coin-flip majority does not move it)."""
        if default:
            return ~_significantly_more(self.losses, self.wins)
        return _significantly_more(self.wins, self.losses)


# --- plan gate --------------------------------------------------------------------------


@dataclass
class _Backtest:
    """Model against plan over the backtest origins, per product family x region."""

    model_score: np.ndarray  # sum|e| + |sum e| of the model, pooled over the group's series
    plan_score: np.ndarray  # the same of the plan, over the same cells
    actual_units: np.ndarray  # actual units of those cells (0: nothing to compare)
    plan_series: np.ndarray  # series the plan forecast at least as well as the model
    model_series: np.ndarray  # series the model forecast better

    @property
    def model_over_plan(self) -> _Tally:
        return _Tally(self.model_series, self.plan_series)

    def plan_kept(self, model_default: bool) -> np.ndarray:
        """Per group, by a sign test over series (`_Tally.won`): the model where it did
        significantly better on more series, the plan where it did significantly worse,
        else the verdict over all series (`model_default`)."""
        return ~self.model_over_plan.won(model_default)


def _significantly_more(wins: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Sign test: more wins than losses by SIGN_TEST_Z standard deviations of a fair coin."""
    return wins - losses > SIGN_TEST_Z * np.sqrt(wins + losses)


def _backtest(
    model: _Model,
    history: _History,
    plan_past: np.ndarray,
    group_codes: np.ndarray,
    n_groups: int,
    horizon: int,
) -> _Backtest:
    """Score the model and the plan on the backtest origins (module docstring, step 8)."""
    span = plan_past.shape[1]
    actual = history.window_actuals(history.n_weeks - span)
    shape = np.nan_to_num(model.shape_history[:, -span:], nan=1.0)
    errors = _errors(model.origin_levels, shape, actual, horizon, plan=plan_past)
    model_score, plan_score = (
        absolute + np.abs(total) for absolute, total in (errors.model, errors.plan)
    )
    compared = errors.units > 0
    return _Backtest(
        model_score=_pooled_score(group_codes, n_groups, errors.model),
        plan_score=_pooled_score(group_codes, n_groups, errors.plan),
        actual_units=np.bincount(group_codes, weights=errors.units, minlength=n_groups),
        plan_series=np.bincount(
            group_codes, weights=compared & (plan_score <= model_score), minlength=n_groups
        ),
        model_series=np.bincount(
            group_codes, weights=compared & (model_score < plan_score), minlength=n_groups
        ),
    )


def _group_judgements(
    group_frame: pd.DataFrame, backtest: _Backtest, plan_kept: np.ndarray
) -> pd.DataFrame:
    """The group table with what the backtest decided for each group."""
    frame = group_frame.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        units = np.where(backtest.actual_units > 0, backtest.actual_units, np.nan)
        frame["backtest_model_score"] = _nullable(backtest.model_score / units)
        frame["backtest_plan_score"] = _nullable(backtest.plan_score / units)
    frame["backtest_plan_series"] = backtest.plan_series.astype(np.int64)
    frame["backtest_model_series"] = backtest.model_series.astype(np.int64)
    frame["plan_kept"] = plan_kept
    return frame


@dataclass
class _Gate:
    z_score: np.ndarray  # NaN without plan history
    tracking_signal: np.ndarray  # NaN without plan history
    window_weeks: np.ndarray  # window weeks compared with the plan
    window_actual_units: np.ndarray
    window_plan_units: np.ndarray  # NaN when no window week has a plan
    tracked: np.ndarray  # enough window weeks with a plan to test
    has_future_plan: np.ndarray  # some horizon week has a plan
    shift_weight: np.ndarray  # the shift test's weight alone
    weight: np.ndarray | None = None  # k: weight of the model against the plan, 0..1

    def weighed(self, model_beat_plan: np.ndarray, method: np.ndarray) -> _Gate:
        """The gate with its weight k, given per series whether the backtest put the
        model before the plan."""
        # The plan-based fallbacks are the plan; with no plan ahead the model stands alone.
        weight = np.where(
            self.tracked & self.has_future_plan,
            np.maximum(self.shift_weight, model_beat_plan),
            1.0,
        )
        return replace(self, weight=np.where(np.isin(method, PLAN_METHODS), 0.0, weight))


def _gate(
    history: _History,
    plan_window: np.ndarray,
    has_future_plan: np.ndarray,
    sigma: np.ndarray,
    settings: SensingSettings,
) -> _Gate:
    """The shift test of the plan gate (module docstring, step 8); `_Gate.weighed` adds
    the backtest's verdict."""
    actual = history.window_actuals(history.n_weeks - settings.window_weeks)
    used = ~np.isnan(actual) & ~np.isnan(plan_window)
    weeks = used.sum(axis=1)
    tracked = weeks >= MIN_GATE_WEEKS
    difference = np.where(used, actual - plan_window, 0.0)
    total = difference.sum(axis=1)
    mean_absolute = np.abs(difference).sum(axis=1) / np.maximum(weeks, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tracking_signal = np.where(mean_absolute > 0, total / mean_absolute, 0.0)
        z_score = total / (sigma * np.sqrt(weeks))
    tracking_signal = np.where(tracked, tracking_signal, np.nan)
    z_score = np.where(tracked, z_score, np.nan)
    span = settings.gate_z_high - settings.gate_z_low
    shift_weight = np.clip((np.abs(np.nan_to_num(z_score)) - settings.gate_z_low) / span, 0, 1)
    # Not for intermittent series (as the level shift): a run of a few units is too weak a
    # signal to leave the plan on; the backtest still can.
    shift_weight = np.where(history.intermittent, 0.0, shift_weight)
    window_actual_units = np.where(
        weeks > 0, np.where(used, actual, 0.0).sum(axis=1), np.nansum(actual, axis=1)
    )
    window_plan_units = np.where(weeks > 0, np.where(used, plan_window, 0.0).sum(axis=1), np.nan)
    return _Gate(
        z_score,
        tracking_signal,
        weeks,
        window_actual_units,
        window_plan_units,
        tracked,
        has_future_plan,
        shift_weight,
    )


# --- outputs ----------------------------------------------------------------------------


def _forecast_frame(
    keys: pd.DataFrame,
    week0: np.datetime64,
    model_units: np.ndarray,
    sensed: np.ndarray,
    plan_horizon: np.ndarray,
) -> pd.DataFrame:
    n_series, horizon = sensed.shape
    week_starts = np.array(
        [(week0 + np.timedelta64(7 * h, "D")).astype(dt.date) for h in range(horizon)],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "sku": np.repeat(keys["sku"].to_numpy(), horizon),
            "location_id": np.repeat(keys["location_id"].to_numpy(), horizon),
            "week_index": np.tile(np.arange(horizon, dtype=np.int64), n_series),
            "week_start": np.tile(week_starts, n_series),
            "sensed_units": sensed.ravel(),
            "model_units": model_units.ravel(),
            "plan_units": _nullable(plan_horizon.ravel()),
        }
    )


def _series_frame(
    keys: pd.DataFrame,
    facts: _SeriesFacts,
    method: np.ndarray,
    gate: _Gate,
    sigma: np.ndarray,
    group_frame: pd.DataFrame,
    group_codes: np.ndarray,
    backtest_weeks: int,
) -> pd.DataFrame:
    group_model = group_frame["model"].to_numpy(dtype=object)
    shaped = np.isin(method, ["combined_x_family_shape", "level_shift_x_family_shape"])
    season_model = np.where(shaped, group_model[group_codes], "none")
    frame = pd.DataFrame(
        {
            "sku": keys["sku"].to_numpy(),
            "location_id": keys["location_id"].to_numpy(),
            "method": method.astype(str),
            "season_model": season_model.astype(str),
            "alpha": _nullable(facts.alpha),
            "ma_weeks": _nullable(np.where(facts.ma_weeks > 0, facts.ma_weeks, np.nan)),
            "level": np.clip(facts.level, 0, None),
            "sigma": _nullable(sigma),
            "history_weeks": facts.history_weeks.astype(np.int64),
            "nonzero_weeks": facts.nonzero_weeks.astype(np.int64),
            "intermittent": facts.intermittent.astype(bool),
            "window_actual_units": gate.window_actual_units,
            "window_plan_units": _nullable(gate.window_plan_units),
            "tracking_signal": _nullable(gate.tracking_signal),
            "z_score": _nullable(gate.z_score),
            "gate_weight": gate.weight,
        }
    )
    context = pd.DataFrame(
        {
            "group": (
                group_frame["product_family"].astype(str) + "/" + group_frame["region"].astype(str)
            ).to_numpy()[group_codes],
            "group_model": group_model[group_codes],
            "shift_weeks": facts.shift_weeks,
            "tracked": gate.tracked,
            "has_future_plan": gate.has_future_plan,
            "shift_weight": gate.shift_weight,
            "plan_series": group_frame["backtest_plan_series"].to_numpy()[group_codes],
            "model_series": group_frame["backtest_model_series"].to_numpy()[group_codes],
            "window_weeks": gate.window_weeks,
        }
    )
    rows = pd.concat([frame, context], axis=1)
    frame["explanation"] = [_explain(row, backtest_weeks) for row in rows.itertuples(index=False)]
    return frame


def _explain(row, backtest_weeks: int) -> str:
    """One line a planner can read: what the gate decided and what the model says."""
    model_text = _model_text(row)
    if row.method in PLAN_METHODS or row.method == "no_history_no_plan":
        return model_text
    if not row.has_future_plan:
        return f"no plan for the sensing weeks: {model_text}"
    if not row.tracked:
        return f"no plan history to check against: {model_text}"
    compared = row.plan_series + row.model_series
    record = (
        f"in the last {backtest_weeks} weeks the plan forecast {row.plan_series} of {compared}"
        f" {row.group} SKU-locations at least as well as the model"
    )
    if row.gate_weight <= 0:
        if compared == 0:
            record = "no model forecast to compare with"
        if row.intermittent:
            return f"plan kept: {record}; intermittent demand, which a run of a few units does not move off the plan (z={row.z_score:.1f})"
        return f"plan kept: {record}; actuals within noise of the plan (z={row.z_score:.1f})"
    if row.window_plan_units > 0:
        comparison = f"actuals {row.window_actual_units / row.window_plan_units:.1f}x the plan"
    else:
        comparison = f"actuals {row.window_actual_units:.0f} units against a zero plan"
    evidence = f"{comparison} over {row.window_weeks} weeks (z={row.z_score:.1f})"
    if row.gate_weight < 1:
        weights = f"{row.gate_weight:.0%} model / {1 - row.gate_weight:.0%} plan"
        return f"{weights}: {evidence}: {model_text}"
    if row.shift_weight <= 0:
        return f"model, not the plan: {record}: {model_text}"
    return f"{evidence}: {model_text}"


def _model_text(row) -> str:
    season = f"{row.group} {SEASON_LABELS.get(row.season_model, row.season_model)}"
    mix = ""
    if not pd.isna(row.ma_weeks):
        # TSB joins the mean where the series has weeks without a sale (see _fit_regular).
        tsb = " and TSB" if row.nonzero_weeks < row.history_weeks else ""
        mix = f"mean of SES (alpha {row.alpha:.1f}), a {row.ma_weeks:.0f}-week average{tsb}"
    if row.intermittent and mix:
        zero_share = 1 - row.nonzero_weeks / max(row.history_weeks, 1)
        mix = f"intermittent, {zero_share:.0%} zero weeks: {mix}"
    if row.method == "combined_x_family_shape":
        return f"level {row.level:.1f}/wk ({mix}) x {season}"
    if row.method == "combined_flat":
        why = (
            "too little family history for a season"
            if row.group_model == "none"
            else f"the {row.group} {SEASON_LABELS.get(row.group_model, row.group_model)} did not help its series"
        )
        return f"level {row.level:.1f}/wk ({mix}), flat: {why}"
    if row.method == "level_shift_x_family_shape":
        return (
            f"level {row.level:.1f}/wk re-estimated on the last {row.shift_weeks} weeks x {season}"
        )
    if row.method == "level_shift_flat":
        return f"level {row.level:.1f}/wk re-estimated on the last {row.shift_weeks} weeks, flat"
    if row.method == "short_history_mean":
        return f"only {row.history_weeks} weeks of history: their mean {row.level:.1f}/wk"
    if row.method == "short_history_plan":
        return f"only {row.history_weeks} weeks of history: plan kept"
    if row.method == "new_item_plan":
        return "new item with no actuals yet: plan kept"
    if row.method == "no_history_no_plan":
        return "new item with no actuals and no plan: forecast 0"
    return f"no sales in {row.history_weeks} weeks of reported history: forecast 0"


def _nullable(values: np.ndarray) -> pd.arrays.FloatingArray:
    """Float column where NaN means 'not applicable': stored as a null, not as NaN."""
    values = np.asarray(values, dtype=float)
    return pd.arrays.FloatingArray(np.nan_to_num(values, nan=0.0), ~np.isfinite(values))
