"""The event loop: bars in time order, fills at the open, marks at the close, then the strategy.

For every bar t of the aligned clock, in order:

1. **Fill** working orders decided on a bar before t whose symbol has a real bar at t: at t's open,
   inside the bar, at its close (broker rules in :mod:`rmsbt.engine.broker`); liquidations. An
   order's symbol missing at t: it waits.
2. **Mark** each symbol present at t to t's close; a symbol missing at t keeps its last known close
   (no bar is invented: its price arrays stay NaN there, nothing fills). Book funding due at t
   (:mod:`rmsbt.engine.funding`), update the excursions of open trades. Record cash, equity,
   positions, realized/unrealized PnL, cumulative fees and funding for bar t.
3. **Decide**: ``strategy.on_bar(ctx)`` sees bars 0..t (all closed) and may place orders, which
   therefore fill at t+1 at the earliest.

Positions still open after the last bar are left open and marked at the last close (the trade log
lists them with ``status = "open"``); orders still working are dropped (their count is in the result).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.align import MarketData
from ..errors import DataError, RmsbtError, StrategyError
from ..timeframes import timeframe_to_ms
from .broker import Broker, BrokerConfig, _Books, event_rows
from .context import Context
from .funding import funding_matrix
from .orders import OrderKind
from .portfolio import Portfolio
from .trades import TradeBook


@dataclass
class BacktestResult:
    symbols: tuple[str, ...]
    timeframe: str
    timestamps: np.ndarray  #: bar open times, ms
    cash: np.ndarray  #: after each bar's fills and funding
    equity: np.ndarray  #: marked at each bar's close
    positions: np.ndarray  #: (n_bars, n_symbols)
    fills: pd.DataFrame  #: one row per fill (FILL_COLUMNS)
    records: pd.DataFrame  #: values the strategy recorded, one row per bar that recorded
    initial_cash: float
    fees_paid: float
    dropped_orders: int  #: orders still working after the last bar
    timing: dict = field(default_factory=dict)
    trades: pd.DataFrame | None = None  #: one row per round trip (rmsbt.engine.trades.TRADE_COLUMNS)
    funding: pd.DataFrame | None = None  #: one row per funding payment (FUNDING_COLUMNS)
    funding_paid: float = 0.0  #: Σ funding paid (negative: received)
    realized_pnl: np.ndarray | None = None  #: cumulative realized PnL (gross) after each bar
    unrealized_pnl: np.ndarray | None = None  #: unrealized PnL at each bar's close
    fees_cum: np.ndarray | None = None  #: cumulative fees after each bar
    funding_cum: np.ndarray | None = None  #: cumulative funding paid after each bar
    intrabar_finer_bars: int = 0  #: bars the broker walked whose extreme order came from finer candles
    _lazy: dict = field(default_factory=dict, repr=False)

    @property
    def events(self) -> pd.DataFrame:
        """Order life cycle and liquidations, one row per event (EVENT_COLUMNS): submitted, triggered,
        partially_filled, filled, resized, cancelled, rejected, expired, liquidated; ``reason`` says why."""
        return self._table("events")

    @property
    def orders(self) -> pd.DataFrame:
        """Final state of every order the strategy placed (ORDER_COLUMNS)."""
        return self._table("orders")

    def _table(self, name: str) -> pd.DataFrame:
        v = self._lazy.get(name)
        if v is None:  # a result made by hand, without the broker's logs: empty tables
            return pd.DataFrame(columns=EVENT_COLUMNS if name == "events" else ORDER_COLUMNS)
        if callable(v):  # built on first use: a run with many orders does not pay for it in the loop
            v = self._lazy[name] = v()
        return v


FILL_COLUMNS = ["timestamp", "bar", "symbol", "side", "qty", "price", "fee", "realized_pnl", "decided_bar",
                "order_id", "order_kind", "liquidity", "slippage", "ref_price"]
EVENT_COLUMNS = ["timestamp", "bar", "order_id", "symbol", "event", "qty", "price", "reason"]
ORDER_COLUMNS = ["order_id", "symbol", "kind", "quantity", "target_mode", "stop", "limit", "decided_bar",
                 "expire_bar", "reduce_only", "parent_id", "status", "filled", "avg_fill_price", "fees", "reason",
                 "tag"]
FUNDING_COLUMNS = ["timestamp", "bar", "symbol", "qty", "mark_price", "rate", "paid"]


def _ffill_rows(a: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along axis 1 (the last known close of each symbol at each bar)."""
    out = a.copy()
    for i in range(out.shape[0]):
        row = out[i]
        idx = np.where(np.isnan(row), 0, np.arange(row.shape[0]))
        np.maximum.accumulate(idx, out=idx)
        out[i] = row[idx]
    return out


