"""The per-trade log: one row per round trip of one symbol.

A trade opens when a symbol's position leaves zero and closes when it returns to zero. A fill that
crosses zero (a flip) closes the trade with the part that reaches zero and opens a new one with the
rest, at the same price and bar; its fee and slippage are split between the two in proportion to
quantity. Adding to a position or closing part of it stays inside the same trade.

Columns of :attr:`BacktestResult.trades <rmsbt.engine.loop.BacktestResult>` (money in quote currency):

====================  =================================================================================
symbol                the symbol
side                  ``"long"`` or ``"short"``
status                ``"closed"``, or ``"open"`` for a position still held after the last bar
entry_time, exit_time open time (ms UTC) of the bar of the first fill / of the fill that closed it
                      (``exit_time`` of an open trade: the last bar's open time)
entry_bar, exit_bar   bar indices of the same
entry_price           quantity-weighted average price of the opening fills
exit_price            quantity-weighted average price of the closing fills (open trade: last close)
qty                   total quantity opened (absolute; the size for a plain in-and-out trade)
gross_pnl             Σ realized PnL of the closing fills (fill prices include slippage; liquidation
                      credits from the insurance fund included); for an open trade plus the unrealized
                      PnL at the last close
fees                  Σ fees of the trade's fills (negative = net rebate)
slippage              Σ |qty|·|fill price − reference price| — the slippage cost, already inside
                      gross_pnl, reported for information
funding               Σ funding paid while the trade was open (negative = received)
net_pnl               gross_pnl − fees − funding
duration_bars         exit_bar − entry_bar
duration_ms           exit_time − entry_time
mae, mfe              maximum adverse / favourable excursion: the lowest (≤ 0) and highest (≥ 0)
                      unrealized PnL of the position over the bars it was held at each bar's close,
                      evaluated at the bar's low and high (entry bar included with its whole range;
                      the exit bar only if the position survived it)
====================  =================================================================================

Σ net_pnl over all rows (closed and open) = final equity − initial cash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .portfolio_nb import settled_position

TRADE_COLUMNS = ["symbol", "side", "status", "entry_time", "exit_time", "entry_bar", "exit_bar", "entry_price",
                 "exit_price", "qty", "gross_pnl", "fees", "slippage", "funding", "net_pnl", "duration_bars",
                 "duration_ms", "mae", "mfe"]


class _Open:
    __slots__ = ("side", "entry_bar", "in_qty", "in_value", "out_qty", "out_value", "gross", "fees", "slip",
                 "funding", "mae", "mfe")

    def __init__(self, side: float, bar: int):
        self.side, self.entry_bar = side, bar
        self.in_qty = self.in_value = self.out_qty = self.out_value = 0.0
        self.gross = self.fees = self.slip = self.funding = self.mae = self.mfe = 0.0


class TradeBook:
    def __init__(self, symbols: tuple[str, ...], timestamps: np.ndarray):
        self.symbols = symbols
        self.ts = timestamps
        self.open: list[_Open | None] = [None] * len(symbols)
        self.n_open = 0
        self.rows: list[tuple] = []

    def on_fill(self, s: int, t: int, dq: float, price: float, fee: float, slip: float, q0: float, avg0: float,
                pnl: float) -> None:
        """Attribute one fill (position ``q0`` → ``q0 + dq``, realized ``pnl``) to the trade(s) of ``s``.
        The new position follows the accounting kernel's dust rule
        (:func:`rmsbt.engine.portfolio_nb.settled_position`): a residue that the kernel sets to 0 closes
        the trade here too."""
        q1 = settled_position(q0, dq)
        tr = self.open[s]
        a = abs(dq)
        if q0 != 0.0 and (q0 > 0.0) != (dq > 0.0):  # reducing, closing or flipping
            closed = abs(q0) if q1 == 0.0 else min(a, abs(q0))
            w = min(closed / a, 1.0)
            tr.out_qty += closed
            tr.out_value += closed * price
            tr.gross += pnl
            tr.fees += fee * w
            tr.slip += slip * w
            if q1 == 0.0 or (q1 > 0.0) != (q0 > 0.0):
                self._close(s, t, price)
                if q1 != 0.0:
                    self._start(s, t, q1, price, fee * (1.0 - w), slip * (1.0 - w))
            return
        if tr is None:
            self._start(s, t, dq, price, fee, slip)
        else:
            tr.in_qty += a
            tr.in_value += a * price
            tr.fees += fee
            tr.slip += slip

    def _start(self, s, t, q, price, fee, slip):
        tr = _Open(1.0 if q > 0.0 else -1.0, t)
        tr.in_qty, tr.in_value, tr.fees, tr.slip = abs(q), abs(q) * price, fee, slip
        self.open[s] = tr
        self.n_open += 1

    def on_funding(self, s: int, paid: float) -> None:
        self.open[s].funding += paid

    def on_mark(self, s: int, q: float, avg: float, low: float, high: float) -> None:
        tr = self.open[s]
        a, b = q * (low - avg), q * (high - avg)
        lo_, hi_ = (a, b) if a < b else (b, a)
        if lo_ < tr.mae:
            tr.mae = lo_
        if hi_ > tr.mfe:
            tr.mfe = hi_

    def _close(self, s, t, price, status="closed", unrealized=0.0):
        tr = self.open[s]
        entry = tr.in_value / tr.in_qty
        exit_ = tr.out_value / tr.out_qty if tr.out_qty else price
        gross = tr.gross + unrealized
        e_ts, x_ts = int(self.ts[tr.entry_bar]), int(self.ts[t])
        self.rows.append((self.symbols[s], "long" if tr.side > 0 else "short", status, e_ts, x_ts, tr.entry_bar, t,
                          entry, exit_, tr.in_qty, gross, tr.fees, tr.slip, tr.funding, gross - tr.fees - tr.funding,
                          t - tr.entry_bar, x_ts - e_ts, tr.mae, tr.mfe))
        self.open[s] = None
        self.n_open -= 1

    def finish(self, last_bar: int, qty: np.ndarray, avg: np.ndarray, mark: np.ndarray) -> pd.DataFrame:
        """Close the books: positions still open become ``status = "open"`` rows marked at the last close."""
        for s, tr in enumerate(self.open):
            if tr is not None:
                self._close(s, last_bar, float(mark[s]), "open", float(qty[s] * (mark[s] - avg[s])))
        return pd.DataFrame(self.rows, columns=TRADE_COLUMNS)


def trades_until(fills: pd.DataFrame, funding: pd.DataFrame | None, symbols: tuple[str, ...], timestamps: np.ndarray,
                 last_bar: int, marks: np.ndarray, lows: np.ndarray | None = None, highs: np.ndarray | None = None,
                 present: np.ndarray | None = None) -> pd.DataFrame:
    """The trade log as it stood at the close of bar ``last_bar`` (e.g. the ruin bar).

    Replays the run's fills (``FILL_COLUMNS``, in booking order) and funding payments of bars
    ``0..last_bar`` through the same accounting kernel (:func:`~rmsbt.engine.portfolio_nb.apply_fill`)
    and :class:`TradeBook` the engine used, so every trade closed by then is identical to the full log's,
    and a trade still held at ``last_bar`` is an ``"open"`` row marked at ``marks`` (each symbol's last
    known close at that bar). Excursions (mae/mfe) are replayed when ``lows``/``highs``/``present``
    (symbols × bars) are given, else they are NaN.
    """
    from .portfolio_nb import apply_fill

    n_sym = len(symbols)
    index = {s: i for i, s in enumerate(symbols)}
    cash, qty, avg, realized = np.zeros(1), np.zeros(n_sym), np.zeros(n_sym), np.zeros(n_sym)
    tb = TradeBook(symbols, timestamps)
    f = fills.loc[fills["bar"] <= last_bar]
    fb = f["bar"].to_numpy(np.int64)
    fcols = [f[c].to_numpy() for c in ("symbol", "qty", "price", "fee", "slippage", "realized_pnl")]
    g = funding.loc[funding["bar"] <= last_bar] if funding is not None and len(funding) else None
    gb = g["bar"].to_numpy(np.int64) if g is not None else np.zeros(0, np.int64)
    gs, gp = (g["symbol"].to_numpy(), g["paid"].to_numpy(np.float64)) if g is not None else ((), ())
    i = j = 0
    for t in range(last_bar + 1):
        while i < len(fb) and fb[i] == t:
            s = index[fcols[0][i]]
            dq, price, fee = float(fcols[1][i]), float(fcols[2][i]), float(fcols[3][i])
            q0 = qty[s]
            apply_fill(cash, qty, avg, realized, s, dq, price, fee)
            tb.on_fill(s, t, dq, price, fee, float(fcols[4][i]), q0, 0.0, float(fcols[5][i]))
            i += 1
        while j < len(gb) and gb[j] == t:
            tb.on_funding(index[gs[j]], float(gp[j]))
            j += 1
        if lows is not None and tb.n_open:
            for s in range(n_sym):
                if qty[s] != 0.0 and present[s, t]:
                    tb.on_mark(s, qty[s], avg[s], lows[s, t], highs[s, t])
    out = tb.finish(last_bar, qty, avg, np.asarray(marks, dtype=np.float64))
    if lows is None:
        out[["mae", "mfe"]] = np.nan
    return out
