"""The pairs strategy on real Binance candles (../shared/data) in margin mode with maker/taker fees and
funding: its trade log reconciles with its equity curve to the cent, and no fill sees the future."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmsbt.config import load_config
from rmsbt.data.align import align
from rmsbt.data.store import load_symbol
from rmsbt.engine import run_backtest
from rmsbt.runner import build_strategy, run_config

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "pairs_btc_eth.toml"
CENT = 0.005


@pytest.fixture(scope="module")
def pairs_run(shared_data):
    cfg = load_config(CONFIG)
    assert cfg.broker.mode == "margin" and cfg.broker.funding != "none"
    assert cfg.broker.maker_fee_bps != cfg.broker.taker_fee_bps
    return run_config(cfg, shared_data).result


def test_pairs_trade_log_reconciles_with_equity_to_the_cent(pairs_run):
    r = pairs_run
    tr = r.trades
    assert len(tr) > 100 and len(r.funding) > 100  # it traded and paid/received funding
    assert abs(tr["net_pnl"].sum() - (r.equity[-1] - r.initial_cash)) < CENT
    assert abs(tr["fees"].sum() - r.fills["fee"].sum()) < CENT
    assert abs(tr["funding"].sum() - r.funding["paid"].sum()) < CENT
    # at every bar where the book is flat, equity − initial = Σ net PnL of the trades closed so far
    flat = np.flatnonzero(np.all(r.positions == 0.0, axis=1))
    closed = tr[tr["status"] == "closed"].sort_values("exit_bar")
    cum = np.cumsum(closed["net_pnl"].to_numpy())
    k = np.searchsorted(closed["exit_bar"].to_numpy(), flat, side="right")
    booked = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
    np.testing.assert_allclose(r.equity[flat] - r.initial_cash, booked, rtol=0, atol=CENT)
    # and at every bar: realized + unrealized − fees − funding = equity − initial
    np.testing.assert_allclose(r.realized_pnl + r.unrealized_pnl - r.fees_cum - r.funding_cum,
                               r.equity - r.initial_cash, rtol=0, atol=CENT)


def test_pairs_no_look_ahead(shared_data):
    cfg = load_config(CONFIG)
    frames = {s: load_symbol(shared_data, "binance", s, "1h") for s in cfg.data.symbols}
    start = 1577836800000  # 2020-01-01
    md = align(frames, "1h", start, start + 3000 * 3_600_000)
    t = 2000
    pert = {}
    rng = np.random.default_rng(5)
    for s, df in frames.items():
        d = df[(df["timestamp"] >= start) & (df["timestamp"] < start + 3000 * 3_600_000)].copy()
        after = d["timestamp"] > md.timestamps[t]
        f = np.exp(rng.normal(0, 0.05, after.sum()))
        for c in ("open", "high", "low", "close"):
            d.loc[after, c] = d.loc[after, c] * f
        pert[s] = d
    md2 = align(pert, "1h")
    small = dataclasses.replace(cfg, strategy=dataclasses.replace(cfg.strategy, params={
        **cfg.strategy.params, "warmup": 100, "zscore_span": 50, "entry_z": 1.5}))
    a = run_backtest(build_strategy(small), md, cfg.broker)
    b = run_backtest(build_strategy(small), md2, cfg.broker)
    assert (a.fills["bar"] <= t).sum() > 10
    np.testing.assert_array_equal(a.equity[: t + 1], b.equity[: t + 1])
    fa = a.fills[a.fills["bar"] <= t].reset_index(drop=True)
    fb = b.fills[b.fills["bar"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(fa, fb)
    assert not np.array_equal(a.equity[t + 1:], b.equity[t + 1:])  # the perturbation did change the future
