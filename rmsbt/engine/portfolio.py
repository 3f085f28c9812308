"""Cash, positions and equity across several symbols. Kernels: :mod:`rmsbt.engine.portfolio_nb`.

Accounting is margin-style: a short sale credits its proceeds to cash and the position is negative,
so ``equity = cash + Σ qty·close`` holds for longs and shorts alike. Money is float64; nothing is
rounded.
"""

from __future__ import annotations

import numpy as np

from .portfolio_nb import apply_fill, mark_equity

__all__ = ["Portfolio", "apply_fill", "mark_equity"]


class Portfolio:
    def __init__(self, n_symbols: int, initial_cash: float):
        self.initial_cash = float(initial_cash)
        self.cash_arr = np.array([float(initial_cash)])
        self.qty = np.zeros(n_symbols)
        self.avg_price = np.zeros(n_symbols)
        self.realized = np.zeros(n_symbols)
        self.mark = np.full(n_symbols, np.nan)  # last known close per symbol
        self.fees_paid = 0.0

    @property
    def cash(self) -> float:
        return float(self.cash_arr[0])

    def fill(self, sym: int, dq: float, price: float, fee: float) -> float:
        self.fees_paid += fee
        return apply_fill(self.cash_arr, self.qty, self.avg_price, self.realized, sym, dq, price, fee)

    def equity(self) -> float:
        return mark_equity(self.cash_arr, self.qty, self.mark)
