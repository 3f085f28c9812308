"""Which extreme of a bar came first, read from finer candles of the same symbol (``intrabar =
"finer_candles"``).

For each bar the finer candles inside it (open time in ``[t, t + bar length)``) are searched for the
first one whose low reaches the bar's low and the first one whose high reaches the bar's high
(``<=`` / ``>=``, so a finer store that disagrees slightly with the bar finds no hit). The bar's path
(rule 6 of :mod:`rmsbt.engine.broker`) is then open → that first extreme → the other → close.
The order stays **unknown** — and the broker falls back to adverse-first — when the finer candles do
not cover the whole bar (any missing finer candle), when both extremes fall in the same finer
candle, or when either extreme is not found.

Codes: ``1`` low first, ``-1`` high first, ``0`` unknown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms


def extreme_order(bar_open_ms: np.ndarray, tf_ms: int, high: np.ndarray, low: np.ndarray,
                  fine: pd.DataFrame, fine_tf_ms: int) -> np.ndarray:
    """Per bar: 1 if its low came first, −1 if its high came first, 0 if the finer candles can't say."""
    n = bar_open_ms.shape[0]
    out = np.zeros(n, dtype=np.int8)
    if n == 0 or len(fine) == 0:
        return out
    ts = fine["timestamp"].to_numpy(np.int64)
    j = np.searchsorted(bar_open_ms, ts, side="right") - 1
    ok = (j >= 0) & (ts < bar_open_ms[np.maximum(j, 0)] + tf_ms)
    ts, j = ts[ok], j[ok]
    fh, fl = fine["high"].to_numpy(np.float64)[ok], fine["low"].to_numpy(np.float64)[ok]
    complete = np.bincount(j, minlength=n) == tf_ms // fine_tf_ms
    first_lo = np.full(n, np.iinfo(np.int64).max)
    first_hi = np.full(n, np.iinfo(np.int64).max)
    hit_lo = fl <= low[j]
    hit_hi = fh >= high[j]
    np.minimum.at(first_lo, j[hit_lo], ts[hit_lo])
    np.minimum.at(first_hi, j[hit_hi], ts[hit_hi])
    found = complete & (first_lo < np.iinfo(np.int64).max) & (first_hi < np.iinfo(np.int64).max)
    out[found & (first_lo < first_hi)] = 1
    out[found & (first_hi < first_lo)] = -1
    return out


def intrabar_matrix(cfg, market, data_dir: str | Path, exchange: str) -> np.ndarray | None:
    """Codes per (symbol, bar) from the store's finer candles; ``None`` unless ``intrabar =
    "finer_candles"``. A symbol without finer candles in the store gets 0 (adverse-first) everywhere."""
    if cfg.intrabar != "finer_candles":
        return None
    from ..data.store import load_symbol

    tf_ms, fine_ms = timeframe_to_ms(market.timeframe), timeframe_to_ms(cfg.intrabar_timeframe)
    if not (fine_ms < tf_ms and tf_ms % fine_ms == 0):
        raise DataError(f"broker.intrabar_timeframe {cfg.intrabar_timeframe} must divide the bar length "
                        f"{market.timeframe} and be shorter")
    out = np.zeros((len(market.symbols), market.n_bars), dtype=np.int8)
    for i, s in enumerate(market.symbols):
        try:
            fine = load_symbol(data_dir, exchange, s, cfg.intrabar_timeframe)
        except DataError as exc:
            if "no candles for" in str(exc):  # not in the store: adverse-first for this symbol
                continue
            raise
        out[i] = extreme_order(market.timestamps, tf_ms, market.high[i], market.low[i], fine, fine_ms)
    return out
