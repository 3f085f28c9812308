"""validate_candles: each rule's message, and the Numba fast path agrees with a plain-numpy reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsbt.data.validate import validate_candles
from rmsbt.errors import DataError

T = 1704067200000
H = 3_600_000


def frame(n=4):
    return pd.DataFrame({"timestamp": T + np.arange(n, dtype=np.int64) * H, "open": [10.0] * n, "high": [11.0] * n,
                         "low": [9.0] * n, "close": [10.5] * n, "volume": [1.0] * n})


@pytest.mark.parametrize("col,row,val,msg", [
    ("close", 2, np.nan, r"row 3 \(timestamp 1704074400000\): close is missing or not a number"),
    ("timestamp", 2, T + H, r"row 3 .*duplicate timestamp 1704070800000"),
    ("timestamp", 2, T - H, r"row 3 .*timestamps not ascending"),
    ("open", 1, 0.0, r"row 2 .*open must be a finite price > 0, got 0.0"),
    ("low", 1, -1.0, r"row 2 .*low must be a finite price > 0, got -1.0"),
    ("volume", 3, -2.0, r"row 4 .*volume must be finite and >= 0, got -2.0"),
    ("high", 0, 10.2, r"row 1 .*high 10.2 is below max\(open, close\) = 10.5"),
    ("low", 0, 10.2, r"row 1 .*low 10.2 is above min\(open, close\) = 10.0"),
    ("open", 0, np.inf, r"row 1 .*open must be a finite price > 0, got inf"),
])
def test_each_rule(col, row, val, msg):
    df = frame()
    df.loc[row, col] = val
    with pytest.raises(DataError, match=msg):
        validate_candles(df, "f.csv")


def test_canonical_frame_returned_as_is_and_others_converted():
    df = frame()
    assert validate_candles(df, "x") is df
    odd = frame().astype({"volume": "int64"})[["volume", "timestamp", "open", "high", "low", "close"]]
    out = validate_candles(odd, "x")
    assert list(out.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert out.volume.dtype == np.float64
    s = frame().astype(str)
    pd.testing.assert_frame_equal(validate_candles(s, "x"), frame())
    s.loc[1, "high"] = "abc"
    with pytest.raises(DataError, match=r"row 2 .*high is missing or not a number \('abc'\)"):
        validate_candles(s, "x")
    f = frame().astype({"timestamp": "float64"})
    f.loc[0, "timestamp"] = T + 0.5
    with pytest.raises(DataError, match="not a whole number of milliseconds"):
        validate_candles(f, "x")


def _reference_ok(df):
    ts = df.timestamp.to_numpy()
    o, h, l, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        return bool((np.diff(ts) > 0).all() and np.isfinite(df.iloc[:, 1:].to_numpy()).all()
                    and (np.minimum.reduce([o, h, l, c]) > 0).all() and (v >= 0).all()
                    and (h >= np.maximum(o, c)).all() and (l <= np.minimum(o, c)).all())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["timestamp", "open", "high", "low", "close", "volume"]),
                          st.integers(0, 19), st.sampled_from([0.0, -1.0, np.nan, np.inf, 9.5, 11.5, 1e9])),
                max_size=3))
def test_fast_path_agrees_with_reference(edits):
    df = frame(20)
    for col, row, val in edits:
        if col == "timestamp":
            df.loc[row, col] = T if np.isfinite(val) and val >= 0 else T + 5 * H
        else:
            df.loc[row, col] = val
    ok = _reference_ok(df)
    if ok:
        validate_candles(df, "x")
    else:
        with pytest.raises(DataError):
            validate_candles(df, "x")
