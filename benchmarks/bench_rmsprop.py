"""Benchmark of the RMSprop updater; every figure is a ratio against a reference measured in this run.

    python benchmarks/bench_rmsprop.py            (from the repo root; ~1 min on 2 cores)

1. Per-call cost from Python, d = 2: ``RMSprop.step`` vs ``torch.optim.RMSprop.step`` (CPU, float64;
   skipped if torch is not importable) and vs a plain numpy implementation with preallocated buffers.
2. In-kernel throughput, updates/s for d = 2, 16, 1024, 1e6: ``rmsprop_step`` called from an njit loop
   (as a compiled strategy does) vs a hand-written minimal numba loop doing the same arithmetic.
3. Start-up in a fresh process with a warm ``cache=True`` cache: ``import rmsbt`` + first step vs the
   floor, ``import numba`` + the first call of a minimal cached njit function, with the breakdown.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rmsbt import RMSprop  # noqa: E402
from rmsbt.adapt import rmsprop_nb  # noqa: E402

LR, RHO, EPS = 1e-2, 0.99, 1e-8


def per_call(fn, n=20000, repeat=7) -> float:
    """Median over `repeat` runs of the mean seconds per call of fn() (n calls per run)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def bench_python_call() -> None:
    print("1. Per-call cost from Python, d = 2 (median of 7 runs)")
    g = np.array([0.3, -1.2])
    th = np.array([1.0, 2.0])
    opt = RMSprop(lr=LR, decay=RHO, eps=EPS)
    opt.step(th, g)  # compile / load
    ours = per_call(lambda: opt.step(th, g))

    v = np.zeros(2)
    tmp = np.empty(2)
    omr = 1 - RHO

    def numpy_step():  # the same update with numpy ufuncs and preallocated buffers
        np.multiply(v, RHO, out=v)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, omr, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.add(tmp, EPS, out=tmp)
        np.divide(g, tmp, out=tmp)
        np.multiply(tmp, LR, out=tmp)
        np.subtract(th, tmp, out=th)

    npy = per_call(numpy_step)
    print(f"   rmsbt RMSprop.step         {ours * 1e6:8.3f} µs/call")
    print(f"   plain numpy                {npy * 1e6:8.3f} µs/call   rmsbt is {npy / ours:6.1f}× faster")
    try:
        import torch
    except ImportError:
        print("   torch not importable: torch comparison skipped")
        return
    torch.set_num_threads(1)
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    p.grad = torch.tensor([0.3, -1.2], dtype=torch.float64)
    topt = torch.optim.RMSprop([p], lr=LR, alpha=RHO, eps=EPS)
    topt.step()
    tt = per_call(topt.step, n=5000)
    print(f"   torch.optim.RMSprop.step   {tt * 1e6:8.3f} µs/call   rmsbt is {tt / ours:6.1f}× faster "
          f"(target ≥ 50×)  [torch {torch.__version__}]")


@njit(cache=True, error_model="numpy")
def _minimal_loop(theta, g, v, lr, rho, eps, n_steps):
    """Hand-written minimal RMSprop: the same arithmetic, nothing else (error_model="numpy" as the
    kernel: no ZeroDivisionError branch, so LLVM may vectorise it)."""
    omr = 1.0 - rho
    for _ in range(n_steps):
        for i in range(theta.shape[0]):
            vi = rho * v[i] + omr * g[i] * g[i]
            v[i] = vi
            theta[i] -= lr * g[i] / (np.sqrt(vi) + eps)


@njit(cache=True, error_model="numpy")
def _minimal_step(theta, g, v, lr, rho, eps):
    """The same minimal arithmetic as one function call per bar."""
    omr = 1.0 - rho
    for i in range(theta.shape[0]):
        vi = rho * v[i] + omr * g[i] * g[i]
        v[i] = vi
        theta[i] -= lr * g[i] / (np.sqrt(vi) + eps)


@njit(cache=True)
def _minimal_step_loop(theta, g, v, lr, rho, eps, n_steps):
    for _ in range(n_steps):
        _minimal_step(theta, g, v, lr, rho, eps)


@njit(cache=True)
def _kernel_loop(theta, g, S, M, n_steps):
    """A compiled strategy loop: one rmsprop_step per bar."""
    for _ in range(n_steps):
        rmsprop_nb.rmsprop_step(theta, g, S, M)


