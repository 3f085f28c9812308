"""RMSprop: a per-parameter step scaled by a moving average of squared gradients.

Plain update (per parameter, gradient g, v starting at ``initial_accumulator``, default 0)::

    v ← ρ·v + (1 − ρ)·g²
    θ ← θ − lr·g / (√v + ε)          eps_in_sqrt=False (PyTorch, the default)
    θ ← θ − lr·g / √(v + ε)          eps_in_sqrt=True  (Keras 3, TF1, optax, Lasagne)

``lr`` is the learning rate and ``decay`` is ρ. **PyTorch calls the decay ``alpha``**
(``torch.optim.RMSprop(lr, alpha, eps)``), Keras calls it ``rho``, TF1 and optax ``decay``.
Every variant (centered, momentum in three forms, coupled / decoupled weight decay, maximize, bias
correction, learning-rate schedules, bounds, clipping, non-finite policy, float32) and the exact
order of operations are in :func:`rmsbt.adapt.rmsprop_nb.rmsprop_step` and ``docs/rmsprop.md``.

The arithmetic lives in :mod:`rmsbt.adapt.rmsprop_nb`; this class validates the hyper-parameters
once, holds the preallocated state and makes one kernel call per :meth:`RMSprop.step`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, RmsbtError
from . import rmsprop_nb as nb

__all__ = ["NonFiniteGradientError", "PRESETS", "RMSprop", "RMSpropState"]

STATE_FORMAT = "rmsbt.RMSprop/1"
_kernel_step = nb.rmsprop_step  # module global: one lookup less per step


class NonFiniteGradientError(RmsbtError, FloatingPointError):
    """A gradient was NaN or ±inf under ``nonfinite="raise"``; the updater's state is unchanged."""


#: Reference defaults. ``lr`` of tf1/optax/hinton: those references fix none (TF1 and optax take
#: it as a required argument, Hinton's lecture gives none); 1e-3 is our choice, override it.
PRESETS: dict[str, dict] = {
    # torch.optim.RMSprop(lr=0.01, alpha=0.99, eps=1e-8); eps outside; v0 = 0
    "torch": dict(lr=1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False, initial_accumulator=0.0,
                  momentum_form="torch", decoupled_weight_decay=False),
    # keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7); eps inside; v0 = 0;
    # momentum b ← μb + lr·g/D; weight decay decoupled (θ ← θ − θ·wd·lr)
    "keras": dict(lr=1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=True, initial_accumulator=0.0,
                  momentum_form="tf", decoupled_weight_decay=True),
    # tf.compat.v1.train.RMSPropOptimizer(lr, decay=0.9, momentum=0.0, epsilon=1e-10); ms starts at 1
    "tf1": dict(lr=1e-3, decay=0.9, eps=1e-10, eps_in_sqrt=True, initial_accumulator=1.0,
                momentum_form="tf", decoupled_weight_decay=False),
    # optax.rmsprop(lr, decay=0.9, eps=1e-8, initial_scale=0., eps_in_sqrt=True); momentum = trace
    "optax": dict(lr=1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=True, initial_accumulator=0.0,
                  momentum_form="tf", decoupled_weight_decay=False),
    # Hinton, Coursera lecture 6e: MeanSquare ← 0.9·MeanSquare + 0.1·g²; step g/√MeanSquare
    "hinton": dict(lr=1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=False, initial_accumulator=0.0,
                   momentum_form="torch", decoupled_weight_decay=False),
}

# hyper-parameters a parameter group may override, with their defaults
_GROUP_KEYS = dict(lr=1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False, initial_accumulator=0.0,
                   centered=False, momentum=0.0, momentum_form="torch", weight_decay=0.0,
                   decoupled_weight_decay=False, maximize=False, bias_correction=False,
                   lr_schedule=None, clip_value=None, clip_norm=None, bounds=None)
_MFORMS = {"torch": nb.MFORM_TORCH, "tf": nb.MFORM_TF, "nesterov": nb.MFORM_NESTEROV}
_POLICIES = {"raise": nb.POLICY_RAISE, "skip": nb.POLICY_SKIP, "zero": nb.POLICY_ZERO}
_DTYPES = {"float64": np.float64, "float32": np.float32}
_SCHED_KINDS = {"constant": nb.SCHED_CONSTANT, "exponential": nb.SCHED_EXPONENTIAL,
                "inverse_time": nb.SCHED_INVERSE_TIME}


