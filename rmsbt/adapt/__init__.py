"""Online parameter updaters (RMSprop; later others of the same shape)."""

from .rmsprop import PRESETS, NonFiniteGradientError, RMSprop, RMSpropState

__all__ = ["PRESETS", "NonFiniteGradientError", "RMSprop", "RMSpropState"]
