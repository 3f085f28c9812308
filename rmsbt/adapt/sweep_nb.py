"""Numba kernels of the RMSprop grid sweep; Python face :mod:`rmsbt.adapt.sweep`.

Determinism (fault case BR-45): every grid point owns its state and its output slots; the parallel
loop has no shared accumulator and no reduction, so a point's arithmetic is the same whichever
thread runs it, and the parallel result equals the serial one bit for bit. Any total over points is
taken afterwards, serially, in grid order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .rmsprop_nb import STATUS_OK, STATUS_SKIPPED, rmsprop_step


@njit(cache=True, nogil=True)
def track_point(X, y, theta, grad, S, M, sse_out, n_above_out, status_out, j):
    """Online least squares for one grid point: for each row t, the one-step-ahead prediction
    ``p = X[t]·θ`` (θ fitted on rows < t), error ``e = y[t] − p``, then one RMSprop step on the
    loss e², gradient ``−2·e·X[t]``. Writes Σe², the count of rows with y[t] > p (strict) and the
    status (0, or the first refusing status of rmsprop_step) into slot j of the outputs."""
    sse = 0.0
    n_above = 0
    status = STATUS_OK
    for t in range(X.shape[0]):
        p = 0.0
        for i in range(X.shape[1]):
            p += X[t, i] * theta[i]
        e = y[t] - p
        sse += e * e
        if y[t] > p:
            n_above += 1
        for i in range(X.shape[1]):
            grad[i] = -2.0 * e * X[t, i]
        st = rmsprop_step(theta, grad, S, M)
        if st != STATUS_OK and st != STATUS_SKIPPED:
            status = st
            break
    sse_out[j] = sse
    n_above_out[j] = n_above
    status_out[j] = status


@njit(cache=True, parallel=True)
def sweep_parallel(X, y, thetas, grads, S_all, M_all, sse, n_above, status):
    """All grid points, spread over threads with ``prange`` (one point per iteration)."""
    for j in prange(thetas.shape[0]):
        track_point(X, y, thetas[j], grads[j], S_all[j], M_all[j], sse, n_above, status, j)


@njit(cache=True)
def sweep_serial(X, y, thetas, grads, S_all, M_all, sse, n_above, status):
    """The same loop in one thread, in grid order (the reference for the parallel one)."""
    for j in range(thetas.shape[0]):
        track_point(X, y, thetas[j], grads[j], S_all[j], M_all[j], sse, n_above, status, j)
