"""Small helpers for testing strategies on hand-made candles (used by rmsbt's own tests too)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def infer_timeframe(frames: dict[str, pd.DataFrame]) -> str:
    """The timeframe whose length equals the smallest spacing of the candles (``"1h"`` for one candle)."""
    import numpy as np

    from .timeframes import COMMON_TIMEFRAMES

    gaps = [np.diff(f["timestamp"].to_numpy(np.int64)) for f in frames.values() if len(f) > 1]
    if not gaps:
        return "1h"
    step = int(min(g.min() for g in gaps))
    for tf in COMMON_TIMEFRAMES:
        if timeframe_to_ms(tf) == step:
            return tf
    raise ValueError(f"candles are {step} ms apart, which is no common timeframe: pass timeframe= explicitly")


def market(frames: dict[str, pd.DataFrame], timeframe: str | None = None) -> MarketData:
    """Align hand-made candles; ``timeframe`` defaults to the one their spacing shows."""
    return align(frames, timeframe or infer_timeframe(frames))


class Scripted(Strategy):
    """Calls ``script(ctx)`` on every bar: a strategy written inline in a test."""

    def __init__(self, script: Callable):
        super().__init__()
        self.script = script

    def on_bar(self, ctx):
        self.script(ctx)


def run_script(script: Callable, frames: dict[str, pd.DataFrame], timeframe: str | None = None,
               **broker) -> BacktestResult:
    """Run an inline strategy ``script(ctx)`` over hand-made candles with ``BrokerConfig(**broker)``;
    ``timeframe`` defaults to the one the candles' spacing shows."""
    return run_backtest(Scripted(script), market(frames, timeframe), BrokerConfig(**broker))
