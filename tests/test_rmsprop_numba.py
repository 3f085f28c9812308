"""Numba hygiene of rmsbt's kernels: fault cases BR-47 (no object mode) and BR-48 (no compilation
at import; compile cost reported apart; a warm cache skips compilation; identical results).

Both run the updater in fresh interpreters with a private, initially empty NUMBA_CACHE_DIR, so that
every kernel really compiles in the first process (and loads from the cache in the second).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest
from numba import njit

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent(r"""
    import importlib, json, pkgutil, time, warnings
    from numba.core.errors import NumbaWarning
    warnings.simplefilter("error", NumbaWarning)   # any fallback / deprecation warning fails the run
    t0 = time.perf_counter()
    import rmsbt
    t_import = time.perf_counter() - t0
    from numba.core.registry import CPUDispatcher
    mods = [importlib.import_module(m.name) for m in pkgutil.walk_packages(rmsbt.__path__, "rmsbt.")
            if m.name.endswith("_nb")]
    disp = {f"{m.__name__}.{k}": v for m in mods for k, v in vars(m).items()
            if isinstance(v, CPUDispatcher) and v.__module__ == m.__name__}
    sigs_after_import = sum(len(d.signatures) for d in disp.values())

    import numpy as np
    from rmsbt import RMSprop
    def exercise():
        out = []
        for dtype in ("float64", "float32"):
            for kw in (dict(), dict(centered=True, momentum=0.9, weight_decay=0.01, maximize=True,
                                    bias_correction=True, clip_norm=5.0, clip_value=3.0, bounds=(-2, 2),
                                    lr_schedule={"kind": "exponential", "rate": 0.9, "steps": 10},
                                    nonfinite="zero", dtype=dtype)):
                kw.setdefault("dtype", dtype)
                opt = RMSprop(**kw)
                th = np.linspace(-1, 1, 5).astype(dtype)
                rng = np.random.default_rng(1)
                for _ in range(50):
                    opt.step(th, rng.standard_normal(5).astype(dtype))
                out.append(th.tobytes().hex() + opt.effective_lr().tobytes().hex())
                S, M = opt.kernel_args()
                seq = rng.standard_normal((3, 5)).astype(dtype)
                from rmsbt.adapt import rmsprop_nb
                rmsprop_nb.rmsprop_run(th, seq, S, M, np.empty_like(seq))
                out.append(th.tobytes().hex())
        from rmsbt.adapt.sweep import rmsprop_grid
        for par in (False, True):
            r = rmsprop_grid(np.ones((6, 1)), np.arange(6.0), [0.1, 0.2], [0.9], [0.0], parallel=par)
            out.append(r.theta.tobytes().hex())
        return out
    t0 = time.perf_counter(); first = exercise(); t_first = time.perf_counter() - t0
    t0 = time.perf_counter(); second = exercise(); t_second = time.perf_counter() - t0
    info = {name: {"sigs": len(d.signatures), "nopython": len(d.nopython_signatures),
                   "njit": bool(d.targetoptions.get("nopython")),
                   "hits": sum(d.stats.cache_hits.values()), "misses": sum(d.stats.cache_misses.values())}
            for name, d in disp.items()}
    print(json.dumps({"t_import": t_import, "sigs_after_import": sigs_after_import, "t_first": t_first,
                      "t_second": t_second, "same_in_process": first == second, "result": first,
                      "kernels": info}))
""")


@pytest.fixture(scope="module")
def two_fresh_processes(tmp_path_factory):
    """Run PROBE twice with one private cache dir: (1) empty cache, (2) populated cache."""
    cache = tmp_path_factory.mktemp("numba_cache")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    runs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    print(f"\nBR-48: import rmsbt {cold['t_import']:.2f}s (nothing compiled); first use with empty cache "
          f"{cold['t_first']:.2f}s (compile), second use {cold['t_second']:.4f}s; new process with warm cache: "
          f"first use {warm['t_first']:.2f}s (cache load)")
    return cold, warm


def test_BR47_every_rmsbt_kernel_is_nopython(two_fresh_processes):
    """BR-47: every @njit kernel of rmsbt's *_nb modules is nopython-only (no object-mode fallback
    possible) and every one that ran has nopython signatures only; all RMSprop kernels ran."""
    cold, _ = two_fresh_processes
    kernels = cold["kernels"]
    assert any(k.startswith("rmsbt.adapt.rmsprop_nb.") for k in kernels)
    for name, k in kernels.items():
        assert k["njit"], f"{name} is not @njit (nopython=True)"
        assert k["nopython"] == k["sigs"], f"{name} has non-nopython signatures"
    adapt = {n: k for n, k in kernels.items() if n.startswith("rmsbt.adapt.")}
    for name, k in adapt.items():
        assert k["sigs"] > 0, f"{name} never compiled while exercising every RMSprop variant"


def test_BR47_unsupported_construct_fails_at_compile_time():
    """An unsupported construct inside an njit kernel raises a typing error; it never runs as objects."""
    @njit
    def bad(n):
        return list(reversed([i for i in range(n)]))

    with pytest.raises(numba.core.errors.TypingError):
        bad(3)
    assert bad.nopython_signatures == [] and bad.signatures == []


def test_BR48_import_compiles_nothing_and_warm_cache_skips_compilation(two_fresh_processes):
    """BR-48: importing rmsbt compiles no kernel; the first use compiles (timed apart from the run);
    a second process with the cache populated loads instead of compiling; results identical."""
    cold, warm = two_fresh_processes
    assert cold["sigs_after_import"] == 0 and warm["sigs_after_import"] == 0
    step = "rmsbt.adapt.rmsprop_nb.rmsprop_step"
    assert cold["kernels"][step]["misses"] > 0 and cold["kernels"][step]["hits"] == 0  # compiled
    assert warm["kernels"][step]["hits"] > 0 and warm["kernels"][step]["misses"] == 0  # loaded, not compiled
    assert cold["same_in_process"] and warm["same_in_process"]
    assert cold["result"] == warm["result"]
