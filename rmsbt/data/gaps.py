"""Missing candles: find them, and (only when asked) fill them by a documented rule.

rmsbt never invents bars on its own: the store, the loaders and :func:`rmsbt.data.align` keep a
missing bar missing (the engine fills no order of that symbol on that bar). Indicators that need a
bar per period can call :func:`fill_gaps` explicitly.

Fill rule (:func:`fill_gaps`): each missing bar ``t`` between two stored bars gets
``open = high = low = close = the previous bar's close`` and ``volume = 0``, and is flagged
``synthetic = True``. Nothing is inserted before the first or after the last stored bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms


@dataclass(frozen=True)
class GapReport:
    gaps: int          # number of holes
    missing: int       # bars missing in total
    longest: int       # bars in the longest hole
    starts: tuple      # open time of the first missing bar of each hole


def find_gaps(ts: np.ndarray, timeframe: str) -> GapReport:
    """Holes between consecutive (sorted, unique) open times, in bars of ``timeframe``."""
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size < 2 or timeframe.endswith("M"):
        return GapReport(0, 0, 0, ())
    tf = timeframe_to_ms(timeframe)
    miss = np.diff(ts) // tf - 1
    at = np.flatnonzero(miss > 0)
    g = miss[at]
    return GapReport(int(g.size), int(g.sum()), int(g.max()) if g.size else 0, tuple(int(ts[i] + tf) for i in at))


_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def step_label(ms: int) -> str:
    """A step in ms as a timeframe string: ``3600000`` → ``"1h"``."""
    for u, n in _UNITS:
        if ms % n == 0:
            return f"{ms // n}{u}"
    return f"{ms}ms"


def most_common_step(ts: np.ndarray) -> int | None:
    """The most common positive difference between sorted open times (the file's bar length)."""
    d = np.diff(np.sort(np.asarray(ts, dtype=np.int64)))
    d = d[d > 0]
    if d.size == 0:
        return None
    vals, cnt = np.unique(d, return_counts=True)
    return int(vals[np.argmax(cnt)])


_DAY = 86_400_000
_WEEK_OFFSET = 4 * _DAY  # 1970-01-01 was a Thursday; Monday 1970-01-05 starts the epoch's first week


def grid_offset(timeframe: str) -> int:
    """Bars of ``timeframe`` open at ``offset + k * tf``: 0 (epoch-aligned, UTC midnight for days),
    Monday 00:00 UTC for weeks (like Binance's ``1w``)."""
    return _WEEK_OFFSET if timeframe.endswith("w") else 0


def spacing_problem(ts: np.ndarray, timeframe: str) -> str | None:
    """THE rule that open times are bars of ``timeframe`` (used by ``rmsbt data import``,
    ``rmsbt data check`` and :func:`rmsbt.data.resample.resample`). ``ts`` sorted, unique, int ms.

    - fixed timeframes (``1m`` .. ``1w``): every open time is on the timeframe's grid
      (``(t - offset) % tf == 0``, see :func:`grid_offset`; hence no two bars are closer than ``tf``)
      and the most common step is ``tf`` (gaps are allowed);
    - months (``1M``): every open time is the first of a month, 00:00 UTC, and consecutive bars are at
      least 28 days apart.

    Returns None when the rule holds, else one phrase saying what breaks it (with the step the data
    actually has, so the message can suggest the right timeframe). A single bar only has to be on
    the grid.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return None
    step = most_common_step(ts)
    actual = f"; its rows are {step_label(step)} apart (most common step)" if step else ""
    if timeframe.endswith("M"):
        d = pd.to_datetime(ts, unit="ms", utc=True)
        off = np.flatnonzero((d.day != 1) | (d.hour != 0) | (d.minute != 0) | (d.second != 0)
                             | (ts % 1000 != 0))
        if off.size:
            return f"timestamp {int(ts[off[0]])} is not the first of a month 00:00 UTC, so not a {timeframe} bar{actual}"
        if ts.size > 1 and np.diff(ts).min() < 28 * _DAY:
            return f"bars less than 28 days apart are not {timeframe} bars{actual}"
        return None
    tf = timeframe_to_ms(timeframe)
    if step is not None and step != tf:
        return f"its rows are {step_label(step)} apart (most common step), not {timeframe}"
    off = np.flatnonzero((ts - grid_offset(timeframe)) % tf != 0)
    if off.size:
        return (f"timestamp {int(ts[off[0]])} is off the {timeframe} grid ({off.size} such row(s)); "
                f"{timeframe} bars open at multiples of {timeframe} since the epoch"
                + (" (Mondays 00:00 UTC)" if timeframe.endswith("w") else ""))
    return None  # on the grid and unique: no two bars closer than tf


def check_spacing(ts: np.ndarray, timeframe: str, source: str) -> None:
    """Raise a DataError ``<source>: <problem>`` when :func:`spacing_problem` finds one."""
    problem = spacing_problem(ts, timeframe)
    if problem:
        step = most_common_step(ts)
        hint = f"; use --timeframe {step_label(step)}" if step and step_label(step) != timeframe else ""
        raise DataError(f"{source}: {problem}{hint}")


def fill_gaps(df: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Return ``df`` with every missing bar inserted by the fill rule of the module docstring.

    Adds a bool column ``synthetic`` (True on inserted bars). Stored bars must sit on the timeframe's
    grid relative to the first bar (``(t - t0) % tf == 0``); otherwise a DataError is raised.
    """
    tf = timeframe_to_ms(timeframe)
    ts = df["timestamp"].to_numpy(np.int64)
    if ts.size == 0:
        return df.assign(synthetic=np.zeros(0, dtype=bool))
    if ((ts - ts[0]) % tf != 0).any():
        raise DataError(f"cannot fill gaps: timestamps are not on a {timeframe} grid")
    full = np.arange(ts[0], ts[-1] + 1, tf, dtype=np.int64)
    pos = np.searchsorted(full, ts)
    present = np.zeros(full.size, dtype=bool)
    present[pos] = True
    # index of the last stored bar at or before each slot → its close fills the slot
    last = np.maximum.accumulate(np.where(present, np.arange(full.size), 0))
    close_full = np.empty(full.size)
    close_full[pos] = df["close"].to_numpy(np.float64)
    prev_close = close_full[last]
    out = {"timestamp": full}
    for c in ("open", "high", "low", "close"):
        col = prev_close.copy()
        col[pos] = df[c].to_numpy(np.float64)
        out[c] = col
    vol = np.zeros(full.size)
    vol[pos] = df["volume"].to_numpy(np.float64)
    out["volume"] = vol
    out["synthetic"] = ~present
    return pd.DataFrame(out)
