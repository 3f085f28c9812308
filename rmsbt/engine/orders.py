"""Orders a strategy can place. Each is decided on a bar and fills on a later bar (see broker)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OrderKind(enum.Enum):
    MARKET = "market"  #: trade ``quantity`` (signed: > 0 buys, < 0 sells) at the next open
    TARGET = "target"  #: trade whatever brings the position to ``quantity`` at the next open


@dataclass
class Order:
    symbol: int  #: index of the symbol in the backtest
    kind: OrderKind
    quantity: float
    decided_bar: int  #: bar index whose close the decision saw
    id: int = 0
