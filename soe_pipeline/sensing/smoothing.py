"""Vectorised helpers over many series at once: outlier capping, row medians and the
first week of each series. (The smoothing methods themselves are in `baselines`.)

Every function takes an (n_series, n_weeks) matrix, oldest week first, with NaN before a
series starts and a value (possibly 0) in every week from its start on. Loops run over weeks,
never over series.
"""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826
# A week is capped at its local median + OUTLIER_SCALES x the series' robust noise scale.
OUTLIER_SCALES = 5.0
LOCAL_MEDIAN_WEEKS = 5  # local_median's sorting network and median pick are written for 5
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
