"""Resample candles to a coarser timeframe without look-ahead (1m → 5m/1h/4h/1d, 1h → 4h/1d, ...).

A coarse bar opened at ``T`` covers the fine bars with ``T <= t < T + TF``; ``T`` is a multiple of
``TF`` since the epoch (UTC midnight for days, as exchanges do), except weeks, which start on Monday
00:00 UTC like Binance's ``1w``. Aggregation is exact: open = first open, high = max high,
low = min low, close = last close, volume = sum of volumes (float64; equal to
the exchange's own coarse volume up to rounding, ~1e-15 relative).

Look-ahead: a coarse bar is **complete** only when all ``TF / tf`` fine bars are present, i.e. its
last fine bar has closed and none is missing. By default (``partial="drop"``) incomplete coarse bars
are dropped, so a coarse bar exists only once its last fine bar closed and nothing partial at either
edge (or around a hole) is passed off as complete. With ``partial="mark"`` they are kept, with a
``bars`` column (fine bars aggregated) and ``complete`` (bool). With ``now_ms`` given, a coarse bar
with ``T + TF > now`` is also incomplete (still open).

The stated source timeframe is verified against the data first
(:func:`rmsbt.data.gaps.spacing_problem`: on the source grid, most common step = source): hourly
candles passed as ``"1m"`` are refused rather than silently giving no bars or "complete" bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms
from .gaps import check_spacing, grid_offset


def bucket_start(ts: np.ndarray, target: str) -> np.ndarray:
    """Open time of the coarse bar that contains each fine open time."""
    if target.endswith("M"):
        raise DataError("resampling to months is not supported (calendar months vary in length)")
    tf = timeframe_to_ms(target)
    off = grid_offset(target)
    return (ts - off) // tf * tf + off


def resample(df: pd.DataFrame, source: str, target: str, *, partial: str = "drop",
             now_ms: int | None = None) -> pd.DataFrame:
    """Aggregate validated candles of timeframe ``source`` to ``target`` (see the module docstring)."""
    if partial not in ("drop", "mark"):
        raise DataError(f"partial must be 'drop' or 'mark', got {partial!r}")
    s_ms, t_ms = timeframe_to_ms(source), timeframe_to_ms(target)
    if t_ms <= s_ms or t_ms % s_ms:
        raise DataError(f"cannot resample {source} to {target}: the target must be a whole multiple of the source")
    ts = df["timestamp"].to_numpy(np.int64)
    if ts.size and (np.diff(ts) <= 0).any():
        raise DataError("resample needs ascending unique timestamps (validate the candles first)")
    check_spacing(ts, source, f"resample from {source}")  # the stated source timeframe must be the data's
    if ts.size == 0:
        cols = {c: np.zeros(0) for c in ("open", "high", "low", "close", "volume")}
        return pd.DataFrame({"timestamp": np.zeros(0, np.int64), **cols})
    b = bucket_start(ts, target)
    starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
    ends = np.concatenate([starts[1:], [ts.size]])
    o, h, l, c, v = (df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume"))
    out = pd.DataFrame({
        "timestamp": b[starts],
        "open": o[starts],
        "high": np.maximum.reduceat(h, starts),
        "low": np.minimum.reduceat(l, starts),
        "close": c[ends - 1],
        "volume": np.add.reduceat(v, starts),
    })
    bars = ends - starts
    complete = bars == t_ms // s_ms
    if now_ms is not None:
        complete &= b[starts] + t_ms <= now_ms
    if partial == "drop":
        return out.loc[complete].reset_index(drop=True)
    out["bars"] = bars
    out["complete"] = complete
    return out

