"""The simulated broker: turns working orders into fills. Kernels: :mod:`rmsbt.engine.broker_nb`.

Fill rules (each has a test in ``tests/test_broker*.py``; docs/broker.md has worked examples):

1. **Timing.** An order decided on bar t (inside ``on_bar`` of bar t, after bar t closed) can fill at
   the earliest on bar t+1. If its symbol has no bar then (a gap) it waits for the symbol's next real
   bar. An order with ``expire_after = k`` may fill on bars t+1..t+k and is then ``expired``.
2. **Market / target** orders execute at the open of the fill bar. Target orders trade
   ``target − position`` as it stands at that moment; a notional target is converted at the open
   (``qty = notional / open``), a fraction-of-equity target at the open with the equity marked at that
   open (``qty = fraction · equity / open``).
3. **Stops** (inclusive): a buy stop triggers when the bar's high reaches the stop, a sell stop when
   its low does. A bar opening at or beyond the stop fills at the open (gap); otherwise at the stop.
   A stop-limit triggers at its stop (same rule) and then works as a limit at its *limit* price: it
   fills at the trigger price at once if that is on the good side of the limit (taker, capped at the
   limit), else it rests at the limit (rule 4).
4. **Limits** fill when the price trades at or through the limit: at the open when the bar opens on
   the good side (the order then takes liquidity: taker fee, slippage, but never worse than the
   limit), else at the limit itself (it rested on the book: maker fee, no slippage).
5. **Slippage** (taker fills: market, target, stop, market-on-close, marketable limits) moves the price
   against the trader by ``slippage_bps + spread_bps/2 + impact_bps·√(|qty|/bar volume)`` and the
   result is **clamped into the fill bar's [low, high]** (and capped at a limit). Liquidations and
   resting limit fills get none.
6. **Intrabar order** (``intrabar = "finer_candles"`` reads which extreme came first from finer
   candles of the symbol where they cover the bar, :mod:`rmsbt.engine.intrabar`; otherwise, and by
   default, the bar's path is unknown): open first, then the *adverse* extreme for the
   position held after the open's fills (long: low first; short: high first; flat: the extreme nearer
   the open, low on a tie), then the other extreme, then the close. Orders fill in the order the path
   reaches their prices, so a stop-loss and a take-profit both inside one bar resolve to the stop.
   At one price, orders fill in submission order and a liquidation comes first. Across symbols: the
   opens of all symbols first (liquidations, then orders in submission order), then each symbol's
   path, then the market-on-close orders of all symbols in submission order.
7. **Protective orders** of a bracket (stop-loss, take-profit; reduce-only; one cancels the other)
   become live when the entry fills. ``protective_same_bar``: ``"after_open_fill"`` (default) — live in
   the entry's own bar when the entry filled at that bar's open (the open precedes the bar's high and
   low), else from the next bar; ``"never"`` — always from the next bar; ``"always"`` — also after an
   intrabar entry, following the assumed path.
8. **Market-on-close** executes at the close of the first bar after the decision (taker, slipped).
9. **Volume cap** (``volume_cap`` > 0): one order fills at most ``volume_cap · bar volume`` per bar; the
   rest stays working (fills on later bars, partial fills recorded) or is cancelled, per order.
10. **Lot size / minimum notional**: quantities are rounded *down* to the symbol's lot; a quantity of 0
    or a notional below ``min_notional`` rejects the order with a reason.
11. **Reduce-only** orders are clipped to the position and never open or flip one.
12. **Cash / margin check**: spot — a buy needs ``qty·price + fee <= cash``, a sell ``qty <= holdings``
    (no shorting) and ``fee <= cash + qty·price`` (else rejected: selling less cannot help), so cash
    stays >= 0; margin — the part of a fill that opens exposure needs ``notional / leverage + fee``
    of free margin, ``wallet − posted margin + Σ min(unrealized, 0)`` (unrealized *profit* never
    margins new exposure; :func:`~rmsbt.engine.portfolio_nb.free_margin`). Short of that the order is
    ``rejected`` with the reason (``on_insufficient = "reject"``, default) or sized down to what fits
    (``"resize"``). Cash is never overdrawn silently.
13. **Fees** (quote currency, on the fill's notional): maker rate for resting limit fills, taker rate
    otherwise; ``max(notional·rate, min_fee) + fixed_fee`` with the fixed fee once per order and the
    minimum only for non-negative rates (a rebate stays a credit).
14. **Liquidation** (margin mode, isolated): at the liquidation price
    (:func:`~rmsbt.engine.broker_nb.liquidation_price`) or at the open when the bar gaps through it,
    with ``liquidation_fee_bps``; the loss (incl. that fee) never exceeds the position's posted margin
    (the exchange's insurance fund takes the rest, booked as a credit in the fill's realized PnL).
15. **Funding** (margin mode): see :mod:`rmsbt.engine.funding`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, RmsbtError
from ..timeframes import timeframe_to_ms
from .broker_nb import (EV_FILL, EV_TRIGGER, MARKET, MOC, STOP, STOP_LIMIT, TARGET, affordable_qty,
                        fill_fee, liquidation_event, liquidation_price, market_fill_price, path_event,
                        round_down_lot, slippage_bps, taker_fee, taker_price)
from .orders import (BY_STRATEGY, CANCELLED, DONE, EXPIRED, FILLED, PARTIAL, REJECTED, TARGET_NOTIONAL,
                     TARGET_PERCENT, Order, OrderKind, touch_band_py)

__all__ = ["BrokerConfig", "Broker", "market_fill_price", "taker_fee", "fill_fee", "resolve_quantity"]

MODES = ("spot", "margin")
ON_INSUFFICIENT = ("reject", "resize")
PROTECTIVE = ("after_open_fill", "never", "always")
FUNDING = ("none", "constant", "history")
INTRABAR = ("adverse_first", "finer_candles")


def _check_number(key: str, v, *, min_excl: float | None = None, min_incl: float | None = None,
                  max_incl: float | None = None, max_excl: float | None = None, hint: str = "") -> float:
    """``v`` as a finite float within the bounds, else :class:`ConfigError` naming ``broker.<key>``
    (``hint``: what the value is, put before the bound in the message)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise ConfigError(f"broker.{key}: expected a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ConfigError(f"broker.{key}: must be finite, got {v!r}")
    if min_excl is not None and not v > min_excl:
        raise ConfigError(f"broker.{key}: {hint}must be > {min_excl:g}, got {v!r}")
    if min_incl is not None and not v >= min_incl:
        raise ConfigError(f"broker.{key}: {hint}must be >= {min_incl:g}, got {v!r}")
    if max_incl is not None and not v <= max_incl:
        raise ConfigError(f"broker.{key}: {hint}must be <= {max_incl:g}, got {v!r}")
    if max_excl is not None and not v < max_excl:
        raise ConfigError(f"broker.{key}: {hint}must be < {max_excl:g}, got {v!r}")
    return v


def _check_choice(key: str, v, allowed: tuple[str, ...]) -> None:
    if v not in allowed:
        raise ConfigError(f"broker.{key}: expected one of {', '.join(repr(a) for a in allowed)}, got {v!r}")


@dataclass(frozen=True)
class BrokerConfig:
    """Broker settings (the ``[broker]`` table of a config; docs/broker.md lists each with its rule).

    ``max_leverage``, ``lot_size`` and ``min_notional`` take one number for every symbol or a dict
    ``{symbol: number}`` (symbols not listed get the ``"*"`` entry, else the default).

    Every value is checked when the config is made (:meth:`__post_init__`; a ``[broker]`` table of a
    TOML config goes through the same checks): a bad value raises :class:`~rmsbt.errors.ConfigError`
    naming ``broker.<field>``. ``maker_fee_bps`` left at ``None`` becomes ``taker_fee_bps``.
    """

    initial_cash: float = 10_000.0
    mode: str = "margin"  #: "margin" (shorts, leverage, funding, liquidation) or "spot"
    taker_fee_bps: float = 10.0  #: taker fee, basis points of notional (``fee_bps`` in a config is an alias)
    maker_fee_bps: float | None = None  #: maker fee (resting limit fills); negative = rebate; None: = taker
    fixed_fee: float = 0.0  #: quote currency per order (charged on its first fill)
    min_fee: float = 0.0  #: quote currency, minimum percentage fee per fill
    slippage_bps: float = 0.0  #: fixed adverse move of every taker fill
    spread_bps: float = 0.0  #: quoted spread; a taker fill pays half of it
    impact_bps: float = 0.0  #: sqrt impact: impact_bps · √(|qty| / bar volume)
    volume_cap: float = 0.0  #: max share of a bar's volume one order takes per bar (0 = no cap)
    on_insufficient: str = "reject"  #: "reject" or "resize"
    protective_same_bar: str = "after_open_fill"  #: "after_open_fill", "never", "always"
    #: THE leverage of every position (margin mode, isolated): each posts ``notional / max_leverage`` of
    #: margin and is liquidated at ``avg · (1 ∓ 1/max_leverage ± maintenance_margin)`` — not just a cap
    max_leverage: float | dict = 1.0
    maintenance_margin: float = 0.005  #: maintenance-margin rate (fraction of notional)
    liquidation_fee_bps: float = 0.0  #: charged on the liquidated notional
    lot_size: float | dict = 0.0  #: quantity step (0 = none)
    min_notional: float | dict = 0.0  #: smallest fill notional (0 = none)
    funding: str = "none"  #: "none", "constant" (funding_rate) or "history" (<exchange>/<STEM>-funding.<ext>)
    funding_rate: float = 0.0001  #: per funding time, fraction of notional (constant mode)
    funding_interval_hours: float = 8.0  #: funding times every this many hours from 00:00 UTC (constant)
    intrabar: str = "adverse_first"  #: or "finer_candles": which extreme came first, from finer candles
    intrabar_timeframe: str = "1m"  #: the finer candles' timeframe (intrabar = "finer_candles")

    def __post_init__(self) -> None:
        if self.maker_fee_bps is None:
            object.__setattr__(self, "maker_fee_bps", self.taker_fee_bps)

        def num(key: str, **bounds) -> float:  # checked, and stored as a float
            v = _check_number(key, getattr(self, key), **bounds)
            object.__setattr__(self, key, v)
            return v

        num("initial_cash", min_excl=0.0)
        _check_choice("mode", self.mode, MODES)
        num("taker_fee_bps", min_incl=0.0)  # only maker fees can be rebates
        num("maker_fee_bps")
        for key in ("fixed_fee", "min_fee", "slippage_bps", "spread_bps", "impact_bps", "liquidation_fee_bps"):
            num(key, min_incl=0.0)
        num("volume_cap", min_incl=0.0, max_incl=1.0, hint="a share of the bar's volume, ")
        _check_choice("on_insufficient", self.on_insufficient, ON_INSUFFICIENT)
        _check_choice("protective_same_bar", self.protective_same_bar, PROTECTIVE)
        mmr = num("maintenance_margin", min_incl=0.0, max_excl=1.0, hint="a rate (0.005 = 0.5 %), ")
        for key, low in (("max_leverage", 1.0), ("lot_size", 0.0), ("min_notional", 0.0)):
            v = getattr(self, key)
            if isinstance(v, dict):
                object.__setattr__(self, key, {sym: _check_number(f"{key}.{sym}", x, min_incl=low)
                                               for sym, x in v.items()})
                values = getattr(self, key).items()
            else:
                values = (("", num(key, min_incl=low)),)
            if key == "max_leverage" and self.mode == "margin":
                for sym, x in values:
                    if 1.0 / x <= mmr:
                        raise ConfigError(
                            f"broker.{key}{'.' + sym if sym else ''}: {x:g} with maintenance_margin {mmr:g} puts "
                            "the liquidation price at or beyond the entry price (every position would be "
                            f"liquidated at once); need 1/max_leverage > maintenance_margin, i.e. max_leverage "
                            f"< {1.0 / mmr:g}")
        _check_choice("funding", self.funding, FUNDING)
        if self.mode == "spot" and self.funding != "none":
            raise ConfigError("broker.funding: funding applies to perpetuals; it needs broker.mode = \"margin\"")
        num("funding_rate")
        num("funding_interval_hours", min_excl=0.0)
        _check_choice("intrabar", self.intrabar, INTRABAR)
        try:
            timeframe_to_ms(self.intrabar_timeframe)
        except RmsbtError as exc:
            raise ConfigError(f"broker.intrabar_timeframe: {exc}") from None

    @property
    def fee_bps(self) -> float:
        """Alias of :attr:`taker_fee_bps` (the name used before maker/taker fees existed)."""
        return self.taker_fee_bps

    def per_symbol(self, name: str, symbol: str) -> float:
        v = getattr(self, name)
        if isinstance(v, dict):
            return float(v.get(symbol, v.get("*", BrokerConfig.__dataclass_fields__[name].default)))
        return float(v)


def resolve_quantity(order: Order, position: float, price: float = math.nan, equity: float = math.nan) -> float:
    """Signed quantity an order trades when it fills, given the position, fill reference price and equity."""
    if order.kind == TARGET:
        if order.target_mode == TARGET_NOTIONAL:
            return order.quantity / price - position
        if order.target_mode == TARGET_PERCENT:
            return order.quantity * equity / price - position
        return order.quantity - position
    return order.quantity - order.filled


@dataclass
class _Books:
    """Everything the broker writes during a run (turned into DataFrames at the end).

    ``events`` holds one entry per event, in the order they happened: a tuple ``(bar, order, symbol,
    event, qty, price, reason)`` (:meth:`Broker.event`), or — for the two events of every order a
    strategy places and cancels, which are kept allocation-free — the :class:`Order` itself: an order's
    first entry is always this form and means ``submitted`` (bar ``decided_bar``, ``submitted_qty``, its
    stop or limit price; a bracket's protective order says whose), a second one is its cancellation by
    the strategy (bar ``closed_bar``). :func:`event_rows` expands both forms.
    """

    fills: list = field(default_factory=list)
    events: list = field(default_factory=list)
    orders: list = field(default_factory=list)


def submitted_price(o: Order) -> float:
    """The price a ``submitted`` event shows: the stop of a stop / stop-limit order, else the limit (NaN)."""
    return o.stop if o.kind == STOP or o.kind == STOP_LIMIT else o.limit


def event_rows(events: list):
    """``(bar, order, symbol index, event, qty, price, reason)`` for every entry of ``_Books.events``."""
    seen = set()
    for e in events:
        if type(e) is tuple:
            t, o, s, ev, q, p, why = e
            yield t, o, (o.symbol if o is not None else s), ev, q, p, why
        elif e.id not in seen:
            seen.add(e.id)
            yield (e.decided_bar, e, e.symbol, "submitted", e.submitted_qty, submitted_price(e),
                   "" if e.parent is None else f"protective order of {e.parent.id}")
        else:
            yield e.closed_bar, e, e.symbol, CANCELLED, math.nan, math.nan, BY_STRATEGY


class Broker:
    """Applies the fill rules bar by bar. The loop calls :meth:`process_bar` before marking bar t."""

    def __init__(self, cfg: BrokerConfig, data, portfolio, trades, books: _Books, intrabar=None):
        self.cfg = cfg
        self.data = data
        self.pf = portfolio
        self.trades = trades
        self.books = books
        syms = data.symbols
        self.margin = cfg.mode == "margin"
        self.lev = np.array([cfg.per_symbol("max_leverage", s) if self.margin else 1.0 for s in syms])
        self.lot = np.array([cfg.per_symbol("lot_size", s) for s in syms])
        self.min_notional = np.array([cfg.per_symbol("min_notional", s) for s in syms])
        self.liq = np.full(len(syms), np.nan)  #: liquidation price per symbol (NaN: none)
        self.mmr = float(cfg.maintenance_margin)
        self.liq_fee = float(cfg.liquidation_fee_bps)
        self.taker, self.maker = float(cfg.taker_fee_bps), float(cfg.maker_fee_bps)
        self.slip = (float(cfg.slippage_bps), float(cfg.spread_bps), float(cfg.impact_bps))
        self.cap = float(cfg.volume_cap)
        self.resize = cfg.on_insufficient == "resize"
        self.protect = cfg.protective_same_bar
        o, h, lo, c, v = data.open, data.high, data.low, data.close, data.volume
        self.o, self.h, self.lo, self.c, self.v, self.present = o, h, lo, c, v, data.present
        self.ts = data.timestamps
        self.xorder = intrabar  #: (n_symbols, n_bars) int8 from rmsbt.engine.intrabar, or None
        self.finer_bars = 0  #: bars whose path order came from finer candles
        # python lists for the per-bar pre-checks (list indexing is ~5x cheaper than numpy scalar indexing)
        self.present_rows, self.low_rows, self.high_rows = data.present.tolist(), lo.tolist(), h.tolist()
        self.n_positions = 0  #: symbols with a position (only those can be liquidated)

    # --- log --------------------------------------------------------------------------------------
    def event(self, t: int, o: Order | None, ev: str, qty: float = math.nan, price: float = math.nan,
              reason: str = "", symbol: int | None = None) -> None:
        """Log one event (raw: the DataFrame is built once, when the result's ``events`` is first read)."""
        self.books.events.append((t, o, symbol, ev, qty, price, reason))

    def close_order(self, t: int, o: Order, status: str, reason: str) -> None:
        o.status = status
        o.reason = reason
        self.event(t, o, status, reason=reason)
        for ch in o.children:  # a bracket whose entry never filled takes its protection with it
            if ch.is_open and ch.filled == 0.0 and o.filled == 0.0:
                ch.status, ch.reason = CANCELLED, f"entry order {o.id} {status}"
                self.event(t, ch, CANCELLED, reason=ch.reason)

    # --- one bar -----------------------------------------------------------------------------------
    def process_bar(self, t: int, pending: list) -> list:
        """Fill what bar t fills; return the orders still working afterwards (submission order kept).

        ``pending`` may hold orders that ended since the last bar (cancelled by the strategy): they are
        dropped here. A bar on which no order can act (its touch band, see
        :func:`~rmsbt.engine.broker_nb.touch_band`, is not reached) and no position can be liquidated
        costs a few comparisons per working order."""
        present, lows, highs = self.present_rows, self.low_rows, self.high_rows
        need = None
        live = []
        for o in pending:
            if o.status in DONE:
                continue
            if o.expire_bar < t:
                self.close_order(t, o, EXPIRED, f"not filled by bar {o.expire_bar}")
                continue
            live.append(o)
            s = o.symbol
            if (o.band_lo >= lows[s][t] or o.band_hi <= highs[s][t]) and t >= o.active_bar and present[s][t]:
                if need is None:
                    need = set()
                need.add(s)
        if self.n_positions and self.margin:
            qty = self.pf.qty
            for s in range(qty.shape[0]):
                q = qty[s]
                if q != 0.0 and present[s][t] and ((q > 0.0 and lows[s][t] <= self.liq[s])
                                                   or (q < 0.0 and highs[s][t] >= self.liq[s])):
                    if need is None:
                        need = set()
                    need.add(s)
        if need is None:
            return live
        syms = sorted(need)
        orders = [o for o in live if o.symbol in need]
        # 1. the open, all symbols at once: liquidations of positions the open gaps through, then
        #    market/target orders and orders the open gaps through, in submission order
        if self.margin:
            for s in syms:
                if self.pf.qty[s] != 0.0:
                    p, _ = liquidation_event(self.pf.qty[s], self.liq[s], self.o[s, t], self.o[s, t])
                    if p == p:
                        self._liquidate(s, t, p)
        for o in orders:
            if o.status not in DONE and t >= o.active_bar and o.kind != MOC:
                self._at_open(o, t)
        # 2. inside the bar, symbol by symbol (each has its own path)
        for s in syms:
            self._intrabar(s, t, [o for o in orders if o.symbol == s])
        # 3. the close, all symbols: market-on-close orders in submission order
        moc = False
        for o in orders:
            if o.kind == MOC and o.status not in DONE and t >= o.active_bar:
                self._execute(o, t, self.c[o.symbol, t], True, False)
                moc = True
        if moc and self.margin:  # a position a close fill left beyond its liquidation price (the fill
            for s in syms:      # price slipped away from the close): liquidated at the close (rule 14)
                if self.pf.qty[s] != 0.0:
                    p, _ = liquidation_event(self.pf.qty[s], self.liq[s], self.c[s, t], self.c[s, t])
                    if p == p:
                        self._liquidate(s, t, p)
        return [o for o in live if o.status not in DONE]

    def _at_open(self, o: Order, t: int) -> None:
        op = self.o[o.symbol, t]
        ev, p, _ = path_event(o.kind, o.quantity, o.stop, o.limit, o.triggered, op, op)
        if ev == EV_TRIGGER:
            set_triggered(o)
            self.event(t, o, "triggered", price=p)
            ev, p, _ = path_event(o.kind, o.quantity, o.stop, o.limit, True, op, op)
        if ev == EV_FILL:
            self._execute(o, t, p, True, True)

    def _intrabar(self, s: int, t: int, orders: list) -> None:
        """The path open → adverse extreme → other extreme → close of symbol ``s`` on bar t (rule 6)."""
        op, hi, lo, cl = self.o[s, t], self.h[s, t], self.lo[s, t], self.c[s, t]
        pf = self.pf
        q = pf.qty[s]
        known = 0 if self.xorder is None else self.xorder[s, t]
        if known:
            self.finer_bars += 1
        if known == 1 or (known == 0 and (q > 0.0 or (q == 0.0 and op - lo <= hi - op))):
            path = (op, lo, hi, cl)
        else:
            path = (op, hi, lo, cl)
        for k in range(3):
            a, b = path[k], path[k + 1]
            if a == b:
                continue
            up = b > a
            while True:
                best, best_p, best_ev, best_start = None, math.nan, 0, False
                for o in orders:
                    if (o.status in DONE or t < o.active_bar or o.last_fill_bar == t
                            or o.kind == MOC or o.kind == MARKET or o.kind == TARGET):
                        continue
                    ev, p, at_start = path_event(o.kind, o.quantity, o.stop, o.limit, o.triggered, a, b)
                    if ev and (best is None or (p < best_p if up else p > best_p)):
                        best, best_p, best_ev, best_start = o, p, ev, at_start
                liq_p = math.nan
                if pf.qty[s] != 0.0 and self.margin:
                    liq_p, _ = liquidation_event(pf.qty[s], self.liq[s], a, b)
                if liq_p == liq_p and (best is None or (liq_p <= best_p if up else liq_p >= best_p)):
                    self._liquidate(s, t, liq_p)
                    a = liq_p
                    continue
                if best is None:
                    break
                if best_ev == EV_TRIGGER:
                    set_triggered(best)
                    self.event(t, best, "triggered", price=best_p)
                    ev, p, at_start = path_event(best.kind, best.quantity, best.stop, best.limit, True, best_p,
                                                 best_p)
                    if ev == EV_FILL:  # the limit allows a fill right at the trigger: it takes liquidity
                        self._execute(best, t, p, True, False)
                else:
                    self._execute(best, t, best_p, best_start or best.kind == STOP, False)
                a = best_p

    # --- one fill ----------------------------------------------------------------------------------
    def _execute(self, o: Order, t: int, ref: float, taker: bool, at_open: bool) -> None:
        """Fill (part of) order ``o`` at reference price ``ref`` on bar t, applying rules 9–13."""
        s = o.symbol
        pf = self.pf
        o.last_fill_bar = t  # one attempt per order per bar, whatever its outcome
        pos = pf.qty[s]
        lo, hi, vol = self.lo[s, t], self.h[s, t], self.v[s, t]
        if o.kind == TARGET:
            eq = pf.equity_at(s, ref) if o.target_mode == TARGET_PERCENT else math.nan
            dq = resolve_quantity(o, pos, ref, eq)
            if dq == 0.0 or not math.isfinite(dq):
                self.close_order(t, o, FILLED, "already at target")
                return
        else:
            dq = o.quantity - o.filled
        side = 1.0 if dq > 0.0 else -1.0
        aq = abs(dq)
        if o.reduce_only:
            if pos == 0.0 or (pos > 0.0) == (side > 0.0):
                self.close_order(t, o, CANCELLED, "reduce-only: no position to reduce")
                return
            aq = min(aq, abs(pos))
        capped = False
        if self.cap > 0.0 and aq > self.cap * vol:
            aq, capped = self.cap * vol, True
        aq = round_down_lot(aq, self.lot[s])
        if aq <= 0.0:
            if capped:
                self._cap_remainder(o, t)
                return
            self.close_order(t, o, REJECTED, f"quantity {abs(dq):.10g} rounds down to 0 at lot size {self.lot[s]:g}")
            return
        if taker:
            price = taker_price(ref, side, slippage_bps(aq, vol, *self.slip), lo, hi, o.kind, o.limit)
            rate = self.taker
        else:
            price, rate = ref, self.maker
        if aq * price < self.min_notional[s]:
            if capped:
                self._cap_remainder(o, t)
                return
            self.close_order(t, o, REJECTED, f"notional {aq * price:.10g} below min_notional {self.min_notional[s]:g}")
            return
        fixed = self.cfg.fixed_fee if o.fill_value == 0.0 else 0.0
        aq0 = aq
        # rule 12: cash / margin
        if self.margin:
            opening = aq if (pos == 0.0 or (pos > 0.0) == (side > 0.0)) else max(0.0, aq - abs(pos))
            if opening > 0.0:
                need = opening * price / self.lev[s] + fill_fee(aq * price, rate, self.cfg.min_fee, fixed)
                # free margin without unrealized profit; a flip first releases and realizes the old position
                free = pf.free_margin(self.lev, s, price, opening < aq)
                if need > free:
                    fit = affordable_qty(free, price, rate, self.cfg.min_fee, fixed, self.lev[s]) + (aq - opening)
                    why = f"insufficient margin: need {need:.10g}, free {free:.10g}"
                    aq = self._insufficient(o, t, aq, fit, s, why)
                    if aq <= 0.0:
                        return
        else:
            if side < 0.0 and aq > pos:
                aq = self._insufficient(o, t, aq, max(pos, 0.0), s,
                                        f"spot: cannot sell {aq:.10g}, holding {max(pos, 0.0):.10g}")
                if aq <= 0.0:
                    return
            if side < 0.0 and pf.cash + aq * price < fill_fee(aq * price, rate, self.cfg.min_fee, fixed):
                # the fee (a minimum or fixed fee) exceeds cash + proceeds; selling less cannot help
                fee = fill_fee(aq * price, rate, self.cfg.min_fee, fixed)
                self.close_order(t, o, REJECTED, f"insufficient cash for the fee: fee {fee:.10g}, "
                                                 f"cash + proceeds {pf.cash + aq * price:.10g}")
                return
            if side > 0.0:
                need = aq * price + fill_fee(aq * price, rate, self.cfg.min_fee, fixed)
                if need > pf.cash:
                    fit = affordable_qty(pf.cash, price, rate, self.cfg.min_fee, fixed, 1.0)
                    why = f"insufficient cash: need {need:.10g}, have {pf.cash:.10g}"
                    aq = self._insufficient(o, t, aq, fit, s, why)
                    if aq <= 0.0:
                        return
        if self.margin and pos != 0.0 and (pos > 0.0) != (side > 0.0) and (
                price < self.liq[s] if pos > 0.0 else price > self.liq[s]):
            # a closing fill whose (slipped) price lies beyond the position's liquidation price: the
            # price passed the liquidation price on its way there, so the position was liquidated
            # first (rule 14); the order finds nothing left to close and is cancelled
            liq_p = self.liq[s]
            self._liquidate(s, t, liq_p)
            self.close_order(t, o, CANCELLED, f"position liquidated at {liq_p:.10g} before this fill "
                                              f"(its price {price:.10g} lies beyond the liquidation price)")
            return
        resized = aq < aq0
        fee = fill_fee(aq * price, rate, self.cfg.min_fee, fixed)
        q_signed = side * aq
        slip_cost = aq * abs(price - ref) if taker else 0.0
        self._book(s, t, q_signed, price, fee, slip_cost, o, "taker" if taker else "maker", ref)
        o.filled += q_signed  # TARGET: what it has traded
        o.fill_value += aq * price
        o.fees += fee
        if o.kind == TARGET:
            done = not capped  # a volume-capped target keeps working towards its target
        else:
            if resized:  # sized down: the order shrinks to what was filled
                o.quantity = o.filled
            done = abs(o.quantity - o.filled) <= 1e-12 * abs(o.quantity) or (o.reduce_only and pf.qty[s] == 0.0)
        if done:
            o.status = FILLED
            self.event(t, o, FILLED, q_signed, price)
        else:
            o.status = PARTIAL
            self.event(t, o, PARTIAL, q_signed, price)
            if not o.keep_remainder:
                self.close_order(t, o, CANCELLED, "remainder cancelled after a partial fill")
        # bracket: the entry's fills arm its protection
        for ch in o.children:
            if ch.is_open:
                ch.quantity = -o.filled
                set_band(ch)
                if ch.active_bar > t:
                    same = self.protect == "always" or (self.protect == "after_open_fill" and at_open)
                    ch.active_bar = t if same else t + 1
        if o.oco is not None and done and o.oco.is_open:
            self.close_order(t, o.oco, CANCELLED, f"one-cancels-other: order {o.id} filled")

    def _cap_remainder(self, o: Order, t: int) -> None:
        if not o.keep_remainder:
            self.close_order(t, o, CANCELLED, "volume cap leaves nothing to fill this bar")

    def _insufficient(self, o: Order, t: int, aq: float, fit: float, s: int, reason: str) -> float:
        if self.resize:
            q = round_down_lot(min(aq, fit), self.lot[s])
            if q > 0.0:
                self.event(t, o, "resized", q, reason=reason)
                return q
        self.close_order(t, o, REJECTED, reason)
        return 0.0

    def _book(self, s: int, t: int, dq: float, price: float, fee: float, slip_cost: float, o: Order | None,
              liquidity: str, ref: float, extra_pnl: float = 0.0) -> None:
        pf = self.pf
        q0, avg0 = pf.qty[s], pf.avg_price[s]
        pnl = pf.fill(s, dq, price, fee) + extra_pnl
        self.n_positions += int(pf.qty[s] != 0.0) - int(q0 != 0.0)
        if extra_pnl:
            pf.credit(s, extra_pnl)
        self.liq[s] = (liquidation_price(pf.qty[s], pf.avg_price[s], self.lev[s], self.mmr)
                       if self.margin else math.nan)
        self.trades.on_fill(s, t, dq, price, fee, slip_cost, q0, avg0, pnl)
        self.books.fills.append((int(self.ts[t]), t, self.data.symbols[s], "buy" if dq > 0 else "sell", dq, price,
                                 fee, pnl, o.decided_bar if o is not None else -1, o.id if o is not None else -1,
                                 OrderKind(o.kind).name.lower() if o is not None else "liquidation", liquidity,
                                 slip_cost, ref))

    def _liquidate(self, s: int, t: int, price: float) -> None:
        """Close the whole position at ``price``; the loss incl. the fee is capped at the posted margin."""
        pf = self.pf
        q, avg = pf.qty[s], pf.avg_price[s]
        fee = abs(q) * price * self.liq_fee * 1e-4
        margin = abs(q) * avg / self.lev[s]
        loss = -q * (price - avg) + fee  # −gross + fee, gross = q·(price − avg)
        credit = loss - margin if loss > margin else 0.0
        self.event(t, None, "liquidated", -q, price,
                   f"liquidation price {self.liq[s]:.10g}; posted margin {margin:.10g}"
                   + (f"; insurance fund covers {credit:.10g}" if credit else ""), symbol=s)
        self._book(s, t, -q, price, fee, 0.0, None, "liquidation", price, credit)




def set_band(o: Order) -> None:
    """Cache the prices between which ``o`` cannot act (:func:`~rmsbt.engine.broker_nb.touch_band`)."""
    o.band_lo, o.band_hi = touch_band_py(o.kind, o.quantity, o.stop, o.limit, o.triggered)


def set_triggered(o: Order) -> None:
    o.triggered = True
    set_band(o)
