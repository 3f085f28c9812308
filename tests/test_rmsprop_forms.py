"""RMSprop forms checked against hand-derived values (Keras 3, TF1, optax, eps placement) and the
fault cases BR-40, BR-42, BR-43 of ../shared/cases/CASES.md (same numbers as the cases).

Expected values are written out as the reference's own formula evaluated with ``math`` in the test
(independent of rmsbt's kernels), and, where the reference prints a number, that number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rmsbt import RMSprop


def quad_run(opt: RMSprop, theta0: float, n: int) -> list[float]:
    """Minimise θ²/2 (gradient g = θ) for n steps; θ after each step."""
    th = np.array([theta0])
    out = []
    for _ in range(n):
        opt.step(th, th.copy())
        out.append(float(th[0]))
    return out


# ---------------------------------------------------------------- Keras 3
def test_keras3_docstring_example():
    """keras.optimizers.RMSprop(learning_rate=0.1); var1 = 10; loss = var1²/2 → var1 = 9.683772."""
    opt = RMSprop.preset("keras", lr=0.1)  # rho = 0.9, epsilon = 1e-7 inside the root, v0 = 0
    th1, th2 = quad_run(opt, 10.0, 2)
    # v1 = 0.9·0 + 0.1·10² = 10;  θ1 = 10 − 0.1·10/√(10 + 1e-7)
    assert th1 == pytest.approx(10 - 0.1 * 10 / math.sqrt(10 + 1e-7), abs=1e-14)
    assert round(th1, 6) == 9.683772  # the number Keras's docstring prints
    # v2 = 0.9·10 + 0.1·θ1²;  θ2 = θ1 − 0.1·θ1/√(v2 + 1e-7)
    v2 = 0.9 * 10 + 0.1 * th1 ** 2
    assert th2 == pytest.approx(th1 - 0.1 * th1 / math.sqrt(v2 + 1e-7), abs=1e-14)


def test_keras3_momentum_centered_and_decoupled_weight_decay():
    """Keras 3 update_step: velocity, average_grad = ρ·m + (1−ρ)·g, denominator v − m² + ε,
    increment = lr·g/√denominator, momentum ← μ·momentum + increment, var −= momentum; weight decay
    first: var −= var·wd·lr."""
    lr, rho, eps, mu, wd = 0.1, 0.9, 1e-7, 0.5, 0.04
    opt = RMSprop.preset("keras", lr=lr, centered=True, momentum=mu, weight_decay=wd)
    got = quad_run(opt, 10.0, 3)
    th, v, m, mom = 10.0, 0.0, 0.0, 0.0
    for k in range(3):
        g = th
        th = th - th * wd * lr
        v = rho * v + (1 - rho) * g * g
        m = rho * m + (1 - rho) * g
        mom = mu * mom + lr * g / math.sqrt(v - m * m + eps)
        th = th - mom
        assert got[k] == pytest.approx(th, rel=1e-13), k
    # step 1 by hand: θ ← 10 − 10·0.04·0.1 = 9.96; v = 10, m = 1, v − m² = 9; increment = 1/√(9+1e-7)
    assert got[0] == pytest.approx(9.96 - 1 / math.sqrt(9 + 1e-7), rel=1e-13)


# ---------------------------------------------------------------- TF1
def test_tf1_form_ms_starts_at_one_eps_inside():
    """tf.compat.v1.train.RMSPropOptimizer: ms ← ρ·ms + (1−ρ)·g² with ms₀ = 1, mom ← μ·mom +
    lr·g/√(ms + ε), var ← var − mom (decay 0.9, epsilon 1e-10)."""
    opt = RMSprop.preset("tf1", lr=0.1)
    th1, th2 = quad_run(opt, 10.0, 2)
    # ms1 = 0.9·1 + 0.1·100 = 10.9;  θ1 = 10 − 0.1·10/√10.9 = 10 − 0.3028912… = 9.6971087…
    assert th1 == pytest.approx(10 - 1 / math.sqrt(10.9 + 1e-10), abs=1e-14)
    assert th1 == pytest.approx(9.6971088, abs=1e-7)
    ms2 = 0.9 * 10.9 + 0.1 * th1 ** 2
    assert th2 == pytest.approx(th1 - 0.1 * th1 / math.sqrt(ms2 + 1e-10), abs=1e-14)


def test_tf1_momentum_form_differs_from_torch_form_when_lr_changes():
    """mom ← μ·mom + lr_k·g/D (TF) vs b ← μ·b + g/D, θ −= lr_k·b (PyTorch): equal at constant lr,
    different once lr changes (here lr_k = 0.1·0.5^k, exponential schedule)."""
    sched = {"kind": "exponential", "rate": 0.5, "steps": 1}
    tf = RMSprop.preset("tf1", lr=0.1, momentum=0.9, lr_schedule=sched)
    pt = RMSprop.preset("tf1", lr=0.1, momentum=0.9, lr_schedule=sched, momentum_form="torch")
    g = [1.0, 1.0]
    # by hand, ms0 = 1: ms1 = 0.9 + 0.1 = 1 → D = √(1 + 1e-10); ms2 = 1 → same D
    D = math.sqrt(1 + 1e-10)
    tf_mom1 = 0.1 * g[0] / D
    tf_mom2 = 0.9 * tf_mom1 + 0.05 * g[1] / D
    pt_b1 = g[0] / D
    pt_b2 = 0.9 * pt_b1 + g[1] / D
    th_tf, th_pt = np.zeros(1), np.zeros(1)
    for k in range(2):
        tf.step(th_tf, np.array([g[k]]))
        pt.step(th_pt, np.array([g[k]]))
    assert th_tf[0] == pytest.approx(-(tf_mom1 + tf_mom2), abs=1e-15)
    assert th_pt[0] == pytest.approx(-(0.1 * pt_b1 + 0.05 * pt_b2), abs=1e-15)
    assert abs(th_tf[0] - th_pt[0]) > 1e-3


# ---------------------------------------------------------------- optax
def test_optax_bias_correction_tames_the_first_step():
    """optax.rmsprop(0.1, decay=0.9, eps=1e-8, eps_in_sqrt=True, bias_correction=True):
    ν̂₁ = ν₁/(1 − 0.9¹) = 0.1·g²/0.1 = g², so the first step is lr·g/√(g² + ε) ≈ lr·sign(g)."""
    opt = RMSprop.preset("optax", lr=0.1, bias_correction=True)
    th1, th2 = quad_run(opt, 10.0, 2)
    assert th1 == pytest.approx(10 - 0.1 * 10 / math.sqrt(100 + 1e-8), abs=1e-14)  # = 9.9000000000…
    nu2 = 0.9 * (0.1 * 100) + 0.1 * th1 ** 2
    assert th2 == pytest.approx(th1 - 0.1 * th1 / math.sqrt(nu2 / (1 - 0.9 ** 2) + 1e-8), abs=1e-14)
    # without bias correction the first step is 0.1·10/√10 = 0.316…, three times longer
    assert quad_run(RMSprop.preset("optax", lr=0.1), 10.0, 1)[0] == pytest.approx(10 - 1 / math.sqrt(10 + 1e-8))


def test_optax_eps_outside_option():
    """optax eps_in_sqrt=False: 1/(√ν + ε)."""
    opt = RMSprop.preset("optax", lr=0.1, eps=0.5, eps_in_sqrt=False)
    assert quad_run(opt, 10.0, 1)[0] == pytest.approx(10 - 1 / (math.sqrt(10) + 0.5), abs=1e-14)


def test_optax_nesterov_trace():
    """optax chain scale_by_rms → scale_by_learning_rate → trace(μ, nesterov=True):
    u = lr·g/D; t ← u + μ·t; update = u + μ·t."""
    lr, mu = 0.1, 0.9
    opt = RMSprop.preset("optax", lr=lr, momentum=mu, momentum_form="nesterov")
    got = quad_run(opt, 10.0, 3)
    th, nu, t = 10.0, 0.0, 0.0
    for k in range(3):
        g = th
        nu = 0.9 * nu + 0.1 * g * g
        u = lr * g / math.sqrt(nu + 1e-8)
        t = u + mu * t
        th = th - (u + mu * t)
        assert got[k] == pytest.approx(th, rel=1e-13), k
    # first step: t = u, update = (1 + μ)·u = 1.9·(1/√10) = 0.6008…
    assert got[0] == pytest.approx(10 - 1.9 / math.sqrt(10 + 1e-8), rel=1e-13)


def test_optax_centered_with_bias_correction():
    """optax scale_by_stddev(bias_correction=True): m̂ = m/(1−ρ^t), ν̂ = ν/(1−ρ^t), scale √(ν̂ − m̂² + ε)."""
    opt = RMSprop.preset("optax", lr=0.1, centered=True, bias_correction=True)
    grads = [3.0, -1.0]
    th = np.zeros(1)
    nu = m = 0.0
    ref = 0.0
    for t, g in enumerate(grads, start=1):
        opt.step(th, np.array([g]))
        nu = 0.9 * nu + 0.1 * g * g
        m = 0.9 * m + 0.1 * g
        c = 1 - 0.9 ** t
        ref -= 0.1 * g / math.sqrt(max(nu / c - (m / c) ** 2, 0.0) + 1e-8)
        assert th[0] == pytest.approx(ref, rel=1e-12, abs=1e-15), t
    # step 1: ν̂ = 9, m̂ = 3, variance 0 → the step is 0.1·3/√1e-8 = 3000 (centered on one sample)
    assert abs(-0.1 * 3 / math.sqrt(1e-8) - (-3000.0)) < 1e-9


# ---------------------------------------------------------------- eps placement
@pytest.mark.parametrize("inside,expected", [
    # v1 = 0.1·(1e-3)² = 1e-7. Outside: D = √1e-7 + 1e-4 = 4.16228e-4, step = 1e-5/D = 2.402530e-2
    (False, 1e-3 - 1e-2 * 1e-3 / (math.sqrt(1e-7) + 1e-4)),
    # Inside: D = √(1e-7 + 1e-4) = 1.000500e-2, step = 1e-5/D = 9.9950037e-4, θ1 = 4.9962531e-7
    (True, 1e-3 - 1e-2 * 1e-3 / math.sqrt(1e-7 + 1e-4)),
])
def test_eps_placement_changes_the_answer(inside, expected):
    opt = RMSprop(lr=1e-2, decay=0.9, eps=1e-4, eps_in_sqrt=inside)
    th1 = quad_run(opt, 1e-3, 1)[0]
    assert th1 == pytest.approx(expected, abs=1e-15)
    assert th1 == pytest.approx(-2.3025301e-2 if not inside else 4.9962531e-7, rel=1e-6)


def test_BR40_eps_inside_vs_outside():
    """BR-40: θ0 = 1, g = 0.1, lr = 0.01, ρ = 0.9, v0 = 0, eps = 1.0; v1 = 0.1·0.01 = 0.001.
    outside: D = √0.001 + 1 = 1.0316228, θ1 = 1 − 0.001/1.0316228 = 0.99903065;
    inside:  D = √1.001 = 1.0004999,   θ1 = 1 − 0.001/1.0004999 = 0.99900050;
    eps = 1e-8: both 0.96837723 "(difference < 2e-7)". Tolerance 1e-8 (the case's). At 1e-8 only the
    outside value is 0.96837723 (1 − 0.001/(√0.001 + 1e-8)); inside gives 1 − 0.001/√0.00100001 =
    0.96837738, which the case covers by its own "difference < 2e-7"."""
    def one(eps, inside):
        th = np.array([1.0])
        RMSprop(lr=0.01, decay=0.9, eps=eps, eps_in_sqrt=inside).step(th, np.array([0.1]))
        return th[0]
    assert one(1.0, False) == pytest.approx(0.99903065, abs=1e-8)
    assert one(1.0, True) == pytest.approx(0.99900050, abs=1e-8)
    assert one(1e-8, False) == pytest.approx(0.96837723, abs=1e-8)
    assert one(1e-8, True) == pytest.approx(0.96837738, abs=1e-8)
    assert abs(one(1e-8, False) - one(1e-8, True)) < 2e-7


# ---------------------------------------------------------------- BR-42
@pytest.mark.parametrize("dtype,g,first_negative", [("float64", 7.0, 331), ("float32", 0.1, 138)])
def test_BR42_centered_constant_gradient_never_nan(dtype, g, first_negative):
    """BR-42: centered, eps 1e-8 outside, lr 0.001, ρ 0.9, v = m = 0, constant g for 400 steps.
    The straightforward order (v ← ρv + (1−ρ)g², m ← ρm + (1−ρ)g, var = v − m²) goes negative first
    at step 331 (float64, g = 7) / 138 (float32, g = 0.1); verified below in numpy, then our updater
    (which clamps the variance at 0 before the root) must stay finite at every step."""
    dt = np.dtype(dtype).type
    rho, omr = dt(0.9), dt(1) - dt(0.9)
    v = m = dt(0)
    gg = dt(g)
    neg = None
    for k in range(1, 401):
        v = rho * v + omr * gg * gg
        m = rho * m + omr * gg
        if v - m * m < 0 and neg is None:
            neg = k
    assert neg == first_negative  # the case's numbers: the naive update would take √(negative) here

    opt = RMSprop(lr=0.001, decay=0.9, eps=1e-8, centered=True, dtype=dtype)
    th = np.zeros(1, dtype=dtype)
    grad = np.full(1, g, dtype=dtype)
    for k in range(400):
        opt.step(th, grad)
        s = opt.state
        assert np.isfinite(th).all() and np.isfinite(s.v).all() and np.isfinite(s.grad_mean).all(), k + 1
        eff = opt.effective_lr()
        assert np.isfinite(eff).all() and eff[0] <= 0.001 / 1e-8 * (1 + 1e-6)  # D ≥ ε: variance used ≥ 0


# ---------------------------------------------------------------- BR-43
def test_BR43_inverse_time_decay_per_update():
    """BR-43: lr0 = 0.01, inverse-time decay 0.1 per update: lr_k = 0.01/(1 + 0.1·k), k = updates
    already applied (0 for the first) → 0.01, 0.0090909091, 0.0083333333, …, k = 10: 0.005.
    RMSprop v0 = 0, eps 1e-8 outside, ρ 0.9, θ0 = 1, constant g = 0.1:
    θ1..3 = 0.96837723, 0.94752126, 0.93151337 (0.92622620 at θ3 without decay)."""
    opt = RMSprop(lr=0.01, decay=0.9, eps=1e-8, lr_schedule={"kind": "inverse_time", "rate": 0.1, "steps": 1})
    th = np.array([1.0])
    lrs, thetas = [], []
    for k in range(11):
        opt.step(th, np.array([0.1]))
        lrs.append(float(opt.last_lr[0]))
        thetas.append(float(th[0]))
    assert lrs[0] == pytest.approx(0.01, abs=1e-12)
    assert lrs[1] == pytest.approx(0.0090909091, abs=1e-10)
    assert lrs[2] == pytest.approx(0.0083333333, abs=1e-10)
    assert lrs[10] == pytest.approx(0.005, abs=1e-12)
    assert thetas[:3] == pytest.approx([0.96837723, 0.94752126, 0.93151337], abs=1e-8)
    const = RMSprop(lr=0.01, decay=0.9, eps=1e-8)
    th = np.array([1.0])
    for _ in range(3):
        const.step(th, np.array([0.1]))
    assert th[0] == pytest.approx(0.92622620, abs=1e-8)


def test_exponential_and_array_schedules():
    """exponential: lr_k = lr0·γ^(k/s), staircase floors k/s; array: lr_k = arr[k]; past the end raises."""
    opt = RMSprop(lr=0.1, lr_schedule={"kind": "exponential", "rate": 0.5, "steps": 2})
    stair = RMSprop(lr=0.1, lr_schedule={"kind": "exponential", "rate": 0.5, "steps": 2, "staircase": True})
    arr = RMSprop(lr_schedule=[0.3, 0.2, 0.1])
    th = np.zeros(1)
    for k in range(3):
        for o in (opt, stair, arr):
            o.step(th, np.ones(1))
        assert opt.last_lr[0] == pytest.approx(0.1 * 0.5 ** (k / 2), rel=1e-15)
        assert stair.last_lr[0] == pytest.approx(0.1 * 0.5 ** (k // 2), rel=1e-15)
        assert arr.last_lr[0] == [0.3, 0.2, 0.1][k]
    from rmsbt.errors import RmsbtError
    before = arr.state_dict()
    with pytest.raises(RmsbtError, match="no entry for update 4"):
        arr.step(th, np.ones(1))
    assert arr.state.step == 3 and np.array_equal(arr.state.v, before["v"])


# ---------------------------------------------------------------- presets
@pytest.mark.parametrize("name,lr,decay,eps,inside,v0", [
    ("torch", 1e-2, 0.99, 1e-8, False, 0.0),   # torch.optim.RMSprop defaults
    ("keras", 1e-3, 0.9, 1e-7, True, 0.0),     # keras.optimizers.RMSprop defaults
    ("tf1", 1e-3, 0.9, 1e-10, True, 1.0),      # RMSPropOptimizer defaults (ms initialised to ones)
    ("optax", 1e-3, 0.9, 1e-8, True, 0.0),     # optax.rmsprop defaults
    ("hinton", 1e-3, 0.9, 1e-8, False, 0.0),   # lecture 6e: 0.9·MeanSquare + 0.1·g²
])
def test_presets(name, lr, decay, eps, inside, v0):
    cfg = RMSprop.preset(name).get_config()
    assert (cfg["lr"], cfg["decay"], cfg["eps"], cfg["eps_in_sqrt"], cfg["initial_accumulator"]) == (lr, decay, eps, inside, v0)
    assert RMSprop.preset(name, lr=0.5).get_config()["lr"] == 0.5
