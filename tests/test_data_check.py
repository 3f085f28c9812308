"""``rmsbt data check | list | import`` and the atomic store writes."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from rmsbt.cli import main
from rmsbt.data.check import check_file, list_store
from rmsbt.data.store import atomic_write, merge_candles, read_store_file, write_table
from rmsbt.errors import DataError
from tests.fakeexchange.data import generated

H = 3_600_000


def test_check_real_hourly_file_matches_readme(shared_data):
    r = check_file(shared_data / "binance/BTC_USDT-1h.csv")
    # README §1: 45,024 rows, 2017-08-17 04:00 → 2022-10-11 10:00, 27 gaps / 127 missing, 3 zero-volume
    assert r.ok and r.rows == 45024 and r.timeframe == "1h"
    assert (r.first, r.last) == (1502942400000, 1665482400000)
    c = r.counts
    assert (c["gaps"], c["missing bars"], c["zero-volume bars"]) == (27, 127, 3)
    assert c["longest gap (bars)"] == 33  # the 2018-02-08 outage: 33 hours


def test_check_cdd_file_fails_hard_rules(shared_data):
    r = check_file(shared_data / "formats/cryptodatadownload/Binance_BTCUSDT_1h.csv")
    assert not r.ok
    assert r.rows == 32181 and r.counts["duplicate timestamps (conflicting)"] == 2649
    assert r.counts["unsorted rows"] > 0  # newest first
    assert r.timeframe == "1h"            # inferred from the most common step


def test_check_rules_by_hand(tmp_path):
    t = 1704067200000
    rows = [  # ts, o, h, l, c, v
        (t, 10, 11, 9, 10, 1), (t + H, 10, 9.5, 9, 10, 1),     # OHLC violation: high 9.5 < 10
        (t + 3 * H, 10, 11, 9, 10, 0),                          # 1 missing bar before it; zero volume
        (t + 2 * H, 10, 11, 9, 10, 1),                          # unsorted (after 03:00)
        (t + 4 * H, -1, 11, -1, 10, 1),                         # non-positive prices
    ]
    p = tmp_path / "x-1h.csv"
    pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"]).to_csv(p, index=False)
    r = check_file(p, now_ms=t + 5 * H)
    c = r.counts
    assert (c["OHLC violations"], c["unsorted rows"], c["prices not finite > 0"], c["zero-volume bars"]) == (1, 1, 1, 1)
    assert c["gaps"] == 0  # after sorting 00..04 is complete
    assert c["incomplete last candle"] == 0
    assert check_file(p, now_ms=t + 5 * H - 1).counts["incomplete last candle"] == 1  # 04:00 bar closes at 05:00
    assert not r.ok


def test_cli_import_check_list(shared_data, tmp_path, capsys):
    f = shared_data / "formats/cryptodatadownload_no_url_line/Binance_BNBUSDT_d.csv"
    store = tmp_path / "store"
    assert main(["data", "import", str(f), "--exchange", "binance", "--symbol", "BNB/USDT", "--timeframe", "1d",
                 "--data-dir", str(store)]) == 0
    out = store / "binance" / "BNB_USDT-1d.parquet"
    df = read_store_file(out)
    assert len(df) == 1272 and df.timestamp.iloc[0] == 1513555200000
    assert main(["data", "check", str(out)]) == 0
    assert main(["data", "list", "--data-dir", str(store)]) == 0
    listed = list_store(store)
    assert [(i["symbol"], i["timeframe"], i["rows"]) for i in listed] == [("BNB/USDT", "1d", 1272)]
    capsys.readouterr()
    # a conflicting file is refused by import (one line, exit 2) unless --on-conflict is given
    cdd = shared_data / "formats/cryptodatadownload/Binance_ETHUSDT_d.csv"
    assert main(["data", "import", str(cdd), "--exchange", "binance", "--symbol", "ETH/USDT", "--timeframe", "1d",
                 "--data-dir", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmsbt: error:") and "--on-conflict" in err and err.count("\n") == 1
    assert main(["data", "check", str(cdd)]) == 1


def test_symbols_that_escape_the_store_are_refused(tmp_path):
    for bad in ("../x/USDT", "BTC/USDT/../../a", "/etc/passwd", "C:\\x/Y"):
        assert main(["data", "import", "nofile", "--exchange", "binance", "--symbol", bad, "--timeframe", "1h",
                     "--data-dir", str(tmp_path)]) == 2


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "a.csv"
    df = generated(1704067200000, 5, H)
    write_table(p, df)
    before = p.read_bytes()

    def boom(f):
        f.write(b"half a file")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["a.csv"]  # no temp file left behind


def test_store_formats_round_trip_exactly(tmp_path):
    df = generated(1704067200000, 50, H, seed=3)
    for name in ("a.parquet", "a.csv", "a.csv.gz"):
        write_table(tmp_path / name, df)
        pd.testing.assert_frame_equal(read_store_file(tmp_path / name), df, check_exact=True)


def test_merge_new_rows_win_and_count_replacements():
    a = generated(1704067200000, 5, H)
    b = a.iloc[3:].copy()
    b.loc[b.index[0], "close"] = b.close.iloc[0] * 1.0001
    b.loc[b.index[0], "high"] = max(b.high.iloc[0], b.close.iloc[0])
    m, replaced = merge_candles(a, b)
    assert len(m) == 5 and replaced == 1 and m.close.iloc[3] == b.close.iloc[0]


def test_read_only_store_write_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(DataError, match="cannot write"):
            write_table(ro / "x" / "a.parquet", generated(1704067200000, 2, H))
    finally:
        ro.chmod(0o755)


def test_import_refuses_a_wrong_timeframe(shared_data, tmp_path, capsys):
    f = shared_data / "formats/cryptodatadownload_no_url_line/Binance_BNBUSDT_d.csv"
    assert main(["data", "import", str(f), "--exchange", "binance", "--symbol", "BNB/USDT", "--timeframe", "1h",
                 "--data-dir", str(tmp_path)]) == 2
    assert "rows are 1d apart (most common step), not 1h" in capsys.readouterr().err
    assert not (tmp_path / "binance").exists()


def test_import_merges_months_into_one_store_file(shared_data, tmp_path):
    from rmsbt.data.formats import import_file

    for p in sorted((shared_data / "formats/binance_public_data").glob("*.csv")):
        import_file(p, tmp_path, "binance", "BTC/USDT", "1h")
    df = read_store_file(tmp_path / "binance/BTC_USDT-1h.parquet")
    assert len(df) == 5088 and (np.diff(df.timestamp) == H).all()   # README §5: 5,088 rows, no gaps
