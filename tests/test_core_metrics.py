"""The main job's summary metrics on tiny hand-made equity curves."""

import math

import numpy as np
import pandas as pd
import pytest

from rmsbt.engine.loop import BacktestResult
from rmsbt.metrics import drawdown, sharpe_ratio, summarize, underwater_runs

D = 86_400_000


def result(equity, initial=100.0, tf="1d", positions=None, fills=None):
    n = len(equity)
    return BacktestResult(
        symbols=("A/X",), timeframe=tf, timestamps=np.arange(n, dtype=np.int64) * D, cash=np.array(equity, float),
        equity=np.array(equity, float), positions=np.zeros((n, 1)) if positions is None else positions,
        fills=fills if fills is not None else pd.DataFrame(columns=["timestamp", "symbol", "qty", "fee"]),
        records=pd.DataFrame(), initial_cash=initial, fees_paid=0.0, dropped_orders=0)


def test_max_drawdown_and_duration_tiny_curve():
    # curve with the initial point: 100, 110, 99, 104.5, 121, 110
    # running peak:                 100, 110, 110, 110, 121, 121
    # drawdown:                       0,   0, 0.1, 0.05,  0, 10/121
    # underwater runs: bars [99, 104.5] (2 bars, recovered at 121) and [110] (1 bar, still open)
    m = summarize(result([110, 99, 104.5, 121, 110]))
    assert m["max_drawdown"] == pytest.approx(0.1, abs=1e-15)
    assert m["max_drawdown_quote"] == pytest.approx(11.0, abs=1e-12)
    assert m["max_drawdown_duration_bars"] == 2
    assert m["max_drawdown_duration_days"] == 2.0
    assert m["final_equity"] == 110 and m["pnl"] == pytest.approx(10.0) and m["total_return"] == pytest.approx(0.1)


def test_first_bar_loss_counts_as_drawdown():
    """BR-23: 1000 → 800, 600, 900, 1200, 1100: the initial cash is the first peak, max DD 0.40."""
    m = summarize(result([800, 600, 900, 1200, 1100], initial=1000.0))
    assert m["max_drawdown"] == pytest.approx(0.40, abs=1e-15)
    assert m["max_drawdown_duration_bars"] == 3


def test_open_drawdown_at_the_end_br22():
    """BR-22: closes 100,101,99,98,97,101,99 as equity (initial 100)."""
    curve = np.array([100, 100, 101, 99, 98, 97, 101, 99], float)
    dd, _ = drawdown(curve)
    assert dd[1:].tolist() == pytest.approx([0, 0, 2 / 101, 3 / 101, 4 / 101, 0, 2 / 101])
    assert underwater_runs(curve) == [(3, 5), (7, 7)]  # 3 bars, then 1 bar still underwater


def test_sharpe_24_7_annualisation_br27():
    r = np.array([0.01, -0.005, 0.02, 0.0, 0.015])
    # mean 0.008, sample std (ddof=1) 0.0103682207, per period 0.7715885
    assert sharpe_ratio(r, 365) == pytest.approx(14.741178, abs=1e-6)
    assert sharpe_ratio(r, 8760) == pytest.approx(72.216728, abs=1e-6)


def test_sharpe_of_constant_returns_is_nan_br28():
    assert math.isnan(sharpe_ratio(np.full(250, 0.001), 365))
    assert math.isnan(sharpe_ratio(np.zeros(10), 365))
    assert math.isnan(sharpe_ratio(np.array([0.01]), 365))


def test_exposure_and_fees():
    pos = np.array([[0.0], [1.0], [1.0], [0.0]])
    fills = pd.DataFrame({"timestamp": [D, 3 * D], "symbol": ["A/X", "A/X"], "qty": [1.0, -1.0], "fee": [0.1, 0.2]})
    m = summarize(result([100, 101, 102, 101], positions=pos, fills=fills))
    assert m["exposure"] == 0.5
    assert m["fees_paid"] == pytest.approx(0.3)
    assert m["fills"] == 2
