"""Baselines the sensed forecast is measured against, the measures that rank them, and
prototypes of a sensed forecast made from them (issue 25; measured by
`benchmarks/sensing_panel.py`).

Two kinds of baseline live here:

- **One forecast from the end of a history** (`seasonal_naive`, `statsmodels_loop_forecast`):
  what `benchmarks/sensing_benchmark.py` compares the engine with.
- **The panel** (issue 25): the committed plan, moving averages, SES, Croston / SBA, TSB,
  ADIDA and seasonal naive, computed for *every* forecast origin of a history at once, so a
  rolling-origin evaluation (and a per-series choice of method on the series' own past
  origins) costs one pass over the weeks per method, never a loop over series or origins.

Conventions of the panel functions
----------------------------------
- `history` is an (n_series, n_weeks) float matrix, oldest week first: NaN before the
  series' first sale, the week's units (>= 0; 0 for a week without a sale) from its first
  sale on (`span_history` makes one from raw weekly units). Every method starts a series
  at its first sale.
- Origin t (0 .. n_weeks) is the start of week t: a forecast made at origin t sees weeks
  0 .. t-1 and forecasts weeks t .. t + horizon - 1.
- A **path** is an (n_series, n_weeks + 1) matrix whose column t is the flat forecast made
  at origin t (NaN when the series has no week before t). Every method but seasonal naive
  is flat over the horizon, so one path holds its forecasts for every origin.
- **Forecasts** are (horizon, n_series, n_weeks + 1): element [j, s, t] forecasts week t + j
  of series s from origin t. A path `p` broadcasts to that shape as `p[None]`.
- Forecasts are floored at 0 (none of the methods can go below it on non-negative data).
- Recursions start leak-free: a smoothing weight is max(alpha, 1 / k) at the k-th value
  seen, so each state is the plain mean of the values seen until 1 / k falls below alpha
  (no initial level borrowed from weeks after the origin).

Prototypes (issue 25 item 4): `select_per_series` / `select_per_class` choose a method per
series / per demand class on its past origins; `combined_sensing_forecast` averages SES,
the moving average and TSB, corrects the average's pooled bias per demand class
(`bias_corrected`) and keeps the plan per series where the plan did better.

The accuracy measures (`panel_scores`) pool over every scored cell (series x origin x
horizon week): WAPE = sum|A - F| / sum A, bias = sum(F - A) / sum A, VN1 = WAPE + |bias|;
RMSSE is the unweighted mean over series of each series' RMSSE (see `panel_scores`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from soe_pipeline.sensing.family import SEASON_WEEKS, fit_exponential_smoothing
from soe_pipeline.sensing.smoothing import first_index

MA_WINDOWS = tuple(range(2, 15))  # moving-average windows a series chooses from
SES_ALPHAS = (0.1, 0.2, 0.3)  # SES (and ADIDA) smoothing weights a series chooses from
CROSTON_ALPHA = 0.1  # Croston / SBA: one weight for demand sizes and intervals
TSB_ALPHA, TSB_BETA = 0.1, 0.1  # TSB: weight of demand sizes, of demand probability
ADIDA_BUCKET_WEEKS = 4  # ADIDA aggregates into buckets as long as the sensing horizon
PLAN_MEAN_WEEKS, PLAN_LAG_WEEKS = 13, 4  # the committed plan: 13-week mean, 4 weeks old
# Syntetos-Boylan-Croston demand classes: cut-offs on ADI (average inter-demand interval)
# and CV^2 (squared coefficient of variation of the non-zero demand sizes).
ADI_CUTOFF, CV2_CUTOFF = 1.32, 0.49
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")  # codes 0..3; -1: no sale yet


# --- one forecast from the end of a history -------------------------------------------------


def seasonal_naive(actuals_matrix: npt.ArrayLike, horizon: int) -> np.ndarray:
    """Seasonal-naive forecast, (n_series, horizon): each horizon week takes the value of the
    same week 52 weeks earlier, or the last observed value when that week is not in the
    history. `actuals_matrix` is (n_series, n_weeks), oldest week first, NaN before a series
    starts; a series with no value at all forecasts 0."""
    matrix = np.atleast_2d(np.asarray(actuals_matrix, dtype=float))
    n_weeks = matrix.shape[1]
    observed = ~np.isnan(matrix)
    last_index = np.where(
        observed.any(axis=1), n_weeks - 1 - np.argmax(observed[:, ::-1], axis=1), 0
    )
    last_value = matrix[np.arange(len(matrix)), last_index] if n_weeks else np.zeros(len(matrix))
    last_value = np.nan_to_num(last_value, nan=0.0)
    forecast = np.repeat(last_value[:, None], horizon, axis=1)
    if n_weeks >= SEASON_WEEKS:
        columns = n_weeks - SEASON_WEEKS + np.arange(horizon) % SEASON_WEEKS
        year_ago = matrix[:, columns]
        forecast = np.where(np.isnan(year_ago), forecast, year_ago)
    return forecast


def statsmodels_loop_forecast(actuals_matrix: npt.ArrayLike, horizon: int) -> np.ndarray:
    """Per-series statsmodels baseline, (n_series, horizon), one Python-level fit per row.

    Each row of `actuals_matrix` (oldest week first, NaN before the series starts) is
    clipped at 0 and fitted from its first positive week: Holt-Winters with damped trend
    and a 52-week season (multiplicative, additive if any week is 0) with >= 104 weeks,
    damped Holt with >= 16, simple exponential smoothing with >= 4, the mean below that
    (0 with no positive week). Failed fits fall back to the next simpler model; forecasts
    are clipped at 0.
    """
    matrix = np.atleast_2d(np.asarray(actuals_matrix, dtype=float))
    forecast = np.zeros((len(matrix), horizon))
    for row, values in enumerate(matrix):
        values = np.clip(values[~np.isnan(values)], 0, None)
        positive = np.flatnonzero(values > 0)
        if len(positive) == 0:
            continue
        fit = fit_exponential_smoothing(values[positive[0] :], horizon)
        forecast[row] = np.clip(fit.forecast, 0, None)
    return forecast


# --- the panel: inputs ------------------------------------------------------------------------


def span_history(weekly_units: npt.ArrayLike) -> np.ndarray:
    """The panel's `history` from raw weekly units, (n_series, n_weeks): NaN (no week, or
    a missing row) and negative units (net returns) become 0, then every week before the
    series' first sale becomes NaN. A series that never sold is all NaN."""
    units = np.atleast_2d(np.asarray(weekly_units, dtype=float))
    units = np.clip(np.nan_to_num(units, nan=0.0), 0, None)
    start = first_index(units > 0)
    return np.where(np.arange(units.shape[1])[None, :] >= start[:, None], units, np.nan)


