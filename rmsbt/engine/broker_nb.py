"""Numba kernels of the simulated broker: fill prices and fees. Python face: :mod:`rmsbt.engine.broker`.

Every path that fills an order (the Python loop, a compiled loop) calls these functions, so each rule
is written once.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def market_fill_price(open_, low, high, side, slippage_bps):
    """Fill price of a market order at a bar's open.

    ``price = open · (1 + side · slippage_bps / 10_000)``, ``side`` = +1 for a buy and −1 for a sell,
    so slippage always moves the price against the trader. The result is then clamped into the fill
    bar's ``[low, high]``: a fill never happens at a price that did not trade (with a large slippage a
    buy fills at the bar's high, a sell at its low). No rounding to a tick size is applied.
    """
    price = open_ * (1.0 + side * slippage_bps * 1e-4)
    if price > high:
        price = high
    if price < low:
        price = low
    return price


@njit(cache=True, nogil=True)
def taker_fee(qty, price, fee_bps):
    """Taker fee in quote currency: ``|qty| · price · fee_bps / 10_000`` (no rounding, no minimum)."""
    return abs(qty) * price * fee_bps * 1e-4
