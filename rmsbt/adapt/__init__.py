"""Online parameter updaters (RMSprop; later others of the same shape)."""

from .rmsprop import RMSprop, RMSpropState

__all__ = ["RMSprop", "RMSpropState"]
