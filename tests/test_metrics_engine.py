"""Metrics of real engine runs: BR-29 (no trades), BR-23 through the engine, buy-and-hold, per-symbol PnL."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rmsbt.data.validate import validate_candles
from rmsbt.engine.broker import BrokerConfig
from rmsbt.engine.loop import run_backtest
from rmsbt.metrics import closed_trades, summarize
from rmsbt.strategy import Strategy
from rmsbt.testing import candles, market


def case_candles(cases_dir, name):
    path = cases_dir / f"{name}.csv"
    return validate_candles(pd.read_csv(path), str(path))


class BuyAbove(Strategy):
    """BR-29: buy 1 when the close is above ``level``."""

    def __init__(self, level):
        super().__init__(level=level)

    def on_bar(self, ctx):
        if ctx.price("X/USDT") > self.params["level"] and ctx.position("X/USDT") == 0:
            ctx.order("X/USDT", 1.0)


def test_br29_no_trades_nan_ratios_no_exception(cases_dir):
    data = market({"X/USDT": case_candles(cases_dir, "BR-29")}, "1h")
    res = run_backtest(BuyAbove(101.0), data, BrokerConfig(initial_cash=1000.0, taker_fee_bps=0.0))
    m = summarize(res, market=data)
    assert m["trades"] == 0 and m["fills"] == 0
    assert math.isnan(m["win_rate"]) and math.isnan(m["profit_factor"]) and math.isnan(m["avg_trade"])
    assert m["total_return"] == 0.0 and m["final_equity"] == 1000.0 and m["max_drawdown"] == 0.0
    assert math.isnan(m["sharpe"])  # zero variance (BR-28)
    assert any("no closed trades" in s for s in m["notes"])
    assert m["buy_and_hold_return"] == 0.0  # flat candles at 100


class BuyAtStart(Strategy):
    """BR-23: BUY 10 submitted before the first bar (in on_start), filling at bar 0's open."""

    def on_start(self, ctx):
        ctx.order("X/USDT", 10.0)

    def on_bar(self, ctx):
        pass


def test_br23_through_the_engine(cases_dir):
    data = market({"X/USDT": case_candles(cases_dir, "BR-23")}, "1d")
    res = run_backtest(BuyAtStart(), data, BrokerConfig(initial_cash=1000.0, taker_fee_bps=0.0))
    # 10 @ 100 = all cash; equity at closes 800, 600, 900, 1200, 1100
    assert res.equity.tolist() == [800.0, 600.0, 900.0, 1200.0, 1100.0]
    m = summarize(res, market=data)
    assert m["max_drawdown"] == pytest.approx(0.40, abs=1e-15) and m["max_drawdown_duration_bars"] == 3
    # buy-and-hold of the one symbol from bar 0's open (100) to the last close (110): +10 %, the same trade
    assert m["buy_and_hold_return"] == pytest.approx(0.10) and m["total_return"] == pytest.approx(0.10)
    assert m["open_trades"] == 1 and m["trades"] == 0
    assert m["per_symbol"]["X/USDT"]["pnl"] == pytest.approx(100.0)  # −10·100 + 10·110


def two_symbols():
    # A trades every hour from 2024-01-01 00:00; B starts one bar later (not present at bar 0)
    t0, h = 1_704_067_200_000, 3_600_000
    a = candles([(t0 + k * h, o, max(o, c), min(o, c), c, 1.0) for k, (o, c) in
                 enumerate([(100, 101), (101, 103), (103, 99), (99, 104), (104, 105), (105, 102)])])
    b = candles([(t0 + k * h, o, max(o, c), min(o, c), c, 1.0) for k, (o, c) in
                 enumerate([(50, 49), (49, 48), (48, 51), (51, 52), (52, 55)], start=1)])
    return market({"A/USDT": a, "B/USDT": b}, "1h")


class Churn(Strategy):
    def on_bar(self, ctx):
        t = ctx.bar
        if t == 0:
            ctx.order("A/USDT", 2.0)
        elif t == 1:
            ctx.order("B/USDT", -3.0)
            ctx.order("A/USDT", -1.0)
        elif t == 3:
            ctx.order_target("A/USDT", -1.0)  # flip long 1 → short 1


def test_buy_and_hold_equal_weight_from_first_bar_open():
    data = two_symbols()
    res = run_backtest(Churn(), data, BrokerConfig(initial_cash=1000.0, taker_fee_bps=10.0))
    m = summarize(res, market=data)
    # A: open of bar 0 = 100 → last close 102: +2 %; B: open of its first bar (bar 1) = 50 → 55: +10 %
    assert m["per_symbol"]["A/USDT"]["buy_and_hold_return"] == pytest.approx(0.02)
    assert m["per_symbol"]["B/USDT"]["buy_and_hold_return"] == pytest.approx(0.10)
    assert m["per_symbol"]["B/USDT"]["buy_and_hold_start_price"] == 50.0
    assert m["buy_and_hold_return"] == pytest.approx(0.06)  # (0.02 + 0.10) / 2


def test_per_symbol_pnl_adds_up_and_closed_trades_match_cash_when_flat():
    data = two_symbols()
    res = run_backtest(Churn(), data, BrokerConfig(initial_cash=1000.0, taker_fee_bps=10.0, slippage_bps=5.0))
    m = summarize(res, market=data)
    total = sum(v["pnl"] for v in m["per_symbol"].values())
    assert total == pytest.approx(m["pnl"], abs=1e-9)  # cash-flow identity
    assert m["fees_paid"] == pytest.approx(res.fees_paid, abs=1e-12)
    turnover = float((res.fills["qty"].abs() * res.fills["price"]).sum())
    assert m["turnover_quote"] == pytest.approx(turnover) and m["turnover"] == pytest.approx(turnover / res.equity.mean())
    # A: long 2, reduce to 1, flip to short 1 (closes the long, opens a short); B: short 3 → 1 closed, 2 open
    tr = res.trades  # the broker's trade log
    assert len(closed_trades(tr)) == 1 and m["trades"] == 1 and m["open_trades"] == 2
    assert tr.loc[tr["status"] == "open", "side"].tolist() == ["short", "short"]


class OpenClose(Strategy):
    def on_bar(self, ctx):
        if ctx.bar == 0:
            ctx.order("A/USDT", 3.0)
        elif ctx.bar == 2:
            ctx.order_target("A/USDT", 0.0)


def test_closed_round_trip_net_pnl_equals_equity_change():
    data = two_symbols()
    res = run_backtest(OpenClose(), data, BrokerConfig(initial_cash=1000.0, taker_fee_bps=10.0, slippage_bps=3.0))
    m = summarize(res, market=data)
    assert m["trades"] == 1 and m["open_trades"] == 0
    # flat at the end: the single trade's net PnL is the whole PnL of the run
    assert m["avg_trade"] == pytest.approx(m["pnl"], abs=1e-9)
