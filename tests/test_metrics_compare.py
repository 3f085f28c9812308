"""rmsbt's metrics against independent references, computed live: empyrical (empyrical-reloaded) and
quantstats, installed with ``pip install -e ".[compare]"``. Skipped with a reason when absent.

Only where the definitions match (docs/metrics.md lists the differences); each known difference is
asserted too, so a change in either library shows up here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rmsbt.engine.loop import BacktestResult
from rmsbt.metrics import annual_volatility, sharpe_ratio, sortino_ratio, summarize

D = 86_400_000


def returns_cases():
    rng = np.random.default_rng(7)
    return [
        np.array([0.01, -0.02, 0.03, -0.01, 0.02]),
        np.array([0.01, -0.005, 0.02, 0.0, 0.015]),
        rng.normal(0.0005, 0.02, 400),
        rng.standard_t(3, 1000) * 0.01,
    ]


def as_series(r):
    return pd.Series(r, index=pd.date_range("2024-01-01", periods=len(r), freq="D"))


def run_of(r, initial=1000.0):
    eq = initial * np.cumprod(1.0 + r)
    n = len(r)
    return BacktestResult(symbols=("A/X",), timeframe="1d", timestamps=np.arange(n, dtype=np.int64) * D, cash=eq,
                          equity=eq, positions=np.zeros((n, 1)),
                          fills=pd.DataFrame(columns=["timestamp", "symbol", "qty", "price", "fee"]),
                          records=pd.DataFrame(), initial_cash=initial, fees_paid=0.0, dropped_orders=0)


@pytest.fixture(scope="module")
def ep():
    return pytest.importorskip("empyrical", reason="empyrical-reloaded not installed (pip install -e '.[compare]')")


@pytest.fixture(scope="module")
def qs():
    return pytest.importorskip("quantstats", reason="quantstats not installed (pip install -e '.[compare]')")


@pytest.mark.parametrize("k", range(4))
def test_against_empyrical(ep, k):
    r = returns_cases()[k]
    m = summarize(run_of(r))
    assert sharpe_ratio(r, 365) == pytest.approx(ep.sharpe_ratio(r, annualization=365), rel=1e-10)
    assert sortino_ratio(r, 365) == pytest.approx(ep.sortino_ratio(r, annualization=365), rel=1e-10)
    assert annual_volatility(r, 365) == pytest.approx(ep.annual_volatility(r, annualization=365), rel=1e-10)
    # empyrical prepends the start value to the cumulative curve: same max drawdown as ours
    assert m["max_drawdown"] == pytest.approx(-ep.max_drawdown(r), rel=1e-10, abs=1e-15)
    # empyrical's CAGR is bar-based (len/annualization years); ours is time-based: equal without gaps
    assert m["cagr"] == pytest.approx(ep.cagr(r, annualization=365), rel=1e-9)
    assert m["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=365), rel=1e-9)
    # risk-free: empyrical takes a per-period rate; ours is annual, de-annualised (1+rf)^(1/P) − 1
    rf_p = 1.04 ** (1 / 365) - 1
    assert sharpe_ratio(r, 365, 0.04) == pytest.approx(ep.sharpe_ratio(r, risk_free=rf_p, annualization=365),
                                                       rel=1e-10)
    assert sortino_ratio(r, 365, 0.04) == pytest.approx(ep.sortino_ratio(r, required_return=rf_p, annualization=365),
                                                        rel=1e-10)


@pytest.mark.parametrize("k", range(4))
def test_against_quantstats(qs, k):
    r = returns_cases()[k]
    s = as_series(r)
    m = summarize(run_of(r))
    assert sharpe_ratio(r, 365) == pytest.approx(qs.stats.sharpe(s, periods=365), rel=1e-10)
    assert sortino_ratio(r, 365) == pytest.approx(qs.stats.sortino(s, periods=365), rel=1e-10)
    assert annual_volatility(r, 365) == pytest.approx(qs.stats.volatility(s, periods=365), rel=1e-10)
    assert m["max_drawdown"] == pytest.approx(-qs.stats.max_drawdown(s), rel=1e-10, abs=1e-15)
    assert m["cagr"] == pytest.approx(qs.stats.cagr(s, periods=365), rel=1e-9)
    assert sharpe_ratio(r, 365, 0.04) == pytest.approx(qs.stats.sharpe(s, rf=0.04, periods=365), rel=1e-10)


def test_known_difference_first_bar_drawdown(qs, ep):
    """Returns −0.10, −1/6, +0.05: max DD 0.25 counting the start (rmsbt, empyrical, quantstats given
    returns); a tool that sees only the equity *levels* 0.9, 0.75, 0.7875 (vectorbt, or quantstats given
    prices) cannot know the initial capital and reports 1/6."""
    r = np.array([-0.10, -1 / 6, 0.05])
    assert summarize(run_of(r, 1.0))["max_drawdown"] == pytest.approx(0.25)
    assert -ep.max_drawdown(r) == pytest.approx(0.25)
    assert -qs.stats.max_drawdown(as_series(r)) == pytest.approx(0.25)
    levels = as_series(1000.0 * np.cumprod(1 + r))  # 900, 750, 787.5
    assert -qs.stats.max_drawdown(levels) == pytest.approx(1 / 6)

