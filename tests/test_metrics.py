"""Every metric of rmsbt.metrics on tiny series, with the hand arithmetic shown.

Fault cases from ../shared/cases/CASES.md: BR-22, BR-23, BR-25, BR-27, BR-28 (here), BR-29 and
BR-23 through the engine (tests/test_metrics_engine.py).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsbt.engine.loop import BacktestResult
from rmsbt.metrics import (annual_volatility, cagr, calmar_ratio, downside_deviation, drawdown, episodes,
                           per_period_rate, periods_per_year_for, rolling_sharpe, sharpe_ratio, sortino_ratio,
                           summarize, underwater_runs)

D = 86_400_000
H = 3_600_000
DEC1_2022 = 1_669_852_800_000  # 2022-12-01 00:00 UTC


def result(equity, initial=100.0, tf="1d", positions=None, fills=None, timestamps=None, start=0):
    n = len(equity)
    tf_ms = {"1d": D, "1h": H}[tf]
    ts = np.arange(n, dtype=np.int64) * tf_ms + start if timestamps is None else np.asarray(timestamps, np.int64)
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in ("timestamp", "bar", "qty", "price", "fee",
                                                             "realized_pnl")}).assign(symbol=pd.Series(dtype=object))
    return BacktestResult(
        symbols=("A/X",), timeframe=tf, timestamps=ts, cash=np.array(equity, float), equity=np.array(equity, float),
        positions=np.zeros((n, 1)) if positions is None else np.asarray(positions, float),
        fills=empty if fills is None else fills, records=pd.DataFrame(), initial_cash=initial, fees_paid=0.0,
        dropped_orders=0)


# ---- the tiny series: returns [0.01, −0.02, 0.03, −0.01, 0.02], daily bars, E_0 = 100 ----------------
R = [0.01, -0.02, 0.03, -0.01, 0.02]
# curve: 100 → 101 → 98.98 → 101.9494 → 100.929906 → 102.94850412
CURVE = [101.0, 98.98, 101.9494, 100.929906, 102.94850412]
MEAN = 0.006  # 0.03 / 5
# deviations 0.004, −0.026, 0.024, −0.016, 0.014 → squares sum 0.00172; /(5−1) = 0.00043
SD = math.sqrt(0.00043)  # 0.0207364413533...


def test_tiny_series_sharpe_vol_sortino():
    r = np.array(R)
    assert SD == pytest.approx(0.0207364413533, abs=1e-12)
    # Sharpe per period 0.006 / 0.02073644 = 0.28934569; × √252 (15.8745079) = 4.593220, × √365 = 5.527942
    assert sharpe_ratio(r, 252) == pytest.approx(MEAN / SD * math.sqrt(252), rel=1e-12)
    assert sharpe_ratio(r, 252) == pytest.approx(4.593220, abs=1e-6)
    assert sharpe_ratio(r, 365) == pytest.approx(5.527942, abs=1e-6)
    # Sharpe·√(1/252) gives back the per-period ratio
    assert sharpe_ratio(r, 252) * math.sqrt(1 / 252) == pytest.approx(0.289345693, abs=1e-9)
    assert annual_volatility(r, 365) == pytest.approx(SD * math.sqrt(365), rel=1e-12)  # 0.396169
    # downside: min(r, 0) = 0, −0.02, 0, −0.01, 0 → (0.0004 + 0.0001) / 5 = 0.0001 → 0.01
    assert downside_deviation(r) == pytest.approx(0.01, abs=1e-15)
    assert sortino_ratio(r, 365) == pytest.approx(0.6 * math.sqrt(365), rel=1e-12)  # 11.462984


def test_tiny_series_summary():
    m = summarize(result(CURVE, initial=100.0))
    assert m["bars"] == 5 and m["start"] == 0 and m["end"] == 5 * D and m["duration_days"] == 5.0
    assert m["final_equity"] == 102.94850412 and m["peak_equity"] == 102.94850412
    assert m["pnl"] == pytest.approx(2.94850412, abs=1e-9)
    assert m["total_return"] == pytest.approx(1.01 * 0.98 * 1.03 * 0.99 * 1.02 - 1, abs=1e-12)
    assert m["sharpe"] == pytest.approx(5.527942, abs=1e-5)  # curve rounded to 8 decimals: returns ≈ R
    # max drawdown: peak 101 → 98.98: 2.02 / 101 = 0.02; later 101.9494 → 100.929906: 0.01
    assert m["max_drawdown"] == pytest.approx(0.02, abs=1e-12)
    assert m["max_drawdown_quote"] == pytest.approx(2.02, abs=1e-12)
    # CAGR over 5 days: 1.02948504^(365/5) − 1
    assert m["cagr"] == pytest.approx(1.02948504 ** 73 - 1, rel=1e-6)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.02, rel=1e-12)
    assert m["periods_per_year"] == 365.0 and m["ruined"] is False


def test_periods_per_year_from_bar_length_and_override():
    assert periods_per_year_for("1h") == 8760.0 and math.sqrt(8760) == pytest.approx(93.5949, abs=1e-4)
    assert periods_per_year_for("1d") == 365.0 and periods_per_year_for("1m") == 525_600.0
    assert periods_per_year_for("1d", 252) == 252.0
    m = summarize(result(CURVE), periods_per_year=252)
    assert m["sharpe"] == pytest.approx(4.593220, abs=1e-5) and m["periods_per_year"] == 252.0
    with pytest.raises(ValueError):
        periods_per_year_for("1d", 0)


def test_risk_free_rate_is_de_annualised_geometrically():
    rf_p = per_period_rate(0.05, 365)
    assert (1 + rf_p) ** 365 == pytest.approx(1.05, rel=1e-12)  # compounds back to 5 % a year
    assert rf_p == pytest.approx(0.000133681, abs=1e-9)
    r = np.array(R)
    # excess returns have the same std; mean 0.006 − rf_p
    assert sharpe_ratio(r, 365, risk_free=0.05) == pytest.approx((MEAN - rf_p) / SD * math.sqrt(365), rel=1e-10)
    # Sortino's target becomes rf_p: min(r − rf_p, 0) = 0, −0.020133681, 0, −0.010133681, 0
    dd = math.sqrt(((0.02 + rf_p) ** 2 + (0.01 + rf_p) ** 2) / 5)
    assert sortino_ratio(r, 365, risk_free=0.05) == pytest.approx((MEAN - rf_p) / dd * math.sqrt(365), rel=1e-10)


# ---- fault cases -------------------------------------------------------------------------------------
def test_br27_sharpe_365_vs_8760():
    r = np.array([0.01, -0.005, 0.02, 0.0, 0.015])
    # mean 0.008, std (ddof=1) 0.0103682207, per period 0.7715885
    assert float(np.std(r, ddof=1)) == pytest.approx(0.0103682207, abs=1e-10)
    assert sharpe_ratio(r, 365) == pytest.approx(14.741178, abs=1e-6)
    assert sharpe_ratio(r, 8760) == pytest.approx(72.216728, abs=1e-6)
    assert sharpe_ratio(r, 252) == pytest.approx(12.248588, abs=1e-6)  # the wrong answer for crypto, on request only
    m_daily = summarize(result(list(100 * np.cumprod(1 + r)), tf="1d"))
    m_hourly = summarize(result(list(100 * np.cumprod(1 + r)), tf="1h"))
    assert m_daily["sharpe"] == pytest.approx(14.741178, abs=1e-6)
    assert m_hourly["sharpe"] == pytest.approx(72.216728, abs=1e-6)


def test_br28_constant_returns_give_nan_not_1e15():
    r = np.full(250, 0.001)
    assert 0 < float(pd.Series(r).std()) < 1e-15 or float(pd.Series(r).std()) == 0  # the residue the bug divided by
    assert math.isnan(sharpe_ratio(r, 365))
    assert math.isnan(sortino_ratio(r, 365))  # no downside
    assert annual_volatility(r, 365) == 0.0
    # the same through summarize: equity growing exactly 0.1 % a bar (rounding makes returns ≈ 0.001)
    m = summarize(result(list(100 * 1.001 ** np.arange(1, 251))))
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"])
    assert any("zero dispersion" in s for s in m["notes"])


def test_br25_sortino_downside_over_all_periods():
    b = np.array([0.01, 0.02, 0.03, -0.005, -0.01])
    # mean 0.009; downside dev = √((0.005² + 0.01²)/5) = √(0.000125/5) = 0.005
    assert downside_deviation(b) == pytest.approx(0.005, abs=1e-15)
    assert sortino_ratio(b, 1) == pytest.approx(1.8, abs=1e-12)
    assert sortino_ratio(b, 365) == pytest.approx(34.38895, abs=1e-5)
    a = np.array([-0.005, -0.005, -0.01, -0.01, -0.01])
    # mean −0.008; √((2·0.000025 + 3·0.0001)/5) = √0.00007 = 0.0083666
    assert downside_deviation(a) == pytest.approx(math.sqrt(0.00007), abs=1e-15)
    assert sortino_ratio(a, 1) == pytest.approx(-0.956183, abs=1e-6)
    assert sortino_ratio(b, 1) != pytest.approx(2.545584, abs=1e-3)  # std of negatives only: the bug


def test_br22_drawdown_episodes_open_at_the_end():
    # 1d closes 2022-12-01..07: 100, 101, 99, 98, 97, 101, 99 as equity; initial 100
    closes = [100, 101, 99, 98, 97, 101, 99]
    curve = np.array([100.0] + closes)
    dd, _ = drawdown(curve)
    assert dd[1:].tolist() == pytest.approx([0, 0, 2 / 101, 3 / 101, 4 / 101, 0, 2 / 101], abs=1e-15)
    assert [round(x, 6) for x in dd[1:]] == [0, 0, 0.019802, 0.029703, 0.039604, 0, 0.019802]
    assert underwater_runs(curve) == [(3, 5), (7, 7)]
    ts = DEC1_2022 + np.arange(7) * D
    e1, e2 = episodes(curve, ts, D)
    day = lambda k: DEC1_2022 + (k - 1) * D  # noqa: E731  (2022-12-k)
    assert (e1.start, e1.trough, e1.recovery, e1.bars, e1.duration_ms) == (day(3), day(5), day(6), 3, 3 * D)
    assert e1.depth == pytest.approx(4 / 101, abs=1e-15)
    assert (e2.start, e2.trough, e2.recovery, e2.bars, e2.duration_ms) == (day(7), day(7), None, 1, D)
    m = summarize(result(closes, initial=100.0, start=DEC1_2022))
    assert m["max_drawdown"] == pytest.approx(0.039604, abs=1e-6)
    assert m["max_drawdown_duration_bars"] == 3 and m["max_drawdown_duration_days"] == 3.0
    assert m["current_drawdown"] == pytest.approx(0.019802, abs=1e-6)
    assert m["drawdown_episodes"] == 2
    assert m["avg_drawdown_duration_bars"] == 2.0 and m["avg_drawdown_duration_days"] == 2.0  # (3 + 1) / 2
    assert m["time_under_water_bars"] == pytest.approx(4 / 7) and m["time_under_water"] == pytest.approx(4 / 7)
    assert (m["max_drawdown_start"], m["max_drawdown_trough"], m["max_drawdown_recovery"]) == (day(3), day(5), day(6))


def test_br23_first_bar_loss_counts_initial_capital_is_first_peak():
    # curve 1000, 800, 600, 900, 1200, 1100; peak 1000 until bar 3
    m = summarize(result([800, 600, 900, 1200, 1100], initial=1000.0))
    dd, _ = drawdown(np.array([1000.0, 800, 600, 900, 1200, 1100]))
    assert dd.tolist() == pytest.approx([0, 0.20, 0.40, 0.10, 0, 100 / 1200], abs=1e-15)
    assert m["max_drawdown"] == pytest.approx(0.40, abs=1e-15)  # not 0.25 (peak 800)
    assert m["max_drawdown_duration_bars"] == 3  # bars 0–2, recovered at bar 3
    assert m["max_drawdown_quote"] == 400.0


def test_first_bar_drawdown_vectorbt_difference():
    # returns −0.10, −1/6, +0.05 from 1: 0.9, 0.75, 0.7875 → max DD 0.25 counting the start, 1/6 without
    m = summarize(result([90.0, 75.0, 78.75], initial=100.0))
    assert m["max_drawdown"] == pytest.approx(0.25, abs=1e-15)
    no_start, _ = drawdown(np.array([90.0, 75.0, 78.75]))
    assert no_start.max() == pytest.approx(1 / 6, abs=1e-15)  # what a curve without E_0 reports


# ---- edge cases ----------------------------------------------------------------------------------------
def test_single_bar():
    m = summarize(result([101.0], initial=100.0))
    assert m["bars"] == 1 and m["total_return"] == pytest.approx(0.01)
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"]) and math.isnan(m["annual_volatility"])
    assert m["cagr"] == pytest.approx(1.01 ** 365 - 1, rel=1e-12)  # one day, annualised
    assert m["max_drawdown"] == 0.0 and math.isnan(m["calmar"])
    assert any("fewer than two bars" in s for s in m["notes"])


def test_constant_equity():
    m = summarize(result([100.0] * 6, initial=100.0))
    assert m["total_return"] == 0.0 and m["max_drawdown"] == 0.0 and m["cagr"] == 0.0
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"]) and math.isnan(m["calmar"])
    assert m["annual_volatility"] == 0.0 and m["drawdown_episodes"] == 0


def test_ruin_truncates_and_says_so():
    # 100 → 50 → −10 (ruin at bar 1) → 20 is ignored
    m = summarize(result([50.0, -10.0, 20.0], initial=100.0))
    assert m["ruined"] is True and m["bars"] == 2 and m["final_equity"] == -10.0
    assert m["total_return"] == pytest.approx(-1.1) and m["cagr"] == -1.0
    assert m["max_drawdown"] == pytest.approx(1.1)  # (100 − (−10)) / 100
    assert any(s.startswith("ruin") for s in m["notes"])
    assert all(math.isfinite(m[k]) for k in ("sharpe", "sortino", "annual_volatility"))  # returns 0.5−1, −1.2


def test_gaps_time_based_vs_bar_based():
    # 1h bars at hours 0, 1, 2, 5 (hours 3, 4 missing); equity 100, 100, 99, 98; initial 100
    ts = np.array([0, 1, 2, 5]) * H
    pos = [[0.0], [1.0], [1.0], [0.0]]
    m = summarize(result([100.0, 100.0, 99.0, 98.0], tf="1h", timestamps=ts, positions=pos))
    assert m["bars"] == 4 and m["missing_bars"] == 2 and m["duration_days"] == 6 / 24
    # underwater at bars 2 and 3: 2 bars; time from bar 2's open (2h) to bar 3's close (6h) = 4 h
    assert m["max_drawdown_duration_bars"] == 2 and m["max_drawdown_duration_days"] == pytest.approx(4 / 24)
    assert m["time_under_water_bars"] == 0.5 and m["time_under_water"] == pytest.approx(4 / 6)
    # exposure: bars 1, 2 hold a position → 2/4 of bars; time: bar 1 holds 1 h, bar 2 holds 3 h (gap) → 4/6
    assert m["exposure"] == 0.5 and m["exposure_time"] == pytest.approx(4 / 6)
    # CAGR over 6 wall-clock hours: 0.98^(8760/6) − 1
    assert m["cagr"] == pytest.approx(0.98 ** (8760 / 6) - 1, rel=1e-9)
    assert any("missing from the clock" in s for s in m["notes"])


def test_cagr_and_calmar_formulas():
    assert cagr(100.0, 121.0, 2 * 365 * D) == pytest.approx(0.1, abs=1e-12)  # 1.21^(1/2) − 1
    assert cagr(100.0, 0.0, 365 * D) == -1.0 and math.isnan(cagr(100.0, 110.0, 0))
    assert calmar_ratio(0.1, 0.25) == pytest.approx(0.4) and math.isnan(calmar_ratio(0.1, 0.0))


def test_rolling_sharpe_matches_full_sharpe_on_each_window():
    r = np.array(R + [0.0, 0.0, 0.0])
    rs = rolling_sharpe(r, 5, 365)
    assert np.isnan(rs[:4]).all()
    assert rs[4] == pytest.approx(sharpe_ratio(r[:5], 365), rel=1e-10)
    assert rs[7] == pytest.approx(sharpe_ratio(r[3:8], 365), rel=1e-10)
    assert np.isnan(rolling_sharpe(np.full(6, 0.001), 3, 365)[2:]).all()  # zero dispersion → NaN


def test_turnover_fees_exposure_by_hand():
    # buy 2 @ 100 (fee 0.2) at bar 1, sell 2 @ 110 (fee 0.22) at bar 2; equity 100, 99.8, 119.58
    f = pd.DataFrame({"timestamp": [D, 2 * D], "bar": [1, 2], "symbol": ["A/X", "A/X"], "side": ["buy", "sell"],
                      "qty": [2.0, -2.0], "price": [100.0, 110.0], "fee": [0.2, 0.22], "realized_pnl": [0.0, 20.0],
                      "decided_bar": [0, 1]})
    trades = pd.DataFrame({"symbol": ["A/X"], "side": ["long"], "status": ["closed"], "entry_time": [D],
                           "exit_time": [2 * D], "qty": [2.0], "entry_price": [100.0], "exit_price": [110.0],
                           "gross_pnl": [20.0], "fees": [0.42], "funding": [0.0], "net_pnl": [20.0 - 0.42]})
    m = summarize(result([100.0, 99.8, 119.58], fills=f, positions=[[0.0], [2.0], [0.0]]), trades=trades)
    assert m["turnover_quote"] == pytest.approx(420.0)  # |2·100| + |−2·110|
    assert m["turnover"] == pytest.approx(420.0 / ((100.0 + 99.8 + 119.58) / 3))  # ÷ mean of E_1..E_3
    assert m["fees_paid"] == pytest.approx(0.42) and m["funding_paid"] == 0.0
    assert m["exposure"] == pytest.approx(1 / 3) and m["exposure_time"] == pytest.approx(1 / 3)
    assert m["trades"] == 1 and m["avg_trade"] == pytest.approx(20.0 - 0.42)  # one round trip, net of fees


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=60), st.floats(0.01, 1e6))
def test_drawdown_brute_force_and_scale_invariance(rets, scale):
    """Max drawdown = max over i ≤ j of (E_i − E_j)/E_i (brute force over the curve with E_0), in [0, 1)
    for positive equity; ratios do not change when every amount is multiplied by a constant."""
    eq = 100.0 * np.cumprod(1.0 + np.array(rets))
    curve = np.concatenate([[100.0], eq])
    brute = max((curve[i] - curve[j]) / curve[i] for i in range(len(curve)) for j in range(i, len(curve)))
    m = summarize(result(list(eq), initial=100.0))
    assert m["max_drawdown"] == pytest.approx(brute, abs=1e-12) and 0.0 <= m["max_drawdown"] < 1.0
    s = summarize(result(list(eq * scale), initial=100.0 * scale))
    for k in ("total_return", "max_drawdown", "cagr"):
        assert s[k] == pytest.approx(m[k], rel=1e-9, abs=1e-12), k
    if len(rets) > 1 and np.std(rets) > 1e-4:  # away from the zero-dispersion edge, where rounding decides
        for k in ("sharpe", "sortino", "annual_volatility"):
            assert s[k] == pytest.approx(m[k], rel=1e-6, nan_ok=True), k
