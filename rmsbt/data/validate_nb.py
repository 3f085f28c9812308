"""Numba kernel of candle validation: one pass over the rows. Python face: :mod:`rmsbt.data.validate`."""

from __future__ import annotations

import numpy as np
from numba import njit

#: slots of the result of :func:`first_violations`, in the order the rules are reported
NAN_OPEN, NAN_HIGH, NAN_LOW, NAN_CLOSE, NAN_VOLUME, DUP, BACK, BAD_OPEN, BAD_HIGH, BAD_LOW, BAD_CLOSE, BAD_VOLUME, \
    HIGH_BELOW, LOW_ABOVE = range(14)
N_RULES = 14


@njit(cache=True, nogil=True)
def count_bad_rows(ts, o, h, l, c, v):
    """Rows breaking any rule (branch-free loop the compiler can vectorize; the fast path)."""
    n = ts.shape[0]
    inf = np.inf
    bad = 0
    for i in range(n):
        oi, hi, li, ci, vi = o[i], h[i], l[i], c[i], v[i]
        ok = ((oi > 0) & (oi < inf) & (hi > 0) & (hi < inf) & (li > 0) & (li < inf) & (ci > 0) & (ci < inf)
              & (vi >= 0) & (vi < inf) & (hi >= oi) & (hi >= ci) & (li <= oi) & (li <= ci))
        bad += np.int64(not ok)
    for i in range(1, n):
        bad += np.int64(ts[i] <= ts[i - 1])
    return bad


@njit(cache=True, nogil=True)
def first_violations(ts, o, h, l, c, v):
    """For each rule slot, the first row index breaking it (-1 if none).

    NaN per column; duplicate / descending timestamp (index of the later row); price not finite or
    <= 0 per price column; volume not finite or < 0; ``high < max(open, close)``;
    ``low > min(open, close)``. Rows with NaN prices are not tested by the later rules (NaN is
    reported first anyway).
    """
    out = np.full(N_RULES, -1, dtype=np.int64)
    n = ts.shape[0]
    inf = np.inf
    for i in range(n):
        oi, hi, li, ci, vi = o[i], h[i], l[i], c[i], v[i]
        if oi != oi and out[0] < 0:
            out[0] = i
        if hi != hi and out[1] < 0:
            out[1] = i
        if li != li and out[2] < 0:
            out[2] = i
        if ci != ci and out[3] < 0:
            out[3] = i
        if vi != vi and out[4] < 0:
            out[4] = i
        if i > 0:
            if ts[i] == ts[i - 1] and out[5] < 0:
                out[5] = i
            if ts[i] < ts[i - 1] and out[6] < 0:
                out[6] = i
        if not (oi > 0 and oi < inf) and out[7] < 0:
            out[7] = i
        if not (hi > 0 and hi < inf) and out[8] < 0:
            out[8] = i
        if not (li > 0 and li < inf) and out[9] < 0:
            out[9] = i
        if not (ci > 0 and ci < inf) and out[10] < 0:
            out[10] = i
        if not (vi >= 0 and vi < inf) and out[11] < 0:
            out[11] = i
        if hi < max(oi, ci) and out[12] < 0:
            out[12] = i
        if li > min(oi, ci) and out[13] < 0:
            out[13] = i
    return out
