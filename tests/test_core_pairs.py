"""The pairs strategy: its gradient, its timing, and that no decision sees its future."""

import math

import numpy as np
import pytest

from rmsbt.config import load_config
from rmsbt.data import align
from rmsbt.engine import run_backtest
from rmsbt.runner import build_strategy, load_market
from rmsbt.testing import candles
from strategies.pairs_rmsprop import PairsRMSprop, spread_and_grad

ROOT_CONFIG = "configs/pairs_btc_eth.toml"


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    for _ in range(20):
        theta = rng.normal(1.0, 0.5, 2)
        ln_y, ln_x = rng.uniform(4, 9), rng.uniform(8, 12)
        g = np.zeros(2)
        spread_and_grad(theta, ln_y, ln_x, g)
        loss = lambda th: (ln_y - th[0] * ln_x - th[1]) ** 2  # noqa: E731
        for k in range(2):
            h = 1e-6
            tp, tm = theta.copy(), theta.copy()
            tp[k] += h
            tm[k] -= h
            fd = (loss(tp) - loss(tm)) / (2 * h)  # central difference: error O(h²)
            assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-6)


def test_spread_definition():
    g = np.zeros(2)
    s = spread_and_grad(np.array([0.5, 1.0]), math.log(8.0), math.log(4.0), g)
    assert s == pytest.approx(math.log(8) - 0.5 * math.log(4) - 1.0)  # = 3ln2 − ln2 − 1
    assert g.tolist() == pytest.approx([-2 * s * math.log(4), -2 * s])


def synthetic_pair(n=400, seed=11):
    """x: a random walk; y = x^1.2 · e^(noise) with a mean-reverting noise, so the spread reverts."""
    rng = np.random.default_rng(seed)
    lx = np.log(100.0) + np.cumsum(rng.normal(0, 0.01, n))
    u = np.zeros(n)
    for k in range(1, n):
        u[k] = 0.9 * u[k - 1] + rng.normal(0, 0.01)
    ly = 1.2 * lx - 2.0 + u
    h = 3_600_000
    mk = lambda lp: candles([(k * h, math.exp(v), math.exp(v) * 1.002, math.exp(v) * 0.998, math.exp(v), 5.0)  # noqa: E731
                             for k, v in enumerate(lp)])
    return {"X/USDT": mk(lx), "Y/USDT": mk(ly)}


def run_pairs(frames, **over):
    params = dict(y_symbol="Y/USDT", x_symbol="X/USDT", lr=0.01, decay=0.9, zscore_span=20, entry_z=1.5,
                  exit_z=0.3, warmup=30)
    params.update(over)
    from rmsbt.engine import BrokerConfig
    strat = PairsRMSprop(**params)
    return strat, run_backtest(strat, align(frames, "1h"), BrokerConfig(initial_cash=10_000.0, taker_fee_bps=5.0,
                                                                        slippage_bps=1.0))


def test_trades_on_synthetic_pair_and_records_every_bar():
    frames = synthetic_pair()
    _, res = run_pairs(frames)
    assert len(res.fills) >= 4
    assert len(res.records) == 400
    assert list(res.records.columns[:3]) == ["timestamp", "beta", "c"]
    # every fill comes strictly after the bar whose close decided it
    assert (res.fills["bar"] > res.fills["decided_bar"]).all()


def test_decision_uses_parameters_from_before_the_bars_update():
    """The recorded spread at bar t is ln y_t − β_{t−1} ln x_t − c_{t−1} (β, c recorded after bar t−1)."""
    frames = synthetic_pair(60)
    _, res = run_pairs(frames)
    r = res.records
    ly = np.log(frames["Y/USDT"]["close"].to_numpy())
    lx = np.log(frames["X/USDT"]["close"].to_numpy())
    for t in range(1, 60):
        expect = ly[t] - r["beta"].iloc[t - 1] * lx[t] - r["c"].iloc[t - 1]
        assert r["spread"].iloc[t] == pytest.approx(expect, abs=1e-12)


