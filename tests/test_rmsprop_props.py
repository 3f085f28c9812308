"""Property tests of RMSprop (hypothesis, modest example counts)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rmsbt import RMSprop

# every scale of a finite float64, up to the largest (1.7976931348623157e308): (1 − ρ)g² overflows
# for |g| > ~1.3e155, g + λθ and lerp's g − m near the maximum; see docs/rmsprop.md, Numerical limits
BIG = 1.7976931348623157e308
scales = st.sampled_from([0.0, 1e-300, 1e-150, 1e-8, 1.0, 1e8, 1e100, 1e154, 1.4e155, 1e200, 1e300, BIG])
variants = st.fixed_dictionaries({
    "centered": st.booleans(),
    "momentum": st.sampled_from([0.0, 0.9]),
    "momentum_form": st.sampled_from(["torch", "tf", "nesterov"]),
    "weight_decay": st.sampled_from([0.0, 1e-2]),
    "decoupled_weight_decay": st.booleans(),
    "maximize": st.booleans(),
    "bias_correction": st.booleans(),
    "eps_in_sqrt": st.booleans(),
    "initial_accumulator": st.sampled_from([0.0, 1.0]),
})


@st.composite
def gradient_runs(draw, d_max=4, n_max=12):
    d = draw(st.integers(1, d_max))
    n = draw(st.integers(1, n_max))
    unit = draw(arrays(np.float64, (n, d), elements=st.floats(-1, 1, allow_nan=False)))
    scale = np.array([draw(scales) for _ in range(n)])[:, None]
    return unit * scale


@st.composite
def gradient_runs_to_max(draw, d_max=4, n_max=12):
    """Like gradient_runs, plus rows at exactly ±BIG and rows alternating in sign at one scale
    (the case that overflowed the centered mean)."""
    grads = draw(gradient_runs(d_max, n_max))
    for r in range(grads.shape[0]):
        if draw(st.integers(0, 3)) == 0:
            grads[r] = BIG * np.where(draw(st.booleans()), 1.0, -1.0) * (-1.0) ** r
    return grads


@settings(max_examples=150, deadline=None)
@given(grads=gradient_runs_to_max(), kw=variants, lr=st.sampled_from([1e-3, 0.1, 1.0, 10.0]))
def test_finite_gradients_give_finite_state(grads, kw, lr):
    """No NaN/inf in θ, the gradient mean m, the momentum buffer b or the effective step, from
    finite gradients at any float64 scale (incl. all zero and ±1.7976931348623157e308), for every
    variant. v may saturate at +inf (g² beyond the float64 range, as in every reference: then
    D = inf and the parameter does not move), never NaN. lr = 10 makes lr·g overflow near the max."""
    opt = RMSprop(lr=lr, **kw)
    th = np.zeros(grads.shape[1])
    for row in grads:
        opt.step(th, row)
        s = opt.state
        for arr in (th, s.grad_mean, s.momentum_buffer, opt.effective_lr()):
            assert np.all(np.isfinite(arr)), (kw, row, arr)
        assert not np.isnan(s.v).any() and np.all(s.v >= 0.0), (kw, row, s.v)


@settings(max_examples=40, deadline=None)
@given(grads=gradient_runs(), kw=variants,
       lo=st.floats(-5, 0), width=st.floats(0, 5), clip=st.sampled_from([None, 1e-3, 10.0]))
def test_bounds_always_hold(grads, kw, lo, width, clip):
    hi = lo + width
    opt = RMSprop(lr=0.5, bounds=(lo, hi), clip_norm=clip, **kw)
    th = np.full(grads.shape[1], 7.0)  # starts outside: the first step projects it
    for row in grads:
        opt.step(th, row)
        assert np.all(th >= lo) and np.all(th <= hi)


@settings(max_examples=40, deadline=None)
@given(grads=gradient_runs(d_max=3, n_max=6), kw=variants, bad=st.sampled_from([np.nan, np.inf, -np.inf]),
       where=st.integers(0, 2))
def test_skip_policy_leaves_state_untouched(grads, kw, bad, where):
    opt = RMSprop(nonfinite="skip", **kw)
    th = np.ones(grads.shape[1])
    for row in grads:
        opt.step(th, row)
    before_th, before = th.copy(), opt.state_dict()
    g = grads[-1].copy()
    g[where % g.shape[0]] = bad
    opt.step(th, g)
    after = opt.state_dict()
    assert th.tobytes() == before_th.tobytes()
    for k in ("v", "grad_mean", "momentum_buffer", "lr_last"):
        assert after[k].tobytes() == before[k].tobytes()
    assert after["step"] == before["step"] and after["n_skipped"] == before["n_skipped"] + 1
