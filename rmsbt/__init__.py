"""rmsbt: an event-driven crypto backtester whose strategy parameters adapt online (RMSprop).

The public names are loaded on first use (PEP 562), so ``from rmsbt import RMSprop`` imports
neither pandas nor the engine: a process that only adapts parameters starts as fast as Numba allows.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "RMSprop": "rmsbt.adapt.rmsprop",
    "MarketData": "rmsbt.data.align",
    "align": "rmsbt.data.align",
    "read_candles": "rmsbt.data",
    "BacktestResult": "rmsbt.engine.loop",
    "BrokerConfig": "rmsbt.engine.broker",
    "run_backtest": "rmsbt.engine.loop",
    "Strategy": "rmsbt.strategy",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rmsbt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return __all__