def first_sale(history: np.ndarray) -> np.ndarray:
    """Index of each series' first observed week (its first sale); n_weeks when none."""
    return first_index(~np.isnan(history))


def horizon_actuals(history: np.ndarray, horizon: int) -> np.ndarray:
    """(horizon, n_series, n_weeks + 1): element [j, s, t] is week t + j of series s (NaN
    beyond the history or before the first sale), aligned with the panel's forecasts."""
    n_series, n_weeks = history.shape
    padded = np.concatenate([history, np.full((n_series, horizon + 1), np.nan)], axis=1)
    return np.stack([padded[:, j : j + n_weeks + 1] for j in range(horizon)])


# --- the panel: methods -----------------------------------------------------------------------


def committed_plan_path(
    history: np.ndarray, mean_weeks: int = PLAN_MEAN_WEEKS, lag_weeks: int = PLAN_LAG_WEEKS
) -> np.ndarray:
    """The plan a planner would have committed for origin t: the mean of the `mean_weeks`
    weeks that ended `lag_weeks` weeks before t (weeks t - 17 .. t - 5 by default; fewer
    when the series started later), flat over the horizon. NaN when none of those weeks is
    after the first sale: no plan."""
    mean = moving_average_path(history, mean_weeks)
    plan = np.full_like(mean, np.nan)
    plan[:, lag_weeks:] = mean[:, : mean.shape[1] - lag_weeks]
    return plan


def moving_average_path(history: np.ndarray, window: int) -> np.ndarray:
    """Path of the mean of the last `window` weeks before each origin (of the weeks since
    the first sale when fewer)."""
    return _moving_average(_running_sums(history), window)