def _loop(strategy, ctx, brk, pf, tb, n, n_sym, ts, marks, funding, fund_bar, fund_rows, lows, highs, present, margin,
          cash, equity, positions, realized, unrealized, fees_cum, funding_cum, progress):
    qty, avg, mark = pf.qty, pf.avg_price, pf.mark
    symbols = ctx.symbols
    _call(strategy, strategy.on_start, ctx, "on_start", -1, None)
    on_bar = strategy.on_bar
    for t in range(n):
        # 1. fills on bar t (only orders decided on earlier bars are eligible) and liquidations
        if ctx._pending or (margin and tb.n_open):  # (process_bar also drops cancelled orders)
            ctx._pending = brk.process_bar(t, ctx._pending)
        # 2. mark at the close of bar t; funding; excursions of open trades
        mark[:] = marks[:, t]
        if fund_bar[t]:
            for s in range(n_sym):
                r = funding[s, t]
                if r == r and qty[s] != 0.0:
                    paid = pf.fund(s, mark[s], r)
                    tb.on_funding(s, paid)
                    fund_rows.append((int(ts[t]), t, symbols[s], float(qty[s]), float(mark[s]), float(r), paid))
        if tb.n_open:
            for s in range(n_sym):
                if qty[s] != 0.0 and present[s, t]:
                    tb.on_mark(s, qty[s], avg[s], lows[s, t], highs[s, t])
        cash[t] = pf.cash_arr[0]
        equity[t] = pf.equity()
        positions[t] = qty
        realized[t] = pf.realized_total
        unrealized[t] = pf.unrealized()
        fees_cum[t] = pf.fees_paid
        funding_cum[t] = pf.funding_paid
        # 3. decide on the closed bar t
        ctx.bar = t
        try:
            on_bar(ctx)
        except RmsbtError:
            raise
        except (Exception, SystemExit) as exc:  # the user's code: say where, keep the original as the cause
            raise StrategyError.at(strategy, "on_bar", t, int(ts[t]), exc) from exc
        if progress is not None:
            progress(t + 1, n)
    _call(strategy, strategy.on_end, ctx, "on_end", -1, None)


def _call(strategy, hook, ctx, name, bar, open_ms):
    try:
        hook(ctx)
    except RmsbtError:
        raise
    except (Exception, SystemExit) as exc:
        raise StrategyError.at(strategy, name, bar, open_ms, exc) from exc


