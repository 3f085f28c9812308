"""The main job on real Binance BTC/ETH hourly candles (../shared/data; skipped when absent)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmsbt.config import load_config
from rmsbt.outputs import write_outputs
from rmsbt.runner import load_market, run_config

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "configs" / "pairs_btc_eth.toml"


@pytest.fixture(scope="module")
def real_run(shared_data, tmp_path_factory):
    cfg = load_config(MAIN)
    run = run_config(cfg, data_dir=shared_data)
    out = write_outputs(run, tmp_path_factory.mktemp("run"))
    return cfg, run, out, load_market(cfg, shared_data)


def test_accounting_invariant_on_every_bar(real_run):
    cfg, run, _, market = real_run
    res = run.result
    # mark = last known close per symbol (forward-filled only for marking; see engine docs)
    marks = pd.DataFrame(market.close.T).ffill().to_numpy()
    np.testing.assert_allclose(res.equity, res.cash + (res.positions * np.nan_to_num(marks)).sum(axis=1),
                               rtol=1e-12, atol=1e-7)


def test_summary_is_finite_and_consistent_with_files(real_run):
    cfg, run, out, market = real_run
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    eq = pd.read_csv(out / "equity.csv")
    fills = pd.read_csv(out / "trades.csv")
    params = pd.read_csv(out / "params.csv")
    for k in ("final_equity", "pnl", "total_return", "max_drawdown", "max_drawdown_quote", "sharpe", "fees_paid",
              "exposure"):
        assert m[k] is not None and math.isfinite(m[k]), k
    assert m["bars"] == len(eq) == market.n_bars
    assert m["final_equity"] == eq["equity"].iloc[-1]  # bit-exact round trip through CSV
    assert m["pnl"] == pytest.approx(eq["equity"].iloc[-1] - 10_000.0, abs=1e-9)
    assert m["fees_paid"] == pytest.approx(fills["fee"].sum(), rel=1e-12)
    assert m["fills"] == len(fills) and m["trades"] > 0
    # the cash column reconciles with the fills and funding: cash_T = cash_0 − Σ(qty·price) − Σ fee − funding
    assert m["funding_paid"] == pytest.approx(run.result.funding_paid, abs=1e-9)
    assert eq["cash"].iloc[-1] == pytest.approx(
        10_000.0 - (fills["qty"] * fills["price"]).sum() - fills["fee"].sum() - m["funding_paid"], abs=1e-6)
    # the trade log adds up to the PnL (closed and open trades, net of fees and funding)
    rt = pd.read_csv(out / "round_trips.csv")
    assert rt["net_pnl"].sum() == pytest.approx(m["pnl"], abs=1e-6)
    # max drawdown recomputed from equity.csv with the initial cash as the first peak
    curve = np.concatenate([[10_000.0], eq["equity"].to_numpy()])
    peak = np.maximum.accumulate(curve)
    assert m["max_drawdown"] == pytest.approx(((peak - curve) / peak).max(), rel=1e-12)
    assert list(params.columns[:5]) == ["timestamp", "beta", "c", "lr_eff_beta", "lr_eff_c"]
    assert np.isfinite(params[["beta", "c", "lr_eff_beta", "lr_eff_c"]].to_numpy()).all()
    # fills only on bars after their decision, at prices inside the fill bar
    assert (fills["bar"] > fills["decided_bar"]).all()
    for f in fills.itertuples():
        j = market.symbols.index(f.symbol)
        assert market.low[j, f.bar] <= f.price <= market.high[j, f.bar]


def test_cli_runs_are_bit_identical(shared_data, tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        r = subprocess.run([sys.executable, "-m", "rmsbt", "backtest", str(MAIN), "--data-dir", str(shared_data),
                            "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "final equity" in r.stdout and "max drawdown" in r.stdout
        outs.append(out)
    for name in ("summary.json", "equity.csv", "trades.csv", "params.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_timing_separates_kernel_compilation_from_simulation(real_run, shared_data):
    """BR-48: the time spent compiling (or loading cached) Numba kernels is reported apart from the
    simulation; a second run in the same process compiles nothing and gives identical numbers."""
    cfg, run, _, _ = real_run
    assert set(run.timing) == {"data", "kernels", "simulation", "metrics"}
    assert all(v >= 0.0 for v in run.timing.values())
    again = run_config(cfg, data_dir=shared_data)
    assert again.timing["kernels"] == 0.0  # every kernel already compiled in this process
    np.testing.assert_array_equal(again.result.equity, run.result.equity)
    assert json.dumps(again.summary, sort_keys=True, default=str) == json.dumps(run.summary, sort_keys=True, default=str)
