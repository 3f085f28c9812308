"""The simulated broker: turns pending orders into fills. Kernels: :mod:`rmsbt.engine.broker_nb`.

Fill rules (each has a test):

- An order decided on bar t (inside ``on_bar`` of bar t, after bar t closed) fills at the earliest at
  bar t+1's **open**. If the order's symbol has no bar at t+1 (a gap), the order waits for that
  symbol's next real bar and fills at its open.
- Market orders (``ctx.order``) trade the given signed quantity; target orders
  (``ctx.order_target``) trade ``target − position`` as it stands at fill time.
- Price: the open moved against the trader by ``slippage_bps``, clamped into the bar's [low, high]
  (:func:`market_fill_price`).
- Fee: taker fee ``|qty| · price · fee_bps / 10_000`` in quote currency, taken from cash at the fill
  (:func:`taker_fee`).
- Orders fill in the order they were placed. Orders still pending at the end are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .broker_nb import market_fill_price, taker_fee
from .orders import Order, OrderKind

__all__ = ["BrokerConfig", "market_fill_price", "taker_fee", "resolve_quantity"]


@dataclass(frozen=True)
class BrokerConfig:
    initial_cash: float = 10_000.0
    fee_bps: float = 10.0  #: taker fee, basis points of notional
    slippage_bps: float = 0.0  #: adverse price move of every market fill, basis points


def resolve_quantity(order: Order, position: float) -> float:
    """Signed quantity an order trades when it fills, given the position at that moment."""
    if order.kind is OrderKind.MARKET:
        return order.quantity
    if order.kind is OrderKind.TARGET:
        return order.quantity - position
    raise ValueError(f"unknown order kind {order.kind!r}")