def run_backtest(strategy, data: MarketData, broker: BrokerConfig, progress=None,
                 funding: np.ndarray | None = None, intrabar: np.ndarray | None = None) -> BacktestResult:
    """Run ``strategy`` over ``data`` with the given broker settings and return every record.

    ``funding``: rates per (symbol, bar) as made by :func:`rmsbt.engine.funding.funding_matrix`; when
    ``None`` a constant-rate funding config is expanded here (a history needs the runner to load it).
    ``intrabar``: which extreme of each bar came first (:func:`rmsbt.engine.intrabar.intrabar_matrix`);
    ``None``: adverse-first everywhere.
    """
    t0 = time.perf_counter()
    n_sym, n = len(data.symbols), data.n_bars
    tf_ms = timeframe_to_ms(data.timeframe)
    ts = data.timestamps
    if funding is None and broker.mode == "margin" and broker.funding == "history":
        raise DataError("funding = \"history\": load the funding files with rmsbt.engine.funding.funding_matrix "
                        "and pass them to run_backtest(funding=...)")
    if funding is None:
        funding = funding_matrix(broker, data.symbols, ts, tf_ms)
    pf = Portfolio(n_sym, broker.initial_cash)
    tb = TradeBook(data.symbols, ts)
    books = _Books()
    brk = Broker(broker, data, pf, tb, books, intrabar)
    ctx = Context(data, pf, tf_ms, brk)
    cash = np.empty(n)
    equity = np.empty(n)
    positions = np.empty((n, n_sym))
    realized = np.empty(n)
    unrealized = np.empty(n)
    fees_cum = np.empty(n)
    funding_cum = np.empty(n)
    fund_rows: list[tuple] = []
    lows, highs, present = data.low, data.high, data.present
    marks = _ffill_rows(data.close)
    fund_bar = (np.zeros(n, dtype=bool) if funding is None
                else ~np.all(np.isnan(funding), axis=0) if n_sym else np.zeros(n, dtype=bool))
    margin = brk.margin
    qty, avg, mark = pf.qty, pf.avg_price, pf.mark
    symbols = data.symbols

    # A run allocates many long-lived records (orders, events): the cyclic GC runs less often during the
    # loop and skips the objects alive before it (candles, configs); both are restored afterwards.
    # Reference counting still frees everything acyclic at once. Results do not depend on this.
    gc_threshold = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0  # leave a caller's own gc.freeze() alone
    if freeze:
        gc.freeze()
    gc.set_threshold(max(gc_threshold[0], 50_000), 50, 100)
    try:
        _loop(strategy, ctx, brk, pf, tb, n, n_sym, ts, marks, funding, fund_bar, fund_rows, lows, highs, present,
              margin, cash, equity, positions, realized, unrealized, fees_cum, funding_cum, progress)
    finally:
        gc.set_threshold(*gc_threshold)
        if freeze:
            gc.unfreeze()

    fills_df = pd.DataFrame(books.fills, columns=FILL_COLUMNS)
    if ctx._records:
        bars = [b for b, _ in ctx._records]
        rec = pd.DataFrame([r for _, r in ctx._records])
        rec.insert(0, "timestamp", ts[bars])
    else:
        rec = pd.DataFrame({"timestamp": np.array([], dtype=np.int64)})
    trades_df = tb.finish(n - 1, qty, avg, mark) if n else tb.finish(-1, qty, avg, mark)
    all_orders, raw_events = ctx._all, books.events

    def orders_df():
        return pd.DataFrame(
            [(o.id, symbols[o.symbol], OrderKind(o.kind).name.lower(), o.quantity, o.target_mode, o.stop, o.limit,
              o.decided_bar, o.expire_bar if o.expire_bar < 2**62 else -1, o.reduce_only,
              o.parent.id if o.parent is not None else -1, o.status, o.filled, o.avg_fill_price, o.fees, o.reason,
              o.tag) for o in all_orders], columns=ORDER_COLUMNS)

    def events_df():
        return pd.DataFrame(
            [(int(ts[t]) if t >= 0 else -1, t, o.id if o is not None else -1, symbols[s], ev, q, p, why)
             for t, o, s, ev, q, p, why in event_rows(raw_events)],
            columns=EVENT_COLUMNS)
    return BacktestResult(
        symbols=data.symbols, timeframe=data.timeframe, timestamps=ts.copy(), cash=cash, equity=equity,
        positions=positions, fills=fills_df, records=rec, initial_cash=broker.initial_cash,
        fees_paid=pf.fees_paid, dropped_orders=len(ctx._pending),
        timing={"loop_seconds": time.perf_counter() - t0}, intrabar_finer_bars=brk.finer_bars,
        trades=trades_df, _lazy={"orders": orders_df, "events": events_df},
        funding=pd.DataFrame(fund_rows, columns=FUNDING_COLUMNS), funding_paid=pf.funding_paid,
        realized_pnl=realized, unrealized_pnl=unrealized, fees_cum=fees_cum, funding_cum=funding_cum,
    )
