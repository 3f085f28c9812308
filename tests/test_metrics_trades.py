"""Round trips from fills and trade statistics, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsbt.engine.portfolio import Portfolio
from rmsbt.metrics import TRADE_COLUMNS, count_round_trips, trade_stats, trades_from_fills

D = 86_400_000


def fills(rows):
    return pd.DataFrame(rows, columns=["timestamp", "bar", "symbol", "side", "qty", "price", "fee", "realized_pnl",
                                       "decided_bar"])


def test_round_trip_with_flip_splits_the_fee():
    f = fills([
        # buy 2 @ 100, fee 0.2
        (1 * D, 1, "A", "buy", 2.0, 100.0, 0.2, 0.0, 0),
        # sell 3 @ 110, fee 0.33: closes 2 (realized 2·(110−100) = 20) and opens a short of 1 @ 110
        (3 * D, 3, "A", "sell", -3.0, 110.0, 0.33, 20.0, 2),
        # buy 1 @ 105, fee 0.105: closes the short (realized 1·(110 − 105) = 5)
        (6 * D, 6, "A", "buy", 1.0, 105.0, 0.105, 5.0, 5),
    ])
    t = trades_from_fills(f)
    assert list(t.columns) == TRADE_COLUMNS
    assert len(t) == 2 and not t["is_open"].any()
    long, short = t.iloc[0], t.iloc[1]
    # long: fees 0.2 + 0.33·(2/3) = 0.42; net 20 − 0.42 = 19.58; return 19.58 / (2·100)
    assert (long["side"], long["qty"], long["entry_price"], long["exit_price"]) == ("long", 2.0, 100.0, 110.0)
    assert long["gross_pnl"] == 20.0 and long["fees"] == pytest.approx(0.42)
    assert long["net_pnl"] == pytest.approx(19.58) and long["return"] == pytest.approx(0.0979)
    assert (long["entry_time"], long["exit_time"], long["duration_ms"], long["duration_bars"]) == (D, 3 * D, 2 * D, 2)
    # short: fees 0.33·(1/3) + 0.105 = 0.215; net 5 − 0.215 = 4.785
    assert (short["side"], short["qty"], short["entry_price"], short["exit_price"]) == ("short", 1.0, 110.0, 105.0)
    assert short["fees"] == pytest.approx(0.215) and short["net_pnl"] == pytest.approx(4.785)
    assert (short["entry_time"], short["exit_time"], short["duration_bars"]) == (3 * D, 6 * D, 3)
    assert t["funding"].sum() == 0.0 and t["slippage"].isna().all()


def test_adding_and_partial_exit_stay_one_trade_and_open_trade_is_kept_apart():
    f = fills([
        (0, 0, "A", "buy", 1.0, 100.0, 0.0, 0.0, -1),
        (D, 1, "A", "buy", 1.0, 110.0, 0.0, 0.0, 0),     # add: avg entry (100 + 110)/2 = 105
        (2 * D, 2, "A", "sell", -1.0, 120.0, 0.0, 15.0, 1),  # partial: 1·(120 − 105)
        (3 * D, 3, "A", "sell", -1.0, 100.0, 0.0, -5.0, 2),  # close: 1·(100 − 105)
        (3 * D, 3, "B", "sell", -2.0, 50.0, 0.1, 0.0, 2),    # B: a short still open at the end
    ])
    t = trades_from_fills(f)
    a = t.loc[t["symbol"] == "A"].iloc[0]
    assert len(t) == 2 and a["qty"] == 2.0 and a["entry_price"] == 105.0 and a["exit_price"] == 110.0
    assert a["gross_pnl"] == 10.0 and a["net_pnl"] == 10.0 and not a["is_open"]
    b = t.loc[t["symbol"] == "B"].iloc[0]
    assert b["is_open"] and math.isnan(b["net_pnl"]) and pd.isna(b["exit_time"])
    assert count_round_trips(f) == 1
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
    s = trade_stats(trades_from_fills(fills([])))
    assert s["trades"] == 0 and "no closed trades" in s["trade_stats_note"]
    for k in ("win_rate", "profit_factor", "avg_trade", "avg_win", "avg_loss", "expectancy", "best_trade"):
        assert math.isnan(s[k]), k
    s = trade_stats(pd.DataFrame({"net_pnl": [1.0, 2.0], "entry_time": [0, 0], "exit_time": [D, D]}))
    assert s["win_rate"] == 1.0 and math.isnan(s["profit_factor"]) and math.isnan(s["avg_loss"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(-3, 3), st.floats(50, 150), st.floats(0, 1)),
                min_size=1, max_size=30))
def test_round_trips_add_up_to_the_cash_flows(steps):
    """Random fills booked by the engine's portfolio (its realized PnL), then flattened: every trade is
    closed and each symbol's Σ net_pnl equals its cash flows −Σ qty·price − Σ fee."""
    pf = Portfolio(2, 1e6)
    rows, idx = [], {"A": 0, "B": 1}
    steps = list(steps) + [(s, None, 100.0, 0.5) for s in ("A", "B")]  # flatten both at the end
    for k, (s, q, price, fee) in enumerate(steps):
        dq = float(q) if q is not None else -pf.qty[idx[s]]
        if dq == 0.0:
            continue
        pnl = pf.fill(idx[s], dq, price, fee)
        rows.append((k * D, k, s, "buy" if dq > 0 else "sell", dq, price, fee, pnl, k - 1))
    f = fills(rows)
    t = trades_from_fills(f)
    assert not t["is_open"].any()
    for s in ("A", "B"):
        mine, fs = t.loc[t["symbol"] == s], f.loc[f["symbol"] == s]
        flows = -(fs["qty"] * fs["price"]).sum() - fs["fee"].sum()
        assert mine["net_pnl"].sum() == pytest.approx(flows, abs=1e-6)
        assert mine["fees"].sum() == pytest.approx(fs["fee"].sum(), abs=1e-9)
        # a trade ends at each fill that leaves the position flat or on the other side
        pos = fs["qty"].cumsum().to_numpy()
        prev = np.concatenate([[0.0], pos[:-1]])
        ends = ((pos == 0) | (np.sign(pos) * np.sign(prev) < 0)) & (prev != 0)
        assert len(mine) == int(ends.sum())
