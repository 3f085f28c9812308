"""Rules every candle table must satisfy before a backtest may read it.

A candle table has the columns ``timestamp,open,high,low,close,volume``; ``timestamp`` is the bar's
open time in integer milliseconds since the epoch, UTC. The rules (each violation is reported as one
line naming the file, the 1-based data row and the rule):

- ascending timestamps, no duplicates;
- no NaN / missing values in any column;
- prices > 0, volume >= 0;
- ``high >= max(open, close)`` and ``low <= min(open, close)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


def _fail(source: str, df: pd.DataFrame, pos: int, rule: str) -> DataError:
    ts = df["timestamp"].iloc[pos] if "timestamp" in df.columns else "?"
    return DataError(f"{source}: row {pos + 1} (timestamp {ts}): {rule}")


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def validate_candles(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check ``df`` against the rules above and return it with canonical dtypes.

    Returns a new frame with exactly the columns ``COLUMNS``: ``timestamp`` as int64 and the rest as
    float64. Raises :class:`~rmsbt.errors.DataError` on the first violation found (rules are checked
    in the order listed in the module docstring; rows are numbered from 1, the header not counted).
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; expected the header {','.join(COLUMNS)}"
        )
    if len(df) == 0:
        raise DataError(f"{source}: no candles in the file")
    out = {}
    for c in COLUMNS:
        col = pd.to_numeric(df[c], errors="coerce")
        nan_at = _first(col.isna().to_numpy())
        if nan_at is not None:
            raise _fail(source, df, nan_at, f"{c} is missing or not a number ({df[c].iloc[nan_at]!r})")
        out[c] = col.to_numpy(dtype=np.float64)
    ts_f = out["timestamp"]
    frac_at = _first(ts_f != np.floor(ts_f))
    if frac_at is not None:
        raise _fail(source, df, frac_at, "timestamp is not a whole number of milliseconds")
    ts = ts_f.astype(np.int64)
    if ts.size > 1:
        d = np.diff(ts)
        dup = _first(d == 0)
        if dup is not None:
            raise _fail(source, df, dup + 1, f"duplicate timestamp {ts[dup]} (same as the row before)")
        back = _first(d < 0)
        if back is not None:
            raise _fail(source, df, back + 1, f"timestamps not ascending ({ts[back + 1]} after {ts[back]})")
    o, h, l, c, v = (out[k] for k in ("open", "high", "low", "close", "volume"))
    for name in PRICE_COLUMNS:
        bad = _first(~np.isfinite(out[name]) | (out[name] <= 0))
        if bad is not None:
            raise _fail(source, df, bad, f"{name} must be a finite price > 0, got {float(out[name][bad])!r}")
    bad = _first(~np.isfinite(v) | (v < 0))
    if bad is not None:
        raise _fail(source, df, bad, f"volume must be finite and >= 0, got {float(v[bad])!r}")
    bad = _first(h < np.maximum(o, c))
    if bad is not None:
        raise _fail(source, df, bad, f"high {float(h[bad])!r} is below max(open, close) = {float(max(o[bad], c[bad]))!r}")
    bad = _first(l > np.minimum(o, c))
    if bad is not None:
        raise _fail(source, df, bad, f"low {float(l[bad])!r} is above min(open, close) = {float(min(o[bad], c[bad]))!r}")
    return pd.DataFrame({"timestamp": ts, "open": o, "high": h, "low": l, "close": c, "volume": v})
