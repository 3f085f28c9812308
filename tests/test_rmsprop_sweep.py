"""The RMSprop grid sweep: fault case BR-45 (parallel loop must give the serial loop's answer).

BR-45's input is BR-03.csv's closes (100, 102, 101, 105, 107, 106, 110, 108, 111, 115) and its
requirement: a parallel parameter sweep is identical, bit for bit, to the serial one for several
thread counts, over 20 repetitions. The case's own sweep (count closes above SMA_n, n = 2, 3, 4:
6, 5, 7, total 18) is an indicator sweep rmsbt does not have; the sweep rmsbt has is RMSprop over
(lr, decay), whose per-point counts "close above the one-step-ahead prediction" are the analogue.
The counts here are checked against a plain Python loop of RMSprop.step on the same data.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from rmsbt import RMSprop
from rmsbt.adapt.sweep import rmsprop_grid

LRS = [0.5, 1.0, 2.0, 4.0]
DECAYS = [0.5, 0.9, 0.99]


@pytest.fixture(scope="module")
def closes(cases_dir):
    c = pd.read_csv(cases_dir / "BR-03.csv")["close"].to_numpy(dtype=float)
    assert c.tolist() == [100, 102, 101, 105, 107, 106, 110, 108, 111, 115]
    return c


def python_reference(closes, lr, decay, **kw):
    """The same tracking loop in Python, one RMSprop.step per bar."""
    opt = RMSprop(lr=lr, decay=decay, **kw)
    th = np.array([closes[0]])
    sse, above = 0.0, 0
    for c in closes:
        p = th[0] * 1.0
        e = c - p
        sse += e * e
        above += c > p
        opt.step(th, np.array([-2.0 * e * 1.0]))
    return th[0], sse, above


def test_BR45_parallel_sweep_equals_serial_bit_for_bit(closes):
    X = np.ones((closes.size, 1))
    serial = rmsprop_grid(X, closes, LRS, DECAYS, [closes[0]], parallel=False, momentum=0.5)
    for j, (lr, dc) in enumerate(zip(serial.lr, serial.decay)):
        th, sse, above = python_reference(closes, lr, dc, momentum=0.5)
        assert serial.theta[j, 0] == th and serial.sse[j] == sse and serial.n_above[j] == above
    assert serial.n_above.sum() > 0
    old = numba.get_num_threads()
    try:
        for n_threads in sorted({1, 2, old}):
            numba.set_num_threads(n_threads)
            for _ in range(20):
                par = rmsprop_grid(X, closes, LRS, DECAYS, [closes[0]], parallel=True, momentum=0.5)
                assert par.theta.tobytes() == serial.theta.tobytes()
                assert par.sse.tobytes() == serial.sse.tobytes()
                assert par.n_above.tolist() == serial.n_above.tolist()
                assert int(par.n_above.sum()) == int(serial.n_above.sum())
    finally:
        numba.set_num_threads(old)


def test_sweep_names_the_failing_point():
    from rmsbt.errors import RmsbtError
    y = np.array([1.0, np.inf, 2.0])
    with pytest.raises(RmsbtError, match=r"grid point 0 \(lr=0.1, decay=0.9\)"):
        rmsprop_grid(np.ones((3, 1)), y, [0.1], [0.9], [0.0])
