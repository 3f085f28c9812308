"""Round trips (the broker's trade log) and trade statistics, by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rmsbt.metrics import TRADE_COLUMNS, trade_stats
from rmsbt.testing import flat_candles, run_script

D = 86_400_000


def at_bars(plan):
    def script(ctx):
        for sym, q in plan.get(ctx.bar, []):
            ctx.order(sym, q)
    return script


def test_round_trip_with_flip_splits_the_fee():
    """Through the broker's trade log (the one that books round trips): taker fee 10 bps, no slippage."""
    px = [100, 100, 105, 110, 108, 106, 105]  # open = high = low = close of each daily bar
    data = {"A/X": flat_candles(px, "1d")}
    res = run_script(at_bars({0: [("A/X", 2.0)], 2: [("A/X", -3.0)], 5: [("A/X", 1.0)]}), data, "1d",
                     initial_cash=1e6, taker_fee_bps=10.0)
    # fills: buy 2 @ 100 (bar 1, fee 0.2); sell 3 @ 110 (bar 3, fee 0.33) closes 2 (realized 20) and opens
    # a short of 1 @ 110; buy 1 @ 105 (bar 6, fee 0.105) closes it (realized 5)
    t = res.trades
    assert list(t.columns) == TRADE_COLUMNS
    assert len(t) == 2 and (t["status"] == "closed").all()
    long, short = t.iloc[0], t.iloc[1]
    t0 = 1_704_067_200_000
    # long: fees 0.2 + 0.33·(2/3) = 0.42; net 20 − 0.42 = 19.58
    assert (long["side"], long["qty"], long["entry_price"], long["exit_price"]) == ("long", 2.0, 100.0, 110.0)
    assert long["gross_pnl"] == 20.0 and long["fees"] == pytest.approx(0.42)
    assert long["net_pnl"] == pytest.approx(19.58)
    assert (long["entry_time"] - t0, long["exit_time"] - t0, long["duration_ms"], long["duration_bars"]) == (
        D, 3 * D, 2 * D, 2)
    # short: fees 0.33·(1/3) + 0.105 = 0.215; net 5 − 0.215 = 4.785
    assert (short["side"], short["qty"], short["entry_price"], short["exit_price"]) == ("short", 1.0, 110.0, 105.0)
    assert short["fees"] == pytest.approx(0.215) and short["net_pnl"] == pytest.approx(4.785)
    assert (short["entry_time"] - t0, short["exit_time"] - t0, short["duration_bars"]) == (3 * D, 6 * D, 3)
    assert t["funding"].sum() == 0.0
    s = trade_stats(t)
    # returns on entry notional: 19.58 / 200 and 4.785 / 110
    assert s["avg_trade_return"] == pytest.approx((19.58 / 200 + 4.785 / 110) / 2)


def test_adding_and_partial_exit_stay_one_trade_and_open_trade_is_kept_apart():
    a = flat_candles([100, 100, 110, 120, 100, 100], "1d")
    b = flat_candles([50, 50, 50, 50, 50, 48], "1d")
    res = run_script(at_bars({0: [("A/X", 1.0)], 1: [("A/X", 1.0)], 2: [("A/X", -1.0)],
                              3: [("A/X", -1.0), ("B/X", -2.0)]}), {"A/X": a, "B/X": b}, "1d",
                     initial_cash=1e6, taker_fee_bps=0.0)
    t = res.trades
    ta = t.loc[t["symbol"] == "A/X"].iloc[0]
    # buy 1 @ 100, add 1 @ 110 (avg entry 105), sell 1 @ 120 (+15), sell 1 @ 100 (−5): one trade
    assert len(t) == 2 and ta["qty"] == 2.0 and ta["entry_price"] == 105.0 and ta["exit_price"] == 110.0
    assert ta["gross_pnl"] == 10.0 and ta["net_pnl"] == 10.0 and ta["status"] == "closed"
    tb = t.loc[t["symbol"] == "B/X"].iloc[0]
    # B: short 2 @ 50 at bar 4, still open after the last bar: marked at the last close 48 → +4 unrealized
    assert tb["status"] == "open" and tb["net_pnl"] == pytest.approx(4.0)
    s = trade_stats(t)
    assert s["trades"] == 1 and s["open_trades"] == 1


def test_trade_stats_by_hand():
    t = pd.DataFrame({"net_pnl": [10.0, -5.0, 0.0, 20.0, -15.0],
                      "entry_time": [0, 0, 0, 0, 0], "exit_time": [D, 2 * D, D, 4 * D, 2 * D],
                      "return": [0.1, -0.05, 0.0, 0.2, -0.15]})
    s = trade_stats(t, timeframe_ms=D)
    assert s["trades"] == 5 and s["trade_stats_note"] is None
    assert s["win_rate"] == 0.4  # 2 wins of 5 (the 0.0 trade is neither)
    assert (s["best_trade"], s["worst_trade"], s["avg_trade"]) == (20.0, -15.0, 2.0)  # 10/5
    assert (s["avg_win"], s["avg_loss"]) == (15.0, -10.0)
    assert s["profit_factor"] == 1.5  # 30 / 20
    assert s["expectancy"] == pytest.approx(0.4 * 15 + 0.4 * -10) and s["expectancy"] == pytest.approx(s["avg_trade"])
    assert s["avg_trade_return"] == pytest.approx(0.02)
    assert s["avg_trade_duration_days"] == 2.0 and s["max_trade_duration_days"] == 4.0  # (1+2+1+4+2)/5
    assert s["avg_trade_duration_bars"] == 2.0 and s["max_trade_duration_bars"] == 4.0


def test_no_trades_and_no_losses_give_nan_not_inf():
    s = trade_stats(pd.DataFrame(columns=TRADE_COLUMNS))
    assert s["trades"] == 0 and "no closed trades" in s["trade_stats_note"]
    for k in ("win_rate", "profit_factor", "avg_trade", "avg_win", "avg_loss", "expectancy", "best_trade"):
        assert math.isnan(s[k]), k
    s = trade_stats(pd.DataFrame({"net_pnl": [1.0, 2.0], "entry_time": [0, 0], "exit_time": [D, D]}))
    assert s["win_rate"] == 1.0 and math.isnan(s["profit_factor"]) and math.isnan(s["avg_loss"])
