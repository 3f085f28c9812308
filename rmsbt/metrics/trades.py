"""Round-trip trades and their statistics.

A **trade** is a round trip of one symbol: it opens when the position leaves zero and closes when
it returns to zero; a fill that crosses zero (a flip) closes the trade and opens the next one with
the rest of its quantity. Adding to or partly reducing a position stays inside the same trade.

The trade log itself is the broker's (:mod:`rmsbt.engine.trades`, ``BacktestResult.trades``): the one
place that books round trips. The statistics below need a trades table with at least ``net_pnl``,
``entry_time`` and ``exit_time`` (and ``status`` to tell open trades from closed ones).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..engine.trades import TRADE_COLUMNS


def closed_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``trades`` that are closed (``status == "closed"``; without a status column, every row)."""
    if "status" in trades.columns:
        return trades.loc[trades["status"] == "closed"]
    return trades


def trade_stats(trades: pd.DataFrame, timeframe_ms: int | None = None) -> dict:
    """Statistics of the closed trades (net of fees and funding; amounts in quote currency).

    With N closed trades, wins W = {net_pnl > 0}, losses L = {net_pnl < 0} (a zero trade is neither):
    ``win_rate = |W| / N``; ``best_trade``/``worst_trade`` = max/min net_pnl; ``avg_trade`` =
    mean net_pnl; ``avg_win`` = mean over W, ``avg_loss`` = mean over L (negative);
    a trade's ``return`` = net_pnl / (qty · entry_price), its entry notional (taken from a ``return``
    column instead when the table has one);
    ``profit_factor = Σ_W net_pnl / |Σ_L net_pnl|``; ``expectancy = win_rate · avg_win +
    (|L|/N) · avg_loss`` (equal to avg_trade by identity); ``avg_trade_return`` = mean of ``return``
    if that column exists; ``avg_trade_duration_days``/``max_trade_duration_days`` from
    exit_time − entry_time; ``avg_trade_duration_bars``/``max_trade_duration_bars`` from the log's
    ``duration_bars`` (exit_bar − entry_bar: bar-based, like every ``*_bars`` metric; a table without
    that column: duration / ``timeframe_ms``).

    Undefined values are NaN, never an exception or inf: no closed trades → every ratio and average
    NaN and ``trade_stats_note`` says why; no wins → avg_win NaN; no losses → avg_loss and
    profit_factor NaN (a profit factor with nothing lost is undefined, not inf).
    """
    c = closed_trades(trades)
    pnl = c["net_pnl"].to_numpy(np.float64)
    n = int(pnl.size)
    nan = math.nan
    out = {"trades": n, "open_trades": int(len(trades) - n), "trade_stats_note": None}
    keys = ["win_rate", "best_trade", "worst_trade", "avg_trade", "avg_win", "avg_loss", "profit_factor",
            "expectancy", "avg_trade_return", "avg_trade_duration_days", "max_trade_duration_days",
            "avg_trade_duration_bars", "max_trade_duration_bars"]
    if n == 0:
        out.update({k: nan for k in keys})
        out["trade_stats_note"] = "no closed trades: trade statistics are undefined (NaN)"
        return out
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    dur = (pd.to_numeric(c["exit_time"]).to_numpy(np.float64)
           - pd.to_numeric(c["entry_time"]).to_numpy(np.float64))
    day = 86_400_000
    # in bars: the log's duration_bars (exit_bar − entry_bar, bar-based: a gap in the clock is not a bar),
    # the same definition as round_trips.csv; a table without it: duration / bar length
    bars = (c["duration_bars"].to_numpy(np.float64) if "duration_bars" in c.columns
            else dur / timeframe_ms if timeframe_ms else None)
    avg_win = float(wins.mean()) if wins.size else nan
    avg_loss = float(losses.mean()) if losses.size else nan
    out.update({
        "win_rate": wins.size / n,
        "best_trade": float(pnl.max()),
        "worst_trade": float(pnl.min()),
        "avg_trade": float(pnl.mean()),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "profit_factor": float(wins.sum() / -losses.sum()) if losses.size else nan,
        "expectancy": (wins.size / n) * (avg_win if wins.size else 0.0)
        + (losses.size / n) * (avg_loss if losses.size else 0.0),
        "avg_trade_return": _avg_return(c),
        "avg_trade_duration_days": float(dur.mean()) / day,
        "max_trade_duration_days": float(dur.max()) / day,
        "avg_trade_duration_bars": float(bars.mean()) if bars is not None else nan,
        "max_trade_duration_bars": float(bars.max()) if bars is not None else nan,
    })
    return out


def _avg_return(closed: pd.DataFrame) -> float:
    if "return" in closed.columns:
        return float(closed["return"].mean())
    if {"qty", "entry_price"} <= set(closed.columns):
        notional = closed["qty"].to_numpy(np.float64) * closed["entry_price"].to_numpy(np.float64)
        return float(np.mean(closed["net_pnl"].to_numpy(np.float64) / notional))
    return math.nan
