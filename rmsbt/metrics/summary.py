"""The summary of a backtest: every metric of ``docs/metrics.md`` in one flat dict, plus per-symbol rows.

:func:`summarize` is the one entry point; each number comes from one function in
:mod:`~rmsbt.metrics.returns`, :mod:`~rmsbt.metrics.drawdown` or :mod:`~rmsbt.metrics.trades`, or from
the small definitions here (exposure, turnover, buy-and-hold, per-symbol PnL).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..engine.trades import trades_until
from ..errors import TimeframeError
from ..timeframes import timeframe_to_ms, utc_text
from .drawdown import drawdown_stats
from .returns import (annual_volatility, cagr, cagr_overflows, calmar_ratio, equity_curve, per_period_rate,
                      periods_per_year_for, sharpe_ratio, simple_returns, sortino_ratio)
from .trades import TRADE_COLUMNS, closed_trades, trade_stats

DAY_MS = 86_400_000


RUIN_FRACTION = 1e-9  #: equity at or below this fraction of the initial cash counts as ruin

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




def _trades_at_ruin(result, market, r: int) -> pd.DataFrame:
    """The broker's trade log as it stood at the close of the ruin bar ``r`` (replayed by
    :func:`rmsbt.engine.trades.trades_until`): trades closed after it are open there, marked at its close."""
    fills = result.fills
    if getattr(result, "trades", None) is None or not len(fills) or "bar" not in fills.columns:
        log = trade_log(result)
        return log.loc[pd.to_numeric(log["entry_time"]) <= result.timestamps[r]]
    if market is not None:
        marks = forward_filled(market.close[:, :r + 1])[:, r]
        hl = (market.low, market.high, market.present)
    else:  # no candles: a single open symbol's mark follows from equity = cash + q · mark
        marks = np.full(len(result.symbols), math.nan)
        q = np.asarray(result.positions[r], dtype=np.float64)
        held = np.flatnonzero(q != 0.0)
        if held.size == 1:
            marks[held[0]] = (result.equity[r] - result.cash[r]) / q[held[0]]
        hl = (None, None, None)
    return trades_until(fills, getattr(result, "funding", None), tuple(result.symbols), result.timestamps, r, marks,
                        *hl)


def summarize(result, *, market=None, periods_per_year: float | None = None, risk_free: float = 0.0,
              trades: pd.DataFrame | None = None) -> dict:
    """The summary metrics of a :class:`~rmsbt.engine.loop.BacktestResult` (flat dict, JSON-ready).

    ``market`` (the run's :class:`~rmsbt.data.align.MarketData`) enables buy-and-hold and per-symbol
    PnL; ``periods_per_year`` overrides 365 days / bar length; ``risk_free`` is an annual rate (finite,
    > −1). ``trades``: a per-trade log (default: :func:`trade_log`).

    Ruin: if equity reaches zero or below, **everything** covers the run up to the close of that bar
    (``ruin_time``): equity numbers, fills, fees, turnover, funding, per-symbol numbers and trades — a
    trade still held at the ruin bar counts as open, marked at that bar's close (the broker's log is
    replayed to that bar). ``ruined`` is True and a note says when.
    """
    tf_ms = timeframe_to_ms(result.timeframe)
    if result.timeframe.endswith("M"):
        raise TimeframeError(f"timeframe {result.timeframe!r} (calendar months): metrics need one fixed bar length "
                             "(month bars are 28–31 days); use 1w or 1d")
    ppy = periods_per_year_for(result.timeframe, periods_per_year)
    per_period_rate(risk_free, ppy)  # validates risk_free (finite, > −1)
    notes: list[str] = []
    ts = np.asarray(result.timestamps, dtype=np.int64)
    curve = equity_curve(result.initial_cash, result.equity)
    # ruin: equity at or below RUIN_FRACTION of the initial cash (dust left by liquidations is not a
    # going concern: returns computed on it would dominate every ratio)
    ruin = np.flatnonzero(curve[1:] <= RUIN_FRACTION * float(result.initial_cash))
    ruined = bool(ruin.size)
    fills = result.fills
    if ruined:
        r = int(ruin[0])
        curve, ts = curve[:r + 2], ts[:r + 1]
        notes.append(f"ruin: equity reached {curve[-1]:.6g} (≤ {RUIN_FRACTION:g} × initial cash) at the close of the bar opening {utc_text(ts[-1])}; "
                     "metrics, fills, fees, turnover and trades cover the run up to that bar (a trade still held "
                     "then counts as open, marked at that close); the report's charts show the whole run")
        if len(fills):
            fills = fills.loc[fills["bar"] <= r] if "bar" in fills.columns else fills.loc[fills["timestamp"] <= ts[-1]]
        if trades is None:
            trades = _trades_at_ruin(result, market, r)
        else:
            trades = trades.loc[pd.to_numeric(trades["entry_time"]) <= ts[-1]]
    n = int(ts.size)
    rets = simple_returns(curve)
    initial, final = float(curve[0]), float(curve[-1])
    start, end = int(ts[0]), int(ts[-1] + tf_ms)
    duration = end - start
    if trades is None:
        trades = trade_log(result)
    dd = drawdown_stats(curve, ts, tf_ms)
    c = cagr(initial, final, duration)
    if cagr_overflows(initial, final, duration):
        notes.append(f"CAGR undefined (NaN): a total return of {final / initial - 1.0:.6g} over "
                     f"{duration / DAY_MS:.6g} days annualises beyond the largest float (> e^709.78); so is Calmar")
    sharpe = sharpe_ratio(rets, ppy, risk_free)
    sortino = sortino_ratio(rets, ppy, risk_free)
    calmar = calmar_ratio(c, dd["max_drawdown"])
    if n < 2:
        notes.append("fewer than two bars: Sharpe, Sortino and volatility are undefined (NaN)")
    else:
        if math.isnan(sharpe):
            notes.append("zero dispersion of returns (constant equity growth): Sharpe is undefined (NaN)")
        if math.isnan(sortino) and not math.isnan(sharpe):
            notes.append("no return below the target (no downside): Sortino is undefined (NaN)")
    if math.isnan(calmar) and not dd["max_drawdown"] > 0.0:
        notes.append("no drawdown: Calmar (CAGR / max drawdown) is undefined (NaN)")
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
        if gaps > 0.1 * n:
            notes.append(f"warning: {gaps / (gaps + n):.0%} of the clock is missing — a bar-based Sharpe, Sortino "
                         "and volatility treat each return across a gap as one period and misstate risk")
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
        "sortino": sortino,
        "calmar": calmar,
        **dd,
        "periods_per_year": ppy,
        "risk_free_rate": float(risk_free),
        "ruined": ruined,
        "ruin_time": int(ts[-1]) if ruined else None,
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
