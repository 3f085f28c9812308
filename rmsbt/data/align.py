"""Several symbols on one clock, without inventing bars.

The clock is the sorted union of every symbol's bar open times. Where a symbol has no bar at a clock
time its row is *missing*: ``present`` is False and its OHLCV are NaN. Nothing is forward-filled
into the price arrays; the engine fills no order of that symbol on that bar and marks an open
position at the symbol's last known close (see :mod:`rmsbt.engine.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class MarketData:
    """Aligned candles: arrays shaped ``(n_symbols, n_bars)``; ``timestamps`` shaped ``(n_bars,)``."""

    symbols: tuple[str, ...]
    timeframe: str
    timestamps: np.ndarray  # int64 ms, bar open times, strictly increasing
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    present: np.ndarray  # bool

    @property
    def n_bars(self) -> int:
        return int(self.timestamps.shape[0])

    def index(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise KeyError(f"symbol {symbol!r} is not in this backtest (have {', '.join(self.symbols)})") from None


def align(frames: dict[str, pd.DataFrame], timeframe: str, start_ms: int | None = None,
          end_ms: int | None = None) -> MarketData:
    """Align validated candle frames (one per symbol) on the union of their timestamps.

    ``start_ms``/``end_ms`` keep bars whose open time t satisfies ``start_ms <= t < end_ms``.
    """
    if not frames:
        raise DataError("no symbols to backtest")
    cut = {}
    for sym, df in frames.items():
        ts = df["timestamp"].to_numpy(np.int64)
        keep = np.ones(ts.shape[0], dtype=bool)
        if start_ms is not None:
            keep &= ts >= start_ms
        if end_ms is not None:
            keep &= ts < end_ms
        if not keep.any():
            raise DataError(f"{sym}: no candles between the configured start and end")
        cut[sym] = df.loc[keep]
    clock = np.unique(np.concatenate([d["timestamp"].to_numpy(np.int64) for d in cut.values()]))
    n_sym, n = len(cut), clock.shape[0]
    arrays = {f: np.full((n_sym, n), np.nan) for f in FIELDS}
    present = np.zeros((n_sym, n), dtype=bool)
    for i, df in enumerate(cut.values()):
        pos = np.searchsorted(clock, df["timestamp"].to_numpy(np.int64))
        present[i, pos] = True
        for f in FIELDS:
            arrays[f][i, pos] = df[f].to_numpy(np.float64)
    return MarketData(tuple(cut), timeframe, clock, present=present, **arrays)
