"""Thinning long series for display only (never for numbers): min/max per bucket.

A chart of 500,000 points drawn into 1,000 pixels shows, per pixel column, only the extremes; keeping
each bucket's minimum and maximum (in time order) draws the same picture from at most ``max_points``
points, so spikes and drawdown troughs are never lost.
"""

from __future__ import annotations

import numpy as np

MAX_POINTS = 5000


def minmax_indices(y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Sorted indices of ``y`` to draw: all of them if ``len(y) <= max_points``, else the first, the
    last, and the argmin and argmax of each of ``max_points // 2 − 1`` equal buckets (NaN ignored)."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n <= max_points:
        return np.arange(n)
    buckets = max(max_points // 2 - 1, 1)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [0, n - 1]
    finite = np.where(np.isnan(y), np.nan, y)
    for a, b in zip(edges[:-1], edges[1:]):
        seg = finite[a:b]
        if b <= a or np.isnan(seg).all():
            keep.append(a)
            continue
        keep.append(a + int(np.nanargmin(seg)))
        keep.append(a + int(np.nanargmax(seg)))
    return np.unique(np.asarray(keep, dtype=np.int64))


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(x[idx], y[idx])`` with ``idx = minmax_indices(y)``."""
    idx = minmax_indices(y, max_points)
    return np.asarray(x)[idx], np.asarray(y)[idx]