def _running_sums(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Units and observed weeks before each origin, (n_series, n_weeks + 1) each."""
    n_series, n_weeks = history.shape
    observed = ~np.isnan(history)
    total = np.zeros((n_series, n_weeks + 1))
    count = np.zeros((n_series, n_weeks + 1))
    np.cumsum(np.where(observed, history, 0.0), axis=1, out=total[:, 1:])
    np.cumsum(observed, axis=1, out=count[:, 1:])
    return total, count


def _moving_average(sums: tuple[np.ndarray, np.ndarray], window: int) -> np.ndarray:
    total, count = sums
    units, weeks = total.copy(), count.copy()
    units[:, window:] -= total[:, :-window]
    weeks[:, window:] -= count[:, :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        units /= weeks  # NaN (0 / 0) where no week was observed
    return units


def chosen_moving_average_path(
    history: np.ndarray, windows: Sequence[int] = MA_WINDOWS
) -> tuple[np.ndarray, np.ndarray]:
    """Moving average with the window chosen per series and origin: the window of `windows`
    with the least squared one-step error over the weeks before the origin (ties: the
    shorter). Returns the path and the window used at each origin."""
    sums = _running_sums(history)
    path, choice = _least_one_step_error(history, (_moving_average(sums, w) for w in windows))
    return path, np.asarray(windows)[choice]


def _smooth(
    level: np.ndarray,
    value: np.ndarray,
    update: np.ndarray,
    alpha: float | np.ndarray,
    count: np.ndarray,
) -> np.ndarray:
    """One exponential-smoothing step where `update` holds: weight `alpha`, or 1 / count
    while that is larger (the plain mean of the first values, so no start value biases it)."""
    weight = np.maximum(alpha, 1.0 / np.maximum(count, 1.0))
    return np.where(update, level + weight * (value - level), level)


def ses_path(history: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Simple exponential smoothing path; `alpha` a number or one per series. The level
    is the plain mean of the weeks seen until 1 / weeks seen falls below alpha."""
    n_series, n_weeks = history.shape
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (n_series,))
    path = np.full((n_series, n_weeks + 1), np.nan)
    level = np.zeros(n_series)
    seen = np.zeros(n_series)
    for week in range(n_weeks):
        value = history[:, week]
        observed = ~np.isnan(value)
        seen += observed
        level = _smooth(level, value, observed, alpha, seen)
        path[:, week + 1] = np.where(seen > 0, level, np.nan)
    return path


def chosen_ses_path(
    history: np.ndarray, alphas: Sequence[float] = SES_ALPHAS
) -> tuple[np.ndarray, np.ndarray]:
    """SES with alpha chosen per series and origin from `alphas` by the least squared
    one-step error before the origin (ties: the smaller). Returns the path and the alpha
    used at each origin."""
    path, choice = _least_one_step_error(history, (ses_path(history, a) for a in alphas))
    return path, np.asarray(alphas)[choice]


