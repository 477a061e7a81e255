"""statsmodels exponential smoothing where it earns its cost: one fit per product family x
region on the aggregated weekly actuals, turned into a seasonal / trend *shape*.

The model is chosen by the weeks of data the aggregate has:

| weeks   | model                                                           | label                 |
|---------|-----------------------------------------------------------------|-----------------------|
| >= 104  | damped additive trend, seasonal period 52 (multiplicative; additive if any week is 0) | holt_winters_damped |
| >= 16   | damped additive trend                                           | holt_damped           |
| >= 4    | simple exponential smoothing                                    | ses                   |
| else    | no model: the shape is flat                                     | none                  |

Every fit is guarded: an exception, a non-finite result or a non-positive level falls back
to the next simpler model. Warnings are silenced and the optimiser is statsmodels' default
(L-BFGS-B after a brute-force grid), which is deterministic.

The shape of a week is the model's one-step fitted value (history) or forecast (horizon)
divided by the mean fitted value of the last `SHAPE_NORM_WEEKS` history weeks, so a
SKU-location level multiplied by the shape reads as "recent weekly demand, moved by the
family's season and trend".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing

SEASON_WEEKS = 52
# Model label -> fewest weeks of data it is fitted on; tried in this order.
MODEL_MIN_WEEKS = {"holt_winters_damped": 2 * SEASON_WEEKS, "holt_damped": 16, "ses": 4}
SHAPE_NORM_WEEKS = 4
# A family shape multiplies SKU levels and divides SKU actuals: keep it in a sane range.
SHAPE_FLOOR, SHAPE_CEILING = 0.05, 20.0

_PARAM_NAMES = {
    "alpha": "smoothing_level",
    "beta": "smoothing_trend",
    "gamma": "smoothing_seasonal",
    "phi": "damping_trend",
}


@dataclass(frozen=True)
class SmoothingFit:
    """One exponential-smoothing fit: the model used, its parameters and its output."""

    model: str
    params: dict[str, float | None]  # alpha, beta, gamma, phi (None when not in the model)
    aicc: float | None
    fitted: np.ndarray  # one-step fitted values, same length as the data
    forecast: np.ndarray  # (horizon,)


def fit_exponential_smoothing(values: np.ndarray, horizon: int) -> SmoothingFit:
    """Fit the richest model the data length allows, falling back to simpler ones.

    `values` must be finite and non-negative. Fewer than 4 weeks gives model 'none' with
    the mean as fitted value and forecast.
    """
    values = np.asarray(values, dtype=float)
    for model, min_weeks in MODEL_MIN_WEEKS.items():
        if len(values) < min_weeks:
            continue
        fit = _try_fit(model, values, horizon)
        if fit is not None:
            return fit
    mean = float(values.mean()) if len(values) else 0.0
    return SmoothingFit(
        model="none",
        params=dict.fromkeys(_PARAM_NAMES),
        aicc=None,
        fitted=np.full(len(values), mean),
        forecast=np.full(horizon, mean),
    )


def _try_fit(model: str, values: np.ndarray, horizon: int) -> SmoothingFit | None:
    options: dict = {"initialization_method": "estimated"}
    if model == "holt_winters_damped":
        # 'heuristic' initial states need two full seasons, which this model is only
        # chosen with; estimating 52 initial seasonals instead would overfit and be slow.
        seasonal = "mul" if (values > 0).all() else "add"
        options = {
            "trend": "add",
            "damped_trend": True,
            "seasonal": seasonal,
            "seasonal_periods": SEASON_WEEKS,
            "initialization_method": "heuristic",
        }
    elif model == "holt_damped":
        options.update(trend="add", damped_trend=True)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = ExponentialSmoothing(values, **options).fit()
            fitted = np.asarray(result.fittedvalues, dtype=float)
            forecast = np.asarray(result.forecast(horizon), dtype=float)
    except Exception:  # any statsmodels failure means: use the simpler model
        return None
    if not (np.isfinite(fitted).all() and np.isfinite(forecast).all()):
        return None
    params = {name: _finite_or_none(result.params.get(key)) for name, key in _PARAM_NAMES.items()}
    return SmoothingFit(model, params, _finite_or_none(result.aicc), fitted, forecast)


def _finite_or_none(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class FamilyShape:
    """The shape of one product family x region over history and horizon weeks."""

    fit: SmoothingFit
    n_weeks: int
    history: np.ndarray  # (n_history_weeks,), 1.0 before the family's first week
    horizon: np.ndarray  # (horizon,)


def family_shape(aggregate: np.ndarray, n_weeks: int, horizon: int) -> FamilyShape:
    """Fit the family model on the last `n_weeks` of `aggregate` (oldest week first) and
    derive its shape. A flat shape (all 1.0) when no model could be fitted or the fitted
    level is not positive."""
    history = np.ones(len(aggregate))
    flat = np.ones(horizon)
    values = np.clip(np.asarray(aggregate, dtype=float)[len(aggregate) - n_weeks :], 0, None)
    fit = fit_exponential_smoothing(values, horizon)
    norm = fit.fitted[-SHAPE_NORM_WEEKS:].mean() if n_weeks else 0.0
    if fit.model == "none" or not norm > 0:
        return FamilyShape(fit, n_weeks, history, flat)
    history[len(history) - n_weeks :] = np.clip(fit.fitted / norm, SHAPE_FLOOR, SHAPE_CEILING)
    shape_horizon = np.clip(fit.forecast / norm, SHAPE_FLOOR, SHAPE_CEILING)
    return FamilyShape(fit, n_weeks, history, shape_horizon)
