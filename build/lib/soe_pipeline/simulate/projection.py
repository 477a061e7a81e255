"""docs/semantics.md on numpy arrays: the generator's own projection, used to derive the ground
truth of the disruptions it plants and to check that healthy SKU-locations stay healthy.

(`tests/oracle.py` is the independent reference that reads the landing files instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

HORIZON_WEEKS = 13


def horizon_week(dates: np.ndarray, week0: int) -> np.ndarray:
    """Horizon week of day numbers: max(0, floor((date - W0) / 7)); >= 13 is outside."""
    return np.maximum(0, np.floor_divide(np.asarray(dates) - week0, 7))


def bucket(
    n: int, rows: np.ndarray, dates: np.ndarray, units: np.ndarray, week0: int
) -> np.ndarray:
    """Sum dated quantities into an (n, 13) matrix of horizon weeks."""
    out = np.zeros((n, HORIZON_WEEKS))
    week = horizon_week(dates, week0)
    inside = week < HORIZON_WEEKS
    np.add.at(out, (np.asarray(rows)[inside], week[inside]), np.asarray(units, dtype=float)[inside])
    return out


@dataclass
class Projection:
    usable: np.ndarray  # (n,)
    receipts: np.ndarray  # (n, 13)
    open_orders: np.ndarray  # (n, 13)
    plan: np.ndarray  # (n, 13)
    safety_stock: np.ndarray  # (n,)

    @cached_property
    def demand(self) -> np.ndarray:
        return np.maximum(self.plan, self.open_orders)

    @cached_property
    def pab(self) -> np.ndarray:
        return self.usable[:, None] + np.cumsum(self.receipts - self.demand, axis=1)

    def weeks_of_cover(self) -> np.ndarray:
        return weeks_of_cover(self.usable, self.demand)


def weeks_of_cover(usable: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Step through demand_w until usable stock runs out; beyond the horizon at its average."""
    n, weeks = demand.shape
    cover = np.zeros(n)
    remaining = usable.astype(float).copy()
    running = remaining > 0
    for w in range(weeks):
        d = demand[:, w]
        runs_out = running & (d >= remaining) & (d > 0)
        cover[runs_out] += remaining[runs_out] / d[runs_out]
        continues = running & ~runs_out
        cover[continues] += 1.0
        remaining[continues] -= d[continues]
        running = continues
    average = demand.mean(axis=1)
    tail = running & (average > 0)
    cover[tail] += remaining[tail] / average[tail]
    return np.where(average > 0, cover, np.nan)


def runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs of True per row: (row, first_week, last_week), in row then week order."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    step = np.diff(padded, axis=1)
    start_rows, start_weeks = np.nonzero(step == 1)
    _, end_weeks = np.nonzero(step == -1)
    return list(
        zip(start_rows.tolist(), start_weeks.tolist(), (end_weeks - 1).tolist(), strict=True)
    )


def stockout_mask(pab: np.ndarray) -> np.ndarray:
    return pab < 0


def below_safety_mask(pab: np.ndarray, safety_stock: np.ndarray) -> np.ndarray:
    return (pab >= 0) & (pab < safety_stock[:, None])


def mismatch(
    book: np.ndarray, physical: np.ndarray, units: float = 1.0, pct: float = 0.02
) -> np.ndarray:
    return np.abs(book - physical) > np.maximum(units, pct * physical)
