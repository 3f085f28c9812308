"""Numba kernels of the RMSprop updater. Their Python face is :mod:`rmsbt.adapt.rmsprop`.

One kernel family serves every variant: :func:`rmsprop_step` reads the variant flags of each
parameter group from a flat float64 row of hyper-parameters (``M[1 + group, HP_*]``) and runs either
the tight loop (one group, constant lr ≤ 1, no optional feature: written out in ``rmsprop_step``) or the
general loop (every feature, branches on loop-invariant flags, :func:`_general_update`). Nothing is
compiled at import: the kernels are lazy ``@njit(cache=True)`` and compile (or load from the on-disk
cache) on their first call. ``rmsprop_step`` and ``_general_update`` allocate nothing and are
compiled without NRT reference counting (``_nrt=False``: ~40 ns per call saved at d = 2);
``error_model="numpy"`` drops Python's ZeroDivisionError branch (D ≥ ε > 0 anyway) so loops vectorise.

Layout of the arrays the kernels share with :class:`rmsbt.adapt.RMSprop` (``opt.kernel_args()``);
four arrays in all, because each array argument costs ~70 ns of dispatch from Python::

    params, grads : 1-D arrays of d parameters, dtype float64 (or float32 if the updater is float32)
    S : (N_ROWS, d) array of the same dtype; rows ROW_V (v), ROW_M (gradient mean, centered),
        ROW_B (momentum buffer), ROW_LO / ROW_HI (bounds, used when HP_BOUNDS is set)
    M : (1 + n_groups, N_HP + L) float64. Row 0 is the header: M[0, C_STEP] updates applied,
        M[0, C_SKIPPED] updates refused by the skip policy, M[0, C_BAD] index of the last non-finite
        gradient seen, M[0, C_POLICY] the non-finite policy, M[0, C_FAST] 1 when the single-group
        plain constant-lr (lr ≤ 1) path applies. Row 1 + j holds group j's
        hyper-parameters in columns HP_* (flags are 0.0 / 1.0), its parameters
        M[1+j, HP_START] .. M[1+j, HP_END] − 1, and, for an array schedule, its learning rates
        in columns N_HP .. N_HP + M[1+j, HP_NLR] − 1. Counts are stored as floats (exact to 2**53).

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
HP_START = 19  # first parameter index of the group
HP_LR_LAST = 20  # written by the kernel: the learning rate of the last update (float64)
HP_V0 = 21  # initial accumulator v0
HP_NLR = 22  # number of learning rates of an array schedule (columns N_HP ..)
HP_END = 23  # one past the group's last parameter index
HP_PLAIN = 24  # 1: no optional feature is on (set by the Python face): the tight loop applies
N_HP = 25

ROW_V, ROW_M, ROW_B, ROW_LO, ROW_HI = 0, 1, 2, 3, 4
N_ROWS = 5

C_STEP, C_SKIPPED, C_BAD, C_POLICY = 0, 1, 2, 3  # columns of the header row M[0]
C_FAST = 4  # 1: one group, constant lr ≤ 1, no option, policy raise/skip (set by the Python face)

MFORM_TORCH, MFORM_TF, MFORM_NESTEROV = 0, 1, 2
SCHED_CONSTANT, SCHED_EXPONENTIAL, SCHED_INVERSE_TIME, SCHED_ARRAY = 0, 1, 2, 3
POLICY_RAISE, POLICY_SKIP, POLICY_ZERO = 0, 1, 2

# --- return codes of rmsprop_step -----------------------------------------------------------
STATUS_OK = 0  # update applied, M[0, C_STEP] incremented
STATUS_SKIPPED = 1  # non-finite gradient, policy "skip": nothing changed except M[0, C_SKIPPED] += 1
STATUS_NONFINITE = 2  # non-finite gradient, policy "raise": nothing changed; index in M[0, C_BAD]
STATUS_LR_EXHAUSTED = 3  # SCHED_ARRAY has no entry for this update: nothing changed
STATUS_SHAPE = 4  # params / grads / state sizes disagree: nothing changed
STATUS_DTYPE = 5  # (Python face only) params / grads are not 1-D arrays of the state's dtype; the
#                  kernel has no compiled form for them: numba raises TypingError at compile time


def cast_like(x, arr):  # pragma: no cover - replaced by the overload inside compiled code
    """``x`` converted to ``arr``'s dtype (an array's, or a float scalar's own type: float32 or
    float64); compile-time dispatch."""
    raise NotImplementedError


@overload(cast_like)
def _cast_like_impl(x, arr):
    dtype = arr if isinstance(arr, types.Float) else getattr(arr, "dtype", None)
    if dtype is None:
        return None  # no implementation: numba reports a TypingError
    if x == dtype:
        return lambda x, arr: x
    if dtype == types.float32:
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


@njit(cache=True, nogil=True, error_model="numpy")
def scheduled_lr(M, row, k):
    """Learning rate of update ``k`` (``k`` = updates already applied, 0 for the first) of the group
    in row ``row`` of M: constant ``lr0``; exponential ``lr0·γ^(k/s)``; inverse time
    ``lr0 / (1 + r·k/s)`` (``k/s`` floored when staircase); array ``M[row, N_HP + k]`` (NaN when
    ``k`` is past its end)."""
    kind = M[row, HP_SCHED]
    lr0 = M[row, HP_LR]
    if kind == SCHED_CONSTANT:
        return lr0
    if kind == SCHED_ARRAY:
        if k >= M[row, HP_NLR]:
            return np.nan
        return M[row, N_HP + k]
    p = k / M[row, HP_SSTEPS]
    if M[row, HP_SSTAIR] != 0.0:
        p = np.floor(p)
    if kind == SCHED_EXPONENTIAL:
        return lr0 * M[row, HP_SRATE] ** p
    return lr0 / (1.0 + M[row, HP_SRATE] * p)


@njit(cache=True, nogil=True, error_model="numpy")
def _pre_clip(g, zero_policy, clip_on, clipv, zero):
    """The gradient after the non-finite "zero" policy and clipping by value."""
    if zero_policy and not np.isfinite(g):
        g = zero
    if clip_on:
        g = min(max(g, -clipv), clipv)
    return g


@njit(cache=True, nogil=True, error_model="numpy")
def _norm_scale(grads, M, row, zero_policy, one):
    """min(1, c / ‖g‖) for global-norm clipping of the group in row ``row`` (1 when off), over its
    value-clipped gradient; ‖g‖ is computed as amax·‖g/amax‖ so that it cannot overflow."""
    clipn = M[row, HP_CLIPN]
    nscale = one
    if clipn != 0.0:
        clip_on = M[row, HP_CLIPV] != 0.0
        clipv = cast_like(M[row, HP_CLIPV], grads)
        zero = cast_like(0.0, grads)
        a = int(M[row, HP_START])
        b = int(M[row, HP_END])
        amax = 0.0
        for i in range(a, b):
            g = _pre_clip(grads[i], zero_policy, clip_on, clipv, zero)
            if abs(g) > amax:
                amax = abs(g)
        if amax > 0.0:
            ss = 0.0
            for i in range(a, b):
                g = _pre_clip(grads[i], zero_policy, clip_on, clipv, zero) / amax
                ss += g * g
            norm = amax * np.sqrt(ss)
            if norm > clipn:
                nscale = cast_like(clipn / norm, grads)
    return nscale


@njit(cache=True, nogil=True, error_model="numpy")
def _effective_grad(g, th, M, row, nscale, zero_policy):
    """The gradient that enters v for raw gradient ``g`` and parameter ``th`` (steps 0–4 of
    rmsprop_step): zero policy, clipping, maximize, coupled weight decay g + λθ. Under the zero
    policy a non-finite result (e.g. λθ with θ = NaN, or an overflowing g + λθ) becomes 0."""
    zero = cast_like(0.0, th)
    clipv = cast_like(M[row, HP_CLIPV], th)
    g = _pre_clip(g, zero_policy, M[row, HP_CLIPV] != 0.0, clipv, zero)
    if M[row, HP_CLIPN] != 0.0:
        g = g * nscale
    if M[row, HP_MAXIMIZE] != 0.0:
        g = -g
    if M[row, HP_WD] != 0.0 and M[row, HP_DECOUPLED] == 0.0:
        g = fma(cast_like(M[row, HP_WD], th), th, g)  # PyTorch: grad.add(param, alpha=weight_decay)
        if zero_policy and not np.isfinite(g):
            g = zero
    return g


@njit(cache=True, nogil=True, error_model="numpy")
def _first_bad_effective_grad(params, grads, M):
    """Index of the first parameter whose effective gradient (:func:`_effective_grad`) is not
    finite, or −1. Only groups with coupled weight decay can have one from finite raw gradients
    (λθ with a non-finite θ, or g + λθ overflowing); the others are not scanned."""
    one = cast_like(1.0, params)
    for row in range(1, M.shape[0]):
        if M[row, HP_WD] != 0.0 and M[row, HP_DECOUPLED] == 0.0:
            nscale = _norm_scale(grads, M, row, False, one)
            for i in range(int(M[row, HP_START]), int(M[row, HP_END])):
                if not np.isfinite(_effective_grad(grads[i], params[i], M, row, nscale, False)):
                    return i
    return -1


@njit(cache=True, nogil=True, error_model="numpy")
def _lerp_mean(mi, g, omr, lerp_small):
    """m ← lerp(m, g, 1 − ρ) with PyTorch's formula switch. When g − m overflows (|g|, |m| near the
    float64 maximum with opposite signs) the same convex combination is taken on halves, which
    cannot overflow: the mean of finite gradients stays finite."""
    if lerp_small:  # PyTorch: grad_avg.lerp_(grad, 1 − alpha)
        out = fma(omr, g - mi, mi)
    else:
        out = fma(-(cast_like(1.0, g) - omr), g - mi, g)
    if not np.isfinite(out) and np.isfinite(mi) and np.isfinite(g):
        half = cast_like(0.5, g)
        out = fma(omr, g * half - mi * half, mi * half) * cast_like(2.0, g)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def denominator(v, m, bc, centered, bias):
    """var of one parameter from its state: v̂ = v/bc, and for centered updaters v̂ − m̂² (one
    fused multiply-add, m̂ = m/bc), guarded: rounding can make v − m² slightly negative → 0; when
    v̂ and m̂² both overflow (inf − inf = NaN) → v̂ (= inf: the parameter does not move, as when v
    alone overflows). ``bias``: divide by bc (bias correction) else not. The one implementation
    of the divisor, used by the update and by :func:`rmsprop_effective_lr`; D = √(var + ε_in) + ε_out."""
    var = v / bc if bias else v
    if centered:
        mh = m / bc if bias else m
        vh = var
        var = fma(-mh, mh, var)
        if not (var >= cast_like(0.0, v)):
            var = cast_like(0.0, v) if var < cast_like(0.0, v) else vh
    return var


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _general_update(params, grads, S, M, row, lr64, t, zero_policy):
    """Every feature, on loop-invariant flags (see rmsprop_step for the order of operations)."""
    a = int(M[row, HP_START])
    b = int(M[row, HP_END])
    rho = cast_like(M[row, HP_DECAY], params)
    omr = cast_like(M[row, HP_OMR], params)
    e_in = cast_like(M[row, HP_EPS_IN], params)
    e_out = cast_like(M[row, HP_EPS_OUT], params)
    lr = cast_like(lr64, params)
    zero = cast_like(0.0, params)
    one = cast_like(1.0, params)
    mu = cast_like(M[row, HP_MOMENTUM], params)
    mform = M[row, HP_MFORM]
    wd = cast_like(M[row, HP_WD], params)
    decoupled = M[row, HP_WD] != 0.0 and M[row, HP_DECOUPLED] != 0.0
    centered = M[row, HP_CENTERED] != 0.0
    bias = M[row, HP_BIAS] != 0.0
    bounds = M[row, HP_BOUNDS] != 0.0
    lerp_small = M[row, HP_OMR] < 0.5  # PyTorch's lerp formula switch
    bc = cast_like(1.0 - M[row, HP_DECAY] ** t, params) if bias else one
    nscale = _norm_scale(grads, M, row, zero_policy, one)

    for i in range(a, b):
        th0 = params[i]
        g = _effective_grad(grads[i], th0, M, row, nscale, zero_policy)
        vi = fma(omr * g, g, rho * S[ROW_V, i])
        S[ROW_V, i] = vi
        mi = zero
        if centered:
            mi = _lerp_mean(S[ROW_M, i], g, omr, lerp_small)
            S[ROW_M, i] = mi
        d = np.sqrt(denominator(vi, mi, bc, centered, bias) + e_in) + e_out
        th = th0
        if decoupled:
            th = th - th * wd * lr
        b0 = S[ROW_B, i]
        bi = b0
        if mu == zero:
            th = th - lr * g / d
        elif mform == MFORM_TORCH:
            bi = mu * b0 + g / d
            th = fma(-lr, bi, th)  # PyTorch: param.add_(buf, alpha=-lr)
        else:
            u = lr * g / d
            bi = mu * b0 + u
            th = th - (bi if mform == MFORM_TF else u + mu * bi)
        if bounds:
            th = min(max(th, S[ROW_LO, i]), S[ROW_HI, i])
        if not (np.isfinite(th) and np.isfinite(bi)) and np.isfinite(th0):
            # the step overflowed (centered, var ≈ 0 and |g| near the float64 maximum: lr·g/ε is
            # beyond the range): the parameter and its momentum buffer keep their values
            th, bi = th0, b0
        S[ROW_B, i] = bi
        params[i] = th


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rmsprop_step(params, grads, S, M):
    """One RMSprop update of every parameter group, in place; returns a STATUS_* code.

    For update number t = M[0, C_STEP] + 1 (k = t − 1 updates already applied) and each parameter
    (all arithmetic in the array dtype, in this order)::

        g ← 0 if not finite                             (policy "zero")
        g ← clip(g, −c, c); g ← g·min(1, c/‖g‖)         (clipping, when switched on)
        g ← −g                                          (maximize)
        g ← g + λ·θ                                     (coupled weight decay, PyTorch)
        v ← ρ·v + (1 − ρ)·g·g
        m ← lerp(m, g, 1 − ρ)                           (centered; PyTorch's lerp formula)
        v̂, m̂ = v/(1 − ρ^t), m/(1 − ρ^t)                 (bias correction, else v, m)
        var ← v̂ − m̂² (centered; < 0 → 0, NaN → v̂) or v̂   (:func:`denominator`)
        D ← √(var + ε_in) + ε_out                       (ε sits in exactly one of the two)
        θ ← θ − θ·λ·lr                                  (decoupled weight decay, Keras)
        momentum torch:    b ← μb + g/D;      θ ← θ − lr·b
        momentum tf:       b ← μb + lr·g/D;   θ ← θ − b
        momentum nesterov: b ← μb + lr·g/D;   θ ← θ − (lr·g/D + μb)
        no momentum:       θ ← θ − lr·g/D
        θ ← min(max(θ, lo), hi)                         (bounds)
        θ, b ← old θ, b if the new ones are not finite  (overflow of the step; general loop)

    lr = scheduled_lr(M, 1 + j, k), recorded in M[1 + j, HP_LR_LAST]. Non-finite gradients are
    looked for first (policies raise / skip) so that a refused update changes nothing: the raw
    gradients, then (groups with coupled weight decay) the effective gradients g + λθ. Where PyTorch
    fuses a multiply-add (addcmul, lerp, add with alpha) the kernel does too (:func:`fma`).
    """
    n = params.shape[0]
    ng = M.shape[0] - 1
    status = STATUS_OK
    if (grads.shape[0] != n or S.shape[1] != n or S.shape[0] < N_ROWS or M.shape[1] < N_HP or ng < 1
            or M[ng, HP_END] != n):
        status = STATUS_SHAPE
    policy = M[0, C_POLICY]
    zero_policy = policy == POLICY_ZERO
    if status == STATUS_OK and not zero_policy:
        bad = -1
        for i in range(n):  # one pass that stops at the first inf / NaN (~10 % faster at d ≥ 1024
            if not (abs(grads[i]) < np.inf):  # than summing g·0 and searching again)
                bad = i
                break
        if bad < 0 and M[0, C_FAST] == 0.0:  # (the tight loop has no weight decay)
            bad = _first_bad_effective_grad(params, grads, M)  # λθ with θ = NaN, g + λθ overflowing
        if bad >= 0:
            M[0, C_BAD] = bad
            if policy == POLICY_SKIP:
                M[0, C_SKIPPED] += 1.0
                status = STATUS_SKIPPED
            else:
                status = STATUS_NONFINITE
    k = int(M[0, C_STEP])
    if status != STATUS_OK:
        pass
    elif M[0, C_FAST] != 0.0:
        # The common case (one group, constant lr ≤ 1, no option on), written out here without a call
        # so that nothing in this path costs more than the arithmetic (PyTorch's op order):
        # v ← fma((1−ρ)g, g, ρv);  θ ← θ − (lr·g)/(√(v + ε_in) + ε_out)
        M[1, HP_LR_LAST] = M[1, HP_LR]
        rho = cast_like(M[1, HP_DECAY], params)
        omr = cast_like(M[1, HP_OMR], params)
        e_in = cast_like(M[1, HP_EPS_IN], params)
        e_out = cast_like(M[1, HP_EPS_OUT], params)
        lr = cast_like(M[1, HP_LR], params)
        for i in range(n):
            g = grads[i]
            vi = fma(omr * g, g, rho * S[ROW_V, i])
            S[ROW_V, i] = vi
            params[i] -= lr * g / (np.sqrt(vi + e_in) + e_out)
        M[0, C_STEP] = k + 1
    else:  # the general path gives the same bits for a plain group (same operations, same order)
        for row in range(1, ng + 1):
            if M[row, HP_SCHED] == SCHED_ARRAY and k >= M[row, HP_NLR]:
                status = STATUS_LR_EXHAUSTED
        if status == STATUS_OK:
            for row in range(1, ng + 1):
                lr64 = scheduled_lr(M, row, k)
                M[row, HP_LR_LAST] = lr64
                _general_update(params, grads, S, M, row, lr64, k + 1, zero_policy)
            M[0, C_STEP] = k + 1
    return status


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_effective_lr(S, M, out):
    """``out[i] ← lr / D[i]``: the step a unit gradient takes, with lr of the last update (or of the
    first, before any) and D = √(var + ε_in) + ε_out from the current state, computed by the
    update's own code (:func:`denominator`, in the state's dtype, bias correction of update t =
    M[0, C_STEP]); after an update it is exactly the divisor that update used. 0 where D = inf
    (v overflowed: the parameter does not move). ``out`` is float64."""
    t = int(M[0, C_STEP])  # an integer, as in the update: ρ**t with a float t differs in the last bit
    one = cast_like(1.0, S)
    for row in range(1, M.shape[0]):
        bias = M[row, HP_BIAS] != 0.0 and t > 0
        bc = cast_like(1.0 - M[row, HP_DECAY] ** t, S) if bias else one
        e_in = cast_like(M[row, HP_EPS_IN], S)
        e_out = cast_like(M[row, HP_EPS_OUT], S)
        centered = M[row, HP_CENTERED] != 0.0
        for i in range(int(M[row, HP_START]), int(M[row, HP_END])):
            d = np.sqrt(denominator(S[ROW_V, i], S[ROW_M, i], bc, centered, bias) + e_in) + e_out
            out[i] = M[row, HP_LR_LAST] / np.float64(d)


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_run(params, grads_seq, S, M, out):
    """Apply ``rmsprop_step`` once per row of ``grads_seq`` (n_steps × d), writing θ after each
    update into ``out`` (n_steps × d). Stops at the first status other than OK / SKIPPED and
    returns (status, rows done). A compiled strategy loop calls ``rmsprop_step`` the same way."""
    for r in range(grads_seq.shape[0]):
        st = rmsprop_step(params, grads_seq[r], S, M)
        if st != STATUS_OK and st != STATUS_SKIPPED:
            return st, r
        out[r] = params
    return STATUS_OK, grads_seq.shape[0]
