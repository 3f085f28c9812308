"""Performance metrics: one definition each, with its formula.

Conventions (24/7 crypto markets):

- The equity curve starts at the initial cash: ``E_0 = initial_cash`` and ``E_k`` (k ≥ 1) is equity
  marked at the close of bar k−1. A loss on the first bar is therefore a drawdown.
- Returns are simple per-bar returns ``r_k = E_k / E_{k−1} − 1`` (k = 1..n).
- Periods per year for annualisation: 365 days / bar length (8760 for ``1h``, 365 for ``1d``).
- Sharpe = mean(r) / std(r, ddof=1) · √periods_per_year, risk-free rate 0. It is NaN (undefined)
  when there are fewer than two returns or the dispersion is zero: std ≤ 1e-12 · max|r| (a constant
  series' std is rounding residue, not risk).
- Drawdown at k = (peak_k − E_k) / peak_k with peak_k = max(E_0..E_k), a positive fraction; in quote
  currency peak_k − E_k. Its duration counts consecutive bars with E_k < peak_k; the time of an
  episode runs from the open of its first underwater bar to the close of its last one.
- Exposure = share of bars that end with any non-zero position.
- A trade is a round trip of one symbol: from flat (or a flip) to flat (or the next flip).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .timeframes import YEAR_MS, timeframe_to_ms

ZERO_DISPERSION = 1e-12


def equity_curve(initial_cash: float, equity: np.ndarray) -> np.ndarray:
    """``[initial_cash, equity_0, ..., equity_{n-1}]``."""
    return np.concatenate([[float(initial_cash)], np.asarray(equity, dtype=np.float64)])


def simple_returns(curve: np.ndarray) -> np.ndarray:
    return curve[1:] / curve[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float:
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    scale = float(np.max(np.abs(r)))
    if sd <= ZERO_DISPERSION * scale or sd == 0.0:
        return math.nan
    return float(np.mean(r)) / sd * math.sqrt(periods_per_year)


def drawdown(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drawdown as a fraction of the running peak and in quote currency, one value per curve point."""
    peak = np.maximum.accumulate(curve)
    return (peak - curve) / peak, peak - curve


def underwater_runs(curve: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) curve indices of each run of consecutive points below the running peak."""
    peak = np.maximum.accumulate(curve)
    under = curve < peak
    runs, start = [], None
    for k, u in enumerate(under):
        if u and start is None:
            start = k
        elif not u and start is not None:
            runs.append((start, k - 1))
            start = None
    if start is not None:
        runs.append((start, len(curve) - 1))
    return runs


def count_round_trips(fills: pd.DataFrame) -> int:
    """Number of closed round trips: fills after which a symbol's position is flat or has flipped."""
    n = 0
    for _, g in fills.groupby("symbol", sort=False):
        pos = 0.0
        for dq in g["qty"].to_numpy():
            new = pos + dq
            if pos != 0.0 and (new == 0.0 or (new > 0) != (pos > 0)):
                n += 1
            pos = new
    return n


def summarize(result) -> dict:
    """The summary metrics of a :class:`~rmsbt.engine.loop.BacktestResult`."""
    tf_ms = timeframe_to_ms(result.timeframe)
    ppy = YEAR_MS / tf_ms
    curve = equity_curve(result.initial_cash, result.equity)
    rets = simple_returns(curve)
    dd_frac, dd_quote = drawdown(curve)
    runs = underwater_runs(curve)
    # curve index k >= 1 is bar k-1; index 0 (initial cash) is never underwater
    longest = max(runs, key=lambda r: r[1] - r[0], default=None)
    ts = result.timestamps
    if longest is not None:
        dd_bars = longest[1] - longest[0] + 1
        dd_ms = int(ts[longest[1] - 1] + tf_ms - ts[longest[0] - 1])
    else:
        dd_bars, dd_ms = 0, 0
    final = float(curve[-1])
    exposure = float(np.mean(np.any(result.positions != 0.0, axis=1))) if result.positions.size else 0.0
    return {
        "start": int(ts[0]),
        "end": int(ts[-1] + tf_ms),
        "bars": int(ts.shape[0]),
        "initial_equity": float(result.initial_cash),
        "final_equity": final,
        "pnl": final - float(result.initial_cash),
        "total_return": final / float(result.initial_cash) - 1.0,
        "max_drawdown": float(dd_frac.max()),
        "max_drawdown_quote": float(dd_quote.max()),
        "max_drawdown_duration_bars": int(dd_bars),
        "max_drawdown_duration_days": dd_ms / 86_400_000,
        "sharpe": sharpe_ratio(rets, ppy),
        "periods_per_year": ppy,
        "trades": count_round_trips(result.fills),
        "fills": int(len(result.fills)),
        "fees_paid": float(result.fills["fee"].sum()) if len(result.fills) else 0.0,
        "exposure": exposure,
    }
