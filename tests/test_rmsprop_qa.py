"""QA findings on the RMSprop updater (/work/qa/rmsprop_qa.md), one test per finding.

1. wrong arguments to step() → a TypeError / ValueError naming the cause (not numba internals);
2. centered updaters with |g| near the float64 maximum: no inf / NaN (v may saturate at +inf, the
   parameter then does not move);
3. effective_lr() uses the update's own divisor (no NaN where the kernel gets inf);
4. the non-finite policy looks at the effective gradient g + λθ (coupled weight decay).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from rmsbt import RMSprop
from rmsbt.adapt import NonFiniteGradientError, rmsprop_nb

BIG = 1.7976931348623157e308  # the largest finite float64
OMR = 1 - 0.99  # PyTorch's 1 − alpha in float64: 0.010000000000000009


# ---------------------------------------------------------------- 1. wrong arguments
def _ro(a):
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("params,grads,exc,msg", [
    ([1.0, 2.0], [0.1, 0.1], TypeError, "got list and list"),
    (1.0, 0.1, TypeError, "got float and float"),
    (np.ones(2, dtype=">f8"), np.ones(2, dtype=">f8"), TypeError, "non-native byte order ('>f8')"),
    (np.ones(2), np.ones(2, dtype=np.float32), TypeError, "got float64 and float32"),
    (np.ones(2, dtype=np.int64), np.ones(2, dtype=np.int64), TypeError, "got int64 and int64"),
    (_ro([1.0, 1.0]), np.ones(2), ValueError, "params is read-only"),
    (np.ones((2, 2)), np.ones((2, 2)), ValueError, "1-D of equal length"),
])
@pytest.mark.parametrize("fresh", [True, False])
def test_wrong_arguments_give_a_clear_error_and_change_nothing(params, grads, exc, msg, fresh):
    """Before and after the state exists; the message names the cause and the state is untouched."""
    opt = RMSprop()
    if not fresh:
        opt.step(np.zeros(2), np.ones(2))
    before = None if fresh else opt.state_dict()
    with pytest.raises(exc, match=re.escape(msg)):
        opt.step(params, grads)
    if fresh:
        assert opt.state is None or opt.state.step == 0
    else:
        after = opt.state_dict()
        assert after["step"] == 1 and after["v"].tobytes() == before["v"].tobytes()


def test_read_only_grads_are_fine():
    """Only params is written: read-only gradients step like writable ones."""
    a, b = np.zeros(2), np.zeros(2)
    RMSprop().step(a, _ro([0.5, -2.0]))
    RMSprop().step(b, np.array([0.5, -2.0]))
    assert a.tobytes() == b.tobytes()


def test_nonfinite_message_prints_plain_floats():
    with pytest.raises(NonFiniteGradientError) as info:
        RMSprop().step(np.zeros(3), np.array([0.0, np.nan, -np.inf]))
    assert "grads[1] = nan at update 1 (0 applied)" in str(info.value)
    assert "np.float64" not in str(info.value)


# ---------------------------------------------------------------- 2. huge gradients, centered
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_centered_alternating_float64_max_gradients_stay_finite(momentum):
    """g = +BIG, −BIG, +BIG, … (the QA case). Update 1: v = (1−ρ)·BIG² overflows → inf, so D = inf
    and θ does not move. m₁ = (1−ρ)·BIG. Update 2: g − m = −BIG − 0.01·BIG overflows; the mean is
    still m₂ = m₁ + (1−ρ)(g − m₁) = (1−ρ)ρ·BIG − (1−ρ)·BIG = −(1−ρ)²·BIG ≈ −1.0e−4·BIG. From then on
    v = inf, v − m² = inf → D = inf: θ and the momentum buffer stay 0, effective lr 0."""
    opt = RMSprop(centered=True, momentum=momentum)
    th = np.zeros(1)
    opt.step(th, np.array([BIG]))
    assert opt.state.v[0] == math.inf and opt.state.grad_mean[0] == OMR * BIG
    opt.step(th, np.array([-BIG]))
    assert opt.state.grad_mean[0] == pytest.approx(-OMR * OMR * BIG, rel=1e-14)
    for k in range(3, 8):
        opt.step(th, np.array([BIG if k % 2 else -BIG]))
        assert th[0] == 0.0 and opt.state.momentum_buffer[0] == 0.0
        assert np.isfinite(opt.state.grad_mean[0]) and opt.effective_lr()[0] == 0.0


def test_denominator_guard():
    """var = v̂ − m̂² (one fma): rounding below 0 → 0; inf − inf (both overflowed) → v̂ = inf."""
    den = rmsprop_nb.denominator
    assert den(4.0, 1.0, 1.0, True, False) == 3.0  # 4 − 1·1
    assert den(8.0, 2.0, 2.0, True, True) == 3.0  # 8/2 − (2/2)²
    assert den(1.0, 1.0 + 2.0 ** -52, 1.0, True, False) == 0.0  # 1 − (1 + 2⁻⁵²)² < 0 → 0
    assert den(math.inf, 1e300, 1.0, True, False) == math.inf  # inf − 1e600 = inf
    assert den(math.inf, BIG, 0.5, True, True) == math.inf  # inf − (2·BIG)² = inf − inf → v̂
    assert den(math.inf, 1.0, 1.0, False, False) == math.inf


def test_overflowing_step_leaves_the_parameter_unchanged():
    """centered + bias correction, g = 2⁵⁰⁰ (a power of two: every product and quotient exact):
    v̂₁ = (1−ρ)g²/(1−ρ) = g², m̂₁ = g, var₁ = g² − g² = 0, so D = ε. With ε = 1e-150 the step
    lr·g/ε = 2⁵⁰⁰/1e-150 ≈ 3.3e300 fits (tf momentum, b₀ = 0: θ₁ = −b₁ = −lr·g/D); with ε = 1e-160
    it is ≈ 3.3e310 > BIG: θ and the buffer keep their values instead of becoming −inf."""
    g = 2.0 ** 500
    for eps, expect in ((1e-150, -(g / 1e-150)), (1e-160, 0.0)):
        opt = RMSprop(lr=1.0, eps=eps, centered=True, bias_correction=True, momentum=0.5, momentum_form="tf")
        th = np.zeros(1)
        opt.step(th, np.array([g]))
        assert th[0] == expect and opt.state.momentum_buffer[0] == -expect
        assert opt.state.v[0] == OMR * g * g


@pytest.mark.parametrize("kw", [dict(), dict(centered=True), dict(momentum=0.9)])
def test_lr_above_one_with_the_largest_gradients(kw):
    """lr = 2, g = 1e308: (1−ρ)·g² = 1e614 → v = inf, D = inf; lr·g = 2e308 → inf (PyTorch's order
    (lr·g)/D), inf/inf = NaN. The true step is 0 (D = inf): θ keeps its value, in the plain updater
    too (lr > 1 takes the guarded general path). With g = 1: v = 0.01, θ₁ = 1 − 2/(0.1 + 1e-8)."""
    opt = RMSprop(lr=2.0, **kw)
    th = np.array([1.0, 1.0])
    opt.step(th, np.array([1e308, 0.0]))
    assert th[0] == 1.0 and th[1] == 1.0 and opt.state.v[0] == math.inf
    if not kw:
        th2 = np.array([1.0])
        RMSprop(lr=2.0).step(th2, np.array([1.0]))
        assert th2[0] == 1.0 - 2.0 / (math.sqrt(OMR) + 1e-8)


# ---------------------------------------------------------------- 3. effective_lr == the kernel's divisor
@pytest.mark.parametrize("scale", [1.0, 1e100, 1e154, 1.3e154, 1e155, 1e160, 1e200, BIG])
@pytest.mark.parametrize("kw", [dict(centered=True), dict(centered=True, eps_in_sqrt=True),
                                dict(centered=True, bias_correction=True, eps=1e-3), dict()])
def test_effective_lr_is_the_step_a_gradient_took(scale, kw):
    """From θ = 0, no momentum: θ₁ = −(lr·g)/D and effective_lr = lr/D, so effective_lr·g = −θ₁ to
    rounding (both exactly 0 when v overflowed: D = inf). Before the fix a centered updater with
    g ≥ 1.3e154 reported NaN while the kernel took a zero step."""
    opt = RMSprop(lr=0.1, **kw)
    g = np.array([scale, -0.5 * scale])
    th = np.zeros(2)
    opt.step(th, g)
    eff = opt.effective_lr()
    assert np.all(np.isfinite(eff)) and np.all(eff >= 0.0)
    np.testing.assert_allclose(eff * g, -th, rtol=4e-16, atol=0.0)


@pytest.mark.parametrize("kw", [dict(bias_correction=True), dict(centered=True, bias_correction=True),
                                dict(centered=True, eps_in_sqrt=True), dict(bias_correction=True, dtype="float32")])
def test_effective_lr_is_bit_identical_to_the_divisor_used(kw):
    """lr = 1, and at update t a gradient of exactly 1 on a parameter at 0: θ_t = 0 − (1·1)/D_t is
    one rounding of 1/D_t, and effective_lr = 1/D_t is the same rounding — equal bits if and only if
    both use the same D_t (e.g. the same 1 − ρᵗ: ρ**t with an integer t differs from ρ**float(t) in
    the last bit for most t)."""
    dt = np.float32 if kw.get("dtype") == "float32" else np.float64
    rng = np.random.default_rng(3)
    opt = RMSprop(lr=1.0, **kw)
    th = np.zeros(3, dtype=dt)
    for t in range(1, 60):
        opt.step(th, rng.standard_normal(3).astype(dt))
        fresh = np.zeros(3, dtype=dt)
        ref = opt.state_dict()
        opt.step(fresh, np.ones(3, dtype=dt))
        eff = opt.effective_lr()
        assert np.array_equal(eff.astype(dt), -fresh), (t, eff, fresh)
        opt.load_state_dict(ref)  # back to the run


def test_effective_lr_float32_uses_the_float32_divisor():
    """The divisor is computed in the state's dtype, as in the update: v = 0.01·3² = 0.09 in float32."""
    opt = RMSprop(lr=0.1, dtype="float32")
    th = np.zeros(1, dtype=np.float32)
    opt.step(th, np.array([3.0], dtype=np.float32))
    d = np.sqrt(opt.state.v[0]) + np.float32(1e-8)  # float32 arithmetic
    assert opt.effective_lr()[0] == 0.1 / np.float64(d)