def combined_path(
    history: np.ndarray, with_tsb: bool | np.ndarray = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The equal-weight mean of SES (alpha chosen per series), the moving average (window
    chosen per series) and, where `with_tsb` (one flag, or one per series), TSB, floored at
    0: the forecast combination the sensed forecast is built on
    (`benchmarks/sensing_panel.py`: close to the best RMSSE in every window measured, where
    the best single method changes from window to window and a method chosen per series
    picks noise). Returns the path and the alpha and window chosen at each origin."""
    ses, alpha = chosen_ses_path(history)
    moving_average, window = chosen_moving_average_path(history)
    combined = ses + moving_average
    with_tsb = np.broadcast_to(np.asarray(with_tsb, dtype=bool), (len(history),))
    if with_tsb.any():
        combined[with_tsb] += tsb_path(history[with_tsb])
    combined /= np.where(with_tsb, 3.0, 2.0)[:, None]
    np.clip(combined, 0, None, out=combined)
    return combined, alpha, window


def croston_path(
    history: np.ndarray, alpha: float = CROSTON_ALPHA, debiased: bool = False
) -> np.ndarray:
    """Croston's method: demand size and inter-demand interval smoothed separately (weight
    `alpha` for both), forecast size / interval; `debiased` multiplies by (1 - alpha / 2)
    (the Syntetos-Boylan approximation, SBA).

    The size starts at the first sale. Until a second sale gives a first interval, the
    interval is taken as the weeks since the first sale plus one (the least it can be).
    """
    n_series, n_weeks = history.shape
    path = np.full((n_series, n_weeks + 1), np.nan)
    size = np.zeros(n_series)
    interval = np.zeros(n_series)
    sales = np.zeros(n_series)
    intervals = np.zeros(n_series)
    since_sale = np.zeros(n_series)  # weeks since the last sale, this week included
    seen = np.zeros(n_series)
    factor = 1 - alpha / 2 if debiased else 1.0
    for week in range(n_weeks):
        value = history[:, week]
        observed = ~np.isnan(value)
        seen += observed
        since_sale += observed
        sale = observed & (value > 0)
        sales += sale
        size = _smooth(size, value, sale, alpha, sales)
        new_interval = sale & (sales >= 2)
        intervals += new_interval
        interval = _smooth(interval, since_sale, new_interval, alpha, intervals)
        since_sale = np.where(sale, 0.0, since_sale)
        current_interval = np.where(intervals > 0, interval, since_sale + 1)
        path[:, week + 1] = np.where(seen > 0, factor * size / current_interval, np.nan)
    return path


def tsb_path(history: np.ndarray, alpha: float = TSB_ALPHA, beta: float = TSB_BETA) -> np.ndarray:
    """TSB (Teunter-Syntetos-Babai): the probability of a sale is smoothed every week
    (weight `beta`), the size of a sale at each sale (weight `alpha`); forecast probability x
    size. Unlike Croston's, the forecast decays through a run of zero weeks, so a
    discontinued item fades out."""
    n_series, n_weeks = history.shape
    path = np.full((n_series, n_weeks + 1), np.nan)
    size = np.zeros(n_series)
    probability = np.zeros(n_series)
    sales = np.zeros(n_series)
    seen = np.zeros(n_series)
    for week in range(n_weeks):
        value = history[:, week]
        observed = ~np.isnan(value)
        seen += observed
        sale = observed & (value > 0)
        sales += sale
        probability = _smooth(probability, sale, observed, beta, seen)
        size = _smooth(size, value, sale, alpha, sales)
        path[:, week + 1] = np.where(seen > 0, probability * size, np.nan)
    return path


def adida_path(
    history: np.ndarray,
    bucket_weeks: int = ADIDA_BUCKET_WEEKS,
    alphas: Sequence[float] = SES_ALPHAS,
) -> np.ndarray:
    """ADIDA (aggregate - disaggregate intermittent demand): the weeks before an origin are
    cut into buckets of `bucket_weeks` ending at the origin, SES (alpha chosen per series as
    in `chosen_ses_path`) forecasts the next bucket's mean week, and that is the weekly
    forecast. A bucket straddling the first sale counts the weeks after it.

    Origins t with the same (t - 1) mod bucket_weeks share their buckets, so each of those
    `bucket_weeks` classes is one SES pass over its bucket series."""
    n_series, n_weeks = history.shape
    # bucket_mean[:, u]: mean week of the bucket ending with week u.
    bucket_mean = moving_average_path(history, bucket_weeks)[:, 1:]
    path = np.full((n_series, n_weeks + 1), np.nan)
    for residue in range(min(bucket_weeks, n_weeks)):
        ends = np.arange(residue, n_weeks, bucket_weeks)
        bucket_path, _ = chosen_ses_path(bucket_mean[:, ends], alphas)
        path[:, ends + 1] = bucket_path[:, 1:]
    return path


def seasonal_naive_forecasts(
    history: np.ndarray, horizon: int, season_weeks: int = SEASON_WEEKS
) -> np.ndarray:
    """Seasonal naive for every origin, (horizon, n_series, n_weeks + 1): week t + j takes
    the value of week t + j - season_weeks when that week is after the series' first sale
    ("where history allows"), else the last week before the origin (naive)."""
    n_series, n_weeks = history.shape
    last_week = np.concatenate([np.full((n_series, 1), np.nan), history], axis=1)
    origin = np.arange(n_weeks + 1)
    forecasts = np.empty((horizon, n_series, n_weeks + 1))
    for j in range(horizon):
        source = origin + j - season_weeks  # always before the origin: j < season_weeks
        year_ago = np.where(source >= 0, history[:, np.clip(source, 0, None)], np.nan)
        forecasts[j] = np.where(np.isnan(year_ago), last_week, year_ago)
    return forecasts


def panel_forecasts(history: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Every method of the panel for every origin: name -> forecasts broadcastable to
    (horizon, n_series, n_weeks + 1) (a flat method's path as (1, n, n_weeks + 1)),
    floored at 0. `plan` is `committed_plan_path` (NaN where there is no plan)."""
    flat = {
        "plan": committed_plan_path(history),
        "ma_8": moving_average_path(history, 8),
        "ma_chosen": chosen_moving_average_path(history)[0],
        "ses_chosen": chosen_ses_path(history)[0],
        "croston": croston_path(history),
        "sba": croston_path(history, debiased=True),
        "tsb": tsb_path(history),
        "adida": adida_path(history),
    }
    forecasts = {name: np.clip(path, 0, None)[None] for name, path in flat.items()}
    forecasts["seasonal_naive"] = np.clip(seasonal_naive_forecasts(history, horizon), 0, None)
    return forecasts