def best_of(fn, repeat=5) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def bench_throughput() -> None:
    print("2. In-kernel throughput (updates/s, best of 5), default config (eps outside, policy 'raise')")
    rng = np.random.default_rng(0)
    for d in (2, 16, 1024, 1_000_000):
        n_steps = max(20, int(2e7 // d))
        g = rng.standard_normal(d)
        opt = RMSprop(lr=LR, decay=RHO, eps=EPS)
        opt.init(d)
        args = opt.kernel_args()
        th1, th2, th3, v, v3 = np.zeros(d), np.zeros(d), np.zeros(d), np.zeros(d), np.zeros(d)
        _kernel_loop(th1, g, *args, 1)
        _minimal_loop(th2, g, v, LR, RHO, EPS, 1)
        _minimal_step_loop(th3, g, v3, LR, RHO, EPS, 1)
        tk = best_of(lambda: _kernel_loop(th1, g, *args, n_steps))
        tm = best_of(lambda: _minimal_loop(th2, g, v, LR, RHO, EPS, n_steps))
        tf = best_of(lambda: _minimal_step_loop(th3, g, v3, LR, RHO, EPS, n_steps))
        upd = n_steps * d
        print(f"   d = {d:>9,}: rmsprop_step {upd / tk:9.3g}/s | minimal loop {upd / tm:9.3g}/s → ratio "
              f"{tk / tm:5.2f}× (target ≤ 2×) | minimal step function {upd / tf:9.3g}/s → ratio {tk / tf:5.2f}×")


FLOOR_MOD = textwrap.dedent("""
    from numba import njit
    @njit(cache=True)
    def tiny(x):
        return x + 1.0
""")

FLOOR = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter(); import numpy; t1 = time.perf_counter(); import numba; t2 = time.perf_counter()
    sys.path.insert(0, sys.argv[1]); import floor_mod; t3 = time.perf_counter()
    floor_mod.tiny(1.0); t4 = time.perf_counter()
    print(json.dumps({"numpy": t1 - t0, "numba": t2 - t1, "module": t3 - t2, "first_call": t4 - t3}))
""")

OURS = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter(); import numpy as np; t1 = time.perf_counter(); import numba; t2 = time.perf_counter()
    from rmsbt import RMSprop; t3 = time.perf_counter()
    opt = RMSprop(); th = np.zeros(2); opt.step(th, np.ones(2)); t4 = time.perf_counter()
    opt.effective_lr(); t5 = time.perf_counter()
    print(json.dumps({"numpy": t1 - t0, "numba": t2 - t1, "rmsbt": t3 - t2, "first_step": t4 - t3,
                      "first_effective_lr": t5 - t4, "pandas_imported": "pandas" in sys.modules}))
""")


def _fresh(code, *args, env=None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(p.stdout), time.perf_counter() - t0


def bench_startup(n=5) -> None:
    print(f"3. Start-up in a fresh process, warm cache (median of {n} processes; seconds)")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "floor_mod.py").write_text(FLOOR_MOD)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        _fresh(FLOOR, tmp)  # populate the caches
        _fresh(OURS, env=env)
        floors, ours = [], []
        for _ in range(n):
            floors.append(_fresh(FLOOR, tmp))
            ours.append(_fresh(OURS, env=env))
    med = lambda rows, k: statistics.median(r[0][k] for r in rows)  # noqa: E731
    wall = lambda rows: statistics.median(r[1] for r in rows)  # noqa: E731
    f_total = med(floors, "numba") + med(floors, "module") + med(floors, "first_call")
    o_total = med(ours, "numba") + med(ours, "rmsbt") + med(ours, "first_step")
    print(f"   floor: import numpy {med(floors, 'numpy'):.3f} + numba {med(floors, 'numba'):.3f} + module "
          f"{med(floors, 'module'):.3f} + first call {med(floors, 'first_call'):.3f}   (process wall {wall(floors):.3f})")
    print(f"   rmsbt: import numpy {med(ours, 'numpy'):.3f} + numba {med(ours, 'numba'):.3f} + "
          f"`from rmsbt import RMSprop` {med(ours, 'rmsbt'):.3f} + first step {med(ours, 'first_step'):.3f} "
          f"(+ first effective_lr {med(ours, 'first_effective_lr'):.3f})   (process wall {wall(ours):.3f})")
    print(f"   import numba + [import rmsbt + first step] vs import numba + [first call]: {o_total:.3f} vs "
          f"{f_total:.3f} → {o_total / f_total:.2f}× (target ≤ 1.2×); whole process wall "
          f"{wall(ours) / wall(floors):.2f}×; pandas imported: {any(r[0]['pandas_imported'] for r in ours)}")


if __name__ == "__main__":
    bench_python_call()
    bench_throughput()
    bench_startup()
