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


# --- 6. a call that raises places nothing -------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda c: c.order(SYM, 1, stop_loss=95, take_profit=0),       # take_profit 0 is not a price
    lambda c: c.order(SYM, 1, stop_loss=float("nan")),
    lambda c: c.order_target(SYM, 1, stop_loss=90),              # brackets attach to quantity orders
    lambda c: c.order(SYM, 1, expire_after=0),
    lambda c: c.order(SYM, 1, on_partial="maybe"),
    lambda c: c.order(SYM, 1, stop_loss=101),                    # long: stop-loss above the close 100
])
def test_a_raising_call_submits_nothing(call):
    def act(c):
        with pytest.raises(ValueError):
            call(c)
    r = run(bars([FLAT] * 4), {0: act})
    assert len(r.orders) == 0 and len(r.fills) == 0 and len(r.events) == 0
    assert r.positions[-1, 0] == 0.0


def test_a_raising_replace_keeps_the_old_order():
    state = {}

    def bad_replace(c):
        with pytest.raises(ValueError):
            c.replace(state["o"], limit=-5)

    r = run(bars([FLAT, FLAT, (100, 100, 90, 95), FLAT]),
            {0: lambda c: state.update(o=c.order(SYM, 1, limit=92)), 1: bad_replace})
    # the limit 92 still works and fills on bar 2 (low 90) at 92
    assert r.orders["status"].tolist() == ["filled"] and list(r.fills["price"]) == [92.0]


# --- 5. price arguments that do not apply are refused, not ignored -----------------------------------------
@pytest.mark.parametrize("call", [
    lambda c: c.order_target(SYM, 1, limit=50),
    lambda c: c.order_target(SYM, 1, stop=150),
    lambda c: c.order_on_close(SYM, 1, limit=50),
    lambda c: c.order_target_percent(SYM, 0.5, limit=50),
    lambda c: c.order_target_notional(SYM, 100, stop=99),
])
def test_price_arguments_of_target_and_moc_orders_are_refused(call):
    def act(c):
        with pytest.raises(ValueError, match="take no stop or limit"):
            call(c)
    r = run(bars([FLAT] * 3), {0: act})
    assert len(r.orders) == 0 and len(r.fills) == 0


@pytest.mark.parametrize("place, change, match", [
    (lambda c: c.order(SYM, 1, limit=50), dict(stop=100.5), "limit order: it has no stop"),
    (lambda c: c.order(SYM, 1, stop=150), dict(limit=151), "stop order: it has no limit"),
    (lambda c: c.order(SYM, 1), dict(limit=50), "market order: it has no limit"),
])
def test_replace_refuses_a_price_the_kind_does_not_have(place, change, match):
    state = {}

    def rep(c):
        with pytest.raises(ValueError, match=match):
            c.replace(state["o"], **change)
    # the original order is untouched: (market fills bar 1 before bar 1's decision, so replace it on bar 0)
    r = run(bars([FLAT] * 3), {0: [lambda c: state.update(o=place(c)), rep]})
    assert r.orders["status"].iloc[0] in ("working", "filled") and len(r.orders) == 1


# --- 4. replacing a bracket's protective order keeps the bracket ------------------------------------------
def test_replaced_stop_loss_stays_one_cancels_other_with_the_take_profit():
    # QA probe2 #3. Entry long 1 at bar 1's open 100, SL 95 / TP 105.5. Bar 2: trail the SL to 98.
    # Bar 3 (high 106) fills the TP at 105.5 → the new SL 98 must be cancelled (OCO). Bar 5: buy 1 again;
    # bar 7 trades down to 97: an orphan SL would close the new long at 98; the position must stay 1.
    rows = [(100, 100.5, 99.5, 100), (100, 101, 99.5, 100), (100, 101, 99.5, 100), (100, 106, 99.5, 105),
            (105,) * 4, (105,) * 4, (105,) * 4, (99, 99, 97, 98), (98,) * 4]
    st = {}

    def trail(c):
        st["sl2"] = c.replace(st["e"].children[0], stop=98)
        assert st["sl2"].oco is st["e"].children[1] and st["e"].children[1].oco is st["sl2"]
        assert st["sl2"].parent is st["e"] and st["e"].children[0] is st["sl2"]

    r = run(bars(rows), {0: lambda c: st.update(e=c.order(SYM, 1, stop_loss=95, take_profit=105.5)),
                         2: trail, 5: buy(1)})
    assert r.fills[["bar", "qty", "price"]].values.tolist() == [[1, 1.0, 100.0], [3, -1.0, 105.5], [6, 1.0, 105.0]]
    assert st["sl2"].status == "cancelled" and "one-cancels-other" in st["sl2"].reason
    assert r.positions[-1, 0] == 1.0


