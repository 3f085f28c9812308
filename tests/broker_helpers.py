"""Helpers of the broker tests: scripted strategies and tiny hand-written candle tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmsbt.data.align import align
from rmsbt.engine import BrokerConfig, run_backtest
from rmsbt.strategy import Strategy
from rmsbt.timeframes import timeframe_to_ms

SYM = "X/USDT"
T0 = 1704067200000  # 2024-01-01 00:00 UTC


class Script(Strategy):
    """Runs ``actions[bar](ctx)`` (a callable or a list of them) after bar ``bar`` closes."""

    def __init__(self, actions=None, every=None):
        super().__init__()
        self.actions = actions or {}
        self.every = every
        self.seen = []

    def on_bar(self, ctx):
        self.seen.append(ctx.bar)
        a = self.actions.get(ctx.bar)
        for f in (a if isinstance(a, (list, tuple)) else [a] if a else []):
            f(ctx)
        if self.every is not None:
            self.every(ctx)


def bars(rows, tf="1h", t0=T0) -> pd.DataFrame:
    """Rows of (open, high, low, close[, volume]) → a candle table with consecutive open times."""
    step = timeframe_to_ms(tf)
    out = []
    for i, r in enumerate(rows):
        o, h, lo, c = r[:4]
        v = r[4] if len(r) > 4 else 1e9
        out.append((t0 + i * step, float(o), float(h), float(lo), float(c), float(v)))
    return pd.DataFrame(out, columns=["timestamp", "open", "high", "low", "close", "volume"])


def run(frames, actions=None, tf="1h", every=None, funding_rates=None, **cfg):
    """Run a script on one table (symbol ``X/USDT``) or a dict of tables; broker fees default to 0."""
    if isinstance(frames, pd.DataFrame):
        frames = {SYM: frames}
    cfg.setdefault("taker_fee_bps", 0.0)
    cfg.setdefault("maker_fee_bps", 0.0)
    md = align(frames, tf)
    strat = Script(actions, every)
    return run_backtest(strat, md, BrokerConfig(**cfg), funding=funding_rates)


def buy(q, sym=SYM, **kw):
    return lambda ctx: ctx.order(sym, q, **kw)


def sell(q, sym=SYM, **kw):
    return lambda ctx: ctx.order(sym, -q, **kw)


def fill_prices(res) -> list[float]:
    return [float(p) for p in res.fills["price"]]


def event_list(res, order_id=None) -> list[str]:
    ev = res.events
    if order_id is not None:
        ev = ev[ev["order_id"] == order_id]
    return list(ev["event"])


def assert_identity(res, atol=1e-6):
    """realized + unrealized − fees − funding = equity − initial equity, and equity = cash + Σ qty·mark."""
    lhs = res.realized_pnl + res.unrealized_pnl - res.fees_cum - res.funding_cum
    np.testing.assert_allclose(lhs, res.equity - res.initial_cash, rtol=0, atol=atol)
