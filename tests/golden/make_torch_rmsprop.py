"""Write tests/golden/torch_rmsprop.npz.xz: reference trajectories computed by **PyTorch**.

This script runs ``torch.optim.RMSprop`` (CPU, float64, ``foreach=False`` = the single-tensor loop
that PyTorch uses for CPU tensors) and stores its parameter trajectories; tests/test_rmsprop_golden.py
replays the same gradients through rmsbt's RMSprop and asserts agreement to 1e-12 (relative where
|θ| > 1, absolute below). The stored file was made with torch 2.13.0+cpu (its version is stored in
the file too). Rerun from the repo root::

    pip install torch==2.13.0        # the CPU build
    python tests/golden/make_torch_rmsprop.py

Inputs: 9 parameters, 1,000 steps. Gradients do not depend on θ (so the trajectories are replayable
without autograd); per parameter the scale is 0 (exact zeros throughout), 1e-8, 1e-4, 1e-1, 1, 1e2,
1e4, 1e8, and a scale that jumps log-uniformly over 1e-8 … 1e8 every step; about 10 % of all entries
are exact zeros and parameter 1 sees only zeros for its first 50 steps. Combinations: every one of
centered × momentum (0, 0.9) × weight_decay (0, 0.01) × maximize that PyTorch supports (16), all at
PyTorch's defaults lr = 0.01, alpha = 0.99, eps = 1e-8, plus two with other hyper-parameters
(alpha = 0.3 makes PyTorch's lerp take its second formula; a large eps = 1e-3).
"""

from __future__ import annotations

import io
import itertools
import json
import lzma
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("torch_rmsprop.npz.xz")  # an .npz, xz-compressed (read it with load_golden)
N_STEPS, N_PARAMS, SEED = 1000, 9, 20261203


def load_golden(path: Path = OUT) -> dict:
    """The stored arrays (an .npz inside xz), as a dict of numpy arrays."""
    with np.load(io.BytesIO(lzma.decompress(Path(path).read_bytes()))) as z:
        return {k: z[k] for k in z.files}


def make_inputs(seed: int = SEED, n_steps: int = N_STEPS):
    """Gradient sequence (n_steps × 9) and θ0 described in the module docstring."""
    rng = np.random.default_rng(seed)
    scales = np.array([0.0, 1e-8, 1e-4, 1e-1, 1.0, 1e2, 1e4, 1e8, 1.0])
    g = (rng.standard_normal((n_steps, N_PARAMS)) + 0.3) * scales
    g[:, 8] *= 10.0 ** rng.uniform(-8, 8, n_steps)
    g[rng.random((n_steps, N_PARAMS)) < 0.1] = 0.0
    g[:50, 1] = 0.0
    theta0 = rng.standard_normal(N_PARAMS) * 2.0
    return g, theta0


def combos() -> list[dict]:
    out = []
    for centered, momentum, wd, maximize in itertools.product((False, True), (0.0, 0.9), (0.0, 0.01), (False, True)):
        out.append(dict(lr=0.01, alpha=0.99, eps=1e-8, centered=centered, momentum=momentum,
                        weight_decay=wd, maximize=maximize))
    out.append(dict(lr=0.003, alpha=0.3, eps=1e-8, centered=True, momentum=0.5, weight_decay=0.0, maximize=False))
    out.append(dict(lr=0.05, alpha=0.9, eps=1e-3, centered=False, momentum=0.0, weight_decay=0.0, maximize=True))
    return out


def torch_trajectory(grads: np.ndarray, theta0: np.ndarray, dtype: str = "float64", **kw):
    """Run torch.optim.RMSprop on the gradient rows; return (θ after each step, final state dict)."""
    import torch

    tdt = getattr(torch, dtype)
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=tdt))
    opt = torch.optim.RMSprop([p], foreach=False, **kw)
    traj = np.empty(grads.shape, dtype=dtype)
    for k in range(grads.shape[0]):
        p.grad = torch.tensor(grads[k], dtype=tdt)
        opt.step()
        traj[k] = p.detach().numpy()
    st = opt.state[p]
    zeros = np.zeros(theta0.shape, dtype=dtype)
    final = {
        "v": st["square_avg"].numpy().copy(),
        "m": st["grad_avg"].numpy().copy() if "grad_avg" in st else zeros,
        "b": st["momentum_buffer"].numpy().copy() if "momentum_buffer" in st else zeros,
    }
    return traj, final


def main() -> None:
    import torch

    grads, theta0 = make_inputs()
    arrays = {"grads": grads, "theta0": theta0}
    cs = combos()
    for j, kw in enumerate(cs):
        traj, final = torch_trajectory(grads, theta0, **kw)
        if not np.all(np.isfinite(traj)):
            raise SystemExit(f"combination {kw} gave non-finite values in PyTorch")
        arrays[f"traj_{j}"] = traj
        for k, v in final.items():
            arrays[f"{k}_{j}"] = v
    meta = {"torch_version": torch.__version__, "combos": cs, "seed": SEED}
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    OUT.write_bytes(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))  # ~18 % smaller than zip
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB) with torch {torch.__version__}: {len(cs)} combinations")


if __name__ == "__main__":
    main()