def test_replaced_unarmed_stop_loss_waits_for_its_entry():
    # QA probe2 #4. Entry: buy limit 50 (never reached; bars trade 99..101) with SL 40. Replacing the SL
    # (stop 45) before the entry fills must not make a live stand-alone stop: nothing ever fills, and
    # cancelling the entry takes the new SL with it.
    st = {}

    def rep(c):
        st["k"] = c.replace(st["e"].children[0], stop=45)

    r = run(bars([(100, 101, 99, 100)] * 5),
            {0: lambda c: st.update(e=c.order(SYM, 1, limit=50, stop_loss=40)), 1: rep,
             2: lambda c: c.cancel(st["e"])})
    assert len(r.fills) == 0
    assert st["k"].parent is st["e"] and st["k"].status == "cancelled" and "entry order" in st["k"].reason


def test_replaced_unarmed_stop_loss_arms_with_the_entry():
    # entry buy limit 95 with SL 90, SL replaced by 93 on bar 0 before the entry can fill;
    # bar 1 (low 94) fills the entry at 95 (maker); bar 2 trades down to 92: the SL 93 closes it at 93
    st = {}
    rows = [FLAT, (100, 100, 94, 96), (96, 96, 92, 92), (92,) * 4]
    r = run(bars(rows), {0: [lambda c: st.update(e=c.order(SYM, 1, limit=95, stop_loss=90)),
                             lambda c: st.update(k=c.replace(st["e"].children[0], stop=93))]})
    assert r.fills[["bar", "qty", "price"]].values.tolist() == [[1, 1.0, 95.0], [2, -1.0, 93.0]]
    assert st["k"].status == "filled"


def test_protective_quantity_cannot_be_replaced():
    st = {}

    def rep(c):
        with pytest.raises(ValueError, match="follows the entry"):
            c.replace(st["e"].children[0], quantity=-5)

    run(bars([FLAT] * 3), {0: [lambda c: st.update(e=c.order(SYM, 1, stop_loss=90)), rep]})


# --- minor: quantity types, cancel(None), bracket sides ----------------------------------------------------
@pytest.mark.parametrize("q", ["1", True, None, b"1"])
def test_quantity_must_be_a_number(q):
    def act(c):
        with pytest.raises(TypeError, match="must be a number"):
            c.order(SYM, q)
    r = run(bars([FLAT] * 3), {0: act})
    assert len(r.orders) == 0


def test_numpy_quantities_are_numbers():
    import numpy as np
    r = run(bars([FLAT] * 3), {0: [buy(np.float64(1.5)), buy(np.int64(2))]})
    assert list(r.fills["qty"]) == [1.5, 2.0]


def test_cancel_needs_an_order():
    def act(c):
        with pytest.raises(TypeError, match="takes an Order"):
            c.cancel(None)
    run(bars([FLAT] * 3), {0: act})


@pytest.mark.parametrize("kw, match", [
    (dict(quantity=1, stop_loss=101), "stop_loss 101 must be below the entry price 100"),
    (dict(quantity=1, take_profit=99), "take_profit 99 must be above the entry price 100"),
    (dict(quantity=-1, stop_loss=99), "stop_loss 99 must be above the entry price 100"),
    (dict(quantity=1, limit=90, stop_loss=91), "stop_loss 91 must be below the entry price 90"),
])
def test_bracket_on_the_wrong_side_of_the_entry_is_refused(kw, match):
    def act(c):
        with pytest.raises(ValueError, match=match):
            c.order(SYM, kw.pop("quantity"), **kw)
    r = run(bars([FLAT] * 3), {0: act})
    assert len(r.orders) == 0


# --- 7, 8. BrokerConfig checks its values itself (library users get the TOML path's checks) ------------------
def test_maker_fee_defaults_to_taker_in_the_library_too():
    assert BrokerConfig(taker_fee_bps=4).maker_fee_bps == 4.0
    assert BrokerConfig().maker_fee_bps == 10.0 and BrokerConfig(maker_fee_bps=-1).maker_fee_bps == -1.0
    # a resting limit fill (maker) at 100 × 1 with taker 4 and no maker given pays 4 bps = 0.04
    r = run(bars([FLAT, (100, 100, 99, 100), FLAT]), {0: buy(1, limit=99.5)}, taker_fee_bps=4.0,
            maker_fee_bps=None)
    assert r.fills["liquidity"].iloc[0] == "maker" and r.fills["fee"].iloc[0] == pytest.approx(99.5 * 4e-4)


