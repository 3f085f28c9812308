"""Rules every candle table must satisfy before a backtest may read it.

A candle table has the columns ``timestamp,open,high,low,close,volume``; ``timestamp`` is the bar's
open time in integer milliseconds since the epoch, UTC. The rules (each violation is reported as one
line naming the file, the 1-based data row and the rule):

- ascending timestamps, no duplicates;
- no NaN / missing values in any column;
- prices > 0, volume >= 0;
- ``high >= max(open, close)`` and ``low <= min(open, close)``.

The row scan is one pass of a Numba kernel (:mod:`rmsbt.data.validate_nb`), so validating a
million rows costs a few milliseconds on top of reading them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from . import validate_nb as nb

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
_FLOATS = COLUMNS[1:]


def _fail(source: str, ts, pos: int, rule: str) -> DataError:
    t = int(ts[pos]) if ts is not None else "?"
    return DataError(f"{source}: row {pos + 1} (timestamp {t}): {rule}")


def _show(x) -> str:
    """A cell value for a message: plain Python repr, never ``np.float64(nan)``."""
    if isinstance(x, (np.floating, float)):
        return repr(float(x))
    if isinstance(x, (np.integer, int)):
        return repr(int(x))
    return repr(x.item() if isinstance(x, np.generic) else x)


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _canonical(df: pd.DataFrame) -> bool:
    return (tuple(df.columns) == COLUMNS and df["timestamp"].dtype == np.int64
            and all(df[c].dtype == np.float64 for c in _FLOATS) and isinstance(df.index, pd.RangeIndex)
            and df.index.start == 0 and df.index.step == 1)


def validate_candles(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check ``df`` against the rules above and return it with canonical dtypes.

    Returns a frame with exactly the columns ``COLUMNS``: ``timestamp`` as int64 and the rest as
    float64 (``df`` itself when it already is exactly that, else a new frame). Raises
    :class:`~rmsbt.errors.DataError` on the first violation found (rules are checked in the order
    listed in the module docstring; rows are numbered from 1, the header not counted).
    """
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; expected the header {','.join(COLUMNS)}"
        )
    if len(df) == 0:
        raise DataError(f"{source}: no candles in the file")
    canonical = _canonical(df)
    raw_ts = df["timestamp"]
    if raw_ts.dtype == np.int64:
        ts = raw_ts.to_numpy()
    else:
        num = pd.to_numeric(raw_ts, errors="coerce").to_numpy(dtype=np.float64)
        nan_at = _first(np.isnan(num))
        if nan_at is not None:
            raise _fail(source, None, nan_at, f"timestamp is missing or not a number ({_show(raw_ts.iloc[nan_at])})")
        frac_at = _first(num != np.floor(num))
        if frac_at is not None:
            raise _fail(source, num, frac_at, "timestamp is not a whole number of milliseconds")
        ts = num.astype(np.int64)
    arrays = {}
    for name in _FLOATS:  # non-numbers become NaN here and are reported by the kernel's NaN rule
        col = df[name]
        arrays[name] = col.to_numpy() if col.dtype == np.float64 else \
            pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    ts = np.ascontiguousarray(ts)
    o, h, l, c, v = (np.ascontiguousarray(arrays[k]) for k in _FLOATS)
    if nb.count_bad_rows(ts, o, h, l, c, v) == 0:
        return df if canonical else pd.DataFrame({"timestamp": ts, "open": o, "high": h, "low": l, "close": c,
                                                  "volume": v})
    first = nb.first_violations(ts, o, h, l, c, v)
    # rule slots in reporting order → message for the first row i breaking it
    rules = [(k, lambda i, n=name: f"{n} is missing or not a number ({_show(df[n].iloc[i])})")
             for k, name in enumerate(_FLOATS)]
    rules += [(nb.DUP, lambda i: f"duplicate timestamp {ts[i - 1]} (same as the row before)"),
              (nb.BACK, lambda i: f"timestamps not ascending ({ts[i]} after {ts[i - 1]})")]
    rules += [(k, lambda i, n=name: f"{n} must be a finite price > 0, got {float(arrays[n][i])!r}")
              for k, name in zip((nb.BAD_OPEN, nb.BAD_HIGH, nb.BAD_LOW, nb.BAD_CLOSE), PRICE_COLUMNS)]
    rules += [(nb.BAD_VOLUME, lambda i: f"volume must be finite and >= 0, got {float(v[i])!r}"),
              (nb.HIGH_BELOW, lambda i: f"high {float(h[i])!r} is below max(open, close) = {float(max(o[i], c[i]))!r}"),
              (nb.LOW_ABOVE, lambda i: f"low {float(l[i])!r} is above min(open, close) = {float(min(o[i], c[i]))!r}")]
    for slot, message in rules:
        if first[slot] >= 0:
            i = int(first[slot])
            raise _fail(source, ts, i, message(i))
    raise AssertionError("count_bad_rows and first_violations disagree")  # pragma: no cover
