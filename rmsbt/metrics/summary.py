"""The summary of a backtest: every metric of ``docs/metrics.md`` in one flat dict, plus per-symbol rows.

:func:`summarize` is the one entry point; each number comes from one function in
:mod:`~rmsbt.metrics.returns`, :mod:`~rmsbt.metrics.drawdown` or :mod:`~rmsbt.metrics.trades`, or from
the small definitions here (exposure, turnover, buy-and-hold, per-symbol PnL).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..timeframes import timeframe_to_ms
from .drawdown import drawdown_stats
from .returns import (annual_volatility, cagr, calmar_ratio, equity_curve, periods_per_year_for, sharpe_ratio,
                      simple_returns, sortino_ratio)
from .trades import TRADE_COLUMNS, closed_trades, trade_stats

DAY_MS = 86_400_000


def hold_weights(timestamps: np.ndarray, timeframe_ms: int) -> np.ndarray:
    """Time each bar's state is held: ``ts[i+1] − ts[i]``, and one bar length for the last bar (ms)."""
    ts = np.asarray(timestamps, dtype=np.int64)
    return np.diff(np.concatenate([ts, [ts[-1] + timeframe_ms]])).astype(np.float64) if ts.size else np.zeros(0)


def exposure(positions: np.ndarray, timestamps: np.ndarray, timeframe_ms: int) -> tuple[float, float]:
    """``(bars share, time share)`` of bars that end with a non-zero position (any symbol for a 2-D
    ``positions``). The time share weights each bar by :func:`hold_weights` (a gap after a bar counts
    with the position held through it)."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.size == 0:
        return 0.0, 0.0
    held = np.any(pos != 0.0, axis=1) if pos.ndim == 2 else pos != 0.0
    w = hold_weights(timestamps, timeframe_ms)
    return float(held.mean()), float((w * held).sum() / w.sum())


def forward_filled(closes: np.ndarray) -> np.ndarray:
    """Closes ``(n_symbols, n_bars)`` with each NaN replaced by the last known close (NaN before the first)."""
    return pd.DataFrame(np.asarray(closes, dtype=np.float64).T).ffill().to_numpy().T


def first_opens(opens: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Open of each symbol's first bar that traded (NaN if it never traded)."""
    out = np.full(opens.shape[0], math.nan)
    for s in range(opens.shape[0]):
        idx = np.flatnonzero(present[s])
        if idx.size:
            out[s] = opens[s, idx[0]]
    return out


