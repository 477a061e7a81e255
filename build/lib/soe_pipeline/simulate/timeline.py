"""Dates of one generation: as_of, week 0 and the history window, as day numbers.

A day number is the count of days since 1970-01-01 (numpy `datetime64[D]` as int), which
keeps date arithmetic vectorised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

EPOCH = dt.date(1970, 1, 1)


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def to_datetime64(days: np.ndarray) -> np.ndarray:
    """Day numbers (negative = null) as datetime64[D] with NaT for nulls."""
    days = np.asarray(days, dtype=np.int64)
    out = days.astype("datetime64[D]")
    out[days < 0] = np.datetime64("NaT")
    return out


@dataclass(frozen=True)
class Timeline:
    as_of: dt.date
    history_weeks: int

    @property
    def today(self) -> int:
        """as_of as a day number."""
        return day_number(self.as_of)

    @property
    def week0(self) -> int:
        """Monday of as_of's ISO week."""
        return self.today - self.as_of.weekday()

    @property
    def history_start(self) -> int:
        """First business day with event data: `history_weeks` whole weeks before week 0."""
        return self.week0 - 7 * self.history_weeks

    @property
    def history_days(self) -> range:
        """Business days with event files: history_start .. as_of - 1."""
        return range(self.history_start, self.today)

    def week_start(self, week: int) -> int:
        return self.week0 + 7 * week

    def day_in_week(self, week: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Day `offset` (0 = Monday) of horizon week `week`, never before as_of."""
        return np.maximum(self.today, self.week0 + 7 * np.asarray(week) + np.asarray(offset))

    def extraction(self, day: int, hour: int) -> dt.datetime:
        return dt.datetime.combine(to_date(day), dt.time(hour))