@pytest.mark.parametrize("kw, msg", [
    (dict(max_leverage=0), "broker.max_leverage: must be >= 1, got 0.0"),
    (dict(max_leverage=-2), "broker.max_leverage: must be >= 1"),
    (dict(max_leverage={"*": 0.5}), "broker.max_leverage.*: must be >= 1"),
    (dict(initial_cash=0), "broker.initial_cash: must be > 0"),
    (dict(taker_fee_bps=-1), "broker.taker_fee_bps: must be >= 0"),
    (dict(min_fee=float("nan")), "broker.min_fee: must be finite"),
    (dict(volume_cap=2), "broker.volume_cap: a share of the bar's volume, must be <= 1"),
    (dict(mode="futures"), "broker.mode: expected one of 'spot', 'margin'"),
    (dict(lot_size="0.1"), "broker.lot_size: expected a number"),
    (dict(maintenance_margin=1.0), "broker.maintenance_margin: a rate"),
    (dict(mode="spot", funding="constant"), "broker.funding: funding applies to perpetuals"),
    (dict(intrabar_timeframe="7x"), "broker.intrabar_timeframe"),
    # 8: 1/L must exceed the maintenance-margin rate: 1/1000 = 0.001 <= 0.005, liq above the entry
    (dict(max_leverage=1000, maintenance_margin=0.005), "max_leverage < 200"),
    (dict(max_leverage=200, maintenance_margin=0.005), "liquidated at once"),  # 1/200 = mmr exactly
    (dict(max_leverage={"A/USDT": 2, "*": 150}, maintenance_margin=0.01), "broker.max_leverage.*: 150"),
])
def test_broker_config_refuses_bad_values(kw, msg):
    from rmsbt.errors import ConfigError
    with pytest.raises(ConfigError, match=None) as e:
        BrokerConfig(**kw)
    assert msg in str(e.value)


def test_leverage_just_below_the_maintenance_bound_is_accepted():
    # 1/199 = 0.005025 > 0.005: long liq = avg · (1 − 0.005025 + 0.005) just below the entry; spot ignores L
    assert BrokerConfig(max_leverage=199, maintenance_margin=0.005).max_leverage == 199.0
    assert BrokerConfig(mode="spot", max_leverage=1000, maintenance_margin=0.005).mode == "spot"


def test_toml_errors_from_broker_config_name_the_file(tmp_path):
    from rmsbt.config import parse_broker
    from rmsbt.errors import ConfigError
    with pytest.raises(ConfigError) as e:
        parse_broker({"max_leverage": 1000}, "my.toml", ("BTC/USDT",))
    assert str(e.value).startswith("my.toml: broker.max_leverage: 1000 with maintenance_margin 0.005")


# --- docs 5: the output folder has the events log, funding payments and the counts ---------------------------
def test_outputs_write_events_funding_and_counts(tmp_path):
    import json
    from pathlib import Path

    import pandas as pd

    from rmsbt.config import Config, DataConfig, StrategyConfig
    from rmsbt.metrics import summarize
    from rmsbt.outputs import write_outputs
    from rmsbt.runner import Run

    # bar 0: buy 9 (fills @100, L = 1, 900 posted) and buy 5 (needs 500 of 100 free: rejected);
    # bar 1: a limit 50 that expires after 1 bar; funding every 2 h on the long (4 bars)
    md = align({SYM: bars([FLAT] * 4)}, "1h")
    bc = BrokerConfig(initial_cash=1000, taker_fee_bps=0.0, funding="constant", funding_rate=0.001,
                      funding_interval_hours=2.0)
    st = Script({0: [buy(9), buy(5)], 1: buy(1, limit=50, expire_after=1)})
    res = run_backtest(st, md, bc)
    cfg = Config("t", Path("t.toml"), DataConfig("binance", (SYM,), "1h"), bc, StrategyConfig("x:Y", {}), {})
    write_outputs(Run(cfg, res, summarize(res, market=md), st, md), tmp_path, report=False)
    ev = pd.read_csv(tmp_path / "events.csv")
    assert len(ev) == len(res.events) and list(ev.columns)[:5] == ["timestamp", "bar", "order_id", "symbol", "event"]
    counts = json.loads((tmp_path / "summary.json").read_text())["order_events"]
    assert counts == {"rejected": 1, "resized": 0, "expired": 1, "cancelled": 0, "liquidated": 0}
    assert "insufficient margin: need 500, free 100" in ev.loc[ev["event"] == "rejected", "reason"].iloc[0]
    fu = pd.read_csv(tmp_path / "funding.csv")
    # funding times 02:00 and 04:00 → bars 1 (close 02:00) and 3 (close 04:00): 9 · 100 · 0.001 = 0.9 each
    assert fu["bar"].tolist() == [1, 3] and fu["paid"].tolist() == pytest.approx([0.9, 0.9])


