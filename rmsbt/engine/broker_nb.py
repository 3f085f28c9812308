"""Numba kernels of the simulated broker: triggers, fill prices, slippage, fees, margin, liquidation.

Python face: :mod:`rmsbt.engine.broker`. Every path that fills an order (the Python loop, a compiled
loop) calls these functions, so each rule is written once. The rules are listed in the docstring of
:mod:`rmsbt.engine.broker`; each function says which formula it applies.

Order kinds (integers so that a compiled loop can hold them in arrays)::

    MARKET = 0  TARGET = 1  LIMIT = 2  STOP = 3  STOP_LIMIT = 4  MOC = 5

``side`` is +1 for a buy and −1 for a sell.
"""

from __future__ import annotations

import math

from numba import njit

MARKET = 0
TARGET = 1
LIMIT = 2
STOP = 3
STOP_LIMIT = 4
MOC = 5

# what path_event found
EV_NONE = 0
EV_FILL = 1  #: the order executes at the returned price
EV_TRIGGER = 2  #: a stop-limit's stop was reached at the returned price; it now rests as a limit


@njit(cache=True, nogil=True)
def path_event(kind, side, stop, limit, triggered, a, b):
    """First event of a working order while the price moves in a straight line from ``a`` to ``b``.

    ``a == b`` asks about the single price ``a`` (the bar's open). Returns ``(event, price, at_start)``:

    - market / target: fill at ``a`` (they are only ever asked at the open).
    - stop (market): a buy stop triggers when the price is ``>= stop`` (equal counts), a sell stop when
      ``<= stop``. Already beyond the stop at ``a`` (a gap at the open): fill at ``a``; reached on the way
      to ``b``: fill at ``stop``.
    - limit: a buy limit executes when the price is ``<= limit``, a sell limit when ``>= limit``.
      Already on the good side at ``a``: fill at ``a`` (``at_start``; the order takes liquidity); reached
      on the way to ``b``: fill at ``limit`` (the order rested on the book).
    - stop-limit not yet triggered: the stop rule above gives the trigger price ``x`` (``EV_TRIGGER``);
      the caller then treats the order as a limit from ``x`` on.
    - market-on-close: never on the path (it executes at the close).

    Prices here are reference prices before slippage (see :func:`taker_price`).
    """
    if kind == MARKET or kind == TARGET:
        return EV_FILL, a, True
    if kind == MOC:
        return EV_NONE, math.nan, False
    if kind == STOP or (kind == STOP_LIMIT and not triggered):
        ev = EV_FILL if kind == STOP else EV_TRIGGER
        if side > 0:
            if a >= stop:
                return ev, a, True
            if b >= stop:
                return ev, stop, False
        else:
            if a <= stop:
                return ev, a, True
            if b <= stop:
                return ev, stop, False
        return EV_NONE, math.nan, False
    # LIMIT, or a triggered STOP_LIMIT resting as a limit
    if side > 0:
        if a <= limit:
            return EV_FILL, a, True
        if b <= limit:
            return EV_FILL, limit, False
    else:
        if a >= limit:
            return EV_FILL, a, True
        if b >= limit:
            return EV_FILL, limit, False
    return EV_NONE, math.nan, False


@njit(cache=True, nogil=True)
def touch_band(kind, side, stop, limit, triggered):
    """``(band_lo, band_hi)``: a working order can have an event in a bar (see :func:`path_event`) only
    if the bar's ``low <= band_lo`` or its ``high >= band_hi``; a cheap pre-check the loop runs on every
    bar with two comparisons. Market, target and market-on-close orders always act (``+inf, −inf``)."""
    inf = math.inf
    if kind == LIMIT or (kind == STOP_LIMIT and triggered):  # resting limits first: the common case
        return (limit, inf) if side > 0 else (-inf, limit)
    if kind == STOP or kind == STOP_LIMIT:
        return (-inf, stop) if side > 0 else (stop, inf)
    return inf, -inf  # MARKET, TARGET, MOC


@njit(cache=True, nogil=True)
def slippage_bps(qty, volume, fixed_bps, spread_bps, impact_bps):
    """Adverse price move of a taker fill, in basis points.

    ``fixed_bps + spread_bps / 2 + impact_bps · sqrt(|qty| / volume)``: a fixed cost, half the quoted
    spread, and a square-root market-impact term in the order's share of the fill bar's volume
    (a bar with zero volume gives an infinite impact when ``impact_bps > 0``: the fill is then clamped
    to the bar's high for a buy, low for a sell).
    """
    bps = fixed_bps + 0.5 * spread_bps
    if impact_bps > 0.0:
        if volume > 0.0:
            bps += impact_bps * math.sqrt(abs(qty) / volume)
        else:
            bps = math.inf
    return bps


