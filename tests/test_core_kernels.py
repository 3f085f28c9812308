"""The broker and portfolio kernels are plain njit functions: a compiled loop can call the very same
rules the Python loop calls, and gets the same numbers."""

import numpy as np
from numba import njit

from rmsbt.engine.broker_nb import market_fill_price, taker_fee
from rmsbt.engine.portfolio_nb import apply_fill, mark_equity
from rmsbt.testing import candles, run_script

H = 3_600_000


@njit(cache=False)
def compiled_buy_and_hold(opens, lows, highs, closes, qty_to_buy, fee_bps, slip_bps, cash0):
    n = opens.shape[0]
    cash = np.array([cash0])
    qty, avg, realized, mark = np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1)
    equity = np.empty(n)
    for t in range(n):
        if t == 1:  # decided on bar 0, filled at bar 1's open
            px = market_fill_price(opens[t], lows[t], highs[t], 1.0, slip_bps)
            apply_fill(cash, qty, avg, realized, 0, qty_to_buy, px, taker_fee(qty_to_buy, px, fee_bps))
        mark[0] = closes[t]
        equity[t] = mark_equity(cash, qty, mark)
    return equity


def test_compiled_loop_matches_python_loop():
    rng = np.random.default_rng(5)
    px = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 100)))
    df = candles([(k * H, p, p * 1.01, p * 0.99, p * (1 + 0.001 * (k % 3 - 1)), 1) for k, p in enumerate(px)])

    def script(ctx):
        if ctx.bar == 0:
            ctx.order("A/X", 3.0)
    py = run_script(script, {"A/X": df}, initial_cash=1000.0, taker_fee_bps=7.5, slippage_bps=4.0)
    nb = compiled_buy_and_hold(*(df[c].to_numpy() for c in ("open", "low", "high", "close")), 3.0, 7.5, 4.0, 1000.0)
    np.testing.assert_array_equal(py.equity, nb)  # bit-identical: same kernels, same order of operations
