"""Property tests of the broker over random candle series and random order streams (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from broker_helpers import SYM, assert_identity, bars, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def candles(draw, min_bars=4, max_bars=25):
    n = draw(st.integers(min_bars, max_bars))
    moves = draw(st.lists(st.floats(-0.15, 0.15), min_size=n, max_size=n))
    rows, p = [], 100.0
    for i in range(n):
        o = p * (1 + moves[i])
        c = o * (1 + draw(st.floats(-0.1, 0.1)))
        h = max(o, c) * (1 + draw(st.floats(0, 0.05)))
        lo = min(o, c) * (1 - draw(st.floats(0, 0.05)))
        v = draw(st.sampled_from([0.0, 0.5, 5.0, 1e6]))
        rows.append((o, h, lo, c, v))
        p = c
    return bars(rows)


@st.composite
def broker_cfgs(draw):
    mode = draw(st.sampled_from(["margin", "spot"]))
    return dict(
        mode=mode,
        initial_cash=draw(st.sampled_from([100.0, 1000.0])),
        taker_fee_bps=draw(st.sampled_from([0.0, 5.0, 10.0])),
        maker_fee_bps=draw(st.sampled_from([-1.0, 0.0, 2.0])),
        fixed_fee=draw(st.sampled_from([0.0, 0.1])),
        min_fee=draw(st.sampled_from([0.0, 0.05])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 500.0])),
        spread_bps=draw(st.sampled_from([0.0, 4.0])),
        impact_bps=draw(st.sampled_from([0.0, 30.0])),
        volume_cap=draw(st.sampled_from([0.0, 0.3])),
        on_insufficient=draw(st.sampled_from(["reject", "resize"])),
        protective_same_bar=draw(st.sampled_from(["after_open_fill", "never", "always"])),
        max_leverage=draw(st.sampled_from([1.0, 3.0, 25.0])),
        maintenance_margin=draw(st.sampled_from([0.0, 0.01])),
        liquidation_fee_bps=draw(st.sampled_from([0.0, 50.0])),
        lot_size=draw(st.sampled_from([0.0, 0.01])),
        funding="constant" if mode == "margin" and draw(st.booleans()) else "none",
        funding_rate=draw(st.sampled_from([0.001, -0.002])),
        funding_interval_hours=2.0,
    )


def random_trader(seed):
    """Places a random order (any kind) on most bars and cancels at random; decisions depend only on
    the seed, the bar index and the closed bars seen so far."""

    def act(ctx):
        c = ctx.close(SYM)[-1]
        rng = np.random.default_rng([seed, ctx.bar, int(c * 1000) % 100_000])
        k = rng.integers(0, 9)
        q = float(rng.choice([-1, 1]) * rng.choice([0.1, 0.7, 3.0, 40.0]))
        px = c * (1 + rng.uniform(-0.08, 0.08))
        px2 = c * (1 + rng.uniform(-0.08, 0.08))
        kw = {"expire_after": int(rng.integers(1, 4))} if rng.random() < 0.3 else {}
        if k == 0:
            ctx.order(SYM, q, **kw)
        elif k == 1:
            ctx.order(SYM, q, limit=px, **kw)
        elif k == 2:
            ctx.order(SYM, q, stop=px, **kw)
        elif k == 3:
            ctx.order(SYM, q, stop=px, limit=px2, **kw)
        elif k == 4:
            ctx.order_on_close(SYM, q)
        elif k == 5:
            ctx.order_target(SYM, q)
        elif k == 6:
            lo, hi = sorted((px, px2))  # a bracket's prices on their sides of the last close (else ValueError)
            lo, hi = min(lo, c * 0.999), max(hi, c * 1.001)
            if q > 0:
                ctx.order(SYM, q, stop_loss=lo, take_profit=hi)
            else:
                ctx.order(SYM, q, stop_loss=hi, take_profit=lo)
        elif k == 7:
            ctx.order(SYM, q, reduce_only=True)
        if rng.random() < 0.2 and ctx.open_orders():
            ctx.cancel(ctx.open_orders()[int(rng.integers(0, len(ctx.open_orders())))])

    return act


def margin_deficit_bound(res):
    """Per bar, how far below 0 margin-mode equity may go (docs/broker.md, "Margin"): every opening
    fill is paid from free margin that excludes unrealized profit, and a liquidation's loss (its fee
    included) is capped at the posted margin, so only the fees of fills that reduce or flip a position
    (beyond the maintenance-margin buffer) and funding paid can take equity below 0."""
    f = res.fills
    q = f["qty"].to_numpy(dtype=float)
    before = np.cumsum(q) - q  # one symbol: the position before each fill
    reducing = (before != 0.0) & (np.sign(q) != np.sign(before))
    fee_by_bar = np.zeros(len(res.equity))
    np.add.at(fee_by_bar, f["bar"].to_numpy(dtype=np.int64)[reducing], np.maximum(f["fee"].to_numpy()[reducing], 0.0))
    fund = np.zeros(len(res.equity))
    if len(res.funding):
        np.add.at(fund, res.funding["bar"].to_numpy(dtype=np.int64), np.maximum(res.funding["paid"].to_numpy(), 0.0))
    return np.cumsum(fee_by_bar) + np.cumsum(fund)


def check_invariants(df, res, cfg):
    closes = df["close"].to_numpy()
    # equity = cash + position value at every bar
    np.testing.assert_allclose(res.equity, res.cash + res.positions[:, 0] * closes, rtol=1e-12, atol=1e-9)
    # realized + unrealized − fees − funding = equity − initial equity
    assert_identity(res, atol=1e-7 * max(1.0, float(np.abs(res.equity).max())))
    f = res.fills
    if len(f):
        b = f["bar"].to_numpy()
        lo, hi = df["low"].to_numpy()[b], df["high"].to_numpy()[b]
        p = f["price"].to_numpy()
        assert np.all(p >= lo - 1e-9 * lo) and np.all(p <= hi + 1e-9 * hi), "fill outside its bar's range"
        ordered = f["order_id"].to_numpy() >= 0
        assert np.all(b[ordered] > f["decided_bar"].to_numpy()[ordered]), "fill before the bar after the decision"
        if cfg["maker_fee_bps"] >= 0:
            assert np.all(f["fee"].to_numpy() >= 0)
        else:
            assert np.all(f.loc[f["liquidity"] != "maker", "fee"].to_numpy() >= 0)
    if cfg["mode"] == "spot":
        assert np.all(res.cash >= -1e-9) and np.all(res.positions >= -1e-12)
    else:
        assert np.all(res.equity >= -margin_deficit_bound(res) - 1e-9 * res.initial_cash), "equity below 0"
    assert abs(res.trades["net_pnl"].sum() - (res.equity[-1] - res.initial_cash)) <= 1e-7 * max(
        1.0, float(np.abs(res.equity).max()))


@SETTINGS
@given(df=candles(), cfg=broker_cfgs(), seed=st.integers(0, 2**31 - 1))
def test_random_orders_keep_the_books_consistent(df, cfg, seed):
    res = run(df, every=random_trader(seed), **cfg)
    check_invariants(df, res, cfg)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=candles(min_bars=6), cfg=broker_cfgs(), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_no_look_ahead_random(df, cfg, seed, data):
    t = data.draw(st.integers(0, len(df) - 2))
    a = run(df, every=random_trader(seed), **cfg)
    df2 = df.copy()
    scale = data.draw(st.floats(0.5, 2.0))
    df2.loc[t + 1:, ["open", "high", "low", "close"]] *= scale
    df2.loc[t + 1:, "volume"] = df2.loc[t + 1:, "volume"] * 3 + 1
    b = run(df2, every=random_trader(seed), **cfg)
    np.testing.assert_array_equal(a.equity[: t + 1], b.equity[: t + 1])
    np.testing.assert_array_equal(a.cash[: t + 1], b.cash[: t + 1])
    fa, fb = a.fills[a.fills["bar"] <= t], b.fills[b.fills["bar"] <= t]
    assert len(fa) == len(fb)
    if len(fa):
        pd.testing.assert_frame_equal(fa.reset_index(drop=True), fb.reset_index(drop=True))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([1, 2, 3, 4, 5, 0]), side=st.sampled_from([-1.0, 1.0]),
       stop=st.floats(80, 120), limit=st.floats(80, 120), trig=st.booleans(),
       o=st.floats(80, 120), a=st.floats(0, 20), b=st.floats(0, 20), c=st.floats(0, 1))
def test_touch_band_never_skips_a_bar_with_an_event(kind, side, stop, limit, trig, o, a, b, c):
    """The loop's cheap pre-check (touch_band) must say "may act" whenever path_event finds an event."""
    from rmsbt.engine.broker import touch_band_py
    from rmsbt.engine.broker_nb import path_event, touch_band

    hi, lo = o + a, o - b
    cl = lo + c * (hi - lo)
    band = touch_band(kind, side, stop, limit, trig)
    assert band == touch_band_py(kind, side, stop, limit, trig)
    any_event = path_event(kind, side, stop, limit, trig, o, o)[0] != 0
    for x, y in ((o, lo), (lo, hi), (hi, cl), (o, hi), (hi, lo), (lo, cl)):
        any_event = any_event or path_event(kind, side, stop, limit, trig, x, y)[0] != 0
    if any_event and kind != 5:
        assert lo <= band[0] or hi >= band[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=candles(min_bars=6), lev=st.sampled_from([2.0, 10.0, 50.0]), mmr=st.sampled_from([0.0, 0.005]),
       side=st.sampled_from([1.0, -1.0]), liq_fee=st.sampled_from([0.0, 100.0]))
def test_pyramiding_never_takes_margin_equity_below_zero(df, lev, mmr, side, liq_fee):
    """Isolated margin: adding to a position every bar with everything the broker allows (resize),
    unrealized profit included in the temptation, never takes equity below 0 (no fees, no funding:
    the bound of margin_deficit_bound is 0)."""
    res = run(df, every=lambda ctx: ctx.order(SYM, side * 1e6), initial_cash=1000.0, max_leverage=lev,
              maintenance_margin=mmr, liquidation_fee_bps=liq_fee, on_insufficient="resize")
    assert np.all(res.equity >= -1e-9 * res.initial_cash), f"equity below 0: {res.equity.min()}"
    assert_identity(res, atol=1e-7 * max(1.0, float(np.abs(res.equity).max())))
