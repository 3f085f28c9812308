"""The event loop: bars in time order, fills at the open, marks at the close, then the strategy.

For every bar t of the aligned clock, in order:

1. **Fill** every pending order decided on a bar before t whose symbol has a real bar at t, at t's
   open (broker rules in :mod:`rmsbt.engine.broker`). An order's symbol missing at t: it waits.
2. **Mark** each symbol present at t to t's close; a symbol missing at t keeps its last known close
   (no bar is invented: its price arrays stay NaN there, nothing fills). Record cash, equity and
   positions for bar t.
3. **Decide**: ``strategy.on_bar(ctx)`` sees bars 0..t (all closed) and may place orders, which
   therefore fill at t+1 at the earliest.

Positions still open after the last bar are left open and marked at the last close; orders still
pending are dropped (their count is in the result).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.align import MarketData
from ..timeframes import timeframe_to_ms
from .broker import BrokerConfig, market_fill_price, resolve_quantity, taker_fee
from .context import Context
from .portfolio import Portfolio


@dataclass
class BacktestResult:
    symbols: tuple[str, ...]
    timeframe: str
    timestamps: np.ndarray  #: bar open times, ms
    cash: np.ndarray  #: after each bar's fills
    equity: np.ndarray  #: marked at each bar's close
    positions: np.ndarray  #: (n_bars, n_symbols)
    fills: pd.DataFrame  #: one row per fill
    records: pd.DataFrame  #: values the strategy recorded, one row per bar that recorded
    initial_cash: float
    fees_paid: float
    dropped_orders: int
    timing: dict = field(default_factory=dict)


FILL_COLUMNS = ["timestamp", "bar", "symbol", "side", "qty", "price", "fee", "realized_pnl", "decided_bar"]


def run_backtest(strategy, data: MarketData, broker: BrokerConfig, progress=None) -> BacktestResult:
    """Run ``strategy`` over ``data`` with the given broker settings and return every record."""
    t0 = time.perf_counter()
    n_sym, n = len(data.symbols), data.n_bars
    pf = Portfolio(n_sym, broker.initial_cash)
    ctx = Context(data, pf, timeframe_to_ms(data.timeframe))
    cash = np.empty(n)
    equity = np.empty(n)
    positions = np.empty((n, n_sym))
    fills: list[tuple] = []
    opens, lows, highs, closes, present = data.open, data.low, data.high, data.close, data.present
    fee_bps, slip_bps = float(broker.fee_bps), float(broker.slippage_bps)
    ts = data.timestamps

    strategy.on_start(ctx)
    for t in range(n):
        # 1. fills at the open of bar t (only orders decided on earlier bars exist here)
        pending = ctx._pending
        if pending:
            waiting = []
            for o in pending:
                s = o.symbol
                if not present[s, t]:
                    waiting.append(o)
                    continue
                dq = resolve_quantity(o, pf.qty[s])
                if dq == 0.0:
                    continue
                side = 1.0 if dq > 0 else -1.0
                price = market_fill_price(opens[s, t], lows[s, t], highs[s, t], side, slip_bps)
                fee = taker_fee(dq, price, fee_bps)
                pnl = pf.fill(s, dq, price, fee)
                fills.append((int(ts[t]), t, data.symbols[s], "buy" if dq > 0 else "sell", dq, price, fee, pnl,
                              o.decided_bar))
            ctx._pending = waiting
        # 2. mark at the close of bar t
        row_present = present[:, t]
        pf.mark[row_present] = closes[row_present, t]
        cash[t] = pf.cash_arr[0]
        equity[t] = pf.equity()
        positions[t] = pf.qty
        # 3. decide on the closed bar t
        ctx.bar = t
        strategy.on_bar(ctx)
        if progress is not None:
            progress(t + 1, n)
    strategy.on_end(ctx)

    fills_df = pd.DataFrame(fills, columns=FILL_COLUMNS)
    if ctx._records:
        bars = [b for b, _ in ctx._records]
        rec = pd.DataFrame([r for _, r in ctx._records])
        rec.insert(0, "timestamp", ts[bars])
    else:
        rec = pd.DataFrame({"timestamp": np.array([], dtype=np.int64)})
    return BacktestResult(
        symbols=data.symbols, timeframe=data.timeframe, timestamps=ts.copy(), cash=cash, equity=equity,
        positions=positions, fills=fills_df, records=rec, initial_cash=broker.initial_cash,
        fees_paid=pf.fees_paid, dropped_orders=len(ctx._pending),
        timing={"loop_seconds": time.perf_counter() - t0},
    )
