"""What a strategy may see and do on a bar: closed bars only, its portfolio, and order placement.

On bar t (``ctx.bar == t``) every history accessor returns a read-only array of bars 0..t inclusive,
all of which have closed. Nothing after bar t is reachable through the context. A symbol missing at
a bar shows NaN there (``ctx.present(symbol)`` says whether it traded).
"""

from __future__ import annotations

import numpy as np

from ..data.align import MarketData
from .orders import Order, OrderKind


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Context:
    def __init__(self, data: MarketData, portfolio, timeframe_ms: int):
        self._data = data
        self._portfolio = portfolio
        self._tf = timeframe_ms
        self._hist = {f: _readonly(getattr(data, f)) for f in ("open", "high", "low", "close", "volume")}
        self._present = _readonly(data.present)
        self._ts = _readonly(data.timestamps)
        self.symbols = data.symbols
        self.bar = -1
        self._pending: list[Order] = []
        self._next_id = 0
        self._records: list[tuple[int, dict]] = []

    # --- time ---------------------------------------------------------------------------------
    @property
    def timestamp(self) -> int:
        """Open time (ms UTC) of the current bar."""
        return int(self._ts[self.bar])

    @property
    def now(self) -> int:
        """The moment of decision: the current bar's close time (open + bar length), ms UTC."""
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
        return float(self._hist["close"][self._data.index(symbol), self.bar])

    def present(self, symbol: str) -> bool:
        return bool(self._present[self._data.index(symbol), self.bar])

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
    def _submit(self, symbol: str, kind: OrderKind, quantity: float) -> Order:
        q = float(quantity)
        if not np.isfinite(q):
            raise ValueError(f"order quantity for {symbol} must be finite, got {quantity!r}")
        o = Order(self._data.index(symbol), kind, q, self.bar, self._next_id)
        self._next_id += 1
        self._pending.append(o)
        return o

    def order(self, symbol: str, quantity: float) -> Order:
        """Market order: buy (> 0) or sell (< 0) ``quantity`` at the next bar's open."""
        return self._submit(symbol, OrderKind.MARKET, quantity)

    def order_target(self, symbol: str, target: float) -> Order:
        """Bring the position of ``symbol`` to ``target`` (signed) at the next bar's open."""
        return self._submit(symbol, OrderKind.TARGET, target)

    def cancel_all(self) -> None:
        self._pending.clear()

    # --- records --------------------------------------------------------------------------------
    def record(self, **values: float) -> None:
        """Record named values for this bar (e.g. adapted parameters); written to params.csv."""
        self._records.append((self.bar, values))
