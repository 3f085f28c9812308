"""RMSprop against PyTorch: stored golden trajectories and, when torch is importable, a live run.

tests/golden/torch_rmsprop.npz.xz (an .npz, xz-compressed) was written by tests/golden/make_torch_rmsprop.py, which runs
``torch.optim.RMSprop`` (torch 2.13.0+cpu, float64). Agreement is asserted to 1e-12, relative where
|θ| > 1 and absolute below: |ours − torch| ≤ 1e-12·max(1, |torch|), at every one of 1,000 steps.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from rmsbt import RMSprop

GOLDEN = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("make_torch_rmsprop", GOLDEN / "make_torch_rmsprop.py")
_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_golden)
Z = _golden.load_golden(GOLDEN / "torch_rmsprop.npz.xz")
META = json.loads(str(Z["meta"]))
TOL = 1e-12


def ours_from_torch_kwargs(kw: dict, **extra) -> RMSprop:
    """The PyTorch argument names mapped onto ours (PyTorch's ``alpha`` is our ``decay``)."""
    return RMSprop.preset("torch", lr=kw["lr"], decay=kw["alpha"], eps=kw["eps"], centered=kw["centered"],
                          momentum=kw["momentum"], weight_decay=kw["weight_decay"], maximize=kw["maximize"], **extra)


def run(opt: RMSprop, grads: np.ndarray, theta0: np.ndarray) -> np.ndarray:
    theta = theta0.copy()
    traj = np.empty_like(grads)
    for k in range(grads.shape[0]):
        opt.step(theta, grads[k])
        traj[k] = theta
    return traj


def assert_close(ours, ref, tol=TOL):
    err = np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))
    k, i = np.unravel_index(np.argmax(err), err.shape) if err.ndim == 2 else (0, int(np.argmax(err)))
    assert err.max() <= tol, f"max scaled error {err.max():.3g} at step {k + 1}, parameter {i}"


def test_golden_inputs_cover_the_promised_range():
    g = Z["grads"]
    nz = np.abs(g[g != 0])
    assert nz.min() < 1e-8 * 10 and nz.max() > 1e8 / 10, "gradients span 1e-8 … 1e8"
    assert (g == 0).mean() > 0.05 and np.all(g[:, 0] == 0), "exact zeros, one parameter always zero"
    assert g.shape == (1000, 9)
    combos = {(c["centered"], c["momentum"] > 0, c["weight_decay"] > 0, c["maximize"]) for c in META["combos"]}
    assert len(combos) == 16, "every centered × momentum × weight_decay × maximize combination"
    assert META["torch_version"].startswith("2.13.0")


@pytest.mark.parametrize("j", range(len(META["combos"])), ids=lambda j: "-".join(
    f"{k}={v}" for k, v in META["combos"][j].items()))
def test_matches_torch_golden(j):
    kw = META["combos"][j]
    opt = ours_from_torch_kwargs(kw)
    traj = run(opt, Z["grads"], Z["theta0"])
    assert_close(traj, Z[f"traj_{j}"])
    # the final state matches too (v always; the gradient mean and momentum buffer when used)
    assert_close(opt.state.v, Z[f"v_{j}"])
    assert_close(opt.state.grad_mean, Z[f"m_{j}"])
    assert_close(opt.state.momentum_buffer, Z[f"b_{j}"])


def _torch_or_skip():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the live PyTorch comparison needs it (pip install torch==2.13.0)")
    return _golden


@pytest.mark.parametrize("centered,momentum,wd,maximize", [
    (False, 0.0, 0.0, False), (True, 0.9, 0.05, True), (False, 0.5, 0.0, True), (True, 0.0, 0.01, False)])
def test_live_torch_float64(centered, momentum, wd, maximize):
    mod = _torch_or_skip()
    grads, theta0 = mod.make_inputs(seed=7, n_steps=300)  # other data than the stored file
    kw = dict(lr=0.02, alpha=0.95, eps=1e-6, centered=centered, momentum=momentum, weight_decay=wd, maximize=maximize)
    ref, final = mod.torch_trajectory(grads, theta0, **kw)
    opt = ours_from_torch_kwargs(kw)
    assert_close(run(opt, grads, theta0), ref)
    assert_close(opt.state.v, final["v"])


def test_live_torch_float32():
    """float32 state and arithmetic against torch on float32 tensors, at float32 tolerance."""
    mod = _torch_or_skip()
    grads, theta0 = mod.make_inputs(seed=8, n_steps=300)
    grads = grads[:, 1:8]  # scales 1e-8 … 1e8 (the varying column overflows g² in float32)
    theta0 = theta0[1:8]
    for kw in (dict(lr=0.01, alpha=0.99, eps=1e-8, centered=False, momentum=0.0, weight_decay=0.0, maximize=False),
               dict(lr=0.01, alpha=0.9, eps=1e-6, centered=True, momentum=0.9, weight_decay=0.01, maximize=True)):
        g32 = grads.astype(np.float32)
        ref, _ = mod.torch_trajectory(g32, theta0.astype(np.float32), dtype="float32", **kw)
        opt = ours_from_torch_kwargs(kw, dtype="float32")
        ours = run(opt, g32, theta0.astype(np.float32))
        assert ours.dtype == np.float32
        err = np.abs(ours.astype(np.float64) - ref) / np.maximum(1.0, np.abs(ref))
        assert err.max() <= 1e-5, f"float32 scaled error {err.max():.3g}"
