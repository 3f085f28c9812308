"""RMSprop: a per-parameter step scaled by a moving average of squared gradients.

Update (per parameter, gradient g, v starting at ``initial_accumulator`` = 0)::

    v ← ρ·v + (1 − ρ)·g²
    θ ← θ − α·g / (√v + ε)

``lr`` is α and ``decay`` is ρ. **PyTorch calls the decay ``alpha``** (``torch.optim.RMSprop(lr,
alpha, eps)``), Keras calls it ``rho``. ε is added outside the square root (PyTorch's placement).

The arithmetic lives in :mod:`rmsbt.adapt.rmsprop_nb` (``rmsprop_step``), which compiled strategy
loops call directly; this class holds the hyper-parameters and the state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from . import rmsprop_nb


@dataclass
class RMSpropState:
    """The updater's whole state: plain arrays and a counter, printable and copyable."""

    v: np.ndarray  #: running average of squared gradients, one per parameter
    step: int = 0  #: number of updates applied

    def copy(self) -> "RMSpropState":
        return copy.deepcopy(self)


@dataclass
class RMSprop:
    lr: float = 1e-2
    decay: float = 0.99
    eps: float = 1e-8
    state: RMSpropState | None = field(default=None, repr=False)

    def __post_init__(self):
        if not (self.lr > 0):
            raise ConfigError(f"RMSprop lr must be > 0, got {self.lr!r}")
        if not (0.0 < self.decay < 1.0):
            raise ConfigError(f"RMSprop decay must be in (0, 1), got {self.decay!r}")
        if not (self.eps >= 0):
            raise ConfigError(f"RMSprop eps must be >= 0, got {self.eps!r}")

    def init(self, n_params: int) -> RMSpropState:
        self.state = RMSpropState(v=np.zeros(n_params, dtype=np.float64))
        return self.state

    def step(self, params: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """Update the float64 array ``params`` in place from ``grads`` and return it."""
        if self.state is None or self.state.v.shape[0] != params.shape[0]:
            self.init(params.shape[0])
        rmsprop_nb.rmsprop_step(params, grads, self.state.v, float(self.lr), float(self.decay), float(self.eps))
        self.state.step += 1
        return params

    def effective_lr(self) -> np.ndarray:
        """Per-parameter effective step size ``lr / (√v + ε)`` after the last update."""
        out = np.empty_like(self.state.v)
        rmsprop_nb.rmsprop_effective_lr(self.state.v, float(self.lr), float(self.eps), out)
        return out
