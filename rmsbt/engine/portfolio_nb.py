"""Numba kernels of portfolio accounting. Python face: :mod:`rmsbt.engine.portfolio`."""

from __future__ import annotations

from numba import njit

#: Dust rule: a fill that leaves ``|q0 + dq| <= DUST · max(|q0|, |dq|)`` closes the position to exactly 0.
DUST = 1e-9


@njit(cache=True, nogil=True)
def settled_position(q0, dq):
    """The position after adding ``dq`` to ``q0``, with the **dust rule**: a result whose size is at
    most ``DUST`` (1e-9) times the larger of ``|q0|`` and ``|dq|`` is float rounding residue (buy 0.1,
    buy 0.2, sell 0.3 leaves 5.55e-17), not a position, and becomes exactly 0.0. Real lot sizes are
    many orders of magnitude above 1e-9 of a position, so no genuine remainder is ever dropped.
    :func:`apply_fill` and the trade book (:mod:`rmsbt.engine.trades`) both use it."""
    q1 = q0 + dq
    if q1 != 0.0 and abs(q1) <= DUST * max(abs(q0), abs(dq)):
        return 0.0
    return q1


@njit(cache=True, nogil=True)
def apply_fill(cash, qty, avg_price, realized, sym, dq, price, fee):
    """Book a fill of signed quantity ``dq`` of symbol ``sym`` at ``price`` with ``fee`` (quote currency).

    In place: ``cash[0] -= dq·price + fee`` (a sale adds its proceeds, a short sale too);
    ``qty[sym] += dq``. The average entry price and realized PnL (gross of fees) follow a net
    position: adding to a position averages the entry price by quantity; reducing it realizes
    ``closed · (price − avg) · sign(old position)``; a fill that crosses zero is split into a close of
    the old position and an open of the rest at ``price``. Returns the realized PnL of this fill.

    The new position follows the dust rule (:func:`settled_position`): a residue of at most 1e-9 of
    the traded size is set to exactly 0.0, the whole old position counts as closed (realized on
    ``|q0|``) and the trade closes. Cash still moves by the fill's own ``dq · price``; the dropped
    residue's value (≤ 1e-9 of the fill's notional) is neither realized nor marked. No other
    rounding is applied.
    """
    cash[0] -= dq * price + fee
    q0 = qty[sym]
    q1 = settled_position(q0, dq)
    pnl = 0.0
    if q0 == 0.0 or (q0 > 0.0) == (dq > 0.0):
        avg_price[sym] = (avg_price[sym] * abs(q0) + price * abs(dq)) / abs(q1)
    else:
        closed = abs(q0) if q1 == 0.0 else min(abs(dq), abs(q0))
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
def free_margin(cash, qty, avg_price, mark, leverage, sym, price, flip):
    """Margin available to open new exposure in symbol ``sym`` at ``price`` (isolated margin).

    ``free = wallet − posted + Σ min(U_i, 0)`` with

    - ``wallet = cash + Σ qty[i]·avg[i]`` — initial cash + realized PnL − fees − funding (what was
      actually paid in and earned; the accounting debits a buy's ``qty·price`` from cash);
    - ``posted = Σ |qty[i]|·avg[i] / leverage[i]`` — the margin the positions posted;
    - ``U_i = qty[i]·(mark[i] − avg[i])`` (``sym`` marked at ``price``): an unrealized **loss** reduces
      what is free, an unrealized **profit** does not add to it (it is not cash until realized).

    ``flip``: the fill first closes the whole position of ``sym`` at ``price``: that position's
    margin is released and its PnL at ``price`` is realized (a profit included), so its term is
    ``qty[sym]·price``. Every position therefore posted what it holds (``|qty|·avg/L``) out of money
    that existed, and a liquidation's loss capped at that posted margin never reaches other money.
    """
    free = cash[0]
    for i in range(qty.shape[0]):
        q = qty[i]
        if q == 0.0:
            continue
        m = price if i == sym else mark[i]
        if i == sym and flip:
            free += q * price
            continue
        u = q * (m - avg_price[i])
        free += q * avg_price[i] - abs(q) * avg_price[i] / leverage[i] + (u if u < 0.0 else 0.0)
    return free


@njit(cache=True, nogil=True)
def unrealized_pnl(qty, avg_price, mark):
    """``Σ qty[i] · (mark[i] − avg[i])``."""
    u = 0.0
    for i in range(qty.shape[0]):
        if qty[i] != 0.0:
            u += qty[i] * (mark[i] - avg_price[i])
    return u