# ---------------------------------------------------------------- 4. policy on the effective gradient
def test_nan_parameter_with_coupled_weight_decay_is_refused():
    """g + λθ = 1 + 0.1·NaN = NaN: under "raise" the update is refused (v stays 0), naming the
    parameter and its value; "skip" counts it; "zero" uses g = 0 (v = ρ·0 + (1−ρ)·0 = 0)."""
    th = np.array([0.0, np.nan])
    opt = RMSprop(weight_decay=0.1)
    with pytest.raises(NonFiniteGradientError, match=re.escape("parameter 1 (grads[1] = 1.0, params[1] = nan")):
        opt.step(th, np.array([1.0, 1.0]))
    assert opt.state.step == 0 and np.all(opt.state.v == 0.0) and th[0] == 0.0

    skip = RMSprop(weight_decay=0.1, nonfinite="skip")
    skip.step(th, np.array([1.0, 1.0]))
    assert skip.state.n_skipped == 1 and skip.state.step == 0 and th[0] == 0.0

    zero = RMSprop(weight_decay=0.1, nonfinite="zero")
    zero.step(th, np.array([1.0, 1.0]))
    assert zero.state.step == 1 and zero.state.v[1] == 0.0 and zero.state.v[0] == OMR * 1.0


def test_overflowing_weight_decay_term_is_refused():
    """g + λθ = BIG + 1·BIG = 2·BIG overflows to inf: refused under "raise" though g and θ are finite.
    Decoupled weight decay does not touch g: the same numbers step."""
    th = np.array([BIG])
    with pytest.raises(NonFiniteGradientError, match="effective gradient of parameter 0"):
        RMSprop(weight_decay=1.0, lr=1e-3).step(th, np.array([BIG]))
    RMSprop(weight_decay=1.0, lr=1e-3, decoupled_weight_decay=True).step(th, np.array([BIG]))
    assert np.isfinite(th[0]) and th[0] < BIG


