"""Vectorised smoothing over many series at once: outlier capping, simple exponential
smoothing with a per-series alpha, and SBA for intermittent demand.

Every function takes an (n_series, n_weeks) matrix, oldest week first, with NaN before a
series starts and a value (possibly 0) in every week from its start on. Loops run over weeks
and over the alpha grid, never over series.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826
# A week is capped at its local median + OUTLIER_SCALES x the series' robust noise scale.
OUTLIER_SCALES = 5.0
LOCAL_MEDIAN_WEEKS = 5  # local_median's sorting network and median pick are written for 5
ALPHA_GRID = (0.05, 0.1, 0.2, 0.3, 0.5)
INITIAL_LEVEL_WEEKS = 4
SBA_ALPHA = 0.1
_ROW_CHUNK = 2_000  # rows per local-median pass: its arrays stay in the CPU cache
# Sorts 5 values in 9 compare-exchanges (Knuth, TAOCP vol. 3, 5.3.4).
_SORTING_NETWORK = ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2))


def row_nanmedian(matrix: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for a row with no value); sort-based, which is
    much faster than np.nanmedian on wide matrices."""
    n_rows, n_columns = matrix.shape
    if n_columns == 0:
        return np.full(n_rows, np.nan)
    ordered = np.sort(matrix, axis=1)  # NaN sorts last
    count = (~np.isnan(matrix)).sum(axis=1)
    rows = np.arange(n_rows)
    low = np.clip((count - 1) // 2, 0, None)
    high = np.clip(count // 2, 0, n_columns - 1)
    median = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(count > 0, median, np.nan)


def local_median(matrix: np.ndarray) -> np.ndarray:
    """Centred running median over LOCAL_MEDIAN_WEEKS weeks, ignoring NaN (truncated at
    the edges of each series).

    The 5 values of every window are sorted by a sorting network (NaN last), whole columns
    at a time: the same values np.sort gives, several times faster than sorting millions of
    5-value windows one by one.
    """
    half = LOCAL_MEDIAN_WEEKS // 2
    n_weeks = matrix.shape[1]
    result = np.full(matrix.shape, np.nan)
    for start in range(0, len(matrix), _ROW_CHUNK):
        chunk = matrix[start : start + _ROW_CHUNK]
        padded = np.pad(chunk, ((0, 0), (half, half)), constant_values=np.nan)
        window = [padded[:, k : k + n_weeks] for k in range(LOCAL_MEDIAN_WEEKS)]
        for i, j in _SORTING_NETWORK:
            # fmin keeps the number and maximum the NaN of a pair: NaN sorts last.
            window[i], window[j] = np.fmin(window[i], window[j]), np.maximum(window[i], window[j])
        count = (~np.isnan(window[0])).astype(np.int8)
        for values in window[1:]:
            count += ~np.isnan(values)
        # The middle value(s) of the `count` numbers: positions (count - 1) // 2, count // 2.
        low = np.where(count <= 2, window[0], np.where(count == 5, window[2], window[1]))
        high = np.where(count <= 1, window[0], np.where(count >= 4, window[2], window[1]))
        result[start : start + _ROW_CHUNK] = 0.5 * (low + high)  # NaN when count is 0
    return result


def cap_outliers(matrix: np.ndarray) -> np.ndarray:
    """Winsorise isolated outliers: a week above max(local median, typical non-zero week)
    + 5 x the series' robust scale is set to that cap.

    The local median is centred over 5 weeks, so a level shift lasting 3 weeks or more moves
    the median with it and survives; one or two extreme weeks do not. The robust scale is
    1.4826 x the median absolute deviation from the local median, floored at
    sqrt(typical non-zero week) (Poisson-size noise) and at 1 unit.
    """
    local = local_median(matrix)
    scale = MAD_TO_SIGMA * row_nanmedian(np.abs(matrix - local))
    typical = row_nanmedian(np.where(matrix > 0, matrix, np.nan))
    typical = np.nan_to_num(typical, nan=0.0)
    scale = np.fmax(np.nan_to_num(scale, nan=0.0), np.fmax(np.sqrt(typical), 1.0))
    cap = np.fmax(local, typical[:, None]) + OUTLIER_SCALES * scale[:, None]
    return np.where(matrix > cap, cap, matrix)


def first_index(mask: np.ndarray) -> np.ndarray:
    """Index of the first True of each row; the row length when there is none."""
    found = mask.any(axis=1)
    return np.where(found, np.argmax(mask, axis=1), mask.shape[1])


def initial_level(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mean of the first INITIAL_LEVEL_WEEKS weeks of each series from `start` (0 for a
    series with none)."""
    n_weeks = values.shape[1]
    columns = start[:, None] + np.arange(INITIAL_LEVEL_WEEKS)[None, :]
    inside = columns < n_weeks
    picked = np.take_along_axis(values, np.clip(columns, 0, max(n_weeks - 1, 0)), axis=1)
    valid = inside & ~np.isnan(picked)
    count = valid.sum(axis=1)
    total = np.where(valid, picked, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def select_alpha(deseasonalised: np.ndarray, shape: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per-series SES alpha from ALPHA_GRID minimising the in-sample one-step squared error
    in units (error on the deseasonalised scale x shape). Ties go to the smaller alpha."""
    # (alpha, series) rather than (series, alpha): numpy loops fastest over the long axis.
    alphas = np.asarray(ALPHA_GRID)[:, None]
    level = np.repeat(initial_level(deseasonalised, start)[None, :], len(ALPHA_GRID), axis=0)
    squared_error = np.zeros_like(level)
    for week in range(deseasonalised.shape[1]):
        error = deseasonalised[:, week] - level
        counted = week > start
        squared_error += np.where(counted, (error * shape[:, week]) ** 2, 0.0)
        level = np.where(week >= start, level + alphas * error, level)
    return np.asarray(ALPHA_GRID)[np.argmin(squared_error, axis=0)]


def ses(
    deseasonalised: np.ndarray,
    shape: np.ndarray,
    start: np.ndarray,
    alpha: np.ndarray,
    split: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple exponential smoothing with one alpha per series.

    Returns the level after the last week, the level before week `split` (the forecast the
    model made for the weeks from `split` on before seeing them), and the one-step
    residuals in units ((n_series, n_weeks), NaN where not defined).
    """
    level = initial_level(deseasonalised, start)
    level_at_split = level.copy()
    residuals = np.full(deseasonalised.shape, np.nan)
    for week in range(deseasonalised.shape[1]):
        if week == split:
            level_at_split = level.copy()
        error = deseasonalised[:, week] - level
        residuals[:, week] = np.where(week > start, error * shape[:, week], np.nan)
        level = np.where(week >= start, level + alpha * error, level)
    if split >= deseasonalised.shape[1]:
        level_at_split = level.copy()
    return level, level_at_split, residuals


def sba(values: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Syntetos-Boylan approximation of Croston's method (alpha SBA_ALPHA for both demand
    size and interval, forecast = (1 - alpha/2) x size / interval).

    The size starts at the first demand and the interval at the series' mean inter-demand
    interval. Returns the weekly rate after the last week and the one-step residuals in
    units ((n_series, n_weeks), NaN where not defined).
    """
    n_series, n_weeks = values.shape
    rows = np.arange(n_series)
    first = np.clip(start, 0, max(n_weeks - 1, 0))
    size = np.where(start < n_weeks, values[rows, first] if n_weeks else 0.0, 0.0)
    span = n_weeks - start
    demands = np.nansum(values > 0, axis=1)
    interval = np.where(demands > 0, span / np.maximum(demands, 1), 1.0)
    since_demand = np.zeros(n_series)
    factor = 1 - SBA_ALPHA / 2
    residuals = np.full(values.shape, np.nan)
    for week in range(n_weeks):
        rate = factor * size / interval
        after_start = week > start
        value = values[:, week]
        residuals[:, week] = np.where(after_start, value - rate, np.nan)
        since_demand = np.where(after_start, since_demand + 1, since_demand)
        demand = after_start & (value > 0)
        size = np.where(demand, size + SBA_ALPHA * (value - size), size)
        interval = np.where(demand, interval + SBA_ALPHA * (since_demand - interval), interval)
        since_demand = np.where(demand, 0, since_demand)
    return factor * size / interval, residuals