@njit(cache=True, nogil=True)
def taker_price(ref, side, slip_bps, low, high, kind, limit):
    """Price of a fill that takes liquidity (market, stop, MOC, a limit marketable on arrival).

    ``ref · (1 + side · slip_bps / 10_000)`` — slippage always against the trader — then clamped into the
    fill bar's ``[low, high]`` (a fill never happens at a price that did not trade), then, for a limit
    or stop-limit, capped at the limit (a buy never above it, a sell never below it). No tick rounding.
    """
    if math.isinf(slip_bps):
        price = high if side > 0 else low
    else:
        price = ref * (1.0 + side * slip_bps * 1e-4)
    if price > high:
        price = high
    if price < low:
        price = low
    if kind == LIMIT or kind == STOP_LIMIT:
        if side > 0 and price > limit:
            price = limit
        if side < 0 and price < limit:
            price = limit
    return price


@njit(cache=True, nogil=True)
def market_fill_price(open_, low, high, side, slippage_bps_):
    """Market order at a bar's open: ``open · (1 + side · bps/10_000)`` clamped into ``[low, high]``."""
    return taker_price(open_, side, slippage_bps_, low, high, MARKET, 0.0)


@njit(cache=True, nogil=True)
def fill_fee(notional, rate_bps, min_fee, fixed_fee):
    """Fee of one fill in quote currency: ``max(notional · rate_bps / 10_000, min_fee) + fixed_fee``.

    ``notional = |qty| · price``. A negative ``rate_bps`` (a maker rebate) gives a negative fee, a credit;
    the minimum fee applies only to non-negative rates (a rebate is never turned into a charge by it).
    ``fixed_fee`` is passed as 0 by the caller on every fill of an order except its first (it is a fee
    per order). No rounding.
    """
    fee = notional * rate_bps * 1e-4
    if rate_bps >= 0.0 and fee < min_fee:
        fee = min_fee
    return fee + fixed_fee


@njit(cache=True, nogil=True)
def taker_fee(qty, price, fee_bps):
    """Taker fee ``|qty| · price · fee_bps / 10_000`` (no minimum, no fixed part)."""
    return fill_fee(abs(qty) * price, fee_bps, 0.0, 0.0)


@njit(cache=True, nogil=True)
def affordable_qty(available, price, rate_bps, min_fee, fixed_fee, leverage):
    """Largest quantity whose cost fits in ``available`` quote currency.

    Cost of opening ``q`` at ``price`` = ``q·price / leverage`` (the cash paid in spot mode with
    ``leverage = 1``, the initial margin in margin mode) ``+ fee``, fee as in :func:`fill_fee`. With
    ``n = q·price`` the conditions are ``n/L + n·r + fixed <= available`` and, when the minimum fee
    binds, ``n/L + min_fee + fixed <= available``; the result is the smaller solution (≥ 0).
    """
    r = rate_bps * 1e-4
    room = available - fixed_fee
    if room <= 0.0:
        return 0.0
    n = room / (1.0 / leverage + r) if (1.0 / leverage + r) > 0.0 else math.inf
    if r >= 0.0 and min_fee > 0.0:
        n2 = (room - min_fee) * leverage
        if n2 < n:
            n = n2
    if n <= 0.0:
        return 0.0
    return n / price


@njit(cache=True, nogil=True)
def round_down_lot(qty, lot):
    """``|qty|`` rounded down to a multiple of ``lot`` (``lot <= 0``: unchanged). A relative 1e-9 guard
    keeps ``0.3 / 0.1`` from rounding down to 2 lots."""
    q = abs(qty)
    if lot <= 0.0:
        return q
    n = math.floor(q / lot * (1.0 + 1e-9))
    return n * lot


@njit(cache=True, nogil=True)
def liquidation_price(qty, avg_price, leverage, mmr):
    """Isolated-margin liquidation price of a position (NaN when flat).

    Long: ``avg · (1 − 1/L + mmr)``; short: ``avg · (1 + 1/L − mmr)``, with ``L`` the leverage and
    ``mmr`` the maintenance-margin rate: the price at which the loss has eaten the posted margin
    ``|qty|·avg/L`` down to the maintenance margin ``mmr·|qty|·avg``.
    """
    if qty > 0.0:
        return avg_price * (1.0 - 1.0 / leverage + mmr)
    if qty < 0.0:
        return avg_price * (1.0 + 1.0 / leverage - mmr)
    return math.nan


@njit(cache=True, nogil=True)
def liquidation_event(qty, liq, a, b):
    """Where a straight move from ``a`` to ``b`` reaches a position's liquidation price ``liq``.

    A long is liquidated when the price is ``<= liq``, a short when ``>= liq``. Returns ``(price,
    at_start)``: ``a`` if already beyond at ``a`` (a gap at the open), ``liq`` if reached on the way,
    NaN if not reached.
    """
    if qty > 0.0:
        if a <= liq:
            return a, True
        if b <= liq:
            return liq, False
    elif qty < 0.0:
        if a >= liq:
            return a, True
        if b >= liq:
            return liq, False
    return math.nan, False
