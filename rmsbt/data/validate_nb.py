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
    """Rows breaking any rule (branch-free loop the compiler can vectorize; the fast path). Must agree
    with :func:`row_flags` (tests/test_data_validate.py checks it by property)."""
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
def row_flags(o, h, l, c, v):
    """Per row, a bit mask of the row rules it breaks (bit ``k`` = rule slot ``k``; the timestamp
    slots DUP/BACK are left to :func:`first_violations`). THE definition of the row rules: NaN per
    column; price not finite or <= 0 per price column (NaN included); volume not finite or < 0;
    ``high < max(open, close)``; ``low > min(open, close)``. ``rmsbt data check`` counts these bits."""
    n = o.shape[0]
    out = np.zeros(n, dtype=np.int32)
    inf = np.inf
    for i in range(n):
        oi, hi, li, ci, vi = o[i], h[i], l[i], c[i], v[i]
        f = 0
        if oi != oi:
            f |= 1 << NAN_OPEN
        if hi != hi:
            f |= 1 << NAN_HIGH
        if li != li:
            f |= 1 << NAN_LOW
        if ci != ci:
            f |= 1 << NAN_CLOSE
        if vi != vi:
            f |= 1 << NAN_VOLUME
        if not (oi > 0 and oi < inf):
            f |= 1 << BAD_OPEN
        if not (hi > 0 and hi < inf):
            f |= 1 << BAD_HIGH
        if not (li > 0 and li < inf):
            f |= 1 << BAD_LOW
        if not (ci > 0 and ci < inf):
            f |= 1 << BAD_CLOSE
        if not (vi >= 0 and vi < inf):
            f |= 1 << BAD_VOLUME
        if hi < max(oi, ci):
            f |= 1 << HIGH_BELOW
        if li > min(oi, ci):
            f |= 1 << LOW_ABOVE
        out[i] = f
    return out


@njit(cache=True, nogil=True)
def first_violations(ts, o, h, l, c, v):
    """For each rule slot, the first row index breaking it (-1 if none): the row rules of
    :func:`row_flags`, and duplicate / descending timestamp (index of the later row)."""
    out = np.full(N_RULES, -1, dtype=np.int64)
    flags = row_flags(o, h, l, c, v)
    n = ts.shape[0]
    for i in range(n):
        f = flags[i]
        for k in range(N_RULES):
            if (f >> k) & 1 and out[k] < 0:
                out[k] = i
        if i > 0:
            if ts[i] == ts[i - 1] and out[DUP] < 0:
                out[DUP] = i
            if ts[i] < ts[i - 1] and out[BACK] < 0:
                out[BACK] = i
    return out
