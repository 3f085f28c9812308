"""Online parameter updaters (RMSprop; later others of the same shape) and their grid sweep.

Names load on first use (PEP 562): importing the updater does not import the sweep.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PRESETS": "rmsbt.adapt.rmsprop",
    "NonFiniteGradientError": "rmsbt.adapt.rmsprop",
    "RMSprop": "rmsbt.adapt.rmsprop",
    "RMSpropState": "rmsbt.adapt.rmsprop",
    "SweepResult": "rmsbt.adapt.sweep",
    "rmsprop_grid": "rmsbt.adapt.sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rmsbt.adapt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
