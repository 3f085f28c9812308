"""The store's read side: paths, validation rules with one-line errors, alignment without invented bars."""

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmsbt.data import align, find_candle_file, read_candles, read_store_file, symbol_to_stem
from rmsbt.errors import DataError
from rmsbt.testing import candles

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "1704067200000,100,101,99,100.5,10\n",
    "1704070800000,100.5,102,100,101.5,12\n",
    "1704074400000,101.5,103,101,102,15\n",
]


def write(tmp_path: Path, rows, name="BTC_USDT-1h.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "".join(rows))
    return p


def test_reads_good_csv_with_canonical_dtypes(tmp_path):
    df = read_candles(write(tmp_path, GOOD))
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert df["timestamp"].dtype == np.int64 and df["close"].dtype == np.float64
    assert df["timestamp"].tolist() == [1704067200000, 1704070800000, 1704074400000]
    assert df["close"].tolist() == [100.5, 101.5, 102.0]


def test_reads_csv_gz_and_parquet(tmp_path):
    gz = tmp_path / "a.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write(HEADER + "".join(GOOD))
    pq = tmp_path / "a.parquet"
    pd.read_csv(write(tmp_path, GOOD)).to_parquet(pq)
    assert read_candles(gz).equals(read_candles(pq))


@pytest.mark.parametrize("rows, row, rule", [
    ([GOOD[0], GOOD[2], GOOD[1]], 3, "not ascending"),
    ([GOOD[0], GOOD[1], GOOD[1]], 3, "duplicate timestamp"),
    ([GOOD[0], "1704070800000,100.5,102,100,,12\n"], 2, "close is missing"),
    ([GOOD[0], "1704070800000,100.5,102,100,nan,12\n"], 2, "close is missing"),
    ([GOOD[0], "1704070800000,100.5,100.9,100,101.5,12\n"], 2, "high 100.9 is below max"),
    ([GOOD[0], "1704070800000,100.5,102,100.6,101.5,12\n"], 2, "low 100.6 is above min"),
    ([GOOD[0], "1704070800000,0,102,0,101.5,12\n"], 2, "open must be a finite price > 0"),
    ([GOOD[0], "1704070800000,100.5,102,100,101.5,-1\n"], 2, "volume must be finite and >= 0"),
    ([GOOD[0], "1704070800000.5,100.5,102,100,101.5,1\n"], 2, "whole number of milliseconds"),
])
def test_violations_name_file_row_and_rule(tmp_path, rows, row, rule):
    """The store's read path (what a backtest loads) is strict: it refuses, it never repairs."""
    p = write(tmp_path, rows)
    with pytest.raises(DataError) as e:
        read_store_file(p)
    msg = str(e.value)
    assert str(p) in msg and f"row {row} " in msg and rule in msg and "\n" not in msg


def test_missing_column_and_garbage(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("timestamp,open,high,low,close\n1,2,3,1,2\n")
    with pytest.raises(DataError, match="missing column.*volume"):
        read_candles(p)
    q = tmp_path / "y.parquet"
    q.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot be read"):
        read_candles(q)


def test_missing_store_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as e:
        find_candle_file(tmp_path, "binance", "BTC/USDT", "1h")
    msg = str(e.value)
    assert "binance/BTC_USDT-1h" in msg and "rmsbt fetch" in msg


@pytest.mark.parametrize("bad", ["../etc/passwd", "BTC/../../x", "/abs/USDT", "BTC USDT", "BTC\\USDT", "BTCUSDT"])
def test_symbols_that_escape_the_store_are_refused(bad):
    with pytest.raises(DataError):
        symbol_to_stem(bad)


def test_symbol_stems():
    assert symbol_to_stem("BTC/USDT") == "BTC_USDT"
    assert symbol_to_stem("BTC/USDT:USDT") == "BTC_USDT_USDT"


def test_align_keeps_missing_bars_missing():
    h = 3_600_000
    a = candles([(0, 1, 1, 1, 1, 1), (h, 2, 2, 2, 2, 1), (2 * h, 3, 3, 3, 3, 1)])
    b = candles([(0, 10, 10, 10, 10, 1), (2 * h, 30, 30, 30, 30, 1)])  # no bar at 1h
    md = align({"A/X": a, "B/X": b}, "1h")
    assert md.timestamps.tolist() == [0, h, 2 * h]
    assert md.present.tolist() == [[True, True, True], [True, False, True]]
    assert np.isnan(md.close[1, 1]) and md.close[1, 2] == 30.0  # not forward-filled


def test_align_start_end_select_by_open_time():
    h = 3_600_000
    a = candles([(k * h, 1, 1, 1, 1, 1) for k in range(5)])
    md = align({"A/X": a}, "1h", start_ms=h, end_ms=4 * h)
    assert md.timestamps.tolist() == [h, 2 * h, 3 * h]  # start inclusive, end exclusive
