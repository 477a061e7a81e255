"""Forecast accuracy measures (DESIGN section 4). Pure numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def wape(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> float:
    """Weighted absolute percentage error: sum|A - F| / sum|A|; NaN when sum|A| is 0."""
    a, f = _pair(actual, forecast)
    denominator = np.abs(a).sum()
    return float(np.abs(a - f).sum() / denominator) if denominator > 0 else float("nan")


def bias(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> float:
    """sum(F - A) / sum A: positive means the forecast was too high; NaN when sum A is 0."""
    a, f = _pair(actual, forecast)
    denominator = a.sum()
    return float((f - a).sum() / denominator) if denominator != 0 else float("nan")


def _pair(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape:
        raise ValueError(f"actual has {a.size} values, forecast {f.size}")
    return a, f
