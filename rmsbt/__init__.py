"""rmsbt: an event-driven crypto backtester whose strategy parameters adapt online (RMSprop)."""

from .adapt import RMSprop
from .data import MarketData, align, read_candles
from .engine import BacktestResult, BrokerConfig, run_backtest
from .strategy import Strategy

__version__ = "0.1.0"

__all__ = ["BacktestResult", "BrokerConfig", "MarketData", "RMSprop", "Strategy", "align", "read_candles",
           "run_backtest", "__version__"]