# --- docs 2: run_script infers the clock from the candles --------------------------------------------------
def test_run_script_infers_the_timeframe_from_the_candles():
    from rmsbt.testing import infer_timeframe, run_script

    daily = bars([FLAT] * 5, tf="1d")
    assert infer_timeframe({SYM: daily}) == "1d" and infer_timeframe({SYM: bars([FLAT] * 3, tf="15m")}) == "15m"
    r = run_script(lambda c: c.bar == 0 and c.order(SYM, 1), {SYM: daily}, taker_fee_bps=0.0)
    assert r.timeframe == "1d" and len(r.equity) == 5  # 5 daily bars, not 97 hourly ones
    assert run_script(lambda c: None, {SYM: daily}, timeframe="1h").timeframe == "1h"  # explicit wins


def test_a_stop_that_slips_beyond_the_liquidation_price_is_a_liquidation():
    """Found by the property test: long 25 @ 100 at 25× (maintenance 0) → liquidation price
    100·(1 − 1/25) = 96; a stop-loss at 97 slipping 5 % would fill at 97·0.95 = 92.15, clamped to the
    bar's low 95.3125 — beyond 96. The price passed 96 first: the position is liquidated at 96, losing
    25·(100 − 96) = 100 = the posted margin, so equity is exactly 0, and the stop is cancelled."""
    from rmsbt.testing import candles, run_script
    h = 3_600_000
    rows = [(k * h, 100.0, 100.0, 100.0, 100.0, 1e6) for k in range(4)]
    rows[2] = (2 * h, 100.0, 100.0, 95.3125, 100.0, 1e6)
    df = candles(rows)

    def script(ctx):
        if ctx.bar == 0:
            ctx.order("X/USDT", 25.0, stop_loss=97.0)
    res = run_script(script, {"X/USDT": df}, initial_cash=100.0, mode="margin", max_leverage=25.0,
                     maintenance_margin=0.0, taker_fee_bps=0.0, slippage_bps=500.0)
    f = res.fills
    # the entry: 100 · 1.05 = 105 clamped to the bar's high 100
    assert f["price"].tolist() == [100.0, 96.0] and f["order_kind"].tolist()[1] == "liquidation"
    assert res.equity[2] == pytest.approx(0.0, abs=1e-12) and res.equity.min() >= 0.0
    ev = res.events
    assert ((ev["event"] == "cancelled") & ev["reason"].str.contains("liquidated at 96")).any()


def test_a_close_fill_that_leaves_the_position_beyond_liquidation_is_liquidated_at_the_close():
    """Found by the property test: a market-on-close sell of 10 at 25× on a bar with zero volume and a
    square-root impact model (infinite impact) fills at the bar's low 109 (clamped) while the bar
    closes at 116; the short's liquidation price is 109·(1 + 1/25) = 113.36 < 116, so the position is
    liquidated at the close: loss capped at the posted margin 10·109/25 = 43.6 → equity 100 − 43.6."""
    from rmsbt.testing import candles, run_script
    h = 3_600_000
    df = candles([(0, 110, 110, 109, 109, 0.0), (h, 109, 109, 109, 109, 0.0), (2 * h, 109, 116, 109, 116, 0.0),
                  (3 * h, 116, 116, 116, 116, 0.0)])

    def script(ctx):
        if ctx.bar == 1:
            ctx.order_on_close("X/USDT", -10.0)
    res = run_script(script, {"X/USDT": df}, initial_cash=100.0, mode="margin", max_leverage=25.0,
                     maintenance_margin=0.0, taker_fee_bps=0.0, impact_bps=30.0)
    f = res.fills
    assert f["price"].tolist() == [109.0, 116.0] and f["order_kind"].tolist() == ["moc", "liquidation"]
    assert f["bar"].tolist() == [2, 2]
    assert res.equity[2] == pytest.approx(100 - 43.6, abs=1e-9) and res.equity.min() >= 0.0
