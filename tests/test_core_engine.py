"""The event loop, fills, fees and accounting of the main job, with hand arithmetic."""

import numpy as np
import pandas as pd
import pytest

from rmsbt.data import read_candles
from rmsbt.testing import candles, run_script

H = 3_600_000


def at_bars(plan):
    """A script placing ``plan[bar]`` = list of (method, symbol, qty) when ``ctx.bar`` matches."""
    def script(ctx):
        for method, sym, q in plan.get(ctx.bar, []):
            getattr(ctx, method)(sym, q)
    return script


def test_round_trip_with_fee_and_slippage_gives_exact_cash():
    bars = candles([
        (0 * H, 100, 100, 100, 100, 1),
        (1 * H, 101, 103, 99, 102, 1),
        (2 * H, 102, 104, 101, 103, 1),
        (3 * H, 110, 111, 108, 109, 1),
    ])
    res = run_script(at_bars({0: [("order", "A/X", 2.0)], 2: [("order", "A/X", -2.0)]}), {"A/X": bars},
                     initial_cash=10_000.0, taker_fee_bps=10.0, slippage_bps=10.0)
    # buy 2 at bar 1 open 101, slipped 10 bps against us: 101 × 1.001 = 101.101 (inside [99, 103])
    buy_px = 101 * 1.001
    buy_fee = 2 * buy_px * 0.001  # 10 bps of notional = 0.202202
    # sell 2 at bar 3 open 110, slipped down: 110 × 0.999 = 109.89 (inside [108, 111])
    sell_px = 110 * 0.999
    sell_fee = 2 * sell_px * 0.001  # 0.21978
    cash = 10_000 - 2 * buy_px - buy_fee + 2 * sell_px - sell_fee
    assert cash == pytest.approx(10_017.156018, abs=1e-9)
    f = res.fills
    assert f["price"].tolist() == pytest.approx([101.101, 109.89], abs=1e-12)
    assert f["fee"].tolist() == pytest.approx([0.202202, 0.21978], abs=1e-12)
    assert f["bar"].tolist() == [1, 3] and f["decided_bar"].tolist() == [0, 2]
    assert res.cash[-1] == pytest.approx(cash, abs=1e-9)
    assert res.equity[-1] == pytest.approx(cash, abs=1e-9)  # flat at the end
    # while long, equity is marked at the close: bar 1 = cash after buy + 2 × 102
    assert res.equity[1] == pytest.approx(10_000 - 2 * buy_px - buy_fee + 2 * 102, abs=1e-9)
    assert res.fees_paid == pytest.approx(buy_fee + sell_fee, abs=1e-12)


def test_slippage_is_clamped_into_the_fill_bar():
    bars = candles([(0, 100, 100, 100, 100, 1), (H, 100, 100.3, 99.9, 100, 1), (2 * H, 100, 100, 100, 100, 1)])
    res = run_script(at_bars({0: [("order", "A/X", 1.0)]}), {"A/X": bars}, slippage_bps=50.0)
    # 100 × 1.005 = 100.5 is above the bar's high 100.3: the fill is the high
    assert res.fills["price"].tolist() == [100.3]


def test_short_position_pnl(cases_dir):
    """BR-17: short 2 at bar 1 open 350, cover at bar 4 open 300; equity = 1700 − 2·close while short."""
    df = read_candles(cases_dir / "BR-17.csv")
    res = run_script(at_bars({0: [("order", "S/X", -2.0)], 3: [("order", "S/X", 2.0)]}), {"S/X": df}, "1d",
                     initial_cash=1000.0, taker_fee_bps=0.0)
    # bar 0: flat, 1000; bar 1: 1700 − 684 = 1016; bar 2: 1700 − 650 = 1050; bar 3: 1700 − 610 = 1090
    # bar 4: covered at 300 → 1700 − 600 = 1100 (realized 2 × (350 − 300) = +100); bar 5: 1100
    assert res.equity.tolist() == pytest.approx([1000, 1016, 1050, 1090, 1100, 1100], abs=1e-9)
    assert res.fills["realized_pnl"].tolist() == pytest.approx([0.0, 100.0], abs=1e-12)
    # linear in size: 1 unit makes +50
    res1 = run_script(at_bars({0: [("order", "S/X", -1.0)], 3: [("order", "S/X", 1.0)]}), {"S/X": df}, "1d",
                      initial_cash=1000.0, taker_fee_bps=0.0)
    assert res1.equity[-1] == pytest.approx(1050.0, abs=1e-9)


def test_losing_short_is_a_loss():
    bars = candles([(0, 100, 100, 100, 100, 1), (H, 100, 100, 100, 100, 1), (2 * H, 110, 110, 110, 110, 1)])
    res = run_script(at_bars({0: [("order", "A/X", -1.0)], 1: [("order", "A/X", 1.0)]}), {"A/X": bars},
                     initial_cash=1000.0, taker_fee_bps=0.0)
    assert res.fills["realized_pnl"].iloc[-1] == -10.0  # short 1 at 100, cover at 110
    assert res.equity[-1] == 990.0


