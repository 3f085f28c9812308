"""Property tests of RMSprop (hypothesis, modest example counts)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rmsbt import RMSprop

# |g| up to 1e100: g² and (with weight decay) (λθ)² stay finite in float64 even after the largest
# possible steps (lr·g/ε with a zero centered variance). Above ~1e150 g² can overflow: documented limit.
scales = st.sampled_from([0.0, 1e-300, 1e-150, 1e-8, 1.0, 1e8, 1e100])
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


@settings(max_examples=60, deadline=None)
@given(grads=gradient_runs(), kw=variants, lr=st.sampled_from([1e-3, 0.1, 1.0]))
def test_finite_gradients_give_finite_state(grads, kw, lr):
    """No NaN/inf in θ, v, m, b or the effective step, from finite gradients at any scale, incl. all zero."""
    opt = RMSprop(lr=lr, **kw)
    th = np.zeros(grads.shape[1])
    for row in grads:
        opt.step(th, row)
        s = opt.state
        for arr in (th, s.v, s.grad_mean, s.momentum_buffer, opt.effective_lr()):
            assert np.all(np.isfinite(arr)), (kw, row, arr)


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
