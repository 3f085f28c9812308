"""align(): several symbols on one clock; a missing bar stays missing (no invented candles)."""

from __future__ import annotations

import numpy as np

from rmsbt.data import align
from tests.fakeexchange.data import generated

H = 3_600_000
T = 1704067200000


def test_missing_bar_stays_missing():
    a = generated(T, 5, H, seed=1)                  # 00..04
    b = generated(T, 5, H, seed=2, drop=(2,))       # 02:00 missing
    md = align({"A/USDT": a, "B/USDT": b}, "1h")
    assert md.timestamps.tolist() == [T + k * H for k in range(5)]
    assert md.present[1].tolist() == [True, True, False, True, True]
    assert np.isnan(md.close[1, 2]) and np.isnan(md.volume[1, 2])   # not forward-filled
    assert md.close[1, 3] == b.close.iloc[2]                         # 03:00 is b's third row
    assert (md.close[0] == a.close.to_numpy()).all()


def test_start_inclusive_end_exclusive():
    a = generated(T, 6, H)
    md = align({"A/USDT": a}, "1h", start_ms=T + H, end_ms=T + 4 * H)
    assert md.timestamps.tolist() == [T + H, T + 2 * H, T + 3 * H]
