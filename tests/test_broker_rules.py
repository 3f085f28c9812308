"""Hand-computed cases for every broker rule (rmsbt.engine.broker docstring, docs/broker.md).

Fees are 0 unless a test sets them; candle rows are (open, high, low, close[, volume]).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from broker_helpers import SYM, T0, Script, assert_identity, bars, buy, event_list, fill_prices, run, sell

from rmsbt.data.align import align
from rmsbt.engine import BrokerConfig, run_backtest
from rmsbt.engine.broker_nb import affordable_qty, fill_fee, round_down_lot, slippage_bps

FLAT = (100, 100, 100, 100)


# --- timing ------------------------------------------------------------------------------------------
def test_market_order_fills_at_next_open_never_same_bar():
    r = run(bars([(10, 11, 9, 10.5), (12, 13, 11, 12.5), (14, 15, 13, 14.5)]), {0: buy(1)})
    assert fill_prices(r) == [12.0] and list(r.fills["bar"]) == [1] and list(r.fills["decided_bar"]) == [0]


def test_order_waits_for_the_symbols_next_real_bar():
    a = bars([FLAT, FLAT, FLAT, FLAT])
    # B has no bar at bar 1
    b = bars([(50, 50, 50, 50), (60, 60, 60, 60), (70, 70, 70, 70), (80, 80, 80, 80)]).drop(index=1)
    r = run({"A/USDT": a, "B/USDT": b}, {0: [buy(1, sym="B/USDT"), buy(1, sym="A/USDT")]}, initial_cash=1000)
    f = r.fills.set_index("symbol")
    assert f.loc["A/USDT", "bar"] == 1 and f.loc["B/USDT", "bar"] == 2 and f.loc["B/USDT", "price"] == 70.0


# --- stops -------------------------------------------------------------------------------------------
def test_buy_stop_triggers_when_high_equals_stop():
    r = run(bars([FLAT, (100, 105, 99, 104), (104, 104, 104, 104)]), {0: buy(1, stop=105)})
    assert fill_prices(r) == [105.0] and list(r.fills["bar"]) == [1]


def test_buy_stop_not_triggered_just_below():
    r = run(bars([FLAT, (100, 104.99, 99, 104), (104, 104, 104, 104)]), {0: buy(1, stop=105)})
    assert len(r.fills) == 0


def test_sell_stop_gap_fills_at_open_with_slippage():
    # open 90 is below the stop 95: fill at the open moved down 10 bps: 90 × 0.999 = 89.91 (inside 89–91)
    r = run(bars([FLAT, FLAT, (90, 91, 89, 90)]), {0: buy(1), 1: sell(1, stop=95)}, slippage_bps=10.0)
    assert fill_prices(r) == pytest.approx([100.0, 89.91])  # entry clamped: 100.1 > high 100 → 100


# --- limits ------------------------------------------------------------------------------------------
def test_buy_limit_fills_at_limit_when_low_touches_it_as_maker():
    r = run(bars([FLAT, (100, 101, 98, 99), FLAT]), {0: buy(2, limit=98)}, maker_fee_bps=2.0, taker_fee_bps=5.0,
            slippage_bps=50.0)
    assert fill_prices(r) == [98.0]  # resting limit: no slippage
    assert r.fills["liquidity"].iloc[0] == "maker"
    assert r.fills["fee"].iloc[0] == pytest.approx(2 * 98 * 2e-4)  # 0.0392


def test_buy_limit_not_filled_above():
    r = run(bars([FLAT, (100, 101, 98.01, 99), FLAT]), {0: buy(1, limit=98)})
    assert len(r.fills) == 0 and r.dropped_orders == 1


def test_buy_limit_below_open_fills_at_open_capped_at_limit():
    # bar opens 95, on the good side of limit 96: taker at the open, 95 × 1.02 = 96.9 > limit → 96
    r = run(bars([FLAT, (95, 97, 94, 95), FLAT]), {0: buy(1, limit=96)}, slippage_bps=200.0)
    assert fill_prices(r) == [96.0] and r.fills["liquidity"].iloc[0] == "taker"


def test_stop_limit_fills_at_trigger_when_limit_allows():
    # flat, open 100 nearer the low 99: path 100 → 99 → 106; stop 105 reached on the way up, limit 106 ≥ 105
    r = run(bars([FLAT, (100, 106, 99, 105), FLAT]), {0: buy(1, stop=105, limit=106)})
    assert fill_prices(r) == [105.0] and r.fills["liquidity"].iloc[0] == "taker"
    assert "triggered" in event_list(r, 0)


def test_stop_limit_rests_after_trigger_and_fills_at_limit_later():
    # path 100 → 99 → 106 → 103: triggered at 105, limit 104 rests and fills on the way down to the close
    r = run(bars([FLAT, (100, 106, 99, 103), FLAT]), {0: buy(1, stop=105, limit=104)})
    assert fill_prices(r) == [104.0] and r.fills["liquidity"].iloc[0] == "maker"


def test_stop_limit_gap_through_does_not_fill_beyond_limit():
    # long 1; sell stop 95 limit 94; bar opens 90: triggered at the open, 90 < 94 so no fill there;
    # path for a long: 90 → 89 → 95: the limit 94 fills on the way up, at 94
    r = run(bars([FLAT, FLAT, (90, 95, 89, 92), (92, 92, 92, 92)]), {0: buy(1), 1: sell(1, stop=95, limit=94)})
    assert fill_prices(r) == [100.0, 94.0]


# --- market on close, targets ---------------------------------------------------------------------------
def test_market_on_close_with_slippage_clamped():
    # close 100.5, +30 bps = 100.8015 > high 100.6 → 100.6
    r = run(bars([FLAT, (100, 100.6, 99.9, 100.5), FLAT]), {0: lambda c: c.order_on_close(SYM, 1)}, slippage_bps=30.0)
    assert fill_prices(r) == [100.6] and list(r.fills["bar"]) == [1]


def test_target_quantity_flip_is_two_trades():
    r = run(bars([FLAT, FLAT, (110, 110, 110, 110), (110, 110, 110, 110)]),
            {0: lambda c: c.order_target(SYM, 2), 1: lambda c: c.order_target(SYM, -1)}, initial_cash=1000)
    assert list(r.fills["qty"]) == [2.0, -3.0]  # −1 − 2
    t = r.trades
    assert list(t["side"]) == ["long", "short"] and t["net_pnl"].iloc[0] == pytest.approx(2 * (110 - 100))
    assert t["status"].iloc[1] == "open" and t["entry_price"].iloc[1] == 110.0


def test_target_notional_converted_at_open():
    r = run(bars([FLAT, (50, 50, 50, 50), (50, 50, 50, 50)]), {0: lambda c: c.order_target_notional(SYM, 1000)},
            initial_cash=10000)
    assert list(r.fills["qty"]) == [20.0]  # 1000 / 50


def test_target_percent_of_equity_at_open():
    # long 10 from bar 1 (cash 9000); at bar 3 open 120 equity = 9000 + 10·120 = 10200; 50 % → 5100 / 120 = 42.5
    rows = [FLAT, FLAT, (110, 110, 110, 110), (120, 120, 120, 120), (120, 120, 120, 120)]
    r = run(bars(rows), {0: buy(10), 2: lambda c: c.order_target_percent(SYM, 0.5)}, initial_cash=10000)
    assert r.fills["qty"].tolist() == pytest.approx([10.0, 42.5 - 10.0])


# --- cancel, replace, expiry ----------------------------------------------------------------------------
def test_cancel_before_fill():
    def place(ctx):
        o = ctx.order(SYM, 1, limit=99)
        ctx.cancel(o)

    r = run(bars([FLAT, (100, 100, 90, 95), FLAT]), {0: place})
    assert len(r.fills) == 0 and event_list(r, 0) == ["submitted", "cancelled"]


def test_replace_moves_the_limit():
    state = {}
    r = run(bars([FLAT, (100, 100, 96, 97), (97, 97, 94, 95), FLAT]),
            {0: lambda c: state.update(o=c.order(SYM, 1, limit=90)),
             1: lambda c: c.replace(state["o"], limit=95)})
    # bar 1 (low 96) cannot fill either; the replacement decided on bar 1 fills on bar 2 at 95
    assert fill_prices(r) == [95.0] and list(r.fills["bar"]) == [2]
    assert r.orders["status"].tolist() == ["cancelled", "filled"] and r.orders["reason"].iloc[0] == "replaced"


def test_expiry_in_bars():
    # live on bars 1 and 2 only; bar 3 would touch the limit but the order expired
    r = run(bars([FLAT, FLAT, FLAT, (100, 100, 90, 95), FLAT]), {0: buy(1, limit=95, expire_after=2)})
    assert len(r.fills) == 0 and r.orders["status"].iloc[0] == "expired"
    ev = r.events[r.events["event"] == "expired"]
    assert ev["bar"].iloc[0] == 3


# --- reduce-only, brackets, protective policy ---------------------------------------------------------------
def test_reduce_only_clipped_to_position_and_never_opens():
    r = run(bars([FLAT] * 4), {0: buy(3), 1: sell(5, reduce_only=True), 2: sell(1, reduce_only=True)})
    assert list(r.fills["qty"]) == [3.0, -3.0]  # clipped to the 3 held
    o = r.orders
    assert o["status"].iloc[2] == "cancelled" and "reduce-only" in o["reason"].iloc[2]


def test_take_profit_fills_and_cancels_stop():
    r = run(bars([FLAT, FLAT, (100, 106, 99, 105), FLAT]), {0: buy(1, stop_loss=95, take_profit=105)})
    assert fill_prices(r) == [100.0, 105.0] and r.fills["liquidity"].iloc[1] == "maker"
    sl = r.orders[r.orders["kind"] == "stop"].iloc[0]
    assert sl["status"] == "cancelled" and "one-cancels-other" in sl["reason"]


def test_short_bracket_adverse_first_is_the_stop():
    # short 1 at 100; bar 2 range 94–106 touches the stop (buy stop 105) and the target (buy limit 95): stop
    r = run(bars([FLAT, FLAT, (100, 106, 94, 100), FLAT]), {0: sell(1, stop_loss=105, take_profit=95)})
    assert fill_prices(r) == [100.0, 105.0]


@pytest.mark.parametrize("policy,exit_bar,exit_price", [("after_open_fill", 1, 95.0), ("never", 2, 94.0)])
def test_protective_order_in_entry_bar_after_open_fill(policy, exit_bar, exit_price):
    # entry at bar 1's open (100), bar 1's low 94 reaches the stop 95 after that open
    rows = [FLAT, (100, 101, 94, 96), (94, 95, 93, 94), (94, 94, 94, 94)]
    r = run(bars(rows), {0: buy(1, stop_loss=95)}, protective_same_bar=policy)
    assert list(r.fills["bar"]) == [1, exit_bar] and fill_prices(r)[1] == exit_price  # "never": gap at bar 2 open


@pytest.mark.parametrize("policy,n_fills", [("after_open_fill", 1), ("always", 2)])
def test_protective_order_after_intrabar_entry(policy, n_fills):
    # long limit entry at 98 inside bar 1 (flat: path 100 → 97 → 101 → 97); the stop 97.5 is reached on
    # the way back to the close: only "always" lets it fire in the entry's own bar
    rows = [FLAT, (100, 101, 97, 97), (99, 99, 99, 99)]
    r = run(bars(rows), {0: buy(1, limit=98, stop_loss=97.5)}, protective_same_bar=policy)
    assert len(r.fills) == n_fills


# --- volume, lots, notional -----------------------------------------------------------------------------------
def test_volume_cap_with_cancel_remainder():
    r = run(bars([FLAT, (100, 100, 100, 100, 50), FLAT]), {0: buy(10, on_partial="cancel")}, volume_cap=0.1)
    assert list(r.fills["qty"]) == [5.0]  # 10 % of 50
    assert event_list(r, 0) == ["submitted", "partially_filled", "cancelled"]


def test_lot_size_rounds_down_and_rejects_zero():
    r = run(bars([FLAT] * 3), {0: buy(0.123456), 1: buy(0.0004)}, lot_size=0.001)
    assert r.fills["qty"].tolist() == pytest.approx([0.123])
    assert "rounds down to 0" in r.orders["reason"].iloc[1]
    assert round_down_lot(0.3, 0.1) == pytest.approx(0.3)  # 0.3/0.1 = 2.9999999999999996 still 3 lots


def test_min_notional_rejects():
    r = run(bars([FLAT] * 3), {0: buy(0.05)}, min_notional=10.0)  # 0.05 × 100 = 5 < 10
    assert len(r.fills) == 0 and "below min_notional" in r.orders["reason"].iloc[0]


# --- cash and margin ---------------------------------------------------------------------------------------
def test_spot_cannot_short():
    r = run(bars([FLAT] * 4), {0: buy(1), 1: sell(2)}, mode="spot", initial_cash=1000)
    assert list(r.fills["qty"]) == [1.0] and "holding 1" in r.orders["reason"].iloc[1]


def test_spot_resize_to_affordable():
    # 1000 / (100 × 1.001) = 9.99000999 units; fee 0.999000999; cash ends at 0 (never below)
    r = run(bars([FLAT] * 3), {0: buy(10)}, mode="spot", initial_cash=1000, taker_fee_bps=10.0,
            on_insufficient="resize")
    assert r.fills["qty"].iloc[0] == pytest.approx(1000 / 100.1)
    assert r.cash[-1] == pytest.approx(0.0, abs=1e-9)
    assert "resized" in event_list(r, 0)


def test_margin_leverage_limits_exposure():
    # leverage 2, equity 1000: 15 units at 100 need 750 of margin (fits); 25 units need 1250 (rejected)
    ok = run(bars([FLAT] * 3), {0: buy(15)}, initial_cash=1000, max_leverage=2.0)
    bad = run(bars([FLAT] * 3), {0: buy(25)}, initial_cash=1000, max_leverage=2.0)
    assert len(ok.fills) == 1 and len(bad.fills) == 0
    assert "insufficient margin: need 1250" in bad.orders["reason"].iloc[0]


def test_per_symbol_leverage():
    r = run({"A/USDT": bars([FLAT] * 3), "B/USDT": bars([FLAT] * 3)},
            {0: [buy(15, sym="A/USDT"), buy(15, sym="B/USDT")]}, initial_cash=1000,
            max_leverage={"A/USDT": 2.0, "B/USDT": 1.0})
    # A: 1500/2 = 750 fits; then B needs 1500 with 1000 − 750 = 250 free: rejected
    assert list(r.fills["symbol"]) == ["A/USDT"]


# --- fees and slippage -------------------------------------------------------------------------------------
def test_min_fee_and_fixed_fee_once_per_order():
    # volume cap 50 % of 4 → fills of 2 and 2 at 100 (notional 200): 200 × 10 bps = 0.2 < min 1 → 1;
    # fixed 0.5 on the first fill only: fees 1.5 then 1.0
    r = run(bars([FLAT, (100, 100, 100, 100, 4), (100, 100, 100, 100, 4), FLAT]), {0: buy(4)}, taker_fee_bps=10.0,
            min_fee=1.0, fixed_fee=0.5, volume_cap=0.5)
    assert r.fills["fee"].tolist() == pytest.approx([1.5, 1.0])


def test_rebate_not_overridden_by_min_fee():
    assert fill_fee(1000.0, -1.0, 5.0, 0.0) == pytest.approx(-0.1)
    assert fill_fee(1000.0, 1.0, 5.0, 0.0) == pytest.approx(5.0)


def test_spread_and_sqrt_impact_slippage():
    # spread 10 bps → 5; impact 50 bps · √(4 / 100) = 10; total 15 bps: 100 × 1.0015 = 100.15
    assert slippage_bps(4.0, 100.0, 0.0, 10.0, 50.0) == pytest.approx(15.0)
    r = run(bars([FLAT, (100, 101, 99, 100, 100), FLAT]), {0: buy(4)}, spread_bps=10.0, impact_bps=50.0)
    assert fill_prices(r) == pytest.approx([100.15])
    assert r.fills["slippage"].iloc[0] == pytest.approx(4 * 0.15)


def test_affordable_qty_formula():
    # n/L + n·r + fixed <= avail: (1000 − 1) / (1/2 + 0.001) = 1994.0119...; / price 100
    assert affordable_qty(1000.0, 100.0, 10.0, 0.0, 1.0, 2.0) == pytest.approx(999 / 0.501 / 100)
    # min fee binding: (1000 − 5)·1 = 995 notional vs 1000/1.0001 → min fee wins
    assert affordable_qty(1000.0, 100.0, 1.0, 5.0, 0.0, 1.0) == pytest.approx(9.95)


# --- accounting ------------------------------------------------------------------------------------------
def test_average_entry_and_partial_close_in_one_trade():
    # buy 1 @100, buy 1 @110 → avg 105; sell 1 @120 → +15; sell 1 @90 → −15
    rows = [FLAT, FLAT, (110,) * 4, (120,) * 4, (90,) * 4, (90,) * 4]
    r = run(bars(rows), {0: buy(1), 1: buy(1), 2: sell(1), 3: sell(1)}, initial_cash=1000)
    assert r.fills["realized_pnl"].tolist() == pytest.approx([0, 0, 15, -15])
    t = r.trades
    assert len(t) == 1 and t["entry_price"].iloc[0] == 105.0 and t["exit_price"].iloc[0] == 105.0
    assert t["qty"].iloc[0] == 2.0 and t["gross_pnl"].iloc[0] == pytest.approx(0.0)


def test_short_liquidation_with_fee_capped():
    # short 1 @100, leverage 10, mmr 1 %: liq = 100 × (1 + 0.1 − 0.01) = 109; bar 2 high 112 crosses it;
    # loss 9 + fee 109 × 50 bps = 0.545 → 9.545 <= margin 10 (not capped)
    r = run(bars([FLAT, FLAT, (105, 112, 104, 106), (106,) * 4]), {0: sell(1)}, initial_cash=1000,
            max_leverage=10.0, maintenance_margin=0.01, liquidation_fee_bps=50.0)
    assert fill_prices(r) == pytest.approx([100.0, 109.0])
    assert r.fills["fee"].iloc[1] == pytest.approx(0.545)
    assert r.equity[-1] == pytest.approx(1000 - 9 - 0.545)
    assert_identity(r)


def test_trade_log_mae_mfe_fees_slippage():
    # long 2 from bar 1 open (100 +10 bps = 100.1); bar 1 low 98 high 103 → mae 2·(98−100.1) = −4.2,
    # mfe 2·(103−100.1) = 5.8; bar 2 range 99–104 → mfe 2·3.9 = 7.8; exit bar 3 open 102 −10 bps = 101.898
    rows = [FLAT, (100, 103, 98, 101), (101, 104, 99, 102), (102, 102.5, 101.5, 102)]
    r = run(bars(rows), {0: buy(2), 2: sell(2)}, slippage_bps=10.0, taker_fee_bps=10.0)
    t = r.trades.iloc[0]
    assert t["mae"] == pytest.approx(-4.2) and t["mfe"] == pytest.approx(7.8)
    assert t["slippage"] == pytest.approx(2 * 0.1 + 2 * 0.102)
    assert t["fees"] == pytest.approx(2 * 100.1 * 1e-3 + 2 * 101.898 * 1e-3)
    assert t["gross_pnl"] == pytest.approx(2 * (101.898 - 100.1))
    assert t["net_pnl"] == pytest.approx(t["gross_pnl"] - t["fees"])
    assert r.trades["net_pnl"].sum() == pytest.approx(r.equity[-1] - r.initial_cash)


# --- funding ---------------------------------------------------------------------------------------------
def test_constant_funding_long_pays_short_receives():
    # 1h bars from 00:00: funding at 08:00 lands on bar 7 (close 08:00), at 16:00 on bar 15
    rows = [FLAT] * 7 + [(100, 100, 100, 120)] + [(120,) * 4] * 10
    for q, sign in ((2.0, 1.0), (-2.0, -1.0)):
        r = run(bars(rows), {0: buy(q) if q > 0 else sell(-q)}, initial_cash=10000, funding="constant",
                funding_rate=0.0001)
        f = r.funding
        assert list(f["bar"]) == [7, 15]
        assert f["paid"].tolist() == pytest.approx([sign * 2 * 120 * 0.0001] * 2)  # ±0.024 each
        assert r.trades["funding"].iloc[0] == pytest.approx(sign * 0.048)
        assert_identity(r)


def test_funding_history_file(tmp_path):
    from rmsbt.engine.funding import funding_matrix

    from rmsbt.engine import BrokerConfig
    d = tmp_path / "binance"
    d.mkdir()
    h = 3_600_000
    t0 = 1704067200000
    # two funding times in bar 1 ((t0+h, t0+2h]) sum up; one at t0 + 3h → bar 2; one before the data ignored
    pd.DataFrame({"timestamp": [t0 - h, t0 + h + 1, t0 + 2 * h, t0 + 3 * h],
                  "funding_rate": [0.5, 0.0001, -0.0003, 0.0002]}).to_csv(d / "X_USDT-funding.csv", index=False)
    m = funding_matrix(BrokerConfig(funding="history"), ("X/USDT",), np.array([t0, t0 + h, t0 + 2 * h]), h,
                       tmp_path, "binance")
    assert np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(-0.0002) and m[0, 2] == pytest.approx(0.0002)


def test_funding_history_bad_file(tmp_path):
    from rmsbt.engine.funding import read_funding_file
    from rmsbt.errors import DataError

    p = tmp_path / "X_USDT-funding.csv"
    p.write_text("timestamp,funding_rate\n1704067200000,0.1\n1704067200000,0.2\n")
    with pytest.raises(DataError, match=r"X_USDT-funding.csv.*strictly increasing"):
        read_funding_file(p)
    p.write_text("timestamp,rate\n1704067200000,0.1\n")
    with pytest.raises(DataError, match="missing column funding_rate"):
        read_funding_file(p)


def test_identity_holds_on_a_mixed_run():
    rows = [(100, 102, 98, 101), (101, 105, 99, 104), (104, 106, 96, 97), (97, 99, 90, 92), (92, 95, 91, 94)] * 3
    r = run(bars(rows), {0: buy(3, stop_loss=93), 3: sell(5), 6: buy(1, limit=95), 9: lambda c: c.order_target(SYM, 0)},
            taker_fee_bps=5.0, maker_fee_bps=-1.0, slippage_bps=3.0, funding="constant", initial_cash=1000)
    assert_identity(r)
    assert r.trades["net_pnl"].sum() == pytest.approx(r.equity[-1] - 1000, abs=1e-9)
    assert math.isfinite(r.equity[-1])


def test_open_fills_across_symbols_in_submission_order():
    # leverage 1, equity 1000: B (submitted first) takes 800 of margin, A then needs 800 with 200 free
    r = run({"A/USDT": bars([FLAT] * 3), "B/USDT": bars([FLAT] * 3)},
            {0: [buy(8, sym="B/USDT"), buy(8, sym="A/USDT")]}, initial_cash=1000)
    assert list(r.fills["symbol"]) == ["B/USDT"]
    assert r.orders.set_index("symbol").loc["A/USDT", "status"] == "rejected"


def test_flip_counts_the_margin_it_releases():
    # leverage 1, equity 1000, long 9 @100 (900 posted). Sell 18: closes 9 (releases 900), opens short 9
    # needing 900 of the 1000 free after the close: allowed
    r = run(bars([FLAT] * 4), {0: buy(9), 1: sell(18)}, initial_cash=1000)
    assert list(r.fills["qty"]) == [9.0, -18.0]


def test_target_with_volume_cap_keeps_working():
    # target 10 with 40 % of volume 10 per bar: 4, 4, then the last 2
    r = run(bars([FLAT] + [(100, 100, 100, 100, 10)] * 4), {0: lambda c: c.order_target(SYM, 10)}, volume_cap=0.4)
    assert list(r.fills["qty"]) == [4.0, 4.0, 2.0]
    assert event_list(r, 0) == ["submitted", "partially_filled", "partially_filled", "filled"]


def test_resized_order_shrinks_and_is_done():
    r = run(bars([FLAT] * 4), {0: buy(20)}, initial_cash=1000, mode="spot", on_insufficient="resize")
    assert list(r.fills["qty"]) == [10.0]  # 1000 / 100, the other 10 are not chased on later bars
    assert r.orders["status"].iloc[0] == "filled" and r.orders["quantity"].iloc[0] == 10.0


# --- intrabar order from finer candles ----------------------------------------------------------------------
def _fine(rows, t0=1704067200000 + 2 * 3_600_000, step=900_000):
    return pd.DataFrame([(t0 + i * step, *r, 1.0) for i, r in enumerate(rows)],
                        columns=["timestamp", "open", "high", "low", "close", "volume"])


def test_extreme_order_from_finer_candles():
    from rmsbt.engine.intrabar import extreme_order

    h = 3_600_000
    opens = np.array([1704067200000 + k * h for k in range(4)])
    high, low = np.array([0, 0, 106.0, 102.0]), np.array([0, 0, 94.0, 100.0])
    # bar 2 in 15-minute candles: the high 106 in the 2nd, the low 94 in the 4th → high first (−1)
    fine = _fine([(100.5, 101, 100, 100.8), (100.8, 106, 100.5, 104), (104, 104, 97, 98), (98, 101, 94, 101)])
    assert list(extreme_order(opens, h, high, low, fine, 900_000)) == [0, 0, -1, 0]  # bar 3 has no fine data
    # one 15-minute candle missing → the order stays unknown
    assert extreme_order(opens, h, high, low, fine.drop(index=2), 900_000)[2] == 0
    # both extremes in the same finer candle → unknown
    same = _fine([(100.5, 101, 100, 100.8), (100.8, 106, 94, 104), (104, 104, 97, 98), (98, 101, 96, 101)])
    assert extreme_order(opens, h, high, low, same, 900_000)[2] == 0


@pytest.mark.parametrize("code,exit_price", [(-1, 105.0), (1, 95.0), (0, 95.0)])
def test_finer_candles_decide_stop_vs_target(code, exit_price):
    # BR-09's bar 2 (94–106 touches stop 95 and target 105): high first → the target fills
    rows = [(100, 100.5, 99.5, 100), (100, 101, 99, 100.5), (100.5, 106, 94, 101), (101, 102, 100, 101.5)]
    order = np.zeros((1, 4), dtype=np.int8)
    order[0, 2] = code
    md = align({SYM: bars(rows)}, "1h")
    r = run_backtest(Script({0: buy(1, stop_loss=95, take_profit=105)}), md,
                     BrokerConfig(taker_fee_bps=0, maker_fee_bps=0), intrabar=order)
    assert fill_prices(r)[1] == exit_price


def test_events_table_rows_of_placed_and_cancelled_orders():
    """Every column of the events rows of orders placed and cancelled (the log stores a plain order and a
    strategy's cancel in a compact form; the table must read as the full rows). Prices ~100, lows >= 96:
    nothing triggers or fills."""
    h = {}

    def place(ctx):
        h["a"] = ctx.order(SYM, 1, limit=90)  # id 0
        h["b"] = ctx.order(SYM, 2, limit=50, stop_loss=40, take_profit=120)  # id 1, protection ids 2 and 3
        ctx.order(SYM, -1, stop=95, limit=94, tag="x")  # id 4: stop-limit, the event shows its stop

    def cancel(ctx):
        assert ctx.cancel(h["a"]) and ctx.cancel(h["b"])
        assert not ctx.cancel(h["a"])  # no longer working: no second event

    r = run(bars([FLAT, (100, 101, 96, 100), (100, 101, 96, 100), FLAT]), {0: place, 1: cancel})
    ev = r.events
    nan = float("nan")
    got = list(zip(ev["bar"], ev["order_id"], ev["event"], ev["qty"], ev["price"], ev["reason"]))
    want = [(0, 0, "submitted", 1.0, 90.0, ""), (0, 1, "submitted", 2.0, 50.0, ""),
            (0, 2, "submitted", -2.0, 40.0, "protective order of 1"),
            (0, 3, "submitted", -2.0, 120.0, "protective order of 1"), (0, 4, "submitted", -1.0, 95.0, ""),
            (1, 0, "cancelled", nan, nan, "cancelled by the strategy"),
            (1, 1, "cancelled", nan, nan, "cancelled by the strategy"),
            (1, 2, "cancelled", nan, nan, "entry order 1 cancelled"),
            (1, 3, "cancelled", nan, nan, "entry order 1 cancelled")]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:3] == w[:3] and g[5] == w[5]
        for x, y in zip(g[3:5], w[3:5]):
            assert (x != x and y != y) or x == y, (g, w)
    assert list(ev["timestamp"]) == [T0] * 5 + [T0 + 3_600_000] * 4
    assert set(ev["symbol"]) == {SYM}
    assert r.dropped_orders == 1  # the stop-limit is still working after the last bar


def test_submitted_event_keeps_the_quantity_of_a_resized_order():
    """Spot, cash 1000, buy 100 at the next open 100 (no fees): resized to 1000 / 100 = 10 units; the
    order then shows quantity 10, its submitted event still the 100 asked for."""
    r = run(bars([FLAT, FLAT, FLAT]), {0: lambda ctx: ctx.order(SYM, 100)}, mode="spot", initial_cash=1000.0,
            on_insufficient="resize")
    assert r.fills["qty"].tolist() == [10.0]
    assert r.orders["quantity"].tolist() == [10.0]
    ev = r.events
    assert list(ev["event"]) == ["submitted", "resized", "filled"]
    assert ev["qty"].tolist()[0] == 100.0
