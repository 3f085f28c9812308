"""What a strategy may see and do on a bar: closed bars only, its portfolio, and order placement.

On bar t (``ctx.bar == t``) every history accessor returns a read-only array of bars 0..t inclusive,
all of which have closed. Nothing after bar t is reachable through the context. A symbol missing at
a bar shows NaN there (``ctx.present(symbol)`` says whether it traded).

``on_start`` runs with ``ctx.bar == -1``: no bar is visible (histories are empty, ``price`` is NaN,
``present`` is False, ``timestamp`` / ``now`` raise ``ValueError``); orders placed there have
``decided_bar = -1`` and fill from bar 0. ``on_end`` runs with ``ctx.bar`` = the last bar and sees
every bar (the run is over); orders placed there never fill (they count in ``dropped_orders``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..data.align import MarketData
from .broker_nb import LIMIT, MARKET, MOC, STOP, STOP_LIMIT, TARGET
from .orders import (BY_STRATEGY, CANCELLED, DONE, NEVER, TARGET_NOTIONAL, TARGET_PERCENT, TARGET_QTY, Order,
                     OrderKind)


_INF = (math.inf, -math.inf)
_INF_P = math.inf
_NAN = math.nan


def _number(v, what: str) -> float:
    """``v`` as a float; a string, a bool or anything not a real number is a ``TypeError`` (``"1"`` or
    ``True`` as a quantity is a mistake, not a request for 1 unit)."""
    if isinstance(v, (str, bytes, bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{what} must be a number, got {v!r}")
    return float(v)


def _price(v, name: str) -> float:
    """A stop / limit price: a finite number > 0 (``0 < p < inf``, false for NaN), else ``ValueError``."""
    if v is None:
        return math.nan
    p = float(v)
    if not 0.0 < p < _INF_P:
        raise ValueError(f"{name} price must be a finite number > 0, got {v!r}")
    return p


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Context:
    def __init__(self, data: MarketData, portfolio, timeframe_ms: int, broker):
        self._data = data
        self._broker = broker
        self._events = broker.books.events
        self._all: list[Order] = []
        self._sym_index = {name: i for i, name in enumerate(data.symbols)}
        # python floats: ctx.price without numpy indexing; each row ends with a NaN that ctx.bar == -1
        # (on_start: no bar has closed) indexes, so the last bar is never visible before it closes
        self._close_rows = [row + [math.nan] for row in data.close.tolist()]
        self._portfolio = portfolio
        self._tf = timeframe_ms
        self._hist = {f: _readonly(getattr(data, f)) for f in ("open", "high", "low", "close", "volume")}
        self._present = _readonly(data.present)
        self._ts = _readonly(data.timestamps)
        self.symbols = data.symbols
        self.bar = -1
        self._pending: list[Order] = []  #: working orders (and orders ended since the broker last looked)
        self._records: list[tuple[int, dict]] = []

    # --- time ---------------------------------------------------------------------------------
    def _no_bar(self, what: str):
        raise ValueError(f"ctx.{what}: no bar has closed yet (on_start runs before the first bar)")

    @property
    def timestamp(self) -> int:
        """Open time (ms UTC) of the current bar (``ValueError`` in ``on_start``: there is none yet)."""
        if self.bar < 0:
            self._no_bar("timestamp")
        return int(self._ts[self.bar])

    @property
    def now(self) -> int:
        """The moment of decision: the current bar's close time (open + bar length), ms UTC
        (``ValueError`` in ``on_start``)."""
        if self.bar < 0:
            self._no_bar("now")
        return int(self._ts[self.bar]) + self._tf

    def timestamps(self) -> np.ndarray:
        return self._ts[: self.bar + 1]

    # --- market history (closed bars only) ------------------------------------------------------
    def _series(self, field: str, symbol: str) -> np.ndarray:
        return self._hist[field][self._data.index(symbol), : self.bar + 1]

    def open(self, symbol: str) -> np.ndarray:
        return self._series("open", symbol)

    def high(self, symbol: str) -> np.ndarray:
        return self._series("high", symbol)

    def low(self, symbol: str) -> np.ndarray:
        return self._series("low", symbol)

    def close(self, symbol: str) -> np.ndarray:
        return self._series("close", symbol)

    def volume(self, symbol: str) -> np.ndarray:
        return self._series("volume", symbol)

    def price(self, symbol: str) -> float:
        """This bar's close of ``symbol`` (NaN if the symbol has no bar now)."""
        try:
            return self._close_rows[self._sym_index[symbol]][self.bar]
        except KeyError:
            self._data.index(symbol)  # raises the KeyError naming the symbols
            raise

    def present(self, symbol: str) -> bool:
        """Whether ``symbol`` has a bar now (False in ``on_start``: no bar has closed yet)."""
        s = self._data.index(symbol)
        return self.bar >= 0 and bool(self._present[s, self.bar])

    # --- portfolio ------------------------------------------------------------------------------
    def position(self, symbol: str) -> float:
        return float(self._portfolio.qty[self._data.index(symbol)])

    @property
    def cash(self) -> float:
        return self._portfolio.cash

    @property
    def equity(self) -> float:
        """Equity marked at this bar's closes."""
        return self._portfolio.equity()

    # --- orders ---------------------------------------------------------------------------------
    def _submit(self, symbol: str, kind: int, quantity: float, *, stop=None, limit=None,
                target_mode: int = TARGET_QTY, expire_after: int | None = None, reduce_only: bool = False,
                on_partial: str = "keep", stop_loss=None, take_profit=None, tag=None) -> Order:
        # everything is checked before anything is submitted: a call that raises places no order
        q = _number(quantity, f"order quantity for {symbol}")
        if q != q or q in _INF:
            raise ValueError(f"order quantity for {symbol} must be finite, got {quantity!r}")
        if q == 0.0 and kind != TARGET:
            raise ValueError(f"order quantity for {symbol} must not be 0")
        if (kind == TARGET or kind == MOC) and (stop is not None or limit is not None):
            raise ValueError(f"{'target' if kind == TARGET else 'market-on-close'} orders take no stop or limit "
                             f"price (got stop={stop!r}, limit={limit!r}); use ctx.order(..., limit=/stop=)")
        st = math.nan if stop is None else _price(stop, "stop")
        lm = math.nan if limit is None else _price(limit, "limit")
        if expire_after is not None and (not isinstance(expire_after, int) or isinstance(expire_after, bool)
                                         or expire_after < 1):
            raise ValueError(f"expire_after must be an integer >= 1 (bars), got {expire_after!r}")
        if on_partial != "keep" and on_partial != "cancel":
            raise ValueError(f"on_partial must be 'keep' or 'cancel', got {on_partial!r}")
        try:
            s = self._sym_index[symbol]
        except KeyError:
            s = self._data.index(symbol)  # raises the KeyError naming the symbols
        protect = ()
        if stop_loss is not None or take_profit is not None:
            if kind == TARGET:
                raise ValueError("stop_loss / take_profit attach to quantity orders, not to target orders")
            sl, tp = _price(stop_loss, "stop_loss"), _price(take_profit, "take_profit")
            self._check_bracket(s, kind, q, st, lm, sl, tp)
            protect = tuple((k, p) for k, p in ((STOP, sl), (LIMIT, tp)) if p == p)
        o = Order(s, kind, q, self.bar, len(self._all), st, lm)  # order ids: 0, 1, 2, ... in submission order
        if target_mode != TARGET_QTY:
            o.target_mode = target_mode
        if expire_after is not None:
            o.expire_bar = self.bar + expire_after
        if reduce_only:
            o.reduce_only = True
        if on_partial != "keep":
            o.keep_remainder = False
        if tag is not None:
            o.tag = tag
        self._pending.append(o)
        self._all.append(o)
        self._events.append(o)  # "submitted" (see rmsbt.engine.broker._Books)
        if protect:
            kids = []
            for k, p in protect:
                c = Order(s, k, -q, self.bar, len(self._all), p if k == STOP else math.nan,
                          p if k == LIMIT else math.nan)
                c.reduce_only, c.tag = True, tag
                c.active_bar = NEVER  # armed when the entry fills
                c.parent = o
                self._pending.append(c)
                self._all.append(c)
                self._events.append(c)  # "submitted", reason "protective order of <entry id>"
                kids.append(c)
            if len(kids) == 2:
                kids[0].oco, kids[1].oco = kids[1], kids[0]
            o.children = tuple(kids)
        return o

    def _check_bracket(self, s: int, kind: int, q: float, st: float, lm: float, sl: float, tp: float) -> None:
        """A bracket's stop-loss must lie on the losing side of the entry price and its take-profit on the
        winning side (else it would close the position at once, paying two fees). The entry price is
        the limit of a limit / stop-limit entry, the stop of a stop entry, else the last close (not
        checked in ``on_start``, where no close is known)."""
        ref = lm if lm == lm else st if st == st else self._close_rows[s][self.bar]
        side, what = (1.0, "buy") if q > 0 else (-1.0, "sell")
        for name, p, sign in (("stop_loss", sl, -1.0), ("take_profit", tp, 1.0)):
            if p == p and ref == ref and (p - ref) * side * sign <= 0.0:
                raise ValueError(f"bracket of a {what}: {name} {p:g} must be {'below' if side * sign < 0 else 'above'} "
                                 f"the entry price {ref:g} (limit, stop or last close)")
        if sl == sl and tp == tp and (tp - sl) * side <= 0.0:
            raise ValueError(f"bracket of a {what}: stop_loss {sl:g} and take_profit {tp:g} are on the wrong sides "
                             "of each other")

    def order(self, symbol: str, quantity: float, *, limit: float | None = None, stop: float | None = None,
              expire_after: int | None = None, reduce_only: bool = False, on_partial: str = "keep",
              stop_loss: float | None = None, take_profit: float | None = None, tag=None) -> Order:
        """Buy (> 0) or sell (< 0) ``quantity``. No price: market order at the next bar's open; ``limit``:
        limit order; ``stop``: stop-market; both: stop-limit. ``stop_loss`` / ``take_profit`` attach a
        bracket (reduce-only protective orders, one cancels the other, armed when this order fills).
        ``expire_after``: the order may fill on the next ``k`` bars only (default: good till cancelled).
        ``on_partial``: after a volume-capped partial fill ``"keep"`` the rest working or ``"cancel"`` it."""
        kind = (MARKET if stop is None else STOP) if limit is None else (LIMIT if stop is None else STOP_LIMIT)
        if (expire_after is None and not reduce_only and on_partial == "keep" and stop_loss is None
                and take_profit is None and tag is None):  # the common case, kept cheap
            # valid as _submit and _price judge it; anything else goes to _submit, which says what is wrong
            s = self._sym_index.get(symbol)
            q = float(quantity) if quantity.__class__ is float or quantity.__class__ is int else _NAN  # not "1", True
            if s is not None and q == q and q != 0.0 and q not in _INF:
                st = _NAN if stop is None else float(stop)
                lm = _NAN if limit is None else float(limit)
                if (stop is None or 0.0 < st < _INF_P) and (limit is None or 0.0 < lm < _INF_P):
                    all_ = self._all
                    o = Order(s, kind, q, self.bar, len(all_), st, lm)
                    self._pending.append(o)
                    all_.append(o)
                    self._events.append(o)  # "submitted" (see rmsbt.engine.broker._Books)
                    return o
        return self._submit(symbol, kind, quantity, stop=stop, limit=limit, expire_after=expire_after,
                            reduce_only=reduce_only, on_partial=on_partial, stop_loss=stop_loss,
                            take_profit=take_profit, tag=tag)

    def order_on_close(self, symbol: str, quantity: float, **kw) -> Order:
        """Market-on-close: executes at the close of the next bar (never at the close just seen)."""
        return self._submit(symbol, MOC, quantity, **kw)

    def order_target(self, symbol: str, target: float, **kw) -> Order:
        """Bring the position of ``symbol`` to ``target`` (signed quantity) at the next bar's open."""
        return self._submit(symbol, TARGET, target, **kw)

    def order_target_notional(self, symbol: str, notional: float, **kw) -> Order:
        """Target a signed position value in quote currency, converted at the fill bar's open."""
        return self._submit(symbol, TARGET, notional, target_mode=TARGET_NOTIONAL, **kw)

    def order_target_percent(self, symbol: str, fraction: float, **kw) -> Order:
        """Target ``fraction`` of equity (signed; 0.5 = half the equity long), converted at the fill bar's
        open with the equity marked at that open."""
        return self._submit(symbol, TARGET, fraction, target_mode=TARGET_PERCENT, **kw)

    def cancel(self, order: Order) -> bool:
        """Cancel a working order (and its unarmed protective orders). False if it was no longer working."""
        try:
            if order.status in DONE:
                return False
        except AttributeError:  # (no cost while nothing is raised)
            raise TypeError(f"ctx.cancel takes an Order (what ctx.order returned), got {order!r}") from None
        if order.children:
            self._broker.close_order(self.bar, order, CANCELLED, BY_STRATEGY)
        else:
            order.status = CANCELLED
            order.reason = BY_STRATEGY
            order.closed_bar = self.bar
            self._events.append(order)  # "cancelled" (see rmsbt.engine.broker._Books)
        return True  # the loop drops it from the working list before the next bar

    def cancel_all(self, symbol: str | None = None) -> None:
        s = None if symbol is None else self._data.index(symbol)
        for o in list(self._pending):
            if (s is None or o.symbol == s) and o.status not in DONE:
                self._broker.close_order(self.bar, o, CANCELLED, BY_STRATEGY)
        self._pending = [o for o in self._pending if o.status not in DONE]

    def replace(self, order: Order, *, quantity: float | None = None, limit: float | None = None,
                stop: float | None = None) -> Order:
        """Cancel ``order`` and submit a copy with the given changes, decided now (fills from the next bar).
        The new quantity defaults to what the old order had left. The order keeps its kind: ``stop=`` needs
        a stop or stop-limit order, ``limit=`` a limit or stop-limit order (else ``ValueError``; cancel and
        place a new order instead). A bracket's protective order (``entry.children``) keeps its place in
        the bracket: same entry, one-cancels-other with its sibling, unarmed until the entry fills (armed:
        live from the next bar); its quantity follows the entry's fills and cannot be given.
        Everything is checked before the old order is cancelled: a call that raises changes nothing."""
        if order.status in DONE:
            raise ValueError(f"order {order.id} is {order.status}; only working orders can be replaced")
        kind = order.kind
        if stop is not None and kind != STOP and kind != STOP_LIMIT:
            raise ValueError(f"order {order.id} is a {OrderKind(kind).name.lower()} order: it has no stop to replace")
        if limit is not None and kind != LIMIT and kind != STOP_LIMIT:
            raise ValueError(f"order {order.id} is a {OrderKind(kind).name.lower()} order: it has no limit to replace")
        parent = order.parent
        if parent is not None and quantity is not None:
            raise ValueError(f"order {order.id} protects entry {parent.id}: its quantity follows the entry's fills")
        sl = next((c.stop for c in order.children if c.kind == STOP), None)
        tp = next((c.limit for c in order.children if c.kind == LIMIT), None)
        q = order.remaining if quantity is None else quantity
        keep = lambda v: None if v != v else v  # noqa: E731
        new = self._submit(self._data.symbols[order.symbol], kind, q,
                           stop=keep(order.stop) if stop is None else stop,
                           limit=keep(order.limit) if limit is None else limit, target_mode=order.target_mode,
                           expire_after=None if order.expire_bar >= NEVER else max(1, order.expire_bar - self.bar),
                           reduce_only=order.reduce_only, on_partial="keep" if order.keep_remainder else "cancel",
                           stop_loss=sl, take_profit=tp, tag=order.tag)
        if parent is not None:  # a protective order: the new one takes the old one's place in the bracket
            new.parent = parent
            if order.active_bar >= NEVER:  # not armed yet: armed when the entry fills
                new.active_bar = NEVER
            parent.children = tuple(new if c is order else c for c in parent.children)
            if order.oco is not None:
                new.oco, order.oco.oco = order.oco, new
        self._broker.close_order(self.bar, order, CANCELLED, "replaced")
        self._pending = [o for o in self._pending if o.status not in DONE]
        return new

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        s = None if symbol is None else self._data.index(symbol)
        return [o for o in self._pending if o.status not in DONE and (s is None or o.symbol == s)]

    # --- records --------------------------------------------------------------------------------
    def record(self, **values: float) -> None:
        """Record named values for this bar (e.g. adapted parameters); written to params.csv."""
        self._records.append((self.bar, values))
