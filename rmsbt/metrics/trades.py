"""Round-trip trades and their statistics.

A **trade** is a round trip of one symbol: it opens when the position leaves zero and closes when
it returns to zero; a fill that crosses zero (a flip) closes the trade and opens the next one with
the rest of its quantity. Adding to or partly reducing a position stays inside the same trade.

:func:`trades_from_fills` derives the trade log from the fill log. It is the only place that does;
the statistics below only need a trades table with at least ``net_pnl``, ``entry_time`` and
``exit_time``, so the broker's own per-trade log can replace this function without touching them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TRADE_COLUMNS = ["symbol", "side", "qty", "entry_time", "exit_time", "entry_bar", "exit_bar", "entry_price",
                 "exit_price", "gross_pnl", "fees", "slippage", "funding", "net_pnl", "return", "duration_ms",
                 "duration_bars", "mae", "mfe", "is_open"]


def _col(fills: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name in fills.columns:
        return fills[name].to_numpy(np.float64)
    return np.full(len(fills), default)


def trades_from_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Round trips from the fill log (columns timestamp, bar, symbol, qty, price, fee, realized_pnl).

    Per trade: ``side`` long/short; ``qty`` the largest absolute position held; ``entry_price`` the
    quantity-weighted price of the fills that opened or added, ``exit_price`` that of the fills that
    reduced or closed; ``gross_pnl`` = Σ realized_pnl of its closing fills (the broker's
    ``closed · (price − avg entry) · sign``); ``fees`` = Σ fees, a flip fill's fee split between the
    two trades pro rata by quantity; ``funding`` = 0 (spot; the broker's log will carry it);
    ``net_pnl = gross_pnl − fees − funding``; ``return = net_pnl / (qty · entry_price)`` (entry
    notional); ``duration_ms`` = exit fill bar open − entry fill bar open, ``duration_bars`` likewise
    in bars. ``slippage``, ``mae`` and ``mfe`` need prices the fill log does not hold: NaN here.
    A trade still open after the last fill has ``is_open`` True and NaN exit fields and PnL; trade
    statistics use closed trades only.
    """
    rows: list[dict] = []
    if len(fills) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("symbol", "side") else
                                          bool if c == "is_open" else np.float64) for c in TRADE_COLUMNS})
    ts = _col(fills, "timestamp", 0.0).astype(np.int64)
    bar = _col(fills, "bar", math.nan)
    qty = fills["qty"].to_numpy(np.float64)
    price = _col(fills, "price", math.nan)
    fee = _col(fills, "fee", 0.0)
    pnl = _col(fills, "realized_pnl", math.nan)
    sym = fills["symbol"].to_numpy()
    open_by_sym: dict = {}

    def start(s, i, q, share):
        return {"symbol": s, "side": "long" if q > 0 else "short", "pos": q, "qty": abs(q),
                "entry_time": int(ts[i]), "entry_bar": bar[i], "in_q": abs(q), "in_v": abs(q) * price[i],
                "out_q": 0.0, "out_v": 0.0, "gross_pnl": 0.0, "fees": fee[i] * share}

    def finish(t, i):
        entry_price = t["in_v"] / t["in_q"]
        net = t["gross_pnl"] - t["fees"]
        rows.append({"symbol": t["symbol"], "side": t["side"], "qty": t["qty"], "entry_time": t["entry_time"],
                     "exit_time": int(ts[i]) if i is not None else None, "entry_bar": t["entry_bar"],
                     "exit_bar": bar[i] if i is not None else math.nan, "entry_price": entry_price,
                     "exit_price": t["out_v"] / t["out_q"] if t["out_q"] else math.nan,
                     "gross_pnl": t["gross_pnl"] if i is not None else math.nan,
                     "fees": t["fees"], "slippage": math.nan, "funding": 0.0,
                     "net_pnl": net if i is not None else math.nan,
                     "return": net / (t["qty"] * entry_price) if i is not None else math.nan,
                     "duration_ms": float(ts[i] - t["entry_time"]) if i is not None else math.nan,
                     "duration_bars": float(bar[i] - t["entry_bar"]) if i is not None else math.nan,
                     "mae": math.nan, "mfe": math.nan, "is_open": i is None})

    for i in range(len(fills)):
        s, dq = sym[i], qty[i]
        if dq == 0.0:
            continue
        t = open_by_sym.get(s)
        if t is None:
            open_by_sym[s] = start(s, i, dq, 1.0)
            continue
        q0 = t["pos"]
        q1 = q0 + dq
        if (q0 > 0) == (dq > 0):  # adding
            t["pos"] = q1
            t["qty"] = max(t["qty"], abs(q1))
            t["in_q"] += abs(dq)
            t["in_v"] += abs(dq) * price[i]
            t["fees"] += fee[i]
            continue
        closed = min(abs(dq), abs(q0))
        share = closed / abs(dq)
        t["out_q"] += closed
        t["out_v"] += closed * price[i]
        t["gross_pnl"] += pnl[i]
        t["fees"] += fee[i] * share
        t["pos"] = q1
        if q1 == 0.0 or (q1 > 0) != (q0 > 0):
            finish(t, i)
            del open_by_sym[s]
            if q1 != 0.0:
                open_by_sym[s] = start(s, i, q1, 1.0 - share)
    for t in open_by_sym.values():
        finish(t, None)
    out = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    out["is_open"] = out["is_open"].astype(bool)
    return out


def closed_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``trades`` that are closed (``is_open`` False, or a non-null ``exit_time`` when absent)."""
    if "is_open" in trades.columns:
        return trades.loc[~trades["is_open"].astype(bool)]
    return trades.loc[trades["exit_time"].notna()]


def trade_stats(trades: pd.DataFrame, timeframe_ms: int | None = None) -> dict:
    """Statistics of the closed trades (net of fees and funding; amounts in quote currency).

    With N closed trades, wins W = {net_pnl > 0}, losses L = {net_pnl < 0} (a zero trade is neither):
    ``win_rate = |W| / N``; ``best_trade``/``worst_trade`` = max/min net_pnl; ``avg_trade`` =
    mean net_pnl; ``avg_win`` = mean over W, ``avg_loss`` = mean over L (negative);
    ``profit_factor = Σ_W net_pnl / |Σ_L net_pnl|``; ``expectancy = win_rate · avg_win +
    (|L|/N) · avg_loss`` (equal to avg_trade by identity); ``avg_trade_return`` = mean of ``return``
    if that column exists; ``avg_trade_duration_days``/``max_trade_duration_days`` from
    exit_time − entry_time (and in bars when ``timeframe_ms`` is given: duration / bar length).

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
        "avg_trade_return": float(c["return"].mean()) if "return" in c.columns else nan,
        "avg_trade_duration_days": float(dur.mean()) / day,
        "max_trade_duration_days": float(dur.max()) / day,
        "avg_trade_duration_bars": float(dur.mean()) / timeframe_ms if timeframe_ms else nan,
        "max_trade_duration_bars": float(dur.max()) / timeframe_ms if timeframe_ms else nan,
    })
    return out


def count_round_trips(fills: pd.DataFrame) -> int:
    """Number of closed round trips in a fill log (see :func:`trades_from_fills`)."""
    return int(len(closed_trades(trades_from_fills(fills))))