def _err(name: str, msg: str, value) -> ConfigError:
    """``RMSprop <argument> <what is wrong>, got <value>`` (the strategy prefixes its config key)."""
    return ConfigError(f"RMSprop {name} {msg}, got {value!r}")


def _number(name, value, *, lo=None, lo_open=False, hi=None, hi_open=False, optional=False):
    """``value`` as a finite float checked against [lo, hi] (open ends when asked)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _err(name, "must be a number", value)
    x = float(value)
    if not math.isfinite(x):
        raise _err(name, "must be finite", value)
    bad_lo = lo is not None and (x < lo or (lo_open and x == lo))
    bad_hi = hi is not None and (x > hi or (hi_open and x == hi))
    if bad_lo or bad_hi:
        if lo is not None and hi is not None:
            raise _err(name, f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}", value)
        if lo is not None:
            raise _err(name, f"must be {'>' if lo_open else '>='} {lo:g}", value)
        raise _err(name, f"must be {'<' if hi_open else '<='} {hi:g}", value)
    return x


def _flag(name, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _err(name, "must be True or False", value)
    return bool(value)


def _check_group(h: dict, where: str = "") -> dict:
    """Validate one set of hyper-parameters; return it normalised (plain Python types)."""
    p = where
    out = dict(h)
    out["lr"] = _number(p + "lr", h["lr"], lo=0.0, lo_open=True)
    out["decay"] = _number(p + "decay", h["decay"], lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    out["eps"] = _number(p + "eps", h["eps"], lo=0.0, lo_open=True)
    out["initial_accumulator"] = _number(p + "initial_accumulator", h["initial_accumulator"], lo=0.0)
    out["momentum"] = _number(p + "momentum", h["momentum"], lo=0.0, hi=1.0, hi_open=True)
    out["weight_decay"] = _number(p + "weight_decay", h["weight_decay"], lo=0.0)
    for k in ("eps_in_sqrt", "centered", "decoupled_weight_decay", "maximize", "bias_correction"):
        out[k] = _flag(p + k, h[k])
    if h["momentum_form"] not in _MFORMS:
        raise _err(p + "momentum_form", f"must be one of {', '.join(map(repr, _MFORMS))}", h["momentum_form"])
    out["clip_value"] = _number(p + "clip_value", h["clip_value"], lo=0.0, lo_open=True, optional=True)
    out["clip_norm"] = _number(p + "clip_norm", h["clip_norm"], lo=0.0, lo_open=True, optional=True)
    out["lr_schedule"] = _check_schedule(p + "lr_schedule", h["lr_schedule"])
    out["bounds"] = _check_bounds(p + "bounds", h["bounds"])
    return out


def _check_schedule(name, s):
    """None | "constant" | {"kind": "exponential"|"inverse_time", "rate", "steps", "staircase"}
    | a 1-D sequence of learning rates (update k uses entry k)."""
    if s is None or s == "constant":
        return None
    if isinstance(s, dict):
        kind = s.get("kind")
        if kind not in ("exponential", "inverse_time", "constant"):
            raise _err(name + ".kind", 'must be "exponential", "inverse_time" or "constant"', kind)
        unknown = set(s) - {"kind", "rate", "steps", "staircase"}
        if unknown:
            raise _err(name, f"unknown key {sorted(unknown)[0]!r}", s)
        if kind == "constant":
            return None
        if "rate" not in s:
            raise _err(name + ".rate", "is required", s)
        rate = (_number(name + ".rate", s["rate"], lo=0.0, lo_open=True, hi=1.0)
                if kind == "exponential" else _number(name + ".rate", s["rate"], lo=0.0))
        steps = _number(name + ".steps", s.get("steps", 1), lo=0.0, lo_open=True)
        return {"kind": kind, "rate": rate, "steps": steps,
                "staircase": _flag(name + ".staircase", s.get("staircase", False))}
    if isinstance(s, str):
        raise _err(name, 'must be None, "constant", a dict or a sequence of learning rates', s)
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise _err(name, "a learning-rate array must be 1-D and non-empty", s)
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise _err(name, "learning rates must be finite and > 0", s)
    return [float(x) for x in arr]


def _check_bounds(name, b):
    """None or (lo, hi) with scalars or 1-D arrays, lo <= hi, no NaN."""
    if b is None:
        return None
    try:
        lo, hi = b
    except (TypeError, ValueError):
        raise _err(name, "must be a pair (lo, hi)", b) from None
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    if lo_a.ndim > 1 or hi_a.ndim > 1 or np.isnan(lo_a).any() or np.isnan(hi_a).any():
        raise _err(name, "lo and hi must be numbers or 1-D arrays without NaN", b)
    try:
        ok = bool(np.all(lo_a <= hi_a))
    except ValueError:
        raise _err(name, "lo and hi have different lengths", b) from None
    if not ok:
        raise _err(name, "needs lo <= hi", b)
    conv = (lambda a: float(a) if a.ndim == 0 else [float(x) for x in a])
    return (conv(lo_a), conv(hi_a))


class RMSpropState:
    """The updater's whole state, as views of the preallocated arrays the kernel updates.

    ``v`` (running average of g²), ``grad_mean`` (running mean of g, centered only),
    ``momentum_buffer`` (momentum only), ``step`` (updates applied), ``n_skipped`` (updates refused
    by ``nonfinite="skip"``). The arrays are live views; :meth:`copy` takes a snapshot."""

    def __init__(self, S: np.ndarray, M: np.ndarray):
        self._S = S
        self._M = M

    v = property(lambda self: self._S[nb.ROW_V])
    grad_mean = property(lambda self: self._S[nb.ROW_M])
    momentum_buffer = property(lambda self: self._S[nb.ROW_B])
    step = property(lambda self: int(self._M[0, nb.C_STEP]))
    n_skipped = property(lambda self: int(self._M[0, nb.C_SKIPPED]))

    def copy(self) -> "RMSpropState":
        return RMSpropState(self._S.copy(), self._M.copy())

    def __repr__(self) -> str:
        return (f"RMSpropState(step={self.step}, n_skipped={self.n_skipped}, v={self.v!r}, "
                f"grad_mean={self.grad_mean!r}, momentum_buffer={self.momentum_buffer!r})")


class RMSprop:
    """RMSprop updater over a flat 1-D parameter vector (see the module docstring and docs/rmsprop.md).

    Parameters (all keyword; every one except ``nonfinite`` and ``dtype`` can be overridden per
    parameter group):

    lr, decay, eps            learning rate, ρ, ε (> 0)
    eps_in_sqrt               ε inside the root √(v + ε) instead of outside √v + ε
    initial_accumulator       v₀ (TF1 uses 1.0)
    centered                  divide by √(v − m²) (m = running mean of g), clamped at 0
    momentum, momentum_form   μ in [0, 1); "torch" b ← μb + g/D, θ −= lr·b; "tf" b ← μb + lr·g/D,
                              θ −= b; "nesterov" (optax) b ← μb + lr·g/D, θ −= lr·g/D + μb
    weight_decay, decoupled_weight_decay
                              coupled L2 g += λθ (PyTorch) or decoupled θ −= θ·λ·lr (Keras)
    maximize                  ascent (g ← −g before weight decay, as PyTorch)
    bias_correction           v̂ = v/(1 − ρ^t) (optax)
    lr_schedule               None; {"kind": "exponential", "rate": γ, "steps": s, "staircase": False}
                              (lr0·γ^(k/s)); {"kind": "inverse_time", "rate": r, "steps": s}
                              (lr0/(1 + r·k/s)); or an array (update k uses lr_schedule[k]; running
                              past its end raises). k = updates already applied (0 for the first).
    clip_value, clip_norm     clip each g to [−c, c]; scale the group's g to L2 norm ≤ c
    bounds                    (lo, hi), scalars or arrays: θ projected onto [lo, hi] after each step
    nonfinite                 "raise" (default; error names parameter and update), "skip" (update
                              refused, state untouched, counted in state.n_skipped), "zero" (g := 0)
    dtype                     "float64" (default) or "float32" (state and arithmetic in float32;
                              params and grads must then be float32 arrays)
    groups                    list of dicts {"size": n, **overrides}: consecutive blocks of the
                              parameter vector with their own hyper-parameters (PyTorch param groups)
    """

    def __init__(self, lr=1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False, initial_accumulator=0.0,
                 centered=False, momentum=0.0, momentum_form="torch", weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False, bias_correction=False, *,
                 lr_schedule=None, clip_value=None, clip_norm=None, bounds=None, nonfinite="raise",
                 dtype="float64", groups=None):
        base = _check_group(dict(
            lr=lr, decay=decay, eps=eps, eps_in_sqrt=eps_in_sqrt, initial_accumulator=initial_accumulator,
            centered=centered, momentum=momentum, momentum_form=momentum_form, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, bias_correction=bias_correction,
            lr_schedule=lr_schedule, clip_value=clip_value, clip_norm=clip_norm, bounds=bounds))
        if nonfinite not in _POLICIES:
            raise _err("nonfinite", 'must be "raise", "skip" or "zero"', nonfinite)
        if isinstance(dtype, type) or isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype).name
        if dtype not in _DTYPES:
            raise _err("dtype", 'must be "float64" or "float32"', dtype)
        self._base = base
        self.nonfinite = nonfinite
        self.dtype = dtype
        self._groups = self._check_groups(groups, base)
        self.state: RMSpropState | None = None
        self._n = None
        # placeholders: the kernel answers STATUS_SHAPE until init() allocates the real state
        self._S = np.zeros((nb.N_ROWS, 0), dtype=_DTYPES[dtype])
        self._M = np.zeros((1, nb.N_HP))  # no group row: the kernel answers STATUS_SHAPE

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _check_groups(groups, base):
        if groups is None:
            return None
        if not isinstance(groups, (list, tuple)) or not groups:
            raise _err("groups", "must be a non-empty list of dicts", groups)
        out = []
        for j, g in enumerate(groups):
            where = f"groups[{j}]."
            if not isinstance(g, dict):
                raise _err(f"groups[{j}]", "must be a dict", g)
            unknown = set(g) - set(_GROUP_KEYS) - {"size"}
            if unknown:
                raise _err(where + sorted(unknown)[0], "is not a per-group hyper-parameter", g[sorted(unknown)[0]])
            size = g.get("size")
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise _err(where + "size", "must be an integer >= 1", size)
            merged = dict(base, bounds=None)  # bounds None in a group: the base bounds' slice
            merged.update({k: v for k, v in g.items() if k != "size"})
            merged = _check_group(merged, where)
            merged["size"] = int(size)
            out.append(merged)
        return out

    @classmethod
    def preset(cls, name: str, **overrides) -> "RMSprop":
        """An updater with a reference's defaults: "torch", "keras", "tf1", "optax" or "hinton"
        (see :data:`PRESETS`); keyword overrides replace any of them."""
        if name not in PRESETS:
            raise _err("preset", f"must be one of {', '.join(map(repr, PRESETS))}", name)
        kw = dict(PRESETS[name])
        kw.update(overrides)
        return cls(**kw)

    def get_config(self) -> dict:
        """Constructor arguments (JSON-friendly) that rebuild this updater: ``RMSprop(**cfg)``."""
        cfg = {k: self._base[k] for k in _GROUP_KEYS}
        cfg["nonfinite"] = self.nonfinite
        cfg["dtype"] = self.dtype
        if self._groups is not None:
            cfg["groups"] = [{"size": g["size"], **{k: g[k] for k in _GROUP_KEYS}} for g in self._groups]
        else:
            cfg["groups"] = None
        return json.loads(json.dumps(cfg))  # deep copy with tuples as lists

    # attribute-style access to the base hyper-parameters (read-only)
    lr = property(lambda self: self._base["lr"])
    decay = property(lambda self: self._base["decay"])
    eps = property(lambda self: self._base["eps"])

    def __repr__(self) -> str:
        cfg = self.get_config()
        shown = {k: v for k, v in cfg.items() if k in ("lr", "decay", "eps") or v != _GROUP_KEYS.get(k, v)}
        return "RMSprop(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    # ------------------------------------------------------------------ state
    def init(self, n_params: int) -> RMSpropState:
        """Allocate the state for ``n_params`` parameters (v = v₀, m = b = 0, step = 0)."""
        n = int(n_params)
        groups = self._groups or [dict(self._base, size=n)]
        sizes = [g["size"] for g in groups]
        if sum(sizes) != n:
            raise _err("groups", f"sizes add up to {sum(sizes)} but there are {n} parameters", sizes)
        dt = _DTYPES[self.dtype]
        S = np.zeros((nb.N_ROWS, n), dtype=dt)
        L = max([len(g["lr_schedule"]) for g in groups if isinstance(g["lr_schedule"], list)] or [0])
        M = np.zeros((1 + len(groups), nb.N_HP + L))
        M[0, nb.C_POLICY] = _POLICIES[self.nonfinite]
        off = np.zeros(len(groups) + 1, dtype=np.int64)
        off[1:] = np.cumsum(sizes)
        S[nb.ROW_LO] = -np.inf
        S[nb.ROW_HI] = np.inf
        base_bounds = self._base["bounds"]
        if base_bounds is not None:
            self._fill_bounds(S, 0, n, base_bounds, "bounds")
        for j, g in enumerate(groups):
            a, b = off[j], off[j + 1]
            hp = M[1 + j]
            hp[nb.HP_START], hp[nb.HP_END] = a, b
            hp[nb.HP_LR] = g["lr"]
            hp[nb.HP_DECAY] = g["decay"]
            hp[nb.HP_OMR] = 1 - g["decay"]
            hp[nb.HP_EPS_IN if g["eps_in_sqrt"] else nb.HP_EPS_OUT] = g["eps"]
            hp[nb.HP_MOMENTUM] = g["momentum"]
            hp[nb.HP_MFORM] = _MFORMS[g["momentum_form"]]
            hp[nb.HP_WD] = g["weight_decay"]
            hp[nb.HP_DECOUPLED] = g["decoupled_weight_decay"]
            hp[nb.HP_MAXIMIZE] = g["maximize"]
            hp[nb.HP_CENTERED] = g["centered"]
            hp[nb.HP_BIAS] = g["bias_correction"]
            hp[nb.HP_CLIPV] = g["clip_value"] or 0.0
            hp[nb.HP_CLIPN] = g["clip_norm"] or 0.0
            hp[nb.HP_V0] = g["initial_accumulator"]
            sched = g["lr_schedule"]
            if isinstance(sched, list):
                hp[nb.HP_SCHED] = nb.SCHED_ARRAY
                hp[nb.HP_NLR] = len(sched)
                hp[nb.N_HP: nb.N_HP + len(sched)] = sched
            elif isinstance(sched, dict):
                hp[nb.HP_SCHED] = _SCHED_KINDS[sched["kind"]]
                hp[nb.HP_SRATE] = sched["rate"]
                hp[nb.HP_SSTEPS] = sched["steps"]
                hp[nb.HP_SSTAIR] = sched["staircase"]
            hp[nb.HP_LR_LAST] = nb.scheduled_lr.py_func(M, 1 + j, 0)
            S[nb.ROW_V, a:b] = g["initial_accumulator"]
            plain_cols = (nb.HP_MOMENTUM, nb.HP_WD, nb.HP_MAXIMIZE, nb.HP_CENTERED, nb.HP_BIAS, nb.HP_CLIPV,
                          nb.HP_CLIPN)
            if self._groups is not None and g["bounds"] is not None:
                self._fill_bounds(S, a, b, g["bounds"], f"groups[{j}].bounds")
            if g["bounds"] is not None or base_bounds is not None:
                hp[nb.HP_BOUNDS] = 1.0
            hp[nb.HP_PLAIN] = float(not any(hp[c] != 0.0 for c in plain_cols + (nb.HP_BOUNDS,)))
        # lr ≤ 1: lr·g cannot overflow, so the tight loop (which has no overflow guard) never turns a
        # finite θ into inf/NaN; a larger lr takes the general path (same bits, guarded)
        M[0, nb.C_FAST] = float(len(groups) == 1 and M[1, nb.HP_PLAIN] == 1.0 and M[1, nb.HP_LR] <= 1.0
                                and M[1, nb.HP_SCHED] == nb.SCHED_CONSTANT and self.nonfinite != "zero")
        self._S, self._M = S, M
        self._n = n
        self.state = RMSpropState(S, M)
        return self.state

    @staticmethod
    def _fill_bounds(S, a, b, bounds, where):
        lo, hi = (np.asarray(x, dtype=np.float64) for x in bounds)
        for row, x in ((nb.ROW_LO, lo), (nb.ROW_HI, hi)):
            if x.ndim == 1 and x.shape[0] != b - a:
                raise _err(where, f"has {x.shape[0]} entries for {b - a} parameters", bounds)
            S[row, a:b] = x

    def kernel_args(self) -> tuple:
        """``(S, M)``: the live state for a compiled loop calling
        ``rmsprop_nb.rmsprop_step(params, grads, S, M)`` (call :meth:`init` first)."""
        if self._n is None:
            raise RmsbtError("RMSprop.kernel_args: call init(n_params) first")
        return self._S, self._M

    # ------------------------------------------------------------------ update
    def step(self, params: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """Update the 1-D array ``params`` in place from ``grads`` and return it (one kernel call).

        The first call allocates the state (``init(len(params))``) if :meth:`init` was not called."""
        try:
            status = _kernel_step(params, grads, self._S, self._M)
        except Exception:  # no compiled form for these arguments (numba raises one of several errors)
            self._check_arrays(params, grads)  # raises a TypeError / ValueError naming the cause
            raise
        if status:
            return self._not_applied(status, params, grads)
        return params

    def _check_arrays(self, params, grads) -> None:
        """Raise TypeError / ValueError when ``params`` / ``grads`` cannot be stepped: not numpy
        arrays of the updater's dtype in native byte order, not 1-D of equal length, ``params``
        read-only, or a length other than the state's. Runs only after a failed or refused call."""
        dt = np.dtype(_DTYPES[self.dtype])

        def describe(x):
            if not isinstance(x, np.ndarray):
                return type(x).__name__
            if x.dtype.newbyteorder("=") == dt and not x.dtype.isnative:
                return f"{x.dtype.name} in non-native byte order ({x.dtype.str!r})"
            return x.dtype.name

        if not (isinstance(params, np.ndarray) and isinstance(grads, np.ndarray)
                and params.dtype == dt and params.dtype.isnative
                and grads.dtype == dt and grads.dtype.isnative):
            raise TypeError(f"RMSprop.step: params and grads must be numpy arrays of {self.dtype} in native "
                            f"byte order (got {describe(params)} and {describe(grads)}); convert with "
                            f"np.asarray(x, dtype=np.{self.dtype}) (the updater's dtype={self.dtype!r})")
        if params.ndim != 1 or grads.shape != params.shape:
            raise ValueError(f"RMSprop.step: params and grads must be 1-D of equal length "
                             f"(got shapes {params.shape} and {grads.shape})")
        if not params.flags.writeable:
            raise ValueError("RMSprop.step: params is read-only; step updates it in place "
                             "(pass a writable array, e.g. params.copy())")
        if self._n is not None and params.shape[0] != self._n:
            raise ValueError(f"RMSprop.step: the updater holds state for {self._n} parameters, "
                             f"got {params.shape[0]}")

    def _not_applied(self, status, params, grads):
        if status == nb.STATUS_SKIPPED:
            return params
        k = int(self._M[0, nb.C_STEP])
        if status == nb.STATUS_NONFINITE:
            i = int(self._M[0, nb.C_BAD])
            where = f"at update {k + 1} ({k} applied); state left unchanged (nonfinite='raise')"
            if not math.isfinite(grads[i]):
                raise NonFiniteGradientError(f"RMSprop: non-finite gradient grads[{i}] = {float(grads[i])} {where}")
            raise NonFiniteGradientError(
                f"RMSprop: non-finite effective gradient of parameter {i} (grads[{i}] = {float(grads[i])}, "
                f"params[{i}] = {float(params[i])}, coupled weight decay g + weight_decay·θ) {where}")
        if status == nb.STATUS_LR_EXHAUSTED:
            raise RmsbtError(f"RMSprop lr_schedule: the learning-rate array has no entry for update {k + 1}")
        self._check_arrays(params, grads)
        if self._n is None:  # the placeholder state answered STATUS_SHAPE: allocate, then step
            self.init(params.shape[0])
            return self.step(params, grads)
        raise ValueError(f"RMSprop.step: state and arguments disagree (status {status})")  # pragma: no cover

    @property
    def last_lr(self) -> np.ndarray:
        """Learning rate of the last update, one per parameter group (before any update: the first's)."""
        return self._M[1:, nb.HP_LR_LAST].copy()

    def effective_lr(self, out: np.ndarray | None = None) -> np.ndarray:
        """Per-parameter effective step size ``lr / D`` (float64): lr of the last update and
        D = √(var + ε_in) + ε_out from the current state, the divisor the next update would use
        before it folds in its own gradient. The step a unit gradient takes, for reports."""
        if self._n is None:
            raise RmsbtError("RMSprop.effective_lr: no state yet (call init or step first)")
        if out is None:
            out = np.empty(self._n)
        nb.rmsprop_effective_lr(self._S, self._M, out)
        return out

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        """Everything needed to resume bit-identically: config, arrays (copies), counters."""
        if self._n is None:
            raise RmsbtError("RMSprop.state_dict: no state yet (call init or step first)")
        return {
            "format": STATE_FORMAT,
            "config": self.get_config(),
            "n_params": self._n,
            "step": int(self._M[0, nb.C_STEP]),
            "n_skipped": int(self._M[0, nb.C_SKIPPED]),
            "v": self._S[nb.ROW_V].copy(),
            "grad_mean": self._S[nb.ROW_M].copy(),
            "momentum_buffer": self._S[nb.ROW_B].copy(),
            "lr_last": self._M[1:, nb.HP_LR_LAST].copy(),
        }

    def load_state_dict(self, d: dict) -> None:
        """Replace hyper-parameters and state with those of ``d`` (from :meth:`state_dict`)."""
        if not isinstance(d, dict) or d.get("format") != STATE_FORMAT:
            raise ConfigError(f"RMSprop state: not an {STATE_FORMAT} state dict")
        fresh = RMSprop(**d["config"])
        fresh.init(int(d["n_params"]))
        dt = _DTYPES[fresh.dtype]
        for key, row in (("v", nb.ROW_V), ("grad_mean", nb.ROW_M), ("momentum_buffer", nb.ROW_B)):
            arr = np.asarray(d[key])
            if arr.shape != (fresh._n,) or arr.dtype != dt:
                raise ConfigError(f"RMSprop state {key}: expected {fresh._n} {fresh.dtype} values, "
                                  f"got shape {arr.shape} dtype {arr.dtype}")
            fresh._S[row] = arr
        fresh._M[0, nb.C_STEP] = int(d["step"])
        fresh._M[0, nb.C_SKIPPED] = int(d["n_skipped"])
        fresh._M[1:, nb.HP_LR_LAST] = np.asarray(d["lr_last"], dtype=np.float64)
        self.__dict__.update(fresh.__dict__)

    def save(self, path) -> Path:
        """Write :meth:`state_dict` to ``path`` (.npz; config as JSON), atomically."""
        path = Path(path)
        d = self.state_dict()
        arrays = {k: d[k] for k in ("v", "grad_mean", "momentum_buffer", "lr_last")}
        meta = {k: d[k] for k in ("format", "config", "n_params", "step", "n_skipped")}
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path) -> "RMSprop":
        """A new updater restored from a file written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                d = json.loads(str(z["meta"]))
                for k in ("v", "grad_mean", "momentum_buffer", "lr_last"):
                    d[k] = z[k]
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable RMSprop state file ({exc})") from None
        opt = cls()
        opt.load_state_dict(d)
        return opt

    # ------------------------------------------------------------------ compilation
    @staticmethod
    def warmup(dtypes=("float64",)) -> float:
        """Compile (or load from the cache) the kernels for the given dtypes; return seconds taken.
        Importing rmsbt compiles nothing; call this to pay the cost up front and see it apart."""
        t0 = time.perf_counter()
        for name in dtypes:
            opt = RMSprop(dtype=name)
            x = np.zeros(1, dtype=_DTYPES[name])
            opt.step(x, x.copy())
            opt.effective_lr()
        return time.perf_counter() - t0
