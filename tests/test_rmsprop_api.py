"""RMSprop's public face: validation, state and resume, groups, bounds, clipping, non-finite policy,
effective step size, compiled use of the kernels."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from numba import njit

from rmsbt import RMSprop
from rmsbt.adapt import NonFiniteGradientError, rmsprop_nb
from rmsbt.errors import ConfigError, RmsbtError

RICH = dict(centered=True, momentum=0.9, weight_decay=0.01, maximize=True, bias_correction=True,
            lr_schedule={"kind": "inverse_time", "rate": 0.01, "steps": 3}, clip_norm=50.0, clip_value=20.0,
            bounds=(-3.0, 4.0))


def grads_seq(n_steps=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_steps, d)) * np.array([1e-3, 1.0, 1e3])[:d]


@pytest.mark.parametrize("kw,name", [
    (dict(lr=0.0), "lr"), (dict(lr=-1), "lr"), (dict(lr=float("nan")), "lr"), (dict(decay=1.0), "decay"),
    (dict(decay=-0.1), "decay"), (dict(decay=0.0), "decay"), (dict(eps=0.0), "eps"), (dict(momentum=1.0), "momentum"),
    (dict(momentum_form="keras"), "momentum_form"), (dict(weight_decay=-1e-3), "weight_decay"),
    (dict(centered="yes"), "centered"), (dict(initial_accumulator=-1.0), "initial_accumulator"),
    (dict(nonfinite="ignore"), "nonfinite"), (dict(dtype="float16"), "dtype"),
    (dict(clip_norm=0.0), "clip_norm"), (dict(bounds=(1.0, 0.0)), "bounds"),
    (dict(lr_schedule={"kind": "cosine"}), "lr_schedule.kind"),
    (dict(lr_schedule={"kind": "exponential", "rate": 0.5, "step": 3}), "lr_schedule"),
    (dict(lr_schedule=[0.1, -0.1]), "lr_schedule"), (dict(groups=[{"size": 1, "foo": 1}]), "groups[0].foo"),
    (dict(groups=[{"size": 0}]), "groups[0].size"), (dict(groups=[{"size": 1, "lr": -1}]), "groups[0].lr"),
])
def test_invalid_hyper_parameters_name_the_argument(kw, name):
    with pytest.raises(ConfigError, match=re.escape(f"RMSprop {name} ")):
        RMSprop(**kw)


def test_messages_keep_the_strategy_wording():
    """The strategy prefixes its key; the wording is 'RMSprop decay must be in (0, 1), got …'."""
    with pytest.raises(ConfigError, match=re.escape("RMSprop decay must be in (0, 1), got 1.0")):
        RMSprop(decay=1.0)
    with pytest.raises(ConfigError, match=re.escape("RMSprop lr must be > 0, got 0.0")):
        RMSprop(lr=0.0)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="RMSprop preset"):
        RMSprop.preset("adam")


def test_step_updates_in_place_and_returns_params():
    th = np.array([1.0, 2.0])
    out = RMSprop().step(th, np.array([0.5, -0.5]))
    assert out is th and th[0] < 1.0 and th[1] > 2.0


def test_wrong_shapes_and_dtypes_are_refused_without_change():
    opt = RMSprop()
    th = np.zeros(2)
    opt.step(th, np.ones(2))
    v = opt.state.v.copy()
    with pytest.raises(ValueError, match="holds state for 2"):
        opt.step(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="equal length"):
        opt.step(th, np.ones(3))
    with pytest.raises(TypeError, match="float64"):
        opt.step(th, np.ones(2, dtype=np.float32))
    assert np.array_equal(opt.state.v, v) and opt.state.step == 1


# ---------------------------------------------------------------- state, resume, files
@pytest.mark.parametrize("kw", [dict(), RICH, dict(RICH, momentum_form="nesterov", eps_in_sqrt=True),
                                dict(lr_schedule=list(np.linspace(0.1, 0.01, 200)), nonfinite="skip"),
                                dict(RICH, dtype="float32")])
def test_resume_from_state_dict_is_bit_identical(kw, tmp_path):
    """Stop at step k, state_dict → fresh updater → load → continue == straight run, bit for bit."""
    g = grads_seq()
    g[50, 1] = np.nan  # under "skip" this update is refused and counted
    if kw.get("nonfinite") != "skip":
        g[50, 1] = 0.0
    dt = np.float32 if kw.get("dtype") == "float32" else np.float64
    g = g.astype(dt)
    th0 = np.array([0.5, -1.0, 2.0], dtype=dt)

    straight = RMSprop(**kw)
    a = th0.copy()
    for row in g:
        straight.step(a, row)

    first = RMSprop(**kw)
    b = th0.copy()
    for row in g[:77]:
        first.step(b, row)
    resumed = RMSprop()  # different hyper-parameters: load_state_dict replaces them
    resumed.load_state_dict(first.state_dict())
    for row in g[77:120]:
        resumed.step(b, row)
    path = resumed.save(tmp_path / "opt.npz")
    from_file = RMSprop.load(path)
    for row in g[120:]:
        from_file.step(b, row)

    assert a.tobytes() == b.tobytes()
    for name in ("v", "grad_mean", "momentum_buffer"):
        assert getattr(straight.state, name).tobytes() == getattr(from_file.state, name).tobytes()
    assert (straight.state.step, straight.state.n_skipped) == (from_file.state.step, from_file.state.n_skipped)
    assert straight.get_config() == from_file.get_config()


def test_state_is_inspectable_and_copy_is_a_snapshot():
    opt = RMSprop(centered=True, momentum=0.5)
    th = np.zeros(2)
    opt.step(th, np.array([1.0, 2.0]))
    s = opt.state
    # v = 0.01·g², m = lerp(0, g, 0.01) = 0.01·g
    assert s.v == pytest.approx([0.01, 0.04]) and s.grad_mean == pytest.approx([0.01, 0.02])
    assert s.step == 1 and "momentum_buffer" in repr(s)
    snap = s.copy()
    opt.step(th, np.array([1.0, 2.0]))
    assert snap.step == 1 and opt.state.step == 2 and not np.array_equal(snap.v, opt.state.v)


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="x.npz"):
        RMSprop.load(bad)
    with pytest.raises(ConfigError, match="state dict"):
        RMSprop().load_state_dict({"v": [1.0]})


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    opt = RMSprop()
    opt.step(np.zeros(2), np.ones(2))
    opt.save(tmp_path / "a.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


# ---------------------------------------------------------------- effective step size
def test_effective_lr_is_lr_over_denominator():
    opt = RMSprop(lr=0.1, decay=0.9, eps=1e-3)
    th = np.zeros(2)
    opt.step(th, np.array([2.0, 0.0]))
    # v = 0.1·4 = 0.4 → 0.1/(√0.4 + 1e-3); v = 0 → 0.1/1e-3
    assert opt.effective_lr() == pytest.approx([0.1 / (math.sqrt(0.4) + 1e-3), 100.0], rel=1e-15)
    inside = RMSprop(lr=0.1, decay=0.9, eps=1e-3, eps_in_sqrt=True, initial_accumulator=1.0)
    inside.init(1)
    assert inside.effective_lr() == pytest.approx([0.1 / math.sqrt(1.001)], rel=1e-15)


# ---------------------------------------------------------------- groups
def test_param_groups_equal_separate_updaters():
    """Two groups in one updater behave as two independent updaters on the slices."""
    g = grads_seq(100, 3)
    groups = [{"size": 1, "lr": 0.05, "momentum": 0.9}, {"size": 2, "centered": True, "eps_in_sqrt": True}]
    one = RMSprop(decay=0.9, groups=groups)
    a = RMSprop(lr=0.05, decay=0.9, momentum=0.9)
    b = RMSprop(decay=0.9, centered=True, eps_in_sqrt=True)
    th = np.array([1.0, 2.0, 3.0])
    ta, tb = th[:1].copy(), th[1:].copy()
    for row in g:
        one.step(th, row)
        a.step(ta, row[:1].copy())
        b.step(tb, row[1:].copy())
    assert th.tobytes() == np.concatenate([ta, tb]).tobytes()
    with pytest.raises(ConfigError, match="sizes add up to 3"):
        RMSprop(groups=groups).init(4)


# ---------------------------------------------------------------- bounds, clipping
def test_bounds_project_after_the_step():
    opt = RMSprop(lr=1.0, bounds=([0.0, -1.0], [5.0, 1.0]))
    th = np.array([0.2, 0.9])
    opt.step(th, np.array([10.0, -10.0]))  # steps of ±1/(0.1+…) ≈ ±10 push both out
    assert th.tolist() == [0.0, 1.0]
    with pytest.raises(ConfigError, match="bounds has 3 entries for 2"):
        RMSprop(bounds=([0, 0, 0], 1.0)).init(2)


def test_group_bounds_override_base_bounds():
    opt = RMSprop(lr=1.0, bounds=(-0.5, 0.5), groups=[{"size": 1}, {"size": 1, "bounds": (0.0, 5.0)}])
    th = np.array([0.0, 0.1])
    opt.step(th, np.array([-10.0, 10.0]))
    assert th.tolist() == [0.5, 0.0]


def test_clip_by_value_and_by_global_norm():
    """clip_value clips each g to [−c, c]; clip_norm scales g by c/‖g‖ when ‖g‖ > c. With v0 = 0 the
    first step is lr·g/(√(0.01·g²) + ε) for both, so compare v = 0.01·g_clipped² instead."""
    opt = RMSprop(clip_value=1.0)
    opt.step(np.zeros(3), np.array([5.0, -0.5, -7.0]))
    assert opt.state.v == pytest.approx(0.01 * np.array([1.0, 0.25, 1.0]), rel=1e-15)
    opt = RMSprop(clip_norm=1.0)
    opt.step(np.zeros(2), np.array([3.0, 4.0]))  # ‖g‖ = 5 → g = (0.6, 0.8)
    assert opt.state.v == pytest.approx(0.01 * np.array([0.36, 0.64]), rel=1e-14)
    opt = RMSprop(clip_norm=1.0)
    opt.step(np.zeros(2), np.array([3e200, 4e200]))  # the norm itself would overflow naively
    assert opt.state.v == pytest.approx(0.01 * np.array([0.36, 0.64]), rel=1e-14)


# ---------------------------------------------------------------- non-finite policy
def test_nonfinite_raise_names_parameter_and_step_and_changes_nothing():
    opt = RMSprop(momentum=0.9, centered=True)
    th = np.array([1.0, 2.0, 3.0])
    for _ in range(4):
        opt.step(th, np.array([0.1, 0.2, 0.3]))
    before = (th.copy(), opt.state.copy())
    with pytest.raises(NonFiniteGradientError, match=r"grads\[2\] = .*inf.* at update 5 \(4 applied\)"):
        opt.step(th, np.array([0.1, 0.2, np.inf]))
    assert th.tobytes() == before[0].tobytes() and opt.state.step == 4
    assert opt.state.v.tobytes() == before[1].v.tobytes()
    assert issubclass(NonFiniteGradientError, RmsbtError)


def test_nonfinite_zero_policy_treats_bad_entries_as_zero():
    a, b = RMSprop(nonfinite="zero"), RMSprop()
    ta, tb = np.ones(2), np.ones(2)
    a.step(ta, np.array([np.nan, 0.5]))
    b.step(tb, np.array([0.0, 0.5]))
    assert ta.tobytes() == tb.tobytes() and a.state.v.tobytes() == b.state.v.tobytes()


# ---------------------------------------------------------------- compiled use
@njit(cache=False)
def _compiled_loop(theta, grads_seq, S, M):
    """A compiled strategy loop: gradient from data, one kernel call per bar."""
    for r in range(grads_seq.shape[0]):
        status = rmsprop_nb.rmsprop_step(theta, grads_seq[r], S, M)
        if status != rmsprop_nb.STATUS_OK:
            return r
    return -1


def test_kernel_called_from_compiled_code_equals_python_steps():
    g = grads_seq(150, 3)
    kw = dict(RICH, momentum_form="tf")
    py, nbo = RMSprop(**kw), RMSprop(**kw)
    a, b = np.ones(3), np.ones(3)
    for row in g:
        py.step(a, row)
    nbo.init(3)
    assert _compiled_loop(b, g, *nbo.kernel_args()) == -1
    assert a.tobytes() == b.tobytes() and nbo.state.step == 150
    # and rmsprop_run records the trajectory
    c = RMSprop(**kw)
    c.init(3)
    th = np.ones(3)
    out = np.empty_like(g)
    assert rmsprop_nb.rmsprop_run(th, g, *c.kernel_args(), out) == (0, 150)
    assert out[-1].tobytes() == a.tobytes()


def test_strategy_usage_still_works():
    """strategies/pairs_rmsprop.py: RMSprop(lr=, decay=, eps=), init(2), step, effective_lr."""
    opt = RMSprop(lr=1e-3, decay=0.99, eps=1e-8)
    opt.init(2)
    th = np.array([1.0, 0.0])
    opt.step(th, np.array([0.2, -0.1]))
    eff = opt.effective_lr()
    assert eff.shape == (2,) and np.all(eff > 0)
    assert (opt.lr, opt.decay, opt.eps) == (1e-3, 0.99, 1e-8)
