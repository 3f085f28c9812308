"""Performance metrics: one definition each, with its formula (see ``docs/metrics.md``).

- :mod:`.returns`  equity curve, per-bar returns, volatility, Sharpe, Sortino, CAGR, Calmar, rolling Sharpe
- :mod:`.drawdown` drawdown series, episodes and their durations
- :mod:`.trades`   trade statistics (the trade log itself is the broker's)
- :mod:`.summary`  :func:`summarize`: everything for one backtest, plus exposure, turnover, buy-and-hold
"""

from .drawdown import Episode, drawdown, drawdown_stats, episodes, underwater_runs
from .returns import (ZERO_DISPERSION, annual_volatility, cagr, cagr_overflows, calmar_ratio, downside_deviation, equity_curve,
                      per_period_rate, periods_per_year_for, rolling_sharpe, sharpe_ratio, simple_returns,
                      sortino_ratio, std_is_zero)
from .summary import (buy_and_hold, exposure, first_opens, forward_filled, hold_weights, summarize,
                      trade_log)
from .trades import TRADE_COLUMNS, closed_trades, trade_stats

__all__ = [
    "Episode", "drawdown", "drawdown_stats", "episodes", "underwater_runs", "ZERO_DISPERSION", "annual_volatility",
    "cagr", "cagr_overflows", "std_is_zero", "calmar_ratio", "downside_deviation", "equity_curve", "per_period_rate", "periods_per_year_for",
    "rolling_sharpe", "sharpe_ratio", "simple_returns", "sortino_ratio", "buy_and_hold", "exposure", "first_opens",
    "forward_filled", "hold_weights", "summarize", "trade_log", "TRADE_COLUMNS", "closed_trades",
    "trade_stats",
]
