"""Numba kernels of the RMSprop updater. Their Python face is :mod:`rmsbt.adapt.rmsprop`.

The kernels work in place on float64 arrays and allocate nothing, so that a compiled strategy loop
can call them on every bar.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False, nogil=True)
def rmsprop_step(params, grads, v, lr, decay, eps):
    """One RMSprop step, in place, for every i:

    ``v[i] ← decay·v[i] + (1 − decay)·g[i]²``;  ``params[i] ← params[i] − lr·g[i] / (√v[i] + eps)``.

    ``decay`` is ρ (PyTorch calls it ``alpha``), ``lr`` is α. ``eps`` is added outside the root,
    as PyTorch does.
    """
    one_minus = 1.0 - decay
    for i in range(params.shape[0]):
        g = grads[i]
        vi = decay * v[i] + one_minus * g * g
        v[i] = vi
        params[i] -= lr * g / (np.sqrt(vi) + eps)


@njit(cache=True, nogil=True)
def rmsprop_effective_lr(v, lr, eps, out):
    """``out[i] ← lr / (√v[i] + eps)``: the step a unit gradient would take now."""
    for i in range(v.shape[0]):
        out[i] = lr / (np.sqrt(v[i]) + eps)
