"""Regression tests for the broker QA report (qa/broker_qa.md): each would have caught its defect.

Hand arithmetic in the comments; candle rows are (open, high, low, close[, volume]); fees 0 unless set.
"""

from __future__ import annotations

import math

import pytest
from broker_helpers import SYM, Script, assert_identity, bars, buy, event_list, run, sell

from rmsbt.data.align import align
from rmsbt.engine import BrokerConfig, run_backtest

FLAT = (100, 100, 100, 100)


# --- 1. free margin excludes unrealized profit -------------------------------------------------------------
def test_unrealized_profit_does_not_margin_an_add():
    # QA negeq_min: cash 1000, L = 10, mmr 0. Bar 0 buy 90 → fills bar 1 @100: posted 9000/10 = 900.
    # Price → 200: unrealized +9000. Bar 2 buy 450 → bar 3 @200 needs 90000/10 = 9000 of margin.
    # free = wallet − posted + min(U, 0) = 1000 − 900 + 0 = 100 < 9000 → rejected (before the fix the
    # +9000 profit counted, the add filled, and the drop to 160 took equity to −8900).
    rows = [(100,) * 4, (100,) * 4, (200,) * 4, (200,) * 4, (160,) * 4, (160,) * 4]
    r = run(bars(rows), {0: buy(90), 2: buy(450)}, initial_cash=1000, max_leverage=10.0, maintenance_margin=0.0)
    assert list(r.fills["qty"]) == [90.0]
    assert r.orders["status"].tolist() == ["filled", "rejected"]
    assert "insufficient margin: need 9000, free 100" in r.orders["reason"].iloc[1]
    # liq = 100 · (1 − 1/10) = 90 is never reached; equity = 1000 + 90 · (close − 100)
    assert r.equity.tolist() == pytest.approx([1000, 1000, 10000, 10000, 6400, 6400])
    assert (r.events["event"] != "liquidated").all()


def test_unrealized_loss_reduces_free_margin():
    # L = 1: long 9 @100 posts 900, wallet 1000. Close 50: U = 9·(50 − 100) = −450.
    # Buy 1 @50 needs 50; free = 1000 − 900 − 450 = −350 → rejected.
    rows = [FLAT, FLAT, (50,) * 4, (50,) * 4, (50,) * 4]
    r = run(bars(rows), {0: buy(9), 2: buy(1)}, initial_cash=1000)
    assert list(r.fills["qty"]) == [9.0]
    assert "need 50, free -350" in r.orders["reason"].iloc[1]


def test_flip_realizes_its_profit_but_an_add_does_not():
    # L = 1, cash 1000: long 5 @100 (posted 500). At 200:
    # - sell 10 (flip): closes 5 (+500 realized, 500 released), opens short 5 needing 1000;
    #   free = cash + 5·200 = (1000 − 500) + 1000 = 1500 >= 1000 → fills
    # - buy 5 (add): needs 1000; free = wallet 1000 − posted 500 + min(+500, 0) = 500 → rejected
    rows = [FLAT, FLAT, (200,) * 4, (200,) * 4, (200,) * 4]
    flip = run(bars(rows), {0: buy(5), 2: sell(10)}, initial_cash=1000)
    add = run(bars(rows), {0: buy(5), 2: buy(5)}, initial_cash=1000)
    assert list(flip.fills["qty"]) == [5.0, -10.0] and flip.positions[-1, 0] == -5.0
    assert list(add.fills["qty"]) == [5.0] and "need 1000, free 500" in add.orders["reason"].iloc[1]
    # resize: the add shrinks to what 500 of free margin buys at L = 1: 500 / 200 = 2.5
    rs = run(bars(rows), {0: buy(5), 2: buy(5)}, initial_cash=1000, on_insufficient="resize")
    assert list(rs.fills["qty"]) == [5.0, 2.5]
    assert_identity(rs)


