"""Drawdowns of an equity curve that starts at the initial cash.

- Running peak ``M_k = max(E_0..E_k)``; the initial cash ``E_0`` is the first peak, so a loss on the
  first bar is a drawdown (BR-23).
- Drawdown ``DD_k = (M_k − E_k) / M_k`` (a positive fraction) and ``M_k − E_k`` in quote currency.
- An **episode** is a maximal run of consecutive curve points with ``E_k < M_k``. Its length in
  **bars** is the number of those points (each point is one bar's close). Its length in **time**
  runs from the open of its first underwater bar to the close of its last underwater bar; with no gap
  in the clock that is bars × bar length; a gap inside an episode counts as time under water.
  An episode still underwater at the last bar is *open*: its recovery is ``None`` and its length
  counts the underwater bars up to the end (BR-22: one bar underwater at the end → 1, not 0).
- Curve point k ≥ 1 is bar k−1's close; point 0 (the initial cash) is a peak by definition, so it
  is never underwater.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def drawdown(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(DD_k, M_k − E_k)`` for every curve point: fraction of the running peak and quote currency."""
    curve = np.asarray(curve, dtype=np.float64)
    peak = np.maximum.accumulate(curve)
    return (peak - curve) / peak, peak - curve


def underwater_runs(curve: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` curve indices of each run of consecutive points below the running peak."""
    curve = np.asarray(curve, dtype=np.float64)
    under = curve < np.maximum.accumulate(curve)
    if not under.any():
        return []
    d = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


@dataclass(frozen=True)
class Episode:
    start: int  #: open time (ms) of the first underwater bar
    trough: int  #: open time (ms) of the bar whose close is the episode's deepest point
    recovery: int | None  #: open time of the bar whose close is back at the peak; None if still open
    depth: float  #: deepest drawdown, fraction of the peak
    depth_quote: float  #: deepest drawdown, quote currency
    bars: int  #: underwater bars
    duration_ms: int  #: open of the first underwater bar → close of the last one


def episodes(curve: np.ndarray, timestamps: np.ndarray, timeframe_ms: int) -> list[Episode]:
    """Every drawdown episode of ``curve`` (n + 1 points) over bars with open times ``timestamps`` (n)."""
    dd, dq = drawdown(curve)
    ts = np.asarray(timestamps, dtype=np.int64)
    out = []
    for a, b in underwater_runs(curve):
        k = a + int(np.argmax(dd[a:b + 1]))
        out.append(Episode(
            start=int(ts[a - 1]), trough=int(ts[k - 1]),
            recovery=int(ts[b]) if b + 1 < len(curve) else None,
            depth=float(dd[k]), depth_quote=float(dq[k]), bars=b - a + 1,
            duration_ms=int(ts[b - 1] + timeframe_ms - ts[a - 1])))
    return out


def drawdown_stats(curve: np.ndarray, timestamps: np.ndarray, timeframe_ms: int) -> dict:
    """Max drawdown (fraction, quote), its episode, max/average episode length (bars, days), time
    under water (share of bars and of time), and the drawdown at the end.

    ``max_drawdown_duration_days`` and ``max_drawdown_duration_bars`` are the two lengths of **one**
    episode: the longest in wall-clock time (ties: the one with more bars). Across a gap in the clock
    another episode may have more bars; averages are over all episodes."""
    dd, dq = drawdown(curve)
    eps = episodes(curve, timestamps, timeframe_ms)
    n = len(curve) - 1
    total_ms = int(timestamps[-1] + timeframe_ms - timestamps[0]) if n else 0
    worst = max(eps, key=lambda e: e.depth, default=None)
    # the longest episode by wall-clock time (ties: more bars); both of its lengths are reported, so
    # max_drawdown_duration_days and _bars always describe the same episode
    longest = max(eps, key=lambda e: (e.duration_ms, e.bars), default=None)
    day = 86_400_000
    return {
        "max_drawdown": float(dd.max()),
        "max_drawdown_quote": float(dq.max()),
        "max_drawdown_start": worst.start if worst else None,
        "max_drawdown_trough": worst.trough if worst else None,
        "max_drawdown_recovery": worst.recovery if worst else None,
        "max_drawdown_duration_bars": longest.bars if longest else 0,
        "max_drawdown_duration_days": longest.duration_ms / day if longest else 0.0,
        "avg_drawdown_duration_bars": float(np.mean([e.bars for e in eps])) if eps else 0.0,
        "avg_drawdown_duration_days": float(np.mean([e.duration_ms for e in eps])) / day if eps else 0.0,
        "drawdown_episodes": len(eps),
        "time_under_water_bars": float(sum(e.bars for e in eps) / n) if n else 0.0,
        "time_under_water": float(sum(e.duration_ms for e in eps) / total_ms) if total_ms else 0.0,
        "current_drawdown": float(dd[-1]),
    }
