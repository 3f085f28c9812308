"""The fault cases of ../shared/cases/CASES.md about fills, fees, accounting and funding.

Each test loads the case's CSV, runs it through the engine and checks the case's hand-worked numbers
(the arithmetic is repeated here). rmsbt's conventions match the cases' C1–C9; where a case leaves a
choice open, the test says which one rmsbt makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from broker_helpers import SYM, bars, buy, event_list, fill_prices, run, sell

from rmsbt.engine.broker_nb import liquidation_price
from rmsbt.metrics import summarize

TOL = 1e-6  # C9


def case(cases_dir, name):
    return pd.read_csv(cases_dir / f"{name}.csv")


def test_br01_market_fills_next_open(cases_dir):
    r = run(case(cases_dir, "BR-01"), {2: buy(1), 4: sell(1)}, initial_cash=10000)
    assert fill_prices(r) == [102.6, 105.5]  # bar 3 open, bar 5 open
    assert list(r.fills["bar"]) == [3, 5]
    assert r.cash[-1] == pytest.approx(10000 - 102.6 + 105.5, abs=TOL)  # 10002.90


def test_br01_market_on_close_fills_next_close(cases_dir):
    # (b) submitted at bar t close, executes at bar t+1 close: 105.0 (bar 3) and 104.0 (bar 5)
    r = run(case(cases_dir, "BR-01"), {2: lambda c: c.order_on_close(SYM, 1), 4: lambda c: c.order_on_close(SYM, -1)},
            initial_cash=10000)
    assert fill_prices(r) == [105.0, 104.0]
    assert 102.0 not in fill_prices(r) and 106.0 not in fill_prices(r)  # never the signal bar's close
    assert r.cash[-1] == pytest.approx(10000 + 104.0 - 105.0, abs=TOL)  # 9999.00


def test_br02_sma_cross_fills_next_open_with_fee(cases_dir):
    def sma_cross(ctx):
        c = ctx.close(SYM)
        t = ctx.bar
        if t >= 3:
            sma = lambda k: c[k - 2:k + 1].mean()  # noqa: E731
            if c[t] > sma(t) and c[t - 1] <= sma(t - 1):
                ctx.order(SYM, 1)
        if t == 6:
            ctx.order(SYM, -1)

    r = run(case(cases_dir, "BR-02"), every=sma_cross, initial_cash=10000, taker_fee_bps=10.0)
    assert list(r.fills["bar"]) == [4, 7]  # single crossover at bar 3 → bar 4 open
    assert fill_prices(r) == [101.5, 107.2]
    np.testing.assert_allclose(r.fills["fee"], [101.5 * 0.001, 107.2 * 0.001], atol=TOL)  # 0.1015, 0.1072
    assert r.cash[-1] == pytest.approx(10000 + 5.7 - 0.1015 - 0.1072, abs=TOL)  # 10005.4913


def test_br06_stop_loss_gapped_through_fills_at_open(cases_dir):
    r = run(case(cases_dir, "BR-06"), {0: buy(1, stop_loss=90)}, tf="1d", initial_cash=1000)
    assert fill_prices(r) == [100.0, 50.0]  # entry bar 1 open; bar 3 opens at 50 <= 90: exit at 50
    assert list(r.fills["bar"]) == [1, 3]
    assert r.fills["realized_pnl"].iloc[1] == pytest.approx(50 - 100)
    assert r.cash[-1] == pytest.approx(950.0, abs=TOL)


def test_br08_a_buy_stop_at_open_equal_to_stop(cases_dir):
    r = run(case(cases_dir, "BR-08"), {0: buy(1, stop=16), 2: sell(1)}, tf="1d", initial_cash=1000)
    assert fill_prices(r) == [16.0, 11.0]  # bar 1 opens at 16 = stop: inclusive trigger at the open
    assert list(r.fills["bar"]) == [1, 3]
    assert r.trades["net_pnl"].iloc[0] == pytest.approx(11 - 16)  # −5


def test_br08_b_sell_stop_inside_bar_opens_short(cases_dir):
    r = run(case(cases_dir, "BR-08"), {0: sell(1, stop=13), 2: buy(1)}, tf="1d", initial_cash=1000)
    assert fill_prices(r) == [13.0, 11.0]  # bar 1 opens 16 > 13, low 10 <= 13: fill at the stop
    tr = r.trades.iloc[0]
    assert tr["side"] == "short" and tr["net_pnl"] == pytest.approx(13 - 11)  # +2
    assert (tr["entry_bar"], tr["exit_bar"], tr["duration_bars"]) == (1, 3, 2)
    assert tr["duration_ms"] == 2 * 86_400_000  # 2 days, exit after entry


def test_br09_stop_and_target_in_one_bar_adverse_first(cases_dir):
    r = run(case(cases_dir, "BR-09"), {0: buy(1, stop_loss=95, take_profit=105)}, initial_cash=1000)
    assert fill_prices(r) == [100.0, 95.0]  # bar 2 range 94–106 touches both: the stop fills
    assert list(r.fills["bar"]) == [1, 2]
    assert r.cash[-1] == pytest.approx(995.0, abs=TOL)
    tp = r.orders[(r.orders["kind"] == "limit")].iloc[0]
    assert tp["status"] == "cancelled" and "one-cancels-other" in tp["reason"]


def test_br11_volume_cap_partial_fills(cases_dir):
    r = run(case(cases_dir, "BR-11"), {0: buy(200)}, initial_cash=20000, volume_cap=0.10)
    assert list(r.fills["qty"]) == [100.0, 100.0]  # 10% × 1000 on bar 1, the rest (≤ 150) on bar 2
    assert fill_prices(r) == [50.0, 52.0]
    assert r.orders["avg_fill_price"].iloc[0] == pytest.approx((100 * 50 + 100 * 52) / 200)  # 51.0
    assert r.cash[-1] == pytest.approx(20000 - 5000 - 5200, abs=TOL)  # 9800
    assert r.equity[3] == pytest.approx(9800 + 200 * 52.8, abs=TOL)  # 20360
    assert event_list(r, 0) == ["submitted", "partially_filled", "filled"]


def test_br12_a_unaffordable_order_rejected_with_reason(cases_dir):
    r = run(case(cases_dir, "BR-12"), {0: buy(10)}, initial_cash=1000, mode="spot", taker_fee_bps=10.0)
    # needed at bar 1 open: 10 × 100 × 1.001 = 1001.00 > 1000
    assert len(r.fills) == 0
    ev = r.events[r.events["event"] == "rejected"]
    assert len(ev) == 1 and "insufficient cash" in ev["reason"].iloc[0] and "1001" in ev["reason"].iloc[0]
    assert r.orders["status"].iloc[0] == "rejected"
    assert np.all(r.cash == 1000.0)


def test_br12_b_affordable_order_fills(cases_dir):
    r = run(case(cases_dir, "BR-12"), {0: buy(9)}, initial_cash=1000, mode="spot", taker_fee_bps=10.0)
    assert r.cash[1] == pytest.approx(1000 - 900 - 0.90, abs=TOL)  # 99.10
    assert r.equity[1] == pytest.approx(99.10 + 9 * 100.5, abs=TOL)  # 1003.60
    assert np.all(r.cash >= 0)


def test_br13_fee_charged_once(cases_dir):
    r = run(case(cases_dir, "BR-13"), {0: buy(0.1), 1: sell(0.1)}, tf="15m", initial_cash=10000, taker_fee_bps=4.0)
    fee_buy = 0.1 * 29037.85 * 0.0004  # 1.161514
    fee_sell = 0.1 * 29100.00 * 0.0004  # 1.164000
    np.testing.assert_allclose(r.fills["fee"], [fee_buy, fee_sell], atol=TOL)
    assert r.cash[1] == pytest.approx(10000 - 2903.785 - 1.161514, abs=TOL)  # 7095.053486
    assert r.cash[2] == pytest.approx(7095.053486 + 2910 - 1.164, abs=TOL)  # 10003.889486
    assert r.fees_paid == pytest.approx(2.325514, abs=TOL)
    assert r.cash[0] - r.cash[2] + r.trades["gross_pnl"].sum() == pytest.approx(r.fees_paid, abs=TOL)  # ledger agrees


def test_br15_maker_rebate_is_a_credit(cases_dir):
    r = run(case(cases_dir, "BR-15"), {0: buy(10, limit=100), 2: sell(10)}, initial_cash=10000,
            maker_fee_bps=-1.0, taker_fee_bps=5.0)
    assert list(r.fills["bar"]) == [2, 3]  # bar 1 low 100.2 > 100: no fill
    assert fill_prices(r) == [100.0, 102.0]  # at the limit (bar 2 opened above it), not improved
    assert list(r.fills["liquidity"]) == ["maker", "taker"]
    assert r.fills["fee"].iloc[0] == pytest.approx(-0.10)  # 1000 × 0.0001 credited
    assert r.cash[2] == pytest.approx(10000 - 1000 + 0.10, abs=TOL)  # 9000.10
    assert r.cash[3] == pytest.approx(9000.10 + 1020 - 0.51, abs=TOL)  # 10019.59
    assert r.fees_paid == pytest.approx(0.41, abs=TOL)


@pytest.mark.parametrize("size", [2, 1])
def test_br17_short_pnl_and_return(cases_dir, size):
    r = run(case(cases_dir, "BR-17"), {0: sell(size), 3: buy(size)}, tf="1d", initial_cash=1000)
    closes = [350, 342, 325, 305, 304, 306]
    exp = [1000] + [1000 + size * 350 - size * c for c in closes[1:4]] + [1000 + size * 50] * 2
    np.testing.assert_allclose(r.equity, exp, atol=TOL)  # size 2: 1000, 1016, 1050, 1090, 1100, 1100
    assert r.trades["net_pnl"].iloc[0] == pytest.approx(size * (350 - 300))
    m = summarize(r)
    assert m["total_return"] == pytest.approx(0.05 * size)  # +10 % for 2, +5 % for 1: linear in size
    assert m["max_drawdown"] == 0.0


def test_br17_losing_short_is_a_loss():
    r = run(bars([(100, 100, 100, 100), (100, 100, 100, 100), (110, 110, 110, 110), (110, 110, 110, 110)]),
            {0: sell(1), 1: buy(1)}, initial_cash=1000)
    assert r.trades["net_pnl"].iloc[0] == pytest.approx(100 - 110)  # −10


def test_br18_flip_splits_close_and_open(cases_dir):
    r = run(case(cases_dir, "BR-18"), {0: buy(5), 2: sell(8), 4: buy(3)}, initial_cash=10000,
            max_leverage=2.0, maintenance_margin=0.0)
    assert fill_prices(r) == [100.0, 110.0, 104.0]
    assert r.fills["realized_pnl"].tolist() == pytest.approx([0.0, 5 * (110 - 100), 3 * (110 - 104)])
    assert r.positions[3, 0] == -3.0
    assert r.equity[3] == pytest.approx(10000 + 50 + 3 * (110 - 108.5), abs=TOL)  # 10054.5
    assert r.equity[4] == pytest.approx(10050 + 3 * (110 - 104.5), abs=TOL)  # 10066.5
    assert r.cash[-1] == pytest.approx(10068.0, abs=TOL)
    t = r.trades
    assert list(t["side"]) == ["long", "short"] and list(t["entry_price"]) == [100.0, 110.0]
    assert list(t["entry_bar"]) == [1, 3] and list(t["exit_bar"]) == [3, 5]  # the flip: same bar, same price
    assert t["net_pnl"].tolist() == pytest.approx([50.0, 18.0])
    # isolated leverage 2, maintenance 0: the short's liquidation price is above the entry
    assert liquidation_price(-3.0, 110.0, 2.0, 0.0) == pytest.approx(110 * 1.5)  # 165, never 55


def test_br20_a_liquidation_at_gap_open_capped_at_margin(cases_dir):
    r = run(case(cases_dir, "BR-20"), {0: buy(1)}, initial_cash=1000, max_leverage=20.0, maintenance_margin=0.005)
    assert liquidation_price(1.0, 100.0, 20.0, 0.005) == pytest.approx(100 * (1 - 1 / 20 + 0.005))  # 95.5
    assert fill_prices(r) == [100.0, 90.0]  # bar 2 opens at 90 < 95.5: liquidated at the open
    assert list(r.fills["liquidity"]) == ["taker", "liquidation"] and list(r.fills["bar"]) == [1, 2]
    assert r.fills["realized_pnl"].iloc[1] == pytest.approx(-min((100 - 90) * 1, 100 / 20))  # −5
    assert r.cash[-1] == pytest.approx(995.0, abs=TOL) and r.equity[-1] == pytest.approx(995.0, abs=TOL)
    assert "insurance fund covers 5" in r.events[r.events["event"] == "liquidated"]["reason"].iloc[0]


def test_br20_b_liquidation_at_liquidation_price(cases_dir):
    df = case(cases_dir, "BR-20")
    df.loc[2, ["open", "high", "low", "close"]] = [97, 97.5, 95, 96]
    r = run(df, {0: buy(1)}, initial_cash=1000, max_leverage=20.0, maintenance_margin=0.005)
    assert fill_prices(r) == pytest.approx([100.0, 95.5])
    assert r.fills["realized_pnl"].iloc[1] == pytest.approx(-4.5)
    assert r.cash[-1] == pytest.approx(995.5, abs=TOL)


def test_br49_slippage_on_stop_exit(cases_dir):
    r = run(case(cases_dir, "BR-49"), {0: buy(1, stop_loss=95)}, initial_cash=1000, slippage_bps=10.0)
    assert fill_prices(r) == pytest.approx([100 * 1.001, 95 * 0.999])  # 100.10, 94.905 (inside 94–97.5)
    assert r.cash[-1] == pytest.approx(1000 - 100.10 + 94.905, abs=TOL)  # 994.805
    assert r.trades["slippage"].iloc[0] == pytest.approx(0.10 + 0.095)


def test_br50_slipped_fills_clamped_into_bar(cases_dir):
    r = run(case(cases_dir, "BR-50"), {0: buy(1), 1: sell(1, limit=101)}, initial_cash=1000, slippage_bps=50.0)
    # buy: 100 × 1.005 = 100.5 > high 100.3 → 100.3. Sell limit: bar 2 opens 102 above the limit, so it
    # executes at the open as a taker: 102 × 0.995 = 101.49 < low 101.8 → 101.8 (>= limit 101)
    assert fill_prices(r) == pytest.approx([100.3, 101.8])
    assert r.cash[-1] == pytest.approx(1000 + 1.5, abs=TOL)
