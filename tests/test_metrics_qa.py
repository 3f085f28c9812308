"""Regression tests for the QA findings on metrics and the report (/work/qa/metrics_qa.md, defects 1–10).

Expected values are hand arithmetic shown in each test, or properties.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ---- 2. ruin truncates fills, fees, turnover, per-symbol numbers and trades ----------------------------
def _ruin_run():
    """Hand-made run, 1d bars, one symbol, initial cash 100, margin-style accounting:

    bar 0: buy 2 @ 50 (fee 0.10)  cash 100 − 100 − 0.10 = −0.10    pos 2   close 50  equity 99.90
    bar 1: buy 2 @ 20 (fee 0.04)  cash −0.10 − 40 − 0.04 = −40.14  pos 4   close 20  equity 39.86
    bar 2: —                      cash −40.14                     pos 4   close 10  equity −0.14  ← ruin
    bar 3: sell 4 @ 30 (fee 0.12) cash −40.14 + 120 − 0.12 = 79.74 pos 0 close 30  equity 79.74
    bar 4: buy 1 @ 30 (fee 0.03), funding 0.70 paid at the close: cash 79.74 − 30.03 − 0.70 = 49.01
                                                                  pos 1   close 30  equity 79.01
    """
    from rmsbt.data.align import align
    from rmsbt.engine.loop import FILL_COLUMNS, FUNDING_COLUMNS, BacktestResult
    from rmsbt.engine.trades import trades_until

    px = [50.0, 20.0, 10.0, 30.0, 30.0]
    md = align({SYM: bars([(p, p, p, p) for p in px], tf="1d")}, "1d")
    ts = md.timestamps
    rows = [(0, 2.0, 50.0, 0.10, 0.0), (1, 2.0, 20.0, 0.04, 0.0), (3, -4.0, 30.0, 0.12, 4 * (30.0 - 35.0)),
            (4, 1.0, 30.0, 0.03, 0.0)]
    fills = pd.DataFrame([(int(ts[b]), b, SYM, "buy" if q > 0 else "sell", q, p, f, pnl, b - 1, k, "market", "taker",
                           0.0, p) for k, (b, q, p, f, pnl) in enumerate(rows)], columns=FILL_COLUMNS)
    funding = pd.DataFrame([(int(ts[4]), 4, SYM, 1.0, 30.0, 0.7 / 30.0, 0.70)], columns=FUNDING_COLUMNS)
    full_log = trades_until(fills, funding, (SYM,), ts, 4, np.array([30.0]))  # what the engine's log holds
    res = BacktestResult(
        symbols=(SYM,), timeframe="1d", timestamps=ts, cash=np.array([-0.10, -40.14, -40.14, 79.74, 49.01]),
        equity=np.array([99.90, 39.86, -0.14, 79.74, 79.01]), positions=np.array([[2.0], [4.0], [4.0], [0.0], [1.0]]),
        fills=fills, records=pd.DataFrame(), initial_cash=100.0, fees_paid=0.29, dropped_orders=0, trades=full_log,
        funding=funding, funding_paid=0.70)
    return res, md


def test_full_log_of_the_ruin_run_by_hand():
    res, _ = _ruin_run()
    t = res.trades
    # trade 1: entry (2·50 + 2·20)/4 = 35, exit 30 at bar 3: gross 4·(30 − 35) = −20, fees 0.26
    # trade 2: 1 @ 30, open at the end, marked at 30: gross 0, fee 0.03, funding 0.70
    assert list(t["status"]) == ["closed", "open"]
    assert t["entry_price"].iloc[0] == pytest.approx(35.0) and t["gross_pnl"].iloc[0] == pytest.approx(-20.0)
    assert t["net_pnl"].iloc[0] == pytest.approx(-20.0 - 0.26)
    assert t["net_pnl"].iloc[1] == pytest.approx(-0.03 - 0.70)
    assert t["net_pnl"].sum() == pytest.approx(79.01 - 100.0)  # Σ net_pnl = final equity − initial cash


@pytest.mark.parametrize("with_market", [True, False])
def test_ruin_truncates_fills_fees_turnover_trades(with_market):
    res, md = _ruin_run()
    m = summarize(res, market=md if with_market else None)
    assert m["ruined"] is True and m["bars"] == 3 and m["final_equity"] == pytest.approx(-0.14)
    assert m["ruin_time"] == int(res.timestamps[2])
    # only the fills of bars 0 and 1 count: 2 fills, fees 0.10 + 0.04, turnover 2·50 + 2·20 = 140
    assert m["fills"] == 2 and m["fees_paid"] == pytest.approx(0.14)
    assert m["turnover_quote"] == pytest.approx(140.0)
    assert m["turnover"] == pytest.approx(140.0 / ((99.90 + 39.86 - 0.14) / 3))  # ÷ mean of E_1..E_3
    assert m["funding_paid"] == 0.0  # the funding at bar 4 came after the ruin
    # the trade closed at bar 3 was still held at the ruin bar: open, marked at bar 2's close 10:
    # unrealized 4·(10 − 35) = −100, fees 0.14 → net −100.14 = E_3 − E_0 = −0.14 − 100
    assert m["trades"] == 0 and m["open_trades"] == 1
    assert math.isnan(m["win_rate"])
    if with_market:
        p = m["per_symbol"][SYM]
        assert p["fills"] == 2 and p["fees_paid"] == pytest.approx(0.14) and p["turnover_quote"] == pytest.approx(140.0)
        assert p["pnl"] == pytest.approx(-100.14) and p["trades"] == 0 and p["funding_paid"] == 0.0
    assert any("2024-01-03 00:00 UTC" in s for s in m["notes"])  # the ruin bar's open, as a UTC date-time


def test_trades_until_open_trade_marked_at_ruin_bar():
    from rmsbt.engine.trades import trades_until

    res, md = _ruin_run()
    t = trades_until(res.fills, res.funding, (SYM,), res.timestamps, 2, np.array([10.0]), md.low, md.high, md.present)
    assert len(t) == 1 and t["status"].iloc[0] == "open" and t["exit_bar"].iloc[0] == 2
    assert t["gross_pnl"].iloc[0] == pytest.approx(4 * (10.0 - 35.0))
    assert t["net_pnl"].iloc[0] == pytest.approx(-100.14)
    # excursions over bars 0..2 (high = low = close): worst at bar 2: 4·(10 − 35) = −100; best 0 (bar 0: 2·(50−50))
    assert t["mae"].iloc[0] == pytest.approx(-100.0) and t["mfe"].iloc[0] == pytest.approx(0.0)


# ---- 3. rolling Sharpe: same zero-dispersion rule as sharpe_ratio ------------------------------------
def test_rolling_sharpe_nan_on_all_zero_windows_after_activity():
    from rmsbt.metrics import rolling_sharpe, sharpe_ratio

    # bursts of returns then long flat stretches: pandas' rolling std of an all-zero window can keep
    # ~1e-10 of residue from earlier values; such a window has no dispersion → NaN, never 0.0
    rng = np.random.default_rng(1)
    parts = []
    for _ in range(20):  # (with seed 1, main's rolling_sharpe gave 0.0 on 249 flat windows)
        parts += [rng.normal(0, 0.01, 300) * (rng.random(300) < 0.3), np.zeros(800)]
    r = np.concatenate(parts)
    w = 720
    rs = rolling_sharpe(r, w, 8760)
    for k in range(w - 1, r.size, 97):  # property: agrees with sharpe_ratio on each window
        ref = sharpe_ratio(r[k - w + 1:k + 1], 8760)
        if math.isnan(ref):
            assert math.isnan(rs[k]), k
        else:
            assert rs[k] == pytest.approx(ref, rel=1e-6), k
    flat = pd.Series(np.abs(r)).rolling(w).max().to_numpy() == 0
    assert flat.sum() > 100 and np.isnan(rs[flat]).all() and not (rs == 0.0).any()


def test_rolling_sharpe_with_risk_free_matches_sharpe_ratio():
    from rmsbt.metrics import rolling_sharpe, sharpe_ratio

    r = np.array([0.01, -0.02, 0.03, -0.01, 0.02, 0.0, 0.01])
    rs = rolling_sharpe(r, 5, 365, risk_free=0.04)
    assert rs[6] == pytest.approx(sharpe_ratio(r[2:7], 365, 0.04), rel=1e-10)


# ---- 9. drawdown durations describe one episode -----------------------------------------------------
def test_max_drawdown_duration_days_and_bars_same_episode():
    from tests.test_metrics import result

    # 1h bars at hours 0,1,2, 12,13, 14..20. Equity: 100, 99 (A starts), 99, 101 (recovered at hour 12? no:)
    # episode A: bars at hours 1, 2 underwater (2 bars), the next bar opens at hour 12 → A lasts from 1h to 3h
    #   (close of its last bar): 2 h. Make A span the gap instead: underwater at hours 2 and 12 → from 2h to 13h = 11 h
    # episode B: hours 14..18 underwater (5 bars) → 5 h. B has more bars, A more time.
    ts = np.array([0, 1, 2, 12, 13, 14, 15, 16, 17, 18, 19]) * H
    eq = [100.0, 101.0, 100.0, 100.5, 102.0, 101.0, 101.0, 101.0, 101.0, 101.0, 103.0]
    r = result(eq, initial=100.0, tf="1h", timestamps=ts)
    m = summarize(r)
    # A: underwater at hours 2 (100 < 101) and 12 (100.5 < 101): 2 bars, 2h open → 13h close = 11 h
    # B: hours 14..18 (101 < 102): 5 bars, 14h → 19h = 5 h. Longest by time: A → (11 h, 2 bars)
    assert m["drawdown_episodes"] == 2
    assert m["max_drawdown_duration_days"] == pytest.approx(11 / 24) and m["max_drawdown_duration_bars"] == 2


# ---- 10. one definition of a trade's duration in bars -------------------------------------------------
def test_trade_duration_bars_is_the_logs_bar_difference_across_gaps():
    from rmsbt.metrics import trade_stats

    # one trade from bar 1 (opens 1h) to bar 3 (opens 10h): 2 bars in the log; 9 h of wall-clock time
    t = pd.DataFrame({"symbol": ["A"], "status": ["closed"], "entry_time": [1 * H], "exit_time": [10 * H],
                      "entry_bar": [1], "exit_bar": [3], "duration_bars": [2], "net_pnl": [1.0], "qty": [1.0],
                      "entry_price": [10.0]})
    s = trade_stats(t, H)
    assert s["avg_trade_duration_bars"] == 2 and s["max_trade_duration_bars"] == 2
    assert s["max_trade_duration_days"] == pytest.approx(9 / 24)


# ---- 1. the real repro: 1m BTC/USDT, 10 bars, 95 % bought at bar 0 --------------------------------------
def test_short_profitable_real_run_writes_outputs(shared_data, tmp_path, capsys):
    import json

    from rmsbt.cli import main

    (tmp_path / "buy_once.py").write_text(
        "from rmsbt.strategy import Strategy\n\n"
        "class BuyOnce(Strategy):\n"
        "    def on_bar(self, ctx):\n"
        "        if ctx.bar == 0:\n"
        "            ctx.order_target_percent('BTC/USDT', 0.95)\n")
    cfg = tmp_path / "c.toml"
    # 2019-10-25 15:38–15:48 UTC: BTC rose ~4 % from bar 1's open to bar 9's close; 4 % in 10 minutes
    # annualises to e^(ln 1.04 · 52560) ≈ e^2061, beyond the largest float → CAGR NaN (null), run completes
    cfg.write_text('name = "buy_once"\n[data]\nexchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframe = "1m"\n'
                   'start = "2019-10-25T15:38"\nend = "2019-10-25T15:48"\n[broker]\nmode = "spot"\n'
                   f'[strategy]\nclass = "{tmp_path / "buy_once.py"}:BuyOnce"\n')
    out = tmp_path / "out"
    assert main(["backtest", str(cfg), "--data-dir", str(shared_data), "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["bars"] == 10 and m["total_return"] > 0.02 and m["cagr"] is None
    assert any("CAGR undefined" in s for s in m["notes"])
    assert (out / "report.html").is_file() and "n/a" in capsys.readouterr().out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=8))
def test_dust_rule_property_decimal_lots_close_to_exactly_zero(lots):
    """Buying decimal lots (k/1000 units each) and selling their decimal total (what a user types, e.g.
    0.3 after 0.1 + 0.2) leaves exactly 0 and one closed trade, whatever residue float sums leave."""
    from rmsbt.engine.portfolio_nb import apply_fill
    from rmsbt.engine.trades import TradeBook

    qs = [k / 1000 for k in lots]
    total = sum(lots) / 1000  # the decimal total, correctly rounded once
    cash, qty, avg, realized = np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1)
    tb = TradeBook(("A/B",), np.arange(len(qs) + 1, dtype=np.int64))
    for t, dq in enumerate(qs + [-total]):
        q0 = qty[0]
        pnl = apply_fill(cash, qty, avg, realized, 0, dq, 100.0, 0.0)
        tb.on_fill(0, t, dq, 100.0, 0.0, 0.0, q0, 0.0, pnl)
    assert qty[0] == 0.0 and tb.n_open == 0
    log = tb.finish(len(qs), qty, avg, np.array([100.0]))
    assert list(log["status"]) == ["closed"] and log["gross_pnl"].iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_trades_until_replays_the_engines_log_exactly():
    """Property: replaying a real engine run's fills to its last bar gives the engine's own trade log,
    and replaying to any earlier bar k keeps exactly the trades closed by k (plus at most one open per symbol)."""
    from report_helpers import pairs_run

    from rmsbt.engine.trades import trades_until
    from rmsbt.metrics import forward_filled

    run = pairs_run(700)
    res, md = run.result, run.market
    assert len(res.trades) > 4
    marks = forward_filled(md.close)
    n = md.n_bars
    full = trades_until(res.fills, res.funding, res.symbols, res.timestamps, n - 1, marks[:, n - 1], md.low, md.high,
                        md.present)
    pd.testing.assert_frame_equal(full, res.trades)
    for k in (250, 400, 555):
        part = trades_until(res.fills, res.funding, res.symbols, res.timestamps, k, marks[:, k], md.low, md.high,
                            md.present)
        closed = res.trades.loc[(res.trades["status"] == "closed") & (res.trades["exit_bar"] <= k)]
        pd.testing.assert_frame_equal(part.loc[part["status"] == "closed"].reset_index(drop=True),
                                      closed.reset_index(drop=True))
        assert (part["status"] == "open").sum() <= len(res.symbols)


def test_cagr_of_a_dust_final_equity_does_not_raise():
    from rmsbt.metrics.returns import cagr, cagr_overflows
    # ln(1e-320) − ln(1e4) over one hour annualises to e^(−745.1·8760): the factor underflows to 0 → −1
    assert cagr(10_000.0, 1e-320, 3_600_000) == -1.0
    assert cagr_overflows(10_000.0, 1e-320, 3_600_000) is False


def test_dust_equity_counts_as_ruin():
    """Equity decaying to 4.5e-17 of 100 is ruin (≤ 1e-9 × initial), whatever the sign of the residue."""
    import numpy as np
    import pandas as pd
    from rmsbt.engine.loop import BacktestResult
    from rmsbt.metrics import summarize
    eq = np.array([100.0, 50.0, 4.5e-17, 3e-17])
    n = len(eq)
    res = BacktestResult(symbols=("A/X",), timeframe="1h", timestamps=np.arange(n, dtype=np.int64) * 3_600_000,
                         cash=eq, equity=eq, positions=np.zeros((n, 1)),
                         fills=pd.DataFrame(columns=["timestamp", "symbol", "qty", "price", "fee"]),
                         records=pd.DataFrame(), initial_cash=100.0, fees_paid=0.0, dropped_orders=0)
    m = summarize(res)
    assert m["ruined"] is True and m["bars"] == 3  # cut at the bar whose close is 4.5e-17
