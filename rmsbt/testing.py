"""Small helpers for testing strategies on hand-made candles (used by rmsbt's own tests too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .data.align import MarketData, align
from .data.validate import validate_candles
from .engine.broker import BrokerConfig
from .engine.loop import BacktestResult, run_backtest
from .strategy import Strategy
from .timeframes import timeframe_to_ms


def candles(rows: Sequence[Sequence[float]], source: str = "<test candles>") -> pd.DataFrame:
    """A validated candle frame from rows ``(timestamp, open, high, low, close, volume)``."""
    df = pd.DataFrame(list(rows), columns=["timestamp", "open", "high", "low", "close", "volume"])
    return validate_candles(df, source)


def flat_candles(closes: Sequence[float], timeframe: str = "1h", start_ms: int = 1_704_067_200_000) -> pd.DataFrame:
    """Candles with open = high = low = close (one per value), volume 1, starting 2024-01-01 00:00 UTC."""
    tf = timeframe_to_ms(timeframe)
    return candles([(start_ms + k * tf, c, c, c, c, 1.0) for k, c in enumerate(closes)])


def market(frames: dict[str, pd.DataFrame], timeframe: str = "1h") -> MarketData:
    return align(frames, timeframe)


class Scripted(Strategy):
    """Calls ``script(ctx)`` on every bar: a strategy written inline in a test."""

    def __init__(self, script: Callable):
        super().__init__()
        self.script = script

    def on_bar(self, ctx):
        self.script(ctx)


def infer_timeframe(frames: dict[str, pd.DataFrame]) -> str:
    """The timeframe of hand-made candles: the smallest spacing of consecutive open times in any frame,
    written in the largest of d / h / m / s that divides it (``"1h"`` when no frame has two candles)."""
    gaps = [int(d) for df in frames.values() for d in np.diff(df["timestamp"].to_numpy(dtype=np.int64)) if d > 0]
    if not gaps:
        return "1h"
    ms = min(gaps)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise ValueError(f"candles {ms} ms apart: not a whole number of seconds; pass timeframe=")


def run_script(script: Callable, frames: dict[str, pd.DataFrame], timeframe: str | None = None,
               **broker) -> BacktestResult:
    """Run an inline strategy ``script(ctx)`` over hand-made candles with ``BrokerConfig(**broker)``.

    ``timeframe``: the clock; by default inferred from the candles' spacing (:func:`infer_timeframe`:
    daily candles run on a daily clock, not silently on an hourly one with 23 empty bars a day)."""
    tf = infer_timeframe(frames) if timeframe is None else timeframe
    return run_backtest(Scripted(script), market(frames, tf), BrokerConfig(**broker))
