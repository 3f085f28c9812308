"""Epoch numbers in seconds, milliseconds, microseconds or nanoseconds → integer milliseconds.

The unit rule (one place, used by the file loaders and by ``rmsbt fetch --since``), on the absolute
value ``x`` of an epoch number:

====================  ===============  ===========================================
``x < 1e11``          seconds          (1e11 s is the year 5138; 1e11 ms is 1973-03-03)
``1e11 <= x < 1e14``  milliseconds     (1e14 ms is the year 5138)
``1e14 <= x < 1e17``  microseconds
``x >= 1e17``         nanoseconds
====================  ===============  ===========================================

No crypto market existed before 1973, so the ranges cannot be confused for candle data.
A file's timestamp column is given ONE unit, decided from the whole column
(:func:`column_to_ms`): a column whose values fall into two classes is refused. The only exception
is :func:`rows_to_ms`, used for CryptoDataDownload files, whose older rows are known to be in
seconds and newer rows in milliseconds within one file: there every row is converted by the same rule.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

UNITS = ("s", "ms", "us", "ns")
_BOUNDS = (1e11, 1e14, 1e17)
#: the millisecond class as integers: what the store accepts (:func:`rmsbt.data.store.store_timestamps`)
MS_MIN, MS_MAX = 10**11, 10**14


def unit_of(x: float) -> str:
    """The unit of one epoch number by the rule in the module docstring."""
    a = abs(float(x))
    for bound, unit in zip(_BOUNDS, UNITS):
        if a < bound:
            return unit
    return "ns"


def _classes(values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(_BOUNDS), np.abs(values), side="right")


def _scale(values: np.ndarray, cls: np.ndarray, source: str) -> np.ndarray:
    if values.dtype.kind in "iu":
        v = values.astype(np.int64)
        out = np.empty_like(v)
        for c, (mul, div) in enumerate(((1000, 1), (1, 1), (1, 1000), (1, 1_000_000))):
            m = cls == c
            if not m.any():
                continue
            x = v[m]
            if div > 1 and (x % div != 0).any():
                bad = x[x % div != 0][0]
                raise DataError(f"{source}: timestamp {bad} ({UNITS[c]}) is not a whole number of milliseconds")
            out[m] = x * mul // div
        return out
    f = values.astype(np.float64)
    ms = f * np.asarray([1000.0, 1.0, 1.0, 1.0])[cls] / np.asarray([1.0, 1.0, 1e3, 1e6])[cls]
    r = np.round(ms)
    bad = np.flatnonzero(~np.isfinite(ms) | (np.abs(ms - r) > 1e-3))
    if bad.size:
        raise DataError(f"{source}: data row {int(bad[0]) + 1}: timestamp {float(values[bad[0]])!r} "
                        "is not a whole number of milliseconds")
    return r.astype(np.int64)


def column_to_ms(values, source: str = "timestamps") -> np.ndarray:
    """Convert one epoch column to int64 ms with ONE unit for the whole column (refuses mixed units)."""
    v = np.asarray(values)
    if v.size == 0:
        return v.astype(np.int64)
    cls = _classes(v)
    lo, hi = int(cls.min()), int(cls.max())
    if lo != hi:
        i = int(np.flatnonzero(cls != cls[0])[0])
        raise DataError(
            f"{source}: the timestamp column mixes units ({v[0].item()!r} reads as {UNITS[cls[0]]}, "
            f"{v[i].item()!r} in data row {i + 1} as {UNITS[cls[i]]}); convert it to one unit first"
        )
    return _scale(v, cls, source)


def rows_to_ms(values, source: str = "timestamps") -> np.ndarray:
    """Convert every value by the unit rule on its own (for files known to mix s and ms rows)."""
    v = np.asarray(values)
    return _scale(v, _classes(v), source)


def scalar_to_ms(x: float | int) -> int:
    """One epoch number (any unit by the rule) → int ms. ``1704067200`` → ``1704067200000``."""
    return int(rows_to_ms(np.asarray([x]), "since")[0])