def test_br01_market_order_fills_at_next_open_never_at_signal_close(cases_dir):
    df = read_candles(cases_dir / "BR-01.csv")
    res = run_script(at_bars({2: [("order", "A/X", 1.0)], 4: [("order", "A/X", -1.0)]}), {"A/X": df},
                     initial_cash=10_000.0, taker_fee_bps=0.0)
    assert res.fills["price"].tolist() == [102.6, 105.5]  # bar 3 open, bar 5 open
    assert 102.0 not in res.fills["price"].tolist() and 106.0 not in res.fills["price"].tolist()
    assert res.cash[-1] == pytest.approx(10_002.90, abs=1e-9)  # 105.5 − 102.6 = +2.90


def test_target_orders_trade_the_difference_at_fill_time():
    bars = candles([(k * H, 10, 10, 10, 10, 1) for k in range(5)])
    res = run_script(at_bars({0: [("order_target", "A/X", 3.0)], 1: [("order_target", "A/X", -2.0)],
                              2: [("order_target", "A/X", -2.0)], 3: [("order_target", "A/X", 0.0)]}),
                     {"A/X": bars}, taker_fee_bps=0.0)
    assert res.fills["qty"].tolist() == [3.0, -5.0, 2.0]  # 0→3, 3→−2, (−2→−2 trades nothing), −2→0
    assert res.positions[:, 0].tolist() == [0.0, 3.0, -2.0, -2.0, 0.0]


def test_flip_realizes_the_closed_part_and_reopens_at_the_fill():
    """BR-18's arithmetic: long 5 @100, sell 8 @110 → +50 realized, short 3 @110; buy 3 @104 → +18."""
    px = [100, 100, 105, 110, 108.5, 104]
    bars = candles([(k * H, p, p + 1, p - 1, p, 1) for k, p in enumerate(px)])
    bars.loc[3, ["open", "high", "low", "close"]] = [110, 111, 108, 108.5]
    bars.loc[4, ["open", "high", "low", "close"]] = [108, 110, 102, 103]
    bars.loc[5, ["open", "high", "low", "close"]] = [104, 105, 103, 104]
    res = run_script(at_bars({0: [("order", "A/X", 5.0)], 2: [("order", "A/X", -8.0)], 4: [("order", "A/X", 3.0)]}),
                     {"A/X": bars}, initial_cash=10_000.0, taker_fee_bps=0.0)
    assert res.fills["realized_pnl"].tolist() == pytest.approx([0.0, 50.0, 18.0])
    assert res.positions[3, 0] == -3.0
    assert res.equity[3] == pytest.approx(10_000 + 50 + 3 * (110 - 108.5))  # 10054.5
    assert res.equity[4] == pytest.approx(10_050 + 3 * (110 - 103))
    assert res.cash[-1] == pytest.approx(10_068.0)


def test_order_waits_for_the_symbols_next_real_bar():
    a = candles([(k * H, 10 + k, 10 + k, 10 + k, 10 + k, 1) for k in range(4)])
    b = candles([(0, 5, 5, 5, 5, 1), (3 * H, 7, 7, 7, 7, 1)])  # B has no bars at 1h, 2h
    res = run_script(at_bars({0: [("order", "B/X", 1.0)]}), {"A/X": a, "B/X": b}, taker_fee_bps=0.0)
    assert res.fills["bar"].tolist() == [3] and res.fills["price"].tolist() == [7.0]


def test_missing_bar_marks_at_last_known_close():
    a = candles([(0, 10, 10, 10, 10, 1), (H, 11, 11, 11, 11, 1), (2 * H, 12, 12, 12, 12, 1), (3 * H, 13, 13, 13, 13, 1)])
    b = candles([(0, 5, 5, 5, 5, 1), (H, 6, 6, 6, 6, 1), (3 * H, 8, 8, 8, 8, 1)])
    res = run_script(at_bars({0: [("order", "B/X", 1.0)]}), {"A/X": a, "B/X": b}, initial_cash=100.0, taker_fee_bps=0.0)
    # bought 1 B at 6 (bar 1 open); bar 2 has no B bar: marked at B's last close 6, not invented
    assert res.equity.tolist() == [100.0, 100.0, 100.0, 102.0]


def test_accounting_invariant_equity_is_cash_plus_positions():
    rng = np.random.default_rng(7)
    px = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    bars = candles([(k * H, p, p * 1.01, p * 0.99, p, 1) for k, p in enumerate(px)])

    def script(ctx):
        ctx.order_target("A/X", float(rng.integers(-3, 4)))
    res = run_script(script, {"A/X": bars}, taker_fee_bps=7.0, slippage_bps=3.0)
    np.testing.assert_allclose(res.equity, res.cash + res.positions[:, 0] * px, rtol=0, atol=1e-9)