def buy_and_hold(start_prices: np.ndarray, closes: np.ndarray, initial_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight buy-and-hold of the backtest's symbols over the same bars.

    The initial cash is split equally over the S symbols at the start; sleeve s buys its symbol at
    ``start_prices[s]`` (the open of its first bar in the period — it stays cash until then), holds
    to the end with no fees, and is marked at its last known close. Returns the curve
    ``initial · (1/S) Σ_s v_s,k`` with ``v_s,k = close_s,k / start_s`` (1 before the sleeve's first close),
    one value per bar, and each symbol's return ``v_s,n − 1``; the combined return is their mean.
    """
    c = forward_filled(closes)
    v = c / np.asarray(start_prices, dtype=np.float64)[:, None]
    v = np.where(np.isnan(v), 1.0, v)
    return float(initial_cash) * v.mean(axis=0), v[:, -1] - 1.0


def trade_log(result) -> pd.DataFrame:
    """The run's per-trade log: the broker's (``result.trades``, see :mod:`rmsbt.engine.trades`); an
    empty log for a hand-made result without one."""
    trades = getattr(result, "trades", None)
    return trades if trades is not None else pd.DataFrame(columns=TRADE_COLUMNS)


def summarize(result, *, market=None, periods_per_year: float | None = None, risk_free: float = 0.0,
              trades: pd.DataFrame | None = None) -> dict:
    """The summary metrics of a :class:`~rmsbt.engine.loop.BacktestResult` (flat dict, JSON-ready).

    ``market`` (the run's :class:`~rmsbt.data.align.MarketData`) enables buy-and-hold and per-symbol
    PnL; ``periods_per_year`` overrides 365 days / bar length; ``risk_free`` is an annual rate.
    ``trades``: a per-trade log (default: :func:`trade_log`). If equity reaches zero or below (ruin) the
    metrics cover the run up to that bar, ``ruined`` is True and a note says when.
    """
    tf_ms = timeframe_to_ms(result.timeframe)
    ppy = periods_per_year_for(result.timeframe, periods_per_year)
    notes: list[str] = []
    ts = np.asarray(result.timestamps, dtype=np.int64)
    curve = equity_curve(result.initial_cash, result.equity)
    ruin = np.flatnonzero(curve[1:] <= 0.0)
    ruined = bool(ruin.size)
    if ruined:
        k = int(ruin[0]) + 1
        curve, ts = curve[:k + 1], ts[:k]
        notes.append(f"ruin: equity reached {curve[-1]:.6g} (≤ 0) at the close of the bar opening at {ts[-1]} ms; "
                     "metrics cover the run up to that bar")
    n = int(ts.size)
    rets = simple_returns(curve)
    initial, final = float(curve[0]), float(curve[-1])
    start, end = int(ts[0]), int(ts[-1] + tf_ms)
    duration = end - start
    fills = result.fills
    if trades is None:
        trades = trade_log(result)
    if ruined:
        trades = trades.loc[pd.to_numeric(trades["entry_time"]) <= ts[-1]]
    dd = drawdown_stats(curve, ts, tf_ms)
    c = cagr(initial, final, duration)
    sharpe = sharpe_ratio(rets, ppy, risk_free)
    if n < 2:
        notes.append("fewer than two bars: Sharpe, Sortino and volatility are undefined (NaN)")
    elif math.isnan(sharpe):
        notes.append("zero dispersion of returns (constant equity growth): Sharpe is undefined (NaN)")
    pos = np.asarray(result.positions, dtype=np.float64)[:n]
    exp_bars, exp_time = exposure(pos, ts, tf_ms)
    price = fills["price"] if "price" in fills.columns else pd.Series(np.nan, index=fills.index)
    turnover_quote = float((fills["qty"].abs() * price).sum()) if len(fills) else 0.0
    fees = float(fills["fee"].sum()) if len(fills) else 0.0
    ts_stats = trade_stats(trades, tf_ms)
    if ts_stats["trade_stats_note"]:
        notes.append(ts_stats["trade_stats_note"])
    gaps = int(round(duration / tf_ms)) - n
    if gaps:
        notes.append(f"{gaps} bar(s) missing from the clock: returns and Sharpe are per bar; CAGR and "
                     "durations in days are wall-clock time")
    m = {
        "start": start,
        "end": end,
        "duration_days": duration / DAY_MS,
        "bars": n,
        "missing_bars": gaps,
        "initial_equity": initial,
        "final_equity": final,
        "peak_equity": float(curve.max()),
        "pnl": final - initial,
        "total_return": final / initial - 1.0,
        "cagr": c,
        "annual_volatility": annual_volatility(rets, ppy),
        "sharpe": sharpe,
        "sortino": sortino_ratio(rets, ppy, risk_free),
        "calmar": calmar_ratio(c, dd["max_drawdown"]),
        **dd,
        "periods_per_year": ppy,
        "risk_free_rate": float(risk_free),
        "ruined": ruined,
        "fills": int(len(fills)),
        **ts_stats,
        "exposure": exp_bars,
        "exposure_time": exp_time,
        "turnover_quote": turnover_quote,
        "turnover": turnover_quote / float(curve[1:].mean()) if n else math.nan,
        "fees_paid": fees,
        "funding_paid": float(trades["funding"].sum()) if "funding" in trades.columns and len(trades) else 0.0,
    }
    if market is not None:
        opens0 = first_opens(market.open[:, :n], market.present[:, :n])
        closes = market.close[:, :n]
        bh_curve, bh_sym = buy_and_hold(opens0, closes, initial)
        m["buy_and_hold_return"] = float(bh_curve[-1] / initial - 1.0)
        per = {}
        closed = closed_trades(trades)
        for j, s in enumerate(result.symbols):
            mine = closed.loc[closed["symbol"] == s]
            sf = fills.loc[fills["symbol"] == s]
            e_bars, e_time = exposure(pos[:, j], ts, tf_ms)
            per[s] = {
                # Σ net_pnl of the symbol's trades, closed and open (the broker's log: realized + unrealized
                # − fees − funding); the symbols' PnLs add up to the run's PnL
                "pnl": float(trades.loc[trades["symbol"] == s, "net_pnl"].sum()),
                "trades": int(len(mine)),
                "win_rate": float((mine["net_pnl"] > 0).mean()) if len(mine) else math.nan,
                "net_pnl_closed_trades": float(mine["net_pnl"].sum()) if len(mine) else 0.0,
                "fills": int(len(sf)),
                "fees_paid": float(sf["fee"].sum()) if len(sf) else 0.0,
                "funding_paid": float(trades.loc[trades["symbol"] == s, "funding"].sum()) if len(trades) else 0.0,
                "turnover_quote": float((sf["qty"].abs() * sf["price"]).sum()) if len(sf) else 0.0,
                "exposure": e_bars,
                "exposure_time": e_time,
                "buy_and_hold_start_price": float(opens0[j]),
                "buy_and_hold_return": float(bh_sym[j]),
            }
        m["per_symbol"] = per
    m["notes"] = notes
    return m
