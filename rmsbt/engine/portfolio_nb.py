"""Numba kernels of portfolio accounting. Python face: :mod:`rmsbt.engine.portfolio`."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def apply_fill(cash, qty, avg_price, realized, sym, dq, price, fee):
    """Book a fill of signed quantity ``dq`` of symbol ``sym`` at ``price`` with ``fee`` (quote currency).

    In place: ``cash[0] -= dq·price + fee`` (a sale adds its proceeds, a short sale too);
    ``qty[sym] += dq``. The average entry price and realized PnL (gross of fees) follow a net
    position: adding to a position averages the entry price by quantity; reducing it realizes
    ``closed · (price − avg) · sign(old position)``; a fill that crosses zero is split into a close of
    the old position and an open of the rest at ``price``. Returns the realized PnL of this fill.
    No rounding is applied.
    """
    cash[0] -= dq * price + fee
    q0 = qty[sym]
    q1 = q0 + dq
    pnl = 0.0
    if q0 == 0.0 or (q0 > 0.0) == (dq > 0.0):
        avg_price[sym] = (avg_price[sym] * abs(q0) + price * abs(dq)) / abs(q1)
    else:
        closed = min(abs(dq), abs(q0))
        direction = 1.0 if q0 > 0.0 else -1.0
        pnl = closed * (price - avg_price[sym]) * direction
        realized[sym] += pnl
        if q1 == 0.0:
            avg_price[sym] = 0.0
        elif (q1 > 0.0) != (q0 > 0.0):
            avg_price[sym] = price
    qty[sym] = q1
    return pnl


@njit(cache=True, nogil=True)
def mark_equity(cash, qty, mark):
    """Equity = cash + Σ qty[i]·mark[i] (mark = last known close of each symbol)."""
    eq = cash[0]
    for i in range(qty.shape[0]):
        if qty[i] != 0.0:
            eq += qty[i] * mark[i]
    return eq


@njit(cache=True, nogil=True)
def funding_payment(cash, qty, sym, mark_price, rate):
    """Book one funding payment of symbol ``sym`` and return what the account paid (< 0: received).

    ``paid = qty · mark_price · rate`` (a long pays a positive rate, a short receives it), taken from
    ``cash[0]``. ``mark_price`` is the close of the bar at whose close the funding time falls.
    """
    paid = qty[sym] * mark_price * rate
    cash[0] -= paid
    return paid


@njit(cache=True, nogil=True)
def posted_margin(qty, avg_price, leverage):
    """Initial margin posted by all positions (isolated): ``Σ |qty[i]| · avg[i] / leverage[i]``."""
    m = 0.0
    for i in range(qty.shape[0]):
        if qty[i] != 0.0:
            m += abs(qty[i]) * avg_price[i] / leverage[i]
    return m


@njit(cache=True, nogil=True)
def unrealized_pnl(qty, avg_price, mark):
    """``Σ qty[i] · (mark[i] − avg[i])``."""
    u = 0.0
    for i in range(qty.shape[0]):
        if qty[i] != 0.0:
            u += qty[i] * (mark[i] - avg_price[i])
    return u
