"""Baselines the sensed forecast is measured against: seasonal naive, and statsmodels fitted
to every series separately (the straightforward, slow way the engine replaces)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from soe_pipeline.sensing.family import SEASON_WEEKS, fit_exponential_smoothing


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
