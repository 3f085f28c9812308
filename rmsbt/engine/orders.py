"""Orders a strategy can place. Each is decided on a bar and fills on a later bar (see broker).

An :class:`Order` is a small mutable record (``__slots__``, no per-bar allocation). Its ``status``
moves ``working → partially_filled → filled``, or ends ``cancelled`` / ``rejected`` / ``expired``
(``reason`` says why). Every change is also written to the run's events log.
"""

from __future__ import annotations

import enum

from .broker_nb import LIMIT, MARKET, MOC, STOP, STOP_LIMIT, TARGET, touch_band


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
BY_STRATEGY = "cancelled by the strategy"  #: reason of a cancellation by the strategy
NEVER = 2**62  #: expire_bar of a good-till-cancelled order

#: the same source as the kernel, run by CPython: for a call per order placed, the interpreter is faster
#: than crossing into compiled code (one implementation, two ways to run it)
touch_band_py = touch_band.py_func


class Order:
    """One order.

    The fields every bar or every order touches (placing, cancelling, the broker's per-bar check) are
    ``__slots__`` set in ``__init__``; the rest live in the instance ``__dict__`` and start at the class
    defaults below, so an order stores only what differs from them (placing an order stays cheap)."""

    __slots__ = ("id", "symbol", "kind", "quantity", "submitted_qty", "stop", "limit", "decided_bar", "active_bar",
                 "expire_bar", "status", "reason", "children", "band_lo", "band_hi", "closed_bar", "__dict__")

    target_mode = TARGET_QTY  #: how a TARGET order's ``quantity`` is read (qty, notional or fraction)
    reduce_only = False
    keep_remainder = True  #: after a volume-capped partial fill: keep working (True) or cancel
    filled = 0.0  #: signed quantity filled so far (TARGET: what it traded)
    fill_value = 0.0  #: Σ |q|·price of the fills
    triggered = False  #: a stop-limit whose stop was reached
    parent = None  #: the entry order of a bracket's stop-loss / take-profit
    oco = None  #: the other protective order: one fills, the other is cancelled
    fees = 0.0
    tag = None
    last_fill_bar = -1

    def __init__(self, symbol: int, kind: int, quantity: float, decided_bar: int, id: int = 0,
                 stop: float = float("nan"), limit: float = float("nan")):
        self.id = id
        self.symbol = symbol  #: index of the symbol in the backtest
        self.kind = kind
        self.quantity = self.submitted_qty = quantity  #: signed; TARGET: the target (qty, notional or fraction)
        self.stop = stop
        self.limit = limit
        self.decided_bar = decided_bar  #: bar index whose close the decision saw
        self.active_bar = decided_bar + 1  #: first bar on which the order may fill
        self.expire_bar = NEVER  #: last bar on which the order may fill
        self.status = WORKING
        self.reason = ""
        self.children = ()  #: (stop-loss, take-profit) of a bracket entry
        #: prices between which the order cannot act (broker_nb.touch_band; the broker's per-bar pre-check)
        self.band_lo, self.band_hi = touch_band_py(kind, quantity, stop, limit, False)

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
