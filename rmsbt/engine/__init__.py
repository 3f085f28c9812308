"""The event-driven engine: loop, context, broker and portfolio."""

from .broker import BrokerConfig
from .loop import BacktestResult, run_backtest

__all__ = ["BacktestResult", "BrokerConfig", "run_backtest"]
