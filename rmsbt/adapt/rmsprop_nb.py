"""Numba kernels of the RMSprop updater. Their Python face is :mod:`rmsbt.adapt.rmsprop`.

One kernel family serves every variant: :func:`rmsprop_step` reads the variant flags of each
parameter group from a flat float64 row of hyper-parameters (``HP[group, HP_*]``) and runs either a
tight loop (the plain update, no optional feature switched on) or the general loop (every feature,
branches on loop-invariant flags). Nothing is compiled at import: the kernels are lazy
``@njit(cache=True)`` and compile (or load from the on-disk cache) on their first call.

Layout of the arrays the kernels share with :class:`rmsbt.adapt.RMSprop` (``opt.kernel_args()``)::

    params, grads : 1-D arrays of d parameters, dtype float64 (or float32 if the updater is float32)
    S       : (N_ROWS, d) array of the same dtype; rows ROW_V (v), ROW_M (gradient mean, centered),
              ROW_B (momentum buffer), ROW_LO / ROW_HI (bounds, used when HP_BOUNDS is set)
    HP      : (n_groups, N_HP) float64 hyper-parameters, one row per parameter group
    offsets : (n_groups + 1,) int64; group j owns parameters offsets[j] .. offsets[j+1]-1
    ctr     : (N_CTR,) int64: CTR_STEP updates applied, CTR_SKIPPED skipped updates,
              CTR_BAD index of the last non-finite gradient found
    lr_table: (n_groups, L) float64; the learning rate of update k when HP_SCHED == SCHED_ARRAY

Every scalar is turned into the array dtype before use, so a float32 updater does float32
arithmetic throughout (as ``torch.optim.RMSprop`` does on float32 tensors); schedule values and the
bias-correction factor are computed in float64 first.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

# --- HP columns (float64; flags are 0.0 / 1.0) -------------------------------------------------
HP_LR = 0  # base learning rate lr0 of the group
HP_DECAY = 1  # ρ (PyTorch ``alpha``, Keras ``rho``, TF1/optax ``decay``)
HP_OMR = 2  # 1 − ρ, computed in Python float64 exactly as PyTorch does (``1 - alpha``)
HP_EPS_IN = 3  # ε when it sits inside the root, else 0
HP_EPS_OUT = 4  # ε when it sits outside the root, else 0
HP_MOMENTUM = 5  # μ (0 = no momentum buffer)
HP_MFORM = 6  # MFORM_TORCH / MFORM_TF / MFORM_NESTEROV
HP_WD = 7  # weight decay λ
HP_DECOUPLED = 8  # 1: θ ← θ − θ·λ·lr (Keras); 0: g ← g + λ·θ (PyTorch, coupled L2)
HP_MAXIMIZE = 9  # 1: ascent (g ← −g before weight decay)
HP_CENTERED = 10  # 1: variance = v − m² (clamped at 0)
HP_BIAS = 11  # 1: v̂ = v / (1 − ρ^t) (and m̂ likewise when centered)
HP_CLIPV = 12  # clip each gradient to [−c, c]; 0 = off
HP_CLIPN = 13  # scale the group's gradient to global L2 norm ≤ c; 0 = off
HP_BOUNDS = 14  # 1: project θ onto [S[ROW_LO], S[ROW_HI]] after the step
HP_SCHED = 15  # SCHED_CONSTANT / SCHED_EXPONENTIAL / SCHED_INVERSE_TIME / SCHED_ARRAY
HP_SRATE = 16  # schedule rate (exponential: γ, inverse time: decay rate)
HP_SSTEPS = 17  # schedule decay_steps
HP_SSTAIR = 18  # 1: staircase (floor(k / decay_steps))
HP_POLICY = 19  # non-finite gradient policy (read from group 0): POLICY_RAISE / SKIP / ZERO
HP_LR_LAST = 20  # written by the kernel: the learning rate of the last update (float64)
HP_V0 = 21  # initial accumulator v0 (used by reset only)
HP_NLR = 22  # length of the group's lr_table row (SCHED_ARRAY)
N_HP = 23

ROW_V, ROW_M, ROW_B, ROW_LO, ROW_HI = 0, 1, 2, 3, 4
N_ROWS = 5

CTR_STEP, CTR_SKIPPED, CTR_BAD = 0, 1, 2
N_CTR = 3

MFORM_TORCH, MFORM_TF, MFORM_NESTEROV = 0, 1, 2
SCHED_CONSTANT, SCHED_EXPONENTIAL, SCHED_INVERSE_TIME, SCHED_ARRAY = 0, 1, 2, 3
POLICY_RAISE, POLICY_SKIP, POLICY_ZERO = 0, 1, 2

# --- return codes of rmsprop_step -----------------------------------------------------------
STATUS_OK = 0  # update applied, ctr[CTR_STEP] incremented
STATUS_SKIPPED = 1  # non-finite gradient, policy "skip": nothing changed except ctr[CTR_SKIPPED] += 1
STATUS_NONFINITE = 2  # non-finite gradient, policy "raise": nothing changed; index in ctr[CTR_BAD]
STATUS_LR_EXHAUSTED = 3  # SCHED_ARRAY has no entry for this update: nothing changed
STATUS_SHAPE = 4  # params / grads / state sizes disagree: nothing changed
STATUS_DTYPE = 5  # params / grads dtype differs from the state's: nothing changed


def cast_like(x, arr):  # pragma: no cover - replaced by the overload inside compiled code
    """``x`` converted to ``arr``'s dtype (float32 or float64); compile-time dispatch."""
    raise NotImplementedError


