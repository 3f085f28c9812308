"""``read_candles``: every file in ../shared/data/formats (and the freqtrade fixtures) loads or is refused
with a clear reason. Expected first/last candles were copied by hand from ``head``/``tail`` of each file
(raw text shown in the comments); CryptoDataDownload files are newest-first, so their LAST line is the
first candle."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest

from rmsbt.data import read_candles
from rmsbt.errors import DataError

F = "formats/"

# (file, on_conflict, rows, first [ts, o, h, l, c, v], last [...])
LOADS = [
    # head: 1730419200000,70292.01000000,70470.00000000,70146.80000000,70173.73000000,840.45290000,...
    # tail: 1733007600000,96466.11000000,96592.00000000,96320.99000000,96407.99000000,410.19940000,...
    (F + "binance_public_data/BTCUSDT-1h-2024-11.csv", "error", 720,
     [1730419200000, 70292.01, 70470.0, 70146.8, 70173.73, 840.4529],
     [1733007600000, 96466.11, 96592.0, 96320.99, 96407.99, 410.1994]),
    (F + "binance_public_data/BTCUSDT-1h-2024-12.csv", "error", 744,
     [1733011200000, 96407.99, 96672.49, 96260.0, 96340.6, 532.95388],
     [1735686000000, 93488.83, 93756.0, 93375.38, 93576.0, 336.57995]),
    # µs: head 1735689600000000,93576.00000000,94509.42000000,93489.03000000,94401.14000000,755.99010000
    #     tail 1738364400000000,102261.29000000,102439.31000000,101955.00000000,102429.56000000,587.31239000
    (F + "binance_public_data/BTCUSDT-1h-2025-01.csv", "error", 744,
     [1735689600000, 93576.0, 94509.42, 93489.03, 94401.14, 755.9901],
     [1738364400000, 102261.29, 102439.31, 101955.0, 102429.56, 587.31239]),
    (F + "binance_public_data/BTCUSDT-1h-2025-02.csv", "error", 672,
     [1738368000000, 102429.56, 102575.06, 102213.07, 102494.94, 538.12176],
     [1740783600000, 84149.99, 84548.43, 84014.0, 84349.94, 598.13521]),
    (F + "binance_public_data/BTCUSDT-1h-2025-03.csv", "error", 744,
     [1740787200000, 84349.95, 84628.93, 83824.78, 83857.92, 636.60016],
     [1743462000000, 82410.0, 82886.8, 82283.9, 82550.01, 383.74846]),
    (F + "binance_public_data/BTCUSDT-1h-2025-04.csv", "error", 720,
     [1743465600000, 82550.0, 82837.38, 82432.74, 82651.1, 526.95922],
     [1746054000000, 94114.05, 94333.34, 94005.0, 94172.0, 355.66929]),
    (F + "binance_public_data/BTCUSDT-1h-2025-05.csv", "error", 744,
     [1746057600000, 94172.0, 94405.47, 94130.43, 94405.47, 326.248],
     [1748732400000, 104625.79, 104840.0, 104473.2, 104591.88, 360.75652]),
    # header Opentime,Open,...; 745 lines = header + 744 rows
    (F + "binance_public_data_with_header/BTCUSDT-1h-2022-01.csv", "error", 744,
     [1640995200000, 46216.93, 46731.39, 46208.37, 46656.13, 1503.33095],
     [1643670000000, 38412.45, 38510.28, 38336.04, 38466.9, 574.60408]),
    # tail: 1596333600000,2020-08-02 02:00:00,BTC/USDT,11956.28,11980.00,11904.86,11940.59,14216.822,...
    # line 3: 1609286400000,2020-12-30 00:00:00,BTC/USDT,27402.83,27624.00,27402.82,27623.41,2635.438,...
    (F + "cryptodatadownload/BTCUSDT_Binance_futures_data_hour.csv", "error", 3599,
     [1596333600000, 11956.28, 11980.0, 11904.86, 11940.59, 14216.822],
     [1609286400000, 27402.83, 27624.0, 27402.82, 27623.41, 2635.438]),
    # tail: 1502942400.0,2017-08-17 04-AM,BTC/USDT,16199.91,16199.91,4261.32,4308.83,44.51,... (seconds)
    # 32,181 rows − 2,649 hours present twice = 29,532; "first" keeps the newer (ms) section
    (F + "cryptodatadownload/Binance_BTCUSDT_1h.csv", "first", 32181 - 2649,
     [1502942400000, 16199.91, 16199.91, 4261.32, 4308.83, 44.51],
     [1609286400000, 27385.0, 27397.42, 27384.46, 27392.05, 36.524428]),
    # 1,109 ms rows + 124 s rows − 1 day twice (2017-12-18) = 1,232
    (F + "cryptodatadownload/Binance_ETHUSDT_d.csv", "first", 1109 + 124 - 1,
     [1502928000000, 303.61, 312.18, 298.21, 302.0, 6155.32],
     [1609286400000, 732.0, 735.62, 732.0, 733.75, 2854.14728]),
    # CRLF, seconds; 27,100 rows − 4 exact duplicates = 27,096
    (F + "cryptodatadownload_2020/Binance_ETHUSDT_1h.csv", "error", 27100 - 4,
     [1502942400000, 652.74, 652.74, 298.0, 300.79, 122.52],
     [1600498800000, 380.64, 381.06, 380.29, 380.37, 1282.25]),
    (F + "cryptodatadownload_no_url_line/Binance_BNBUSDT_d.csv", "error", 1272,
     [1513555200000, 5.999, 6.1, 4.75, 6.0, 1430171.07],
     [1623369600000, 351.96, 352.87, 347.0, 350.62, 25199.1407]),
    # 43,201 entries − 143 candles present twice = 43,058
    (F + "freqtrade_json_duplicates/BTC_USDT-1m.json", "error", 43201 - 143,
     [1571176200000, 8142.35, 8145.25, 8141.56, 8144.08, 7.581319],
     [1573768200000, 8665.59, 8666.29, 8664.49, 8665.88, 1.097049]),
    ("freqtrade/ETH_BTC-5m.json", "error", 5760, None, None),
    ("freqtrade/LTC_BTC-5m.json", "error", 5760, None, None),
    ("freqtrade/ADA_BTC-5m.json", "error", 5720, None, None),
    ("freqtrade/XRP_ETH-1m.json", "error", 3560, None, None),
    ("freqtrade/XRP_ETH-5m.json", "error", 712, None, None),
    ("freqtrade/futures/XRP_USDT_USDT-1h-futures.json", "error", 100, None, None),
    ("freqtrade/futures/XRP_USDT_USDT-5m-futures.json", "error", 1999, None, None),
    ("freqtrade/futures/XRP_USDT_USDT-8h-mark.json", "error", 91, None, None),
]

REFUSED = [
    (F + "cryptodatadownload/Binance_BTCUSDT_1h.csv",
     r"2649 timestamp\(s\) appear twice with different values, first 2020-08-01 23:00 .*11783.31.* vs 11783.3/.*--on-conflict"),
    (F + "cryptodatadownload/Binance_ETHUSDT_d.csv", r"1 timestamp\(s\) appear twice .* 2017-12-18 00:00 .*707.62.* vs 707.64"),
    ("freqtrade/NOPAIR_XXX-4m.json", "no candles in the file"),
    ("freqtrade/futures/XRP_USDT_USDT-8h-funding_rate.json", "looks like funding rates"),
    ("freqtrade/futures/XRP_USDT_USDT-1h-mark.json", "volume None is not a number"),
]


@pytest.mark.parametrize("name,oc,rows,first,last", LOADS, ids=[x[0] for x in LOADS])
def test_real_file_loads(shared_data, name, oc, rows, first, last):
    df = read_candles(shared_data / name, on_conflict=oc)
    assert len(df) == rows
    assert (np.diff(df.timestamp.to_numpy()) > 0).all()
    if first is not None:
        assert df.iloc[0].tolist() == first and df.iloc[-1].tolist() == last


@pytest.mark.parametrize("name,msg", REFUSED, ids=[x[0] for x in REFUSED])
def test_real_file_refused_with_reason(shared_data, name, msg):
    with pytest.raises(DataError, match=msg):
        read_candles(shared_data / name)


def test_every_format_file_is_covered(shared_data):
    listed = {x[0] for x in LOADS} | {x[0] for x in REFUSED}
    on_disk = {str(p.relative_to(shared_data)) for p in (shared_data / "formats").rglob("*") if p.is_file()}
    assert on_disk <= listed


def test_binance_public_months_join_to_5088_rows(shared_data):
    parts = [read_candles(p) for p in sorted((shared_data / F / "binance_public_data").glob("*.csv"))]
    ts = np.concatenate([p.timestamp.to_numpy() for p in parts])
    # README: 2024-11-01 00:00 → 2025-05-31 23:00, 5,088 rows, no gaps
    assert ts.size == 5088 and (np.diff(ts) == 3_600_000).all()
    assert ts[0] == 1730419200000 and ts[-1] == 1748732400000


def test_header_file_equals_normalized_hourly(shared_data):
    a = read_candles(shared_data / F / "binance_public_data_with_header/BTCUSDT-1h-2022-01.csv")
    b = pd.read_csv(shared_data / "binance/BTC_USDT-1h.csv")
    b = b[(b.timestamp >= a.timestamp.iloc[0]) & (b.timestamp <= a.timestamp.iloc[-1])].reset_index(drop=True)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.astype(a.dtypes.to_dict()), check_exact=True)


# ---- cases and generic layouts --------------------------------------------------------------------

def test_br35_seconds_ms_microseconds_all_load_to_ms(cases_dir, tmp_path):
    df = pd.read_csv(cases_dir / "BR-35.csv")
    want = [1704067200000, 1704153600000, 1704240000000]  # 2024-01-01/02/03 00:00 UTC
    for name, scale in (("ms", None), ("s", 1000), ("us", 1000)):
        d = df.copy()
        if name == "s":
            d["timestamp"] = d.timestamp // 1000      # 1704067200, 1704153600, 1704240000
        elif name == "us":
            d["timestamp"] = d.timestamp * 1000       # 1704067200000000, ...
        p = tmp_path / f"br35_{name}.csv"
        d.to_csv(p, index=False)
        got = read_candles(p)
        assert got.timestamp.tolist() == want, name
        assert got.close.tolist() == [42700.0, 44950.0, 42850.0]


def test_br37_newest_first_is_sorted(cases_dir):
    df = read_candles(cases_dir / "BR-37.csv")
    assert df.timestamp.tolist() == [1704067200000 + k * 86_400_000 for k in range(5)]  # 2024-01-01..05
    c = df.close
    assert c.tolist() == [100.0, 102.0, 101.0, 104.0, 106.0]
    assert c.rolling(3).mean().iloc[-1] == pytest.approx((101 + 104 + 106) / 3)   # 103.6667
    assert c.iloc[-1] / c.iloc[-2] - 1 == pytest.approx(106 / 104 - 1)              # 0.0192308
    assert c.iloc[-1] / c.iloc[0] - 1 == pytest.approx(0.06)                         # buy and hold +6 %
    assert "newest-first" in df.attrs["notes"][0]


ROWS = "100,101,99,100.5,10\n100.5,102,100,101,11\n"


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("header,t1,t2", [
    ("date", "2024-01-01", "2024-01-02"),
    ("datetime", "2024-01-01 00:00:00", "2024-01-02 00:00:00"),
    ("time", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
    ("Date", "2024-01-01T02:00:00+02:00", "2024-01-02T02:00:00+02:00"),   # offsets converted to UTC
    ("date", "Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 02 Jan 2024 00:00:00 GMT"),
    ("timestamp", "1704067200", "1704153600"),
    ("unix", "1704067200000", "1704153600000"),
    ("open_time", "1704067200000000", "1704153600000000"),
])
def test_generic_csv_time_columns(tmp_path, header, t1, t2):
    r = ROWS.splitlines()
    text = f"{header},open,high,low,close,volume\n\"{t1}\",{r[0]}\n\"{t2}\",{r[1]}\n"
    df = read_candles(_write(tmp_path, "g.csv", text))
    assert df.timestamp.tolist() == [1704067200000, 1704153600000]
    assert df.iloc[1].tolist()[1:] == [100.5, 102.0, 100.0, 101.0, 11.0]


def test_mixed_units_in_a_generic_file_are_refused(tmp_path):
    text = "timestamp,open,high,low,close,volume\n1704067200," + ROWS.splitlines()[0] + \
           "\n1704153600000," + ROWS.splitlines()[1] + "\n"
    with pytest.raises(DataError, match="mixes units"):
        read_candles(_write(tmp_path, "m.csv", text))


def test_duplicates_policy(tmp_path):
    base = "timestamp,open,high,low,close,volume\n1704067200000,100,101,99,100.5,10\n"
    same = _write(tmp_path, "same.csv", base + "1704067200000,100,101,99,100.5,10\n1704070800000,100,101,99,100,1\n")
    d = read_candles(same)
    assert len(d) == 2 and d.attrs["notes"] == ["1 identical duplicate row(s) dropped"]
    conf = _write(tmp_path, "conf.csv", base + "1704067200000,100,101,99,100.7,10\n")
    with pytest.raises(DataError, match="appear twice with different values"):
        read_candles(conf)
    assert read_candles(conf, on_conflict="first").close.tolist() == [100.5]
    assert read_candles(conf, on_conflict="last").close.tolist() == [100.7]


def test_compressed_and_headerless(tmp_path):
    text = "1704067200000,100,101,99,100.5,10\n1704070800000,100.5,102,100,101,11\n"
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zp = tmp_path / "a.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("BTCUSDT-1h-2024-01.csv", text)
    for p in (gz, zp):
        assert read_candles(p).timestamp.tolist() == [1704067200000, 1704070800000]


@pytest.mark.parametrize("text,msg", [
    ("1,2,3,4\n5,6,7,8\n", "4 columns without a header"),
    ("foo,bar\n1,2\n", "no time column"),
    ('{"a": 1}', "JSON object"),
    ("[[1704067200000, 1, 2]]", "row 1 is not a"),
    ("", "empty file"),
    ("date,open,high,low,close,volume\n01/02/2024,1,2,0.5,1,1\n", "neither an epoch number nor an ISO 8601"),
    ("timestamp,open,high,low,close,volume\n1704067200000,1,2,0.5,x,1\n", "close 'x' is not a number"),
    ("timestamp,open,high,low,close,volume\n1704067200000,1,0.9,0.5,1,1\n", "high 0.9 is below"),
])
def test_unrecognised_or_bad_files_are_refused(tmp_path, text, msg):
    with pytest.raises(DataError, match=msg):
        read_candles(_write(tmp_path, "bad.csv", text))