def _least_one_step_error(
    history: np.ndarray, paths: Iterable[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per series and origin, the path (of `paths`) with the least sum of squared one-step
    errors over the weeks before the origin, and its position in `paths` (ties: the first).
    Paths are consumed one at a time, so only the best so far is kept in memory."""
    best_path = best_error = choice = None
    for position, path in enumerate(paths):
        error = _cumulative_squared_error(history, path)
        if best_path is None:
            best_path, best_error = path.copy(), error
            choice = np.zeros(path.shape, dtype=np.int64)
            continue
        better = error < best_error
        np.copyto(best_path, path, where=better)
        np.copyto(best_error, error, where=better)
        np.copyto(choice, position, where=better)
    if best_path is None:
        raise ValueError("no path to choose from")
    return best_path, choice


def _cumulative_squared_error(history: np.ndarray, path: np.ndarray) -> np.ndarray:
    """(n_series, n_weeks + 1): column t sums the squared one-step errors of `path` over
    the weeks before origin t (weeks where the path or the week is undefined count 0)."""
    squared = np.subtract(history, path[:, :-1])  # week u against the forecast of origin u
    np.square(squared, out=squared)
    np.nan_to_num(squared, copy=False, nan=0.0)
    total = np.zeros(path.shape)
    np.cumsum(squared, axis=1, out=total[:, 1:])
    return total


# --- demand classes ---------------------------------------------------------------------------


def demand_classes(history: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ADI, CV^2 and demand class of every series at every origin, each (n_series,
    n_weeks + 1), from the weeks since the first sale before the origin.

    ADI = weeks since the first sale / weeks with a sale; CV^2 = variance / mean^2 of the
    non-zero weeks (population variance; 0 with one sale). Class codes index
    `DEMAND_CLASSES`: smooth (ADI < 1.32, CV^2 < 0.49), erratic (ADI < 1.32), intermittent
    (CV^2 < 0.49), lumpy; -1 (ADI and CV^2 NaN) before the first sale."""
    observed = ~np.isnan(history)
    sale = observed & (history > 0)
    units = np.where(sale, history, 0.0)

    def running(values: np.ndarray) -> np.ndarray:
        total = np.zeros((values.shape[0], values.shape[1] + 1))
        np.cumsum(values, axis=1, out=total[:, 1:])
        return total

    weeks, sales = running(observed), running(sale)
    total, total_squared = running(units), running(units * units)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = np.where(sales > 0, weeks / sales, np.nan)
        mean = total / sales
        variance = np.clip(total_squared / sales - mean * mean, 0, None)
        cv2 = np.where(sales > 0, variance / (mean * mean), np.nan)
    code = (adi >= ADI_CUTOFF).astype(np.int64) * 2 + (cv2 >= CV2_CUTOFF)
    return adi, cv2, np.where(sales > 0, code, -1)


# --- measures ---------------------------------------------------------------------------------


def naive_scale(history: np.ndarray) -> np.ndarray:
    """RMSSE's scale of every series at every origin, (n_series, n_weeks + 1): the mean
    squared one-step naive error (A_u - A_(u-1))^2 over the weeks u before the origin whose
    previous week is after the first sale. NaN with fewer than two weeks; 0 for a constant
    history."""
    difference = np.diff(history, axis=1)
    counted = ~np.isnan(difference)
    total = np.zeros((history.shape[0], history.shape[1] + 1))
    count = np.zeros_like(total)
    np.cumsum(np.where(counted, difference * difference, 0.0), axis=1, out=total[:, 2:])
    np.cumsum(counted, axis=1, out=count[:, 2:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


@dataclass(frozen=True)
class PanelScore:
    """One method's accuracy over every scored cell of a rolling-origin evaluation."""

    wape: float  # sum|A - F| / sum A
    bias: float  # sum(F - A) / sum A: positive = over-forecast
    vn1: float  # WAPE + |bias|
    rmsse: float  # mean over series of the per-series RMSSE
    forecasts: int  # scored cells (series x origin x horizon week)
    rmsse_series: int  # series with a defined RMSSE


def panel_scores(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> PanelScore:
    """Score a forecast over a rolling-origin evaluation.

    actual: (horizon, n_series, n_origins), NaN for a cell that is not scored (the series
    had no week before the origin, or the week is beyond the data). forecast: broadcastable
    to actual's shape; it must be finite wherever actual is. scale: (n_series, n_origins),
    each series' `naive_scale` at each origin.

    Pooled over all scored cells of all series and origins: WAPE = sum|A - F| / sum A;
    bias = sum(F - A) / sum A; VN1 = WAPE + |bias| (both NaN when sum A is 0).
    RMSSE per series = sqrt(mean over its scored cells of (A - F)^2 / scale at the cell's
    origin), counting only origins where the scale is positive; the panel's RMSSE is the
    unweighted mean over the series that have one (a series with a constant or one-week
    history has none). The mean over series weighs a slow item like a fast one, so it tells
    what WAPE, dominated by the fast movers, does not.
    """
    actual = np.asarray(actual, dtype=float)
    forecast = np.broadcast_to(np.asarray(forecast, dtype=float), actual.shape)
    scored = ~np.isnan(actual)
    if np.isnan(forecast[scored]).any():
        raise ValueError("forecast is missing (NaN) for a scored cell")
    error = np.where(scored, forecast - actual, 0.0)
    total_actual = np.where(scored, actual, 0.0).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        wape = float(np.abs(error).sum() / total_actual) if total_actual > 0 else float("nan")
        bias = float(error.sum() / total_actual) if total_actual > 0 else float("nan")
        scaled = np.where(scored & (scale[None] > 0), error * error / scale[None], np.nan)
        cells = (~np.isnan(scaled)).sum(axis=(0, 2))
        per_series = np.sqrt(np.nansum(scaled, axis=(0, 2)) / cells)
    per_series = per_series[cells > 0]
    return PanelScore(
        wape=wape,
        bias=bias,
        vn1=wape + abs(bias),
        rmsse=float(per_series.mean()) if len(per_series) else float("nan"),
        forecasts=int(scored.sum()),
        rmsse_series=len(per_series),
    )


# --- forecasts made from the panel (prototypes, issue 25 item 4) ------------------------------

SELECTION_CRITERIA = ("mae", "vn1", "mse")
SELECTION_LOOKBACK = 26  # past origins a series (or class) is judged on
COMBINED_METHODS = ("ses_chosen", "ma_chosen", "tsb")
BIAS_LOOKBACK = 52  # past origins the bias correction pools
BIAS_RATIO_LIMITS = (0.8, 1.25)  # the correction never moves a forecast more than this
_ERROR_BLOCK_ROWS = 4_096  # (rows x weeks) working arrays of a few MB: they stay in cache


def origin_errors(
    history: np.ndarray, forecast: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per series and origin t, (n_series, n_weeks + 1) each: the sums over the horizon of
    |F - A|, (F - A), (F - A)^2 and A. 0 where the origin is not scoreable: its horizon runs
    past the history or the series had no week before it. A missing forecast (no plan yet)
    counts as 0, so every candidate is scored on the same origins.

    Runs over blocks of rows and loops over the horizon weeks, so its working arrays stay
    small, even for a flat forecast of shape (1, n_series, n_weeks + 1)."""
    n_series, n_weeks = history.shape
    sums = tuple(np.empty((n_series, n_weeks + 1)) for _ in range(4))
    for first in range(0, n_series, _ERROR_BLOCK_ROWS):
        rows = slice(first, first + _ERROR_BLOCK_ROWS)
        block = _origin_errors_block(history[rows], forecast[:, rows], horizon)
        for total, part in zip(sums, block, strict=True):
            total[rows] = part
    return sums


def _origin_errors_block(
    history: np.ndarray, forecast: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_series, n_weeks = history.shape
    origin = np.arange(n_weeks + 1)
    scored = (first_sale(history)[:, None] < origin) & (origin + horizon <= n_weeks)
    scored = scored.astype(float)  # multiplying by 0 / 1 is faster than masking
    padded = np.zeros((n_series, n_weeks + horizon + 1))
    padded[:, :n_weeks] = np.nan_to_num(history, nan=0.0)
    flat = np.nan_to_num(forecast[0], nan=0.0) if forecast.shape[0] == 1 else None
    absolute, signed, squared, actual_sum = (np.zeros((n_series, n_weeks + 1)) for _ in range(4))
    error = np.empty((n_series, n_weeks + 1))
    for week in range(horizon):
        actual = padded[:, week : week + n_weeks + 1]
        predicted = flat if flat is not None else np.nan_to_num(forecast[week], nan=0.0)
        np.subtract(predicted, actual, out=error)
        error *= scored
        signed += error
        actual_sum += actual
        np.abs(error, out=error)
        absolute += error
        error *= error
        squared += error
    actual_sum *= scored
    return absolute, signed, squared, actual_sum


def trailing_sum(values: np.ndarray, horizon: int, lookback: int) -> np.ndarray:
    """Column o: the sum of `values` (one column per origin) over the latest `lookback` past
    origins whose horizon had ended by origin o: o - horizon - lookback < t <= o - horizon."""
    n_series, n_columns = values.shape
    total = np.zeros((n_series, n_columns + 1))  # total[:, k]: the sum of columns < k
    np.cumsum(values, axis=1, out=total[:, 1:])
    result = np.zeros((n_series, n_columns))
    newest, oldest = horizon - 1, horizon + lookback - 1  # first o with t <= o - horizon
    if newest < n_columns:
        result[:, newest:] = total[:, : n_columns - newest]
    if oldest < n_columns:
        result[:, oldest:] -= total[:, : n_columns - oldest]
    return result


def select_per_series(
    history: np.ndarray,
    candidates: dict[str, np.ndarray],
    horizon: int,
    lookback: int = SELECTION_LOOKBACK,
    criterion: str = "vn1",
    keep: str = "plan",
    margin: float = 0.0,
    fallback: str = "ses_chosen",
) -> tuple[np.ndarray, np.ndarray]:
    """Per series and origin, the candidate that forecast best at the series' own past
    origins: those whose horizon had ended by the origin, the latest `lookback`.

    criterion, on the errors of those past forecasts: "mae" sum|e|; "vn1" sum|e| + |sum e|
    (the VN1 numerator: accuracy and bias); "mse" sum e^2 (what RMSSE ranks a series by).
    `keep` (the plan) stays unless another candidate scores below (1 - margin) x its score;
    it is also the choice before any past origin is scoreable. Where the choice has no
    forecast (no plan yet), `fallback` is used.

    Returns the chosen forecasts ((1 or horizon), n_series, n_weeks + 1: flat when every
    candidate is) and the position in `candidates` of each series' choice at each origin.
    """
    if criterion not in SELECTION_CRITERIA:
        raise ValueError(f"criterion must be one of {SELECTION_CRITERIA}, got {criterion!r}")
    names = list(candidates)
    scores = []
    for name in names:
        absolute, signed, squared, _ = origin_errors(history, candidates[name], horizon)
        if criterion == "mae":
            score = trailing_sum(absolute, horizon, lookback)
        elif criterion == "vn1":
            score = trailing_sum(absolute, horizon, lookback)
            score += np.abs(trailing_sum(signed, horizon, lookback))
        else:
            score = trailing_sum(squared, horizon, lookback)
        scores.append(score)
    scores = np.stack(scores)
    keep_position = names.index(keep)
    scores[keep_position] *= 1 - margin
    choice = np.argmin(scores, axis=0)
    choice = np.where(np.all(scores == 0, axis=0), keep_position, choice)
    return _gather(candidates, names, choice, fallback), choice


def select_per_class(
    history: np.ndarray,
    candidates: dict[str, np.ndarray],
    classes: np.ndarray,
    horizon: int,
    lookback: int = SELECTION_LOOKBACK,
    keep: str = "plan",
    margin: float = 0.0,
    fallback: str = "ses_chosen",
) -> tuple[np.ndarray, np.ndarray]:
    """Per demand class and origin, the candidate with the best pooled VN1 over the past
    origins (as in `select_per_series`) of every series in that class at the origin;
    `classes` (n_series, n_weeks + 1) as from `demand_classes`. A class pools many series,
    so its choice is steadier than one series' choice. Returns what `select_per_series`
    returns."""
    names = list(candidates)
    cell, n_cells = _class_cells(classes)
    scores = []
    for name in names:
        absolute, signed, _, actual = origin_errors(history, candidates[name], horizon)
        pooled = [
            np.bincount(cell, trailing_sum(values, horizon, lookback).ravel(), n_cells)
            for values in (absolute, signed, actual)
        ]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append((pooled[0] + np.abs(pooled[1])) / pooled[2])
    scores = np.stack(scores)
    keep_position = names.index(keep)
    scores[keep_position] *= 1 - margin
    class_choice = np.where(
        np.isnan(scores).all(axis=0),
        keep_position,
        np.argmin(np.nan_to_num(scores, nan=np.inf), axis=0),
    )
    choice = class_choice[cell].reshape(classes.shape)
    return _gather(candidates, names, choice, fallback), choice


def combined_forecast(
    candidates: dict[str, np.ndarray], names: Sequence[str] = COMBINED_METHODS
) -> np.ndarray:
    """The plain mean of the named candidates' forecasts (flat when they all are). Averaging
    methods whose errors differ (a level, a window mean, a decaying sale probability)
    cancels part of each one's error, without choosing on noisy past scores."""
    return np.mean(np.broadcast_arrays(*(candidates[name] for name in names)), axis=0)


def bias_corrected(
    history: np.ndarray,
    forecast: np.ndarray,
    classes: np.ndarray,
    horizon: int,
    lookback: int = BIAS_LOOKBACK,
    limits: tuple[float, float] = BIAS_RATIO_LIMITS,
) -> np.ndarray:
    """`forecast` x the ratio sum A / sum F that it achieved over the latest `lookback`
    past origins (horizon ended), pooled over every series in the same demand class at the
    origin (`classes` as from `demand_classes`), clipped to `limits`; 1 before any past
    origin. Pooled over thousands of series the ratio measures a systematic bias (forecasts
    lagging a falling market, items fading out) and not one series' noise."""
    _, signed, _, actual = origin_errors(history, forecast, horizon)
    cell, n_cells = _class_cells(classes)
    pooled_actual = np.bincount(cell, trailing_sum(actual, horizon, lookback).ravel(), n_cells)
    pooled_error = np.bincount(cell, trailing_sum(signed, horizon, lookback).ravel(), n_cells)
    pooled_forecast = pooled_actual + pooled_error
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(pooled_forecast > 0, pooled_actual / pooled_forecast, 1.0)
    ratio = np.clip(ratio, *limits)[cell].reshape(classes.shape)
    return forecast * ratio[None]


@dataclass(frozen=True)
class CombinedForecast:
    """`combined_sensing_forecast`'s forecasts, each a path as (1, n_series, n_weeks + 1)."""

    combined: np.ndarray  # mean of COMBINED_METHODS
    debiased: np.ndarray  # combined x its class's trailing sum A / sum F
    plan_or_debiased: np.ndarray  # per series: the plan, or debiased where it did better
    keeps_plan: np.ndarray  # (n_series, n_weeks + 1) bool: plan_or_debiased is the plan


def combined_sensing_forecast(
    history: np.ndarray,
    plan_path: np.ndarray,
    horizon: int,
    lookback: int = SELECTION_LOOKBACK,
    block_rows: int = 4_096,
) -> CombinedForecast:
    """The sensed forecast this module's benchmark recommends, for every origin:

    1. combined: the mean of SES (alpha chosen per series), the moving average (window
       chosen per series) and TSB;
    2. debiased: combined x the ratio sum A / sum F it achieved over the latest BIAS_LOOKBACK
       past origins, pooled per demand class (`bias_corrected`);
    3. plan_or_debiased: per series, the committed plan (`plan_path`, (n_series,
       n_weeks + 1), NaN where there is none) unless debiased had the smaller sum|e| +
       |sum e| over the series' latest `lookback` past origins; the plan before any past
       origin can be judged, debiased where there is no plan.

    The per-series methods run on blocks of `block_rows` series (their arrays stay small);
    the bias ratio and the choice then run over all series at once."""
    combined, classes = [], []
    for first in range(0, len(history), block_rows):
        rows = history[first : first + block_rows]
        combined.append(combined_path(rows)[0])
        classes.append(demand_classes(rows)[2])
    combined = np.concatenate(combined)[None]
    debiased = bias_corrected(history, combined, np.concatenate(classes), horizon)
    candidates = {"plan": np.clip(plan_path, 0, None)[None], "debiased": debiased}
    chosen, choice = select_per_series(
        history, candidates, horizon, lookback=lookback, fallback="debiased"
    )
    keeps_plan = (choice == 0) & ~np.isnan(plan_path)
    return CombinedForecast(combined, debiased, chosen, keeps_plan)


def _class_cells(classes: np.ndarray) -> tuple[np.ndarray, int]:
    """Flat index of (class, origin) for every (series, origin), "no sale yet" (-1) as a
    class of its own, and the number of such cells: for np.bincount."""
    n_columns = classes.shape[1]
    n_classes = len(DEMAND_CLASSES) + 1
    code = np.where(classes >= 0, classes, n_classes - 1)
    return (code * n_columns + np.arange(n_columns)).ravel(), n_classes * n_columns


def _gather(
    candidates: dict[str, np.ndarray], names: list[str], choice: np.ndarray, fallback: str
) -> np.ndarray:
    """The forecasts of the chosen candidate per series and origin; `fallback` where the
    chosen one has none."""
    depth = max(candidates[name].shape[0] for name in names)
    shape = (depth, *choice.shape)
    chosen = np.full(shape, np.nan)
    for position, name in enumerate(names):
        chosen = np.where((choice == position)[None], candidates[name], chosen)
    return np.where(np.isnan(chosen), np.broadcast_to(candidates[fallback], shape), chosen)