@overload(cast_like)
def _cast_like_impl(x, arr):
    if arr.dtype == types.float32:
        return lambda x, arr: np.float32(x)
    return lambda x, arr: np.float64(x)


@intrinsic
def fma(typingctx, a, b, c):
    """``a·b + c`` rounded once (IEEE fused multiply-add, ``llvm.fma``), for three floats of one type.

    PyTorch's CPU kernels evaluate ``addcmul``, ``lerp`` and ``add(alpha=)`` with fused multiply-adds;
    using the same fused operations here makes the trajectories bit-identical to PyTorch's instead of
    1 ulp apart per operation (which an ill-conditioned centered run amplifies). ``llvm.fma`` is
    exact on every CPU (a libm call where the hardware has no FMA), so results do not depend on it.
    """
    if not (isinstance(a, types.Float) and a == b and b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@njit(cache=True, nogil=True)
def scheduled_lr(hp, k, lr_table, group):
    """Learning rate of update ``k`` (``k`` = updates already applied, 0 for the first) of a group.

    constant ``lr0``; exponential ``lr0·γ^(k/s)``; inverse time ``lr0 / (1 + r·k/s)``
    (``k/s`` floored when staircase); array ``lr_table[group, k]`` (NaN when ``k`` is past its end).
    """
    kind = hp[HP_SCHED]
    lr0 = hp[HP_LR]
    if kind == SCHED_CONSTANT:
        return lr0
    if kind == SCHED_ARRAY:
        if k >= hp[HP_NLR]:
            return np.nan
        return lr_table[group, k]
    p = k / hp[HP_SSTEPS]
    if hp[HP_SSTAIR] != 0.0:
        p = np.floor(p)
    if kind == SCHED_EXPONENTIAL:
        return lr0 * hp[HP_SRATE] ** p
    return lr0 / (1.0 + hp[HP_SRATE] * p)


@njit(cache=True, nogil=True)
def _first_nonfinite(grads):
    """Index of the first non-finite entry of ``grads``, or −1. One vectorisable pass when clean."""
    acc = 0.0
    for i in range(grads.shape[0]):
        acc += grads[i] * 0.0  # stays 0 unless some entry is inf or NaN
    if acc == 0.0:
        return -1
    for i in range(grads.shape[0]):
        if not np.isfinite(grads[i]):
            return i
    return -1


@njit(cache=True, nogil=True)
def _group_update(params, grads, S, hp, lr64, t, a, b, zero_policy):
    """Apply update number ``t`` (1-based) to parameters ``a .. b-1`` of one group, in place."""
    rho = cast_like(hp[HP_DECAY], params)
    omr = cast_like(hp[HP_OMR], params)
    e_in = cast_like(hp[HP_EPS_IN], params)
    e_out = cast_like(hp[HP_EPS_OUT], params)
    lr = cast_like(lr64, params)
    v = S[ROW_V]
    plain = (hp[HP_MOMENTUM] == 0.0 and hp[HP_WD] == 0.0 and hp[HP_MAXIMIZE] == 0.0
             and hp[HP_CENTERED] == 0.0 and hp[HP_BIAS] == 0.0 and hp[HP_CLIPV] == 0.0
             and hp[HP_CLIPN] == 0.0 and hp[HP_BOUNDS] == 0.0 and not zero_policy)
    if plain:
        # The reference update (PyTorch op order): v ← fma((1−ρ)g, g, ρv); θ ← θ − (lr·g)/(√(v+ε_in)+ε_out)
        for i in range(a, b):
            g = grads[i]
            vi = fma(omr * g, g, rho * v[i])
            v[i] = vi
            params[i] -= lr * g / (np.sqrt(vi + e_in) + e_out)
        return

    zero = cast_like(0.0, params)
    one = cast_like(1.0, params)
    m = S[ROW_M]
    buf = S[ROW_B]
    lo = S[ROW_LO]
    hi = S[ROW_HI]
    mu = cast_like(hp[HP_MOMENTUM], params)
    mform = hp[HP_MFORM]
    wd = cast_like(hp[HP_WD], params)
    coupled = hp[HP_WD] != 0.0 and hp[HP_DECOUPLED] == 0.0
    decoupled = hp[HP_WD] != 0.0 and hp[HP_DECOUPLED] != 0.0
    maximize = hp[HP_MAXIMIZE] != 0.0
    centered = hp[HP_CENTERED] != 0.0
    bias = hp[HP_BIAS] != 0.0
    bounds = hp[HP_BOUNDS] != 0.0
    clipv = cast_like(hp[HP_CLIPV], params)
    lerp_small = hp[HP_OMR] < 0.5  # PyTorch's lerp formula switch
    one_m_w = one - omr
    bc = cast_like(1.0 - hp[HP_DECAY] ** t, params) if bias else one

    # global-norm clipping: scale = min(1, c / ‖g‖) over this group's (value-clipped) gradient
    nscale = one
    if hp[HP_CLIPN] != 0.0:
        amax = 0.0
        for i in range(a, b):
            g = _pre_clip(grads[i], zero_policy, hp[HP_CLIPV], clipv, zero)
            if abs(g) > amax:
                amax = abs(g)
        if amax > 0.0:
            ss = 0.0
            for i in range(a, b):
                g = _pre_clip(grads[i], zero_policy, hp[HP_CLIPV], clipv, zero) / amax
                ss += g * g
            norm = amax * np.sqrt(ss)
            if norm > hp[HP_CLIPN]:
                nscale = cast_like(hp[HP_CLIPN] / norm, params)

    for i in range(a, b):
        g = _pre_clip(grads[i], zero_policy, hp[HP_CLIPV], clipv, zero)
        if hp[HP_CLIPN] != 0.0:
            g = g * nscale
        if maximize:
            g = -g
        th = params[i]
        if coupled:
            g = fma(wd, th, g)
        vi = fma(omr * g, g, rho * v[i])
        v[i] = vi
        var = vi / bc if bias else vi
        if centered:
            mi = m[i]
            if lerp_small:
                mi = fma(omr, g - mi, mi)
            else:
                mi = fma(-one_m_w, g - mi, g)
            m[i] = mi
            mh = mi / bc if bias else mi
            var = fma(-mh, mh, var)
            if not (var >= zero):  # rounding can make v − m² slightly negative: clamp at 0
                var = zero
        d = np.sqrt(var + e_in) + e_out
        if decoupled:
            th = th - th * wd * lr
        if mu == zero:
            th = th - lr * g / d
        elif mform == MFORM_TORCH:
            bi = mu * buf[i] + g / d
            buf[i] = bi
            th = fma(-lr, bi, th)  # PyTorch: param.add_(buf, alpha=-lr)
        else:
            u = lr * g / d
            bi = mu * buf[i] + u
            buf[i] = bi
            th = th - (bi if mform == MFORM_TF else u + mu * bi)
        if bounds:
            th = min(max(th, lo[i]), hi[i])
        params[i] = th


@njit(cache=True, nogil=True)
def _pre_clip(g, zero_policy, clipv64, clipv, zero):
    """The gradient after the non-finite "zero" policy and clipping by value."""
    if zero_policy and not np.isfinite(g):
        g = zero
    if clipv64 != 0.0:
        g = min(max(g, -clipv), clipv)
    return g


def _typed_step(params, grads, S, HP, offsets, ctr, lr_table):  # pragma: no cover - compiled only
    raise NotImplementedError


@overload(_typed_step)
def _typed_step_impl(params, grads, S, HP, offsets, ctr, lr_table):
    """Choose at compile time: arrays of the state's dtype and 1-D → the update; anything else → a
    kernel that only returns STATUS_DTYPE / STATUS_SHAPE (so a mismatch never compiles mixed math)."""
    ok_arrays = isinstance(params, types.Array) and isinstance(grads, types.Array)
    if not ok_arrays or params.dtype != S.dtype or grads.dtype != S.dtype:
        return lambda params, grads, S, HP, offsets, ctr, lr_table: STATUS_DTYPE
    if params.ndim != 1 or grads.ndim != 1:
        return lambda params, grads, S, HP, offsets, ctr, lr_table: STATUS_SHAPE
    return lambda params, grads, S, HP, offsets, ctr, lr_table: _step_body(params, grads, S, HP, offsets, ctr, lr_table)


@njit(cache=True, nogil=True)
def rmsprop_step(params, grads, S, HP, offsets, ctr, lr_table):
    """One RMSprop update of every parameter group, in place; returns a STATUS_* code.

    For update number t = ctr[CTR_STEP] + 1 (k = t − 1 updates already applied) and each parameter
    (all arithmetic in the array dtype, in this order)::

        g ← clip_value(g); g ← g·min(1, c/‖g‖)          (clipping, when switched on)
        g ← −g                                          (maximize)
        g ← g + λ·θ                                     (coupled weight decay, PyTorch)
        v ← ρ·v + (1 − ρ)·g·g
        m ← lerp(m, g, 1 − ρ)                           (centered; PyTorch's lerp formula)
        var ← v̂ − m̂², clamped at 0 (centered) or v̂; v̂ = v/(1 − ρ^t) with bias correction else v
        D ← √(var + ε_in) + ε_out                       (ε sits in exactly one of the two)
        momentum torch:    b ← μb + g/D;      θ ← θ − lr·b
        momentum tf:       b ← μb + lr·g/D;   θ ← θ − b
        momentum nesterov: b ← μb + lr·g/D;   θ ← θ − (lr·g/D + μb)
        no momentum:       θ ← θ − lr·g/D
        θ ← θ − θ·λ·lr before the step above          (decoupled weight decay, Keras)
        θ ← min(max(θ, lo), hi)                         (bounds)

    lr = scheduled_lr(HP[j], k, lr_table, j), recorded in HP[j, HP_LR_LAST]. Non-finite gradients
    are looked for first (policy raise/skip) so that a refused update changes nothing.
    """
    return _typed_step(params, grads, S, HP, offsets, ctr, lr_table)


@njit(cache=True, nogil=True)
def _step_body(params, grads, S, HP, offsets, ctr, lr_table):
    n = params.shape[0]
    ng = HP.shape[0]
    if grads.shape[0] != n or S.shape[1] != n or S.shape[0] < N_ROWS or offsets[ng] != n:
        return STATUS_SHAPE
    k = ctr[CTR_STEP]
    policy = HP[0, HP_POLICY]
    zero_policy = policy == POLICY_ZERO
    if not zero_policy:
        bad = _first_nonfinite(grads)
        if bad >= 0:
            ctr[CTR_BAD] = bad
            if policy == POLICY_SKIP:
                ctr[CTR_SKIPPED] += 1
                return STATUS_SKIPPED
            return STATUS_NONFINITE
    for j in range(ng):
        if np.isnan(scheduled_lr(HP[j], k, lr_table, j)):
            return STATUS_LR_EXHAUSTED
    for j in range(ng):
        lr = scheduled_lr(HP[j], k, lr_table, j)
        HP[j, HP_LR_LAST] = lr
        _group_update(params, grads, S, HP[j], lr, k + 1, offsets[j], offsets[j + 1], zero_policy)
    ctr[CTR_STEP] = k + 1
    return STATUS_OK


@njit(cache=True, nogil=True)
def rmsprop_effective_lr(S, HP, offsets, ctr, out):
    """``out[i] ← lr / D[i]``: the step a unit gradient takes, with lr of the last update (or of the
    first, before any) and D = √(var + ε_in) + ε_out from the current state (as in the update).
    Computed in float64 whatever the state dtype."""
    t = ctr[CTR_STEP]
    for j in range(HP.shape[0]):
        hp = HP[j]
        bc = 1.0 - hp[HP_DECAY] ** t if (hp[HP_BIAS] != 0.0 and t > 0) else 1.0
        for i in range(offsets[j], offsets[j + 1]):
            var = np.float64(S[ROW_V, i]) / bc
            if hp[HP_CENTERED] != 0.0:
                mh = np.float64(S[ROW_M, i]) / bc
                var = max(var - mh * mh, 0.0)
            out[i] = hp[HP_LR_LAST] / (np.sqrt(var + hp[HP_EPS_IN]) + hp[HP_EPS_OUT])


@njit(cache=True, nogil=True)
def rmsprop_run(params, grads_seq, S, HP, offsets, ctr, lr_table, out):
    """Apply ``rmsprop_step`` once per row of ``grads_seq`` (n_steps × d), writing θ after each
    update into ``out`` (n_steps × d). Stops at the first status ≠ 0 and returns (status, row).
    A compiled strategy loop calls ``rmsprop_step`` the same way."""
    for r in range(grads_seq.shape[0]):
        st = rmsprop_step(params, grads_seq[r], S, HP, offsets, ctr, lr_table)
        if st != STATUS_OK and st != STATUS_SKIPPED:
            return st, r
        out[r] = params
    return STATUS_OK, grads_seq.shape[0]
