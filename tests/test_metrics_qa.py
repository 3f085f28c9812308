"""Regression tests for the QA findings on metrics and the report (/work/qa/metrics_qa.md, defects 1–10).

Expected values are hand arithmetic shown in each test, or properties.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rmsbt.metrics import cagr, summarize
from tests.broker_helpers import SYM, assert_identity, bars, buy, run, sell

D = 86_400_000
H = 3_600_000
M = 60_000


# ---- 1. CAGR never overflows --------------------------------------------------------------------------
def test_cagr_overflow_is_nan_not_exception():
    # +10 % in one minute: years = 60 000 / 31 536 000 000 = 1/525 600; 1.1^525600 = e^(525600·0.0953) ≈ e^50095
    # — far beyond the largest float (e^709.78): undefined (NaN), never OverflowError or inf
    assert math.isnan(cagr(100.0, 110.0, M))
    # just below the limit: ln(ratio)/years = 700 → e^700 − 1 (a float), computed without overflow
    years = 1.0 / 365.0  # one day
    final = 100.0 * math.exp(700.0 * years)
    assert cagr(100.0, final, D) == pytest.approx(math.exp(700.0) - 1.0, rel=1e-9)
    # ordinary values unchanged: 1.21 over two years → 10 %; a big loss over a short time → > −1
    assert cagr(100.0, 121.0, 2 * 365 * D) == pytest.approx(0.1, abs=1e-12)
    assert -1.0 <= cagr(100.0, 1.0, M) <= -0.999999


def test_summary_of_a_short_profitable_run_has_nan_cagr_and_a_note():
    # 1m bars, equity 100 → 105 → 110 in two minutes: CAGR = 1.1^(525600/2) − 1 overflows → NaN + note
    from tests.test_metrics import result

    r = result([105.0, 110.0], initial=100.0)
    r.timeframe = "1m"
    r.timestamps = np.array([0, M], dtype=np.int64)
    m = summarize(r)
    assert m["total_return"] == pytest.approx(0.1)
    assert math.isnan(m["cagr"]) and math.isnan(m["calmar"])
    assert any("CAGR" in s and "float" in s for s in m["notes"])


# ---- 7. float dust closes the position ---------------------------------------------------------------
def test_dust_rule_buy_01_02_sell_03_closes_the_trade():
    # 0.1 + 0.2 = 0.30000000000000004 in floats; − 0.3 leaves 5.55e-17 without the dust rule.
    # |5.55e-17| <= 1e-9 · max(0.30000000000000004, 0.3) → the position is exactly 0 and the trade closed.
    assert 0.1 + 0.2 - 0.3 != 0.0  # the residue the rule is about
    df = bars([(100, 100, 100, 100)] * 3 + [(110, 110, 110, 110)] * 3)
    res = run(df, {0: buy(0.1), 1: buy(0.2), 3: sell(0.3)})
    assert list(res.fills["qty"]) == [0.1, 0.2, -0.3]
    assert res.positions[-1, 0] == 0.0 and res.positions[4, 0] == 0.0  # exactly, not 5.55e-17
    t = res.trades
    assert len(t) == 1 and t["status"].iloc[0] == "closed"
    # bought 0.1 @ 100 (bar 1) and 0.2 @ 100 (bar 2), sold 0.3 @ 110 (bar 4): gross 0.3 · 10 = 3
    assert t["gross_pnl"].iloc[0] == pytest.approx(3.0, abs=1e-12)
    m = summarize(res)
    assert m["trades"] == 1 and m["open_trades"] == 0
    assert m["exposure"] == pytest.approx(3 / 6)  # bars 1, 2, 3 end holding; 4, 5 flat
    assert_identity(res, atol=1e-9)


def test_dust_rule_keeps_real_remainders():
    from rmsbt.engine.portfolio_nb import settled_position

    assert settled_position(0.1 + 0.2, -0.3) == 0.0
    assert settled_position(1.0, -0.99999) == pytest.approx(1e-5)  # a lot-sized remainder stays
    assert settled_position(1.0, -1.0 + 2e-9) == pytest.approx(2e-9)  # 2e-9 > 1e-9 · 1: kept
    assert settled_position(0.0, 0.5) == 0.5 and settled_position(0.5, -0.5) == 0.0