# --- 2. spot: a sell's fee is checked against cash + proceeds -----------------------------------------------
@pytest.mark.parametrize("fees, buy_qty, sell_qty, fee", [
    # min_fee 5: buy 9.95 @100 = 995 + 5 = 1000 (cash 0); sell 0.001: proceeds 0.1 < fee 5 → rejected
    (dict(min_fee=5.0), 9.95, 0.001, 5.0),
    # fixed_fee 100: buy 9 = 900 + 100 (cash 0); sell 0.01: proceeds 1 < fee 100 → rejected
    (dict(fixed_fee=100.0), 9.0, 0.01, 100.0),
])
def test_spot_sell_rejected_when_its_fee_exceeds_cash_plus_proceeds(fees, buy_qty, sell_qty, fee):
    for mode in ("reject", "resize"):
        r = run(bars([FLAT] * 4), {0: buy(buy_qty), 1: sell(sell_qty)}, mode="spot", initial_cash=1000,
                on_insufficient=mode, **fees)
        assert list(r.fills["qty"]) == [buy_qty]
        assert r.cash.tolist() == pytest.approx([1000, 0, 0, 0], abs=1e-9)
        assert r.orders["status"].iloc[1] == "rejected"
        assert f"insufficient cash for the fee: fee {fee:g}" in r.orders["reason"].iloc[1]


def test_spot_sell_allowed_when_proceeds_cover_the_fee():
    # min_fee 5, cash 0 after the buy: selling 1 @100 gives 100 ≥ 5 → cash 95
    r = run(bars([FLAT] * 4), {0: buy(9.95), 1: sell(1)}, mode="spot", initial_cash=1000, min_fee=5.0)
    assert r.cash[-1] == pytest.approx(95.0)


# --- 3. on_start sees no bar ------------------------------------------------------------------------------
class _Peek(Script):
    def on_start(self, ctx):
        self.start = dict(bar=ctx.bar, price=ctx.price(SYM), present=ctx.present(SYM), close=ctx.close(SYM).copy(),
                          ts=ctx.timestamps().copy())
        for what in ("timestamp", "now"):
            with pytest.raises(ValueError, match="no bar has closed yet"):
                getattr(ctx, what)
        ctx.order(SYM, 1)

    def on_end(self, ctx):
        self.end = dict(bar=ctx.bar, price=ctx.price(SYM), n=len(ctx.close(SYM)))


def test_on_start_sees_no_bar_and_its_order_fills_at_bar_0():
    # the last bar (close 500) must stay invisible in on_start; the order decided there fills at bar 0's open
    rows = [(100, 101, 99, 100), (101, 102, 100, 101), (102, 103, 101, 102), (500, 501, 499, 500)]
    st = _Peek()
    r = run_backtest(st, align({SYM: bars(rows)}, "1h"), BrokerConfig(taker_fee_bps=0.0, maker_fee_bps=0.0))
    s = st.start
    assert s["bar"] == -1 and math.isnan(s["price"]) and s["present"] is False
    assert len(s["close"]) == 0 and len(s["ts"]) == 0
    assert r.fills[["bar", "price", "decided_bar"]].values.tolist() == [[0, 100.0, -1]]
    # on_end: the last bar, all bars seen
    assert st.end == {"bar": 3, "price": 500.0, "n": 4}


def test_on_start_is_not_changed_by_the_future():
    # property: perturbing every bar changes nothing on_start can see (it sees none)
    a, b = _Peek(), _Peek()
    cfg = BrokerConfig(taker_fee_bps=0.0, maker_fee_bps=0.0)
    run_backtest(a, align({SYM: bars([FLAT] * 3)}, "1h"), cfg)
    run_backtest(b, align({SYM: bars([(7, 9, 6, 8)] * 3)}, "1h"), cfg)
    assert math.isnan(a.start["price"]) and math.isnan(b.start["price"])
    assert {k: v for k, v in a.start.items() if k not in ("price", "close", "ts")} == \
        {k: v for k, v in b.start.items() if k not in ("price", "close", "ts")}