def test_prefix_invariance_no_lookahead_synthetic():
    """BR-03's property for everything the strategy computes: values at bar k are the same whether or
    not later bars exist, and perturbing later bars changes no fill, equity or parameter up to k."""
    frames = synthetic_pair(300)
    _, full = run_pairs(frames)
    k = 180
    cut = {s: f.iloc[: k + 1].reset_index(drop=True) for s, f in frames.items()}
    _, part = run_pairs(cut)
    pd_cols = ["beta", "c", "spread", "zscore", "lr_eff_beta", "lr_eff_c", "state"]
    np.testing.assert_array_equal(full.records[pd_cols].iloc[: k + 1].to_numpy(), part.records[pd_cols].to_numpy())
    np.testing.assert_array_equal(full.equity[: k + 1], part.equity)
    fills_full = full.fills[full.fills["bar"] <= k].reset_index(drop=True)
    assert fills_full.equals(part.fills)


def test_no_lookahead_on_real_data(shared_data, tmp_path):
    """Change every bar after t (wildly) in the real BTC/ETH data: nothing up to t may change."""
    cfg = load_config(ROOT_CONFIG)
    market = load_market(cfg, shared_data)
    n = market.n_bars
    base = run_backtest(build_strategy(cfg), market, cfg.broker)
    rng = np.random.default_rng(0)
    for t in (n // 3, (2 * n) // 3):
        scale = np.exp(rng.normal(0, 0.3, (len(market.symbols), n - t - 1)))
        fields = {}
        for f in ("open", "high", "low", "close"):
            a = getattr(market, f).copy()
            a[:, t + 1:] *= scale
            fields[f] = a
        vol = market.volume.copy()
        vol[:, t + 1:] *= 3.0
        from dataclasses import replace
        pert = replace(market, volume=vol, **fields)
        res = run_backtest(build_strategy(cfg), pert, cfg.broker)
        np.testing.assert_array_equal(res.equity[: t + 1], base.equity[: t + 1])
        np.testing.assert_array_equal(res.cash[: t + 1], base.cash[: t + 1])
        np.testing.assert_array_equal(res.positions[: t + 1], base.positions[: t + 1])
        a = res.fills[res.fills["bar"] <= t].reset_index(drop=True)
        b = base.fills[base.fills["bar"] <= t].reset_index(drop=True)
        assert a.equals(b) and len(a) > 0
        ra = res.records[res.records["timestamp"] <= market.timestamps[t]].reset_index(drop=True)
        rb = base.records[base.records["timestamp"] <= market.timestamps[t]].reset_index(drop=True)
        assert ra.equals(rb)
        # and the perturbation did change the future (the test is not vacuous)
        assert not np.array_equal(res.equity[t + 2:], base.equity[t + 2:])


def test_records_every_bar_even_when_a_leg_is_missing():
    frames = synthetic_pair(120)
    frames["Y/USDT"] = frames["Y/USDT"].drop(index=[50, 51, 90]).reset_index(drop=True)
    _, res = run_pairs(frames)
    r = res.records
    assert len(r) == 120  # one row per bar of the clock
    missing = r.iloc[[50, 51, 90]]
    assert missing["spread"].isna().all() and missing["zscore"].isna().all()
    # no update on those bars: β and c repeat the previous bar's values
    assert (r["beta"].iloc[50] == r["beta"].iloc[49]) and (r["beta"].iloc[51] == r["beta"].iloc[49])
    assert r["c"].iloc[90] == r["c"].iloc[89]


def test_params_defaults_and_checks_apply_outside_a_config():
    s = PairsRMSprop()
    assert s.params["lr"] == 1e-3 and s.params["y_symbol"] == "ETH/USDT"
    from rmsbt.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown key strategy.params.lrate"):
        PairsRMSprop(lrate=0.1)
    with pytest.raises(ConfigError, match="strategy.params.lr: expected float"):
        PairsRMSprop(lr="fast")
