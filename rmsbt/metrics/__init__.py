"""Performance metrics: one definition each, with its formula (see ``docs/metrics.md``).

- :mod:`.returns`  equity curve, per-bar returns, volatility, Sharpe, Sortino, CAGR, Calmar, rolling Sharpe
- :mod:`.drawdown` drawdown series, episodes and their durations
- :mod:`.trades`   round trips from fills, trade statistics
- :mod:`.summary`  :func:`summarize`: everything for one backtest, plus exposure, turnover, buy-and-hold
"""

from .drawdown import Episode, drawdown, drawdown_stats, episodes, underwater_runs
from .returns import (ZERO_DISPERSION, annual_volatility, cagr, calmar_ratio, downside_deviation, equity_curve,
                      per_period_rate, periods_per_year_for, rolling_sharpe, sharpe_ratio, simple_returns,
                      sortino_ratio)
from .summary import (buy_and_hold, exposure, first_opens, forward_filled, hold_weights, summarize, symbol_pnl,
                      trade_log)
from .trades import TRADE_COLUMNS, closed_trades, count_round_trips, trade_stats, trades_from_fills

__all__ = [
    "Episode", "drawdown", "drawdown_stats", "episodes", "underwater_runs", "ZERO_DISPERSION", "annual_volatility",
    "cagr", "calmar_ratio", "downside_deviation", "equity_curve", "per_period_rate", "periods_per_year_for",
    "rolling_sharpe", "sharpe_ratio", "simple_returns", "sortino_ratio", "buy_and_hold", "exposure", "first_opens",
    "forward_filled", "hold_weights", "summarize", "symbol_pnl", "trade_log", "TRADE_COLUMNS", "closed_trades",
    "count_round_trips", "trade_stats", "trades_from_fills",
]
