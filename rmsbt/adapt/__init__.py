"""Online parameter updaters (RMSprop; later others of the same shape) and their grid sweep."""

from .rmsprop import PRESETS, NonFiniteGradientError, RMSprop, RMSpropState
from .sweep import SweepResult, rmsprop_grid

__all__ = ["PRESETS", "NonFiniteGradientError", "RMSprop", "RMSpropState", "SweepResult", "rmsprop_grid"]