def test_effective_gradient_check_in_a_group():
    """Only the group with coupled weight decay looks at θ; the index is the global one."""
    th = np.array([np.nan, 1.0, np.nan])
    opt = RMSprop(groups=[{"size": 1}, {"size": 2, "weight_decay": 0.5}])
    with pytest.raises(NonFiniteGradientError, match=r"parameter 2 \(grads\[2\] = 1\.0, params\[2\] = nan"):
        opt.step(th, np.ones(3))
    assert opt.state.step == 0


@pytest.mark.parametrize("lr", [1e-3, 1.0, 2.0])
@pytest.mark.parametrize("eps_in_sqrt", [False, True])
def test_tight_and_general_loops_give_the_same_bits(lr, eps_in_sqrt):
    """The plain updater runs the tight loop for lr ≤ 1 and the general (guarded) loop for lr > 1:
    the same operations in the same order, so flipping M[0, C_FAST] by hand changes no bit over
    300 updates on gradients of scale 1e-8 … 1e8 with exact zeros."""
    rng = np.random.default_rng(7)
    grads = rng.standard_normal((300, 5)) * np.array([1e-8, 1e-2, 1.0, 1e4, 1e8])
    grads[::7, 2] = 0.0
    runs = []
    for flip in (False, True):
        opt = RMSprop(lr=lr, eps_in_sqrt=eps_in_sqrt)
        opt.init(5)
        S, M = opt.kernel_args()
        if flip:
            M[0, rmsprop_nb.C_FAST] = 1.0 - M[0, rmsprop_nb.C_FAST]
        th = np.ones(5)
        for g in grads:
            assert rmsprop_nb.rmsprop_step(th, g, S, M) == rmsprop_nb.STATUS_OK
        runs.append(th.tobytes() + S.tobytes())
    assert runs[0] == runs[1]
