"""Sweep RMSprop over a grid of (lr, decay) on an online least-squares tracking problem.

Each grid point runs :func:`rmsbt.adapt.rmsprop_nb.rmsprop_step` (the one RMSprop kernel) on
its own state: for each row t, predict ``p = X[t]·θ`` with θ fitted on rows < t, record the error
``y[t] − p``, then step on the loss ``(y[t] − p)²`` — the shape of the pairs strategy's hedge-ratio
fit (X[t] = (ln x_t, 1), y[t] = ln y_t). Points run in parallel (numba ``prange``) and the result is
bit-identical to the serial run and across thread counts (BR-45): no state or output is shared
between points and nothing is reduced inside the parallel loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, RmsbtError
from . import rmsprop_nb, sweep_nb
from .rmsprop import RMSprop


@dataclass(frozen=True)
class SweepResult:
    """One entry per grid point, in grid order (lr major, decay minor)."""

    lr: np.ndarray
    decay: np.ndarray
    theta: np.ndarray  #: (n_points, d) parameters after the last row
    sse: np.ndarray  #: Σ (y[t] − X[t]·θ_{t−1})², the one-step-ahead squared errors
    n_above: np.ndarray  #: rows with y[t] > X[t]·θ_{t−1} (strict)


def rmsprop_grid(X, y, lrs, decays, theta0, *, parallel: bool = True, **rmsprop_kwargs) -> SweepResult:
    """Run RMSprop for every (lr, decay) in ``lrs × decays``; other RMSprop arguments are shared.

    ``X``: (T, d) features, ``y``: (T,) targets, ``theta0``: (d,) start. float64 only. A refused
    update (non-finite gradient under ``nonfinite="raise"``, schedule exhausted) raises naming the
    grid point."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    theta0 = np.asarray(theta0, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or theta0.shape != (X.shape[1],):
        raise ConfigError(f"sweep: need X (T, d), y (T,), theta0 (d,); got {X.shape}, {y.shape}, {theta0.shape}")
    if rmsprop_kwargs.get("dtype", "float64") != "float64":
        raise ConfigError("sweep: dtype must be float64")
    grid = [(float(lr), float(dc)) for lr in lrs for dc in decays]
    if not grid:
        raise ConfigError("sweep: lrs and decays must be non-empty")
    d = X.shape[1]
    states = []
    for lr, dc in grid:
        opt = RMSprop(lr=lr, decay=dc, **rmsprop_kwargs)  # validates every point's arguments
        opt.init(d)
        states.append(opt.kernel_args())
    S_all = np.stack([s for s, _ in states])
    M_all = np.stack([m for _, m in states])
    thetas = np.repeat(theta0[None, :], len(grid), axis=0)
    grads = np.zeros_like(thetas)
    sse = np.zeros(len(grid))
    n_above = np.zeros(len(grid), dtype=np.int64)
    status = np.zeros(len(grid), dtype=np.int64)
    kernel = sweep_nb.sweep_parallel if parallel else sweep_nb.sweep_serial
    kernel(X, y, thetas, grads, S_all, M_all, sse, n_above, status)
    bad = np.flatnonzero(status)
    if bad.size:
        j = int(bad[0])
        raise RmsbtError(f"sweep: grid point {j} (lr={grid[j][0]!r}, decay={grid[j][1]!r}) stopped with "
                         f"RMSprop status {int(status[j])} at update {int(M_all[j][0, rmsprop_nb.C_STEP]) + 1}")
    return SweepResult(lr=np.array([g[0] for g in grid]), decay=np.array([g[1] for g in grid]),
                       theta=thetas, sse=sse, n_above=n_above)
