"""Orders a strategy can place. Each is decided on a bar and fills on a later bar (see broker).

An :class:`Order` is a small mutable record (``__slots__``, no per-bar allocation). Its ``status``
moves ``working → partially_filled → filled``, or ends ``cancelled`` / ``rejected`` / ``expired``
(``reason`` says why). Every change is also written to the run's events log.
"""

from __future__ import annotations

import enum

from .broker_nb import LIMIT, MARKET, MOC, STOP, STOP_LIMIT, TARGET


class OrderKind(enum.IntEnum):
    MARKET = MARKET  #: trade ``quantity`` (signed: > 0 buys, < 0 sells) at the next open
    TARGET = TARGET  #: trade whatever brings the position to the target at the next open
    LIMIT = LIMIT  #: buy at or below / sell at or above ``limit``
    STOP = STOP  #: becomes a market order once the price trades at or through ``stop``
    STOP_LIMIT = STOP_LIMIT  #: becomes a limit order at ``limit`` once the price reaches ``stop``
    MOC = MOC  #: market-on-close: executes at the close of the next bar


#: how a target order's value is read
TARGET_QTY, TARGET_NOTIONAL, TARGET_PERCENT = 0, 1, 2

WORKING, PARTIAL, FILLED, CANCELLED, REJECTED, EXPIRED = (
    "working", "partially_filled", "filled", "cancelled", "rejected", "expired")
DONE = frozenset((FILLED, CANCELLED, REJECTED, EXPIRED))
NEVER = 2**62  #: expire_bar of a good-till-cancelled order


class Order:
    __slots__ = ("id", "symbol", "kind", "quantity", "target_mode", "stop", "limit", "decided_bar",
                 "expire_bar", "reduce_only", "keep_remainder", "status", "filled", "fill_value",
                 "triggered", "parent", "children", "oco", "active_bar", "reason", "fees", "tag",
                 "last_fill_bar")

    def __init__(self, symbol: int, kind: int, quantity: float, decided_bar: int, id: int = 0, *,
                 stop: float = float("nan"), limit: float = float("nan"), target_mode: int = TARGET_QTY,
                 expire_bar: int = NEVER, reduce_only: bool = False, keep_remainder: bool = True,
                 tag=None):
        self.id = id
        self.symbol = symbol  #: index of the symbol in the backtest
        self.kind = int(kind)
        self.quantity = quantity  #: signed quantity; for TARGET the target (qty, notional or fraction)
        self.target_mode = target_mode
        self.stop = stop
        self.limit = limit
        self.decided_bar = decided_bar  #: bar index whose close the decision saw
        self.expire_bar = expire_bar  #: last bar on which the order may fill
        self.reduce_only = reduce_only
        self.keep_remainder = keep_remainder  #: after a volume-capped partial fill: keep working or cancel
        self.status = WORKING
        self.filled = 0.0  #: signed quantity filled so far
        self.fill_value = 0.0  #: Σ |q|·price of the fills
        self.triggered = False  #: a stop-limit whose stop was reached
        self.parent = None  #: the entry order of a bracket's stop-loss / take-profit
        self.children = ()  #: (stop-loss, take-profit) of a bracket entry
        self.oco = None  #: the other protective order: one fills, the other is cancelled
        self.active_bar = decided_bar + 1  #: first bar on which the order may fill
        self.reason = ""
        self.fees = 0.0
        self.tag = tag
        self.last_fill_bar = -1

    @property
    def side(self) -> int:
        return 1 if self.quantity > 0 else -1

    @property
    def is_open(self) -> bool:
        return self.status not in DONE

    @property
    def remaining(self) -> float:
        """Signed quantity still to fill (quantity orders only)."""
        return self.quantity - self.filled

    @property
    def avg_fill_price(self) -> float:
        return self.fill_value / abs(self.filled) if self.filled else float("nan")

    def __repr__(self) -> str:
        return (f"Order(id={self.id}, symbol={self.symbol}, kind={OrderKind(self.kind).name}, qty={self.quantity}, "
                f"stop={self.stop}, limit={self.limit}, status={self.status}, filled={self.filled})")
