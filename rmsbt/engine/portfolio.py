"""Cash, positions and equity across several symbols. Kernels: :mod:`rmsbt.engine.portfolio_nb`.

Accounting is margin-style in both modes: a buy debits ``qty·price`` from cash, a (short) sale credits
its proceeds, and the position is signed, so ``equity = cash + Σ qty·mark`` holds for longs and shorts
alike (``mark`` = last known close). In spot mode the broker keeps ``qty >= 0`` and ``cash >= 0``. The
average entry price and realized PnL follow a net position (:func:`apply_fill`). Fees and funding are
taken from cash; ``realized + unrealized − fees − funding = equity − initial cash`` at every bar.
Money is float64; nothing is rounded.
"""

from __future__ import annotations

import numpy as np

from .portfolio_nb import apply_fill, free_margin, funding_payment, mark_equity, posted_margin, unrealized_pnl

__all__ = ["Portfolio", "apply_fill", "mark_equity", "funding_payment", "posted_margin", "free_margin", "unrealized_pnl"]


class Portfolio:
    def __init__(self, n_symbols: int, initial_cash: float):
        self.initial_cash = float(initial_cash)
        self.cash_arr = np.array([float(initial_cash)])
        self.qty = np.zeros(n_symbols)
        self.avg_price = np.zeros(n_symbols)
        self.realized = np.zeros(n_symbols)  #: gross of fees and funding; incl. liquidation credits
        self.mark = np.full(n_symbols, np.nan)  # last known close per symbol
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        self.realized_total = 0.0

    @property
    def cash(self) -> float:
        return float(self.cash_arr[0])

    def fill(self, sym: int, dq: float, price: float, fee: float) -> float:
        self.fees_paid += fee
        if self.mark[sym] != self.mark[sym]:  # first fill before the symbol's first close: mark at the fill
            self.mark[sym] = price
        pnl = apply_fill(self.cash_arr, self.qty, self.avg_price, self.realized, sym, dq, price, fee)
        self.realized_total += pnl
        return pnl

    def credit(self, sym: int, amount: float) -> None:
        """A cash credit that is part of realized PnL (the insurance fund's share of a liquidation)."""
        self.cash_arr[0] += amount
        self.realized[sym] += amount
        self.realized_total += amount

    def fund(self, sym: int, mark_price: float, rate: float) -> float:
        paid = funding_payment(self.cash_arr, self.qty, sym, mark_price, rate)
        self.funding_paid += paid
        return paid

    def equity(self) -> float:
        return mark_equity(self.cash_arr, self.qty, self.mark)

    def equity_at(self, sym: int, price: float) -> float:
        """Equity with ``sym`` marked at ``price`` and every other symbol at its last close."""
        eq = mark_equity(self.cash_arr, self.qty, self.mark)
        q = self.qty[sym]
        if q != 0.0:
            m = self.mark[sym]
            eq += q * price - (q * m if m == m else 0.0)
        return eq

    def posted_margin(self, leverage: np.ndarray) -> float:
        return posted_margin(self.qty, self.avg_price, leverage)

    def free_margin(self, leverage: np.ndarray, sym: int, price: float, flip: bool) -> float:
        """Margin free to open exposure in ``sym`` at ``price`` (:func:`~rmsbt.engine.portfolio_nb.free_margin`)."""
        return free_margin(self.cash_arr, self.qty, self.avg_price, self.mark, leverage, sym, price, flip)

    def unrealized(self) -> float:
        return unrealized_pnl(self.qty, self.avg_price, self.mark)
