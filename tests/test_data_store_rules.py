"""The store's rules on every path (QA report on issue 4): integer-ms timestamps only, corrupt and
unreadable files, permissions of written files, the timeframe (spacing) rule, closed candles.

Every user error is one line naming the problem and the file, exit 2 (``check``: a FAIL line, exit 1),
and nothing already stored changes.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsbt.cli import main
from rmsbt.data import validate_nb as nb
from rmsbt.data.check import check_file, check_frame, list_store
from rmsbt.data.formats import import_file, read_candles
from rmsbt.data.gaps import spacing_problem
from rmsbt.data.resample import resample
from rmsbt.data.store import (load_symbol, os_error, read_store_file, store_timestamps, write_candles,
                              write_table)
from rmsbt.data.validate import validate_candles
from rmsbt.errors import DataError
from tests.fakeexchange.data import generated

ROOT = Path(__file__).resolve().parent.parent
H = 3_600_000
M = 60_000
T0 = 1704067200000  # 2024-01-01 00:00 UTC


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rmsbt: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------------------------------
# 2. the store holds integer ms only: every reader refuses anything else
# ----------------------------------------------------------------------------------------------------

@pytest.fixture
def datetime_store(tmp_path):
    """binance/BTC_USDT-1h.parquet with a datetime64 timestamp column (the QA's corrupt store)."""
    df = generated(T0, 48, H)
    bad = df.assign(timestamp=pd.to_datetime(df.timestamp, unit="ms"))
    p = tmp_path / "binance" / "BTC_USDT-1h.parquet"
    p.parent.mkdir()
    bad.to_parquet(p)
    return tmp_path, p


def test_store_rule_by_hand():
    ok = np.array([T0, T0 + H])
    assert store_timestamps(ok, "f").tolist() == [T0, T0 + H]
    # seconds (1704067200 < 1e11), microseconds (1704067200000000 >= 1e14), a date column, floats, text
    for values, needle in [(np.array([T0, 1704067200]), "row 2 (timestamp 1704067200): not milliseconds"
                                                         " since the epoch (reads as s)"),
                           (np.array([T0 * 1000]), "reads as us"),
                           (pd.Series(pd.to_datetime([T0], unit="ms")), "row 1 (timestamp 2024-01-01"),
                           (np.array([T0 + 0.5]), "not a whole number of milliseconds"),
                           (np.array([float(T0)]), "holds floats"),
                           (np.array(["2024-01-01"], dtype=object), "holds text")]:
        with pytest.raises(DataError, match=None) as e:
            store_timestamps(values, "data/x.csv")
        assert str(e.value).startswith("data/x.csv: row ") and needle in str(e.value), str(e.value)


def test_datetime_store_is_refused_on_every_read_path(datetime_store, tmp_path, capsys):
    data, p = datetime_store
    before = p.read_bytes()
    # backtest path
    with pytest.raises(DataError, match=r"BTC_USDT-1h.parquet: row 1 .*holds dates"):
        load_symbol(data, "binance", "BTC/USDT", "1h")
    # check: a FAIL line naming the file once, exit 1
    assert main(["data", "check", str(p)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "holds dates" in out and out.count(p.name) == 1
    # list: exit 0, the file listed with rows '?' and its problem on one line (no traceback)
    assert main(["data", "list", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "problem:" in out and "holds dates" in out
    assert list_store(data)[0]["rows"] is None
    # import merge: refused, the store file unchanged
    src = tmp_path / "new.csv"
    generated(T0 + 48 * H, 5, H).to_csv(src, index=False)
    assert main(["data", "import", str(src), "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--data-dir", str(data)]) == 2
    assert "holds dates" in one_line_error(capsys)
    assert p.read_bytes() == before


class NoNetwork:
    """A Downloader stand-in: any download is a test failure (the rule must fire before the network)."""

    id = "binance"

    def __init__(self, now=T0 + 1000 * H):
        self._now = now

    def now_ms(self):
        return self._now

    def candles(self, *a, **k):
        raise AssertionError("went to the network")


def test_the_hint_works_a_datetime_parquet_moved_out_of_the_store_imports(datetime_store, tmp_path):
    data, p = datetime_store
    moved = tmp_path / "moved.parquet"
    p.rename(moved)
    path, df, _ = import_file(moved, data, "binance", "BTC/USDT", "1h", now_ms=T0 + 1000 * H)
    pd.testing.assert_frame_equal(read_store_file(path), generated(T0, 48, H), check_exact=True)


def test_fetch_merge_refuses_a_datetime_store(datetime_store):
    from rmsbt.data.fetch import fetch_to_store

    data, p = datetime_store
    before = p.read_bytes()
    with pytest.raises(DataError, match="holds dates"):
        fetch_to_store(NoNetwork(), "BTC/USDT", "1h", "2018-01-01", None, data)
    assert p.read_bytes() == before


def test_csv_store_in_seconds_is_refused_not_misread(tmp_path):
    p = tmp_path / "binance" / "BTC_USDT-1h.csv"
    p.parent.mkdir()
    generated(T0, 3, H).assign(timestamp=lambda d: d.timestamp // 1000).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"row 1 \(timestamp 1704067200\): not milliseconds .*reads as s"):
        load_symbol(tmp_path, "binance", "BTC/USDT", "1h")
    r = check_file(p)  # a store-named file is checked by the store's rule
    assert not r.ok and "reads as s" in r.error


def test_absurd_timestamp_refused_at_import(tmp_path, capsys):
    src = tmp_path / "a.csv"
    src.write_text("timestamp,open,high,low,close,volume\n99999999999999999999999,1,1,1,1,1\n")
    assert main(["data", "import", str(src), "--exchange", "x", "--symbol", "BTC/USDT", "--timeframe", "1m",
                 "--data-dir", str(tmp_path / "store")]) == 2
    assert "not milliseconds since the epoch" in one_line_error(capsys)
    assert not (tmp_path / "store").exists()


def test_every_candle_write_applies_the_store_rule(tmp_path):
    with pytest.raises(DataError, match="reads as s"):
        write_candles(tmp_path / "a.parquet", generated(T0 // 1000, 3, 3600))
    assert not (tmp_path / "a.parquet").exists()


# ----------------------------------------------------------------------------------------------------
# 1. truncated / corrupt compressed files; 5. unreadable files; 13. a directory where a file belongs
# ----------------------------------------------------------------------------------------------------

def _csv_bytes(n=200):
    return generated(T0, n, M).to_csv(index=False).encode()


def test_truncated_gzip_is_one_line(tmp_path, capsys):
    full = gzip.compress(_csv_bytes())
    p = tmp_path / "t.csv.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="t.csv.gz: truncated or corrupt gzip file"):
        read_candles(p)
    assert main(["data", "import", str(p), "--exchange", "x", "--symbol", "BTC/USDT", "--timeframe", "1m",
                 "--data-dir", str(tmp_path / "s")]) == 2
    assert "truncated or corrupt gzip" in one_line_error(capsys)
    assert main(["data", "check", str(p)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "truncated or corrupt gzip" in out


def test_truncated_and_empty_zip(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.csv", _csv_bytes())
    p = tmp_path / "t.zip"
    p.write_bytes(buf.getvalue()[:300])
    with pytest.raises(DataError, match="t.zip: truncated or corrupt zip file"):
        read_candles(p)
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    q = tmp_path / "e.zip"
    q.write_bytes(empty.getvalue())
    with pytest.raises(DataError, match="a zip must hold exactly one file, found 0"):
        read_candles(q)


def test_os_error_mapping_by_hand():
    assert str(os_error("d/x.csv", PermissionError(13, "Permission denied"))) == "d/x.csv: cannot read (Permission denied)"
    assert str(os_error("d/x", IsADirectoryError(21, "Is a directory"), "write")) == \
        "d/x: cannot write: it is a directory, not a file"


def test_directory_and_fifo_are_named_as_such(tmp_path, capsys):
    d = tmp_path / "dir.csv"
    d.mkdir()
    with pytest.raises(DataError, match="dir.csv: is a directory, not a file"):
        read_candles(d)
    fifo = tmp_path / "f.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is not a regular file"):
        read_candles(fifo)
    # a directory where the store file belongs: import and fetch refuse before anything else
    store = tmp_path / "s"
    (store / "binance" / "BTC_USDT-1h.parquet").mkdir(parents=True)
    src = tmp_path / "a.csv"
    generated(T0, 5, H).to_csv(src, index=False)
    assert main(["data", "import", str(src), "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--data-dir", str(store)]) == 2
    assert "is a directory, not a file" in one_line_error(capsys)
    from rmsbt.data.fetch import fetch_to_store

    with pytest.raises(DataError, match="is a directory"):
        fetch_to_store(NoNetwork(), "BTC/USDT", "1h", T0, None, store)


def _drop_read_caps() -> list[str] | None:
    """A command prefix running a process that file permissions apply to: as root, drop
    CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH from the bounding set (so a mode-0 file is unreadable even for
    its owner); as a normal user, nothing is needed."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.skipif(_drop_read_caps() is None, reason="running as root and setpriv is not installed")
def test_unreadable_file_is_one_line(tmp_path):
    """5. A file the user may not read: one line, exit 2 (import) / FAIL exit 1 (check), no traceback."""
    src = tmp_path / "a.csv"
    generated(T0, 5, H).to_csv(src, index=False)
    src.chmod(0)
    base = _drop_read_caps() + [sys.executable, "-m", "rmsbt"]
    try:
        r = subprocess.run(base + ["data", "import", str(src), "--exchange", "x", "--symbol", "BTC/USDT",
                                   "--timeframe", "1h", "--data-dir", str(tmp_path / "s")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and r.stderr == f"rmsbt: error: {src}: cannot read (Permission denied)\n", r.stderr
        r = subprocess.run(base + ["data", "check", str(src)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "cannot read (Permission denied)" in r.stdout and "Traceback" not in r.stderr
    finally:
        src.chmod(0o644)


# ----------------------------------------------------------------------------------------------------
# 4. written files keep the old mode, else 0666 & ~umask
# ----------------------------------------------------------------------------------------------------

def test_written_file_modes(tmp_path):
    df = generated(T0, 3, H)
    old = os.umask(0o022)
    try:
        p = tmp_path / "a.parquet"
        write_table(p, df)
        assert p.stat().st_mode & 0o777 == 0o644  # 0o666 & ~0o022
        p.chmod(0o640)
        write_table(p, df)
        assert p.stat().st_mode & 0o777 == 0o640  # a rewrite keeps the old file's mode
        os.umask(0o077)
        q = tmp_path / "b.csv"
        write_table(q, df)
        assert q.stat().st_mode & 0o777 == 0o600  # 0o666 & ~0o077
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------------------------------
# 3. / 7. the timeframe (spacing) rule: import, check, resample
# ----------------------------------------------------------------------------------------------------

def test_spacing_rule_by_hand():
    minutes = T0 + np.arange(100) * M
    assert spacing_problem(minutes, "1m") is None
    assert "not the first of a month" in spacing_problem(minutes, "1M")
    # 2024-01-01, 2024-02-01, 2024-03-01 00:00 UTC: 31 and 29 days apart
    months = np.array([T0, T0 + 31 * 86_400_000, T0 + 60 * 86_400_000])
    assert spacing_problem(months, "1M") is None
    assert "1h apart (most common step), not 1m" in spacing_problem(T0 + np.arange(5) * H, "1m")
    off = np.concatenate([T0 + np.arange(5) * H, [T0 + 4 * H + 30 * M]])  # 04:30 is off the 1h grid
    assert "off the 1h grid (1 such row(s))" in spacing_problem(off, "1h")
    # weeks open on Mondays: 2024-01-01 was a Monday
    assert spacing_problem(np.array([T0, T0 + 7 * 86_400_000]), "1w") is None
    assert "off the 1w grid" in spacing_problem(np.array([T0 + 86_400_000]), "1w")


def test_minute_data_imported_as_months_is_refused(tmp_path, capsys):
    src = tmp_path / "m.csv"
    generated(T0, 300, M).to_csv(src, index=False)
    assert main(["data", "import", str(src), "--exchange", "x", "--symbol", "BTC/USDT", "--timeframe", "1M",
                 "--data-dir", str(tmp_path / "s")]) == 2
    err = one_line_error(capsys)
    assert "not the first of a month" in err and "--timeframe 1m" in err
    assert not (tmp_path / "s").exists()
    assert not check_file(src, timeframe="1M").ok


def test_resample_verifies_the_source_timeframe():
    hourly = generated(T0, 48, H)
    with pytest.raises(DataError, match="1h apart .*not 1m"):
        resample(hourly, "1m", "1h")
    minutes = generated(T0, 24, M)
    with pytest.raises(DataError, match="1m apart .*not 1h"):
        resample(minutes, "1h", "1d", partial="mark")


# ----------------------------------------------------------------------------------------------------
# 6. check and import apply the same row rules (one implementation: validate_nb.row_flags)
# ----------------------------------------------------------------------------------------------------

def test_check_refuses_infinite_high_like_import(tmp_path):
    rows = generated(T0, 3, H)
    rows.loc[1, "high"] = np.inf
    p = tmp_path / "x-1h.csv"
    rows.to_csv(p, index=False)
    r = check_file(p, now_ms=T0 + 10 * H)
    assert r.counts["prices not finite > 0"] == 1 and not r.ok
    with pytest.raises(DataError, match="high must be a finite price > 0"):
        read_candles(p)


_values = st.sampled_from([1.0, 2.0, 3.0, 0.0, -1.0, np.inf, -np.inf, np.nan])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_values, _values, _values, _values, _values), min_size=1, max_size=6))
def test_check_is_hard_exactly_when_validation_refuses(rows):
    """Property: for sorted unique timestamps, check's row findings are hard iff validate_candles
    refuses the table, and the fast path count_bad_rows agrees with row_flags."""
    ts = T0 + np.arange(len(rows), dtype=np.int64) * H
    a = np.asarray(rows, dtype=np.float64)
    df = pd.DataFrame({"timestamp": ts, "open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3],
                       "volume": a[:, 4]})
    _, hard = check_frame(df, H, now_ms=T0 + 10_000 * H)
    try:
        validate_candles(df, "p")
        refused = False
    except DataError:
        refused = True
    assert bool(hard) == refused
    cols = [np.ascontiguousarray(a[:, k]) for k in range(5)]
    assert (nb.count_bad_rows(ts, *cols) > 0) == (nb.row_flags(*cols) != 0).any()


# ----------------------------------------------------------------------------------------------------
# 8. closed candles only at import; candles from the future refused
# ----------------------------------------------------------------------------------------------------

def test_import_drops_the_still_open_candle_and_refuses_future_ones(tmp_path):
    src = tmp_path / "a.csv"
    generated(T0, 3, H).to_csv(src, index=False)  # bars 00:00, 01:00, 02:00
    # now = 02:30: the 02:00 bar closes at 03:00, so it is still open → dropped; 2 bars imported
    path, df, _ = import_file(src, tmp_path / "s", "x", "BTC/USDT", "1h", now_ms=T0 + 2 * H + 30 * M)
    assert read_store_file(path).timestamp.tolist() == [T0, T0 + H]
    assert any("not yet closed: dropped" in n for n in df.attrs["notes"])
    # now = 01:59: the 02:00 bar opens after now → refused, nothing stored changes
    before = path.read_bytes()
    with pytest.raises(DataError, match="opens after now"):
        import_file(src, tmp_path / "s", "x", "BTC/USDT", "1h", now_ms=T0 + 2 * H - M)
    assert path.read_bytes() == before


def test_import_of_year_2100_is_refused(tmp_path, capsys):
    src = tmp_path / "a.csv"
    generated(4102444800000, 3, H).to_csv(src, index=False)  # 2100-01-01 00:00 UTC
    assert main(["data", "import", str(src), "--exchange", "x", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--data-dir", str(tmp_path / "s")]) == 2
    assert "2100-01-01 00:00" in one_line_error(capsys)


# ----------------------------------------------------------------------------------------------------
# Low: list and check messages
# ----------------------------------------------------------------------------------------------------

def test_list_errors_and_hidden_files(tmp_path, capsys):
    assert main(["data", "list", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "data dir not found" in one_line_error(capsys)
    ex = tmp_path / "binance"
    ex.mkdir()
    df = generated(T0, 4, H)
    write_table(ex / "BTC_USDT_USDT-1h.parquet", df)
    write_table(ex / "BTC_USDT_USDT-1h.csv", df)
    items = list_store(tmp_path)
    assert [(i["symbol"], i["format"]) for i in items] == [("BTC/USDT:USDT", "parquet"), ("BTC/USDT:USDT", "csv")]
    assert items[0]["problem"] is None and "hidden by BTC_USDT_USDT-1h.parquet" in items[1]["problem"]


def test_store_names_are_canonical(tmp_path, capsys):
    from rmsbt.data.store import canonical_timeframe

    assert [canonical_timeframe(t) for t in ("60m", "1440m", "120s", "90m", "7d", "1w", "1M", "4h")] == \
        ["1h", "1d", "2m", "90m", "7d", "1w", "1M", "4h"]
    src = tmp_path / "a.csv"
    generated(T0, 5, H).to_csv(src, index=False)
    for sym, tf, needle in [("BTC/USDT", "60m", "write it as '1h'"), ("btc/usdt", "1h", "upper-case, e.g. 'BTC/USDT'")]:
        assert main(["data", "import", str(src), "--exchange", "x", "--symbol", sym, "--timeframe", tf,
                     "--data-dir", str(tmp_path / "s")]) == 2
        assert needle in one_line_error(capsys)
    assert not (tmp_path / "s").exists()


def test_messages_name_the_bad_value(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("date,open,high,low,close,volume\n2024-01-01 00:00,1,1,1,1,1\n2024-01-01 01:00,1,1,1,1,1\n"
                 "01/02/2024,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"data row 3: time '01/02/2024' in column 'date'"):
        read_candles(p)
    q = tmp_path / "dup.csv"
    q.write_text("timestamp,open,high,low,close,close,volume\n1704067200000,1,1,1,1,2,1\n")
    with pytest.raises(DataError, match="column 'close' appears more than once"):
        read_candles(q)
    r = tmp_path / "nan.csv"
    r.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,1,1,nan,1\n")
    with pytest.raises(DataError) as e:
        read_store_file(r)
    assert "(nan)" in str(e.value) and "np.float64" not in str(e.value)


def test_funding_files_follow_the_store_rule(tmp_path):
    from rmsbt.data.fetch import funding_to_store
    from rmsbt.data.store import funding_path, load_funding

    p = funding_path(tmp_path, "binance", "BTC/USDT:USDT")
    p.parent.mkdir(parents=True)
    pd.DataFrame({"timestamp": [T0 // 1000, T0 // 1000 + 28800], "funding_rate": [1e-4, 2e-4]}).to_parquet(p)
    before = p.read_bytes()
    with pytest.raises(DataError, match="reads as s"):
        load_funding(tmp_path, "binance", "BTC/USDT:USDT")
    with pytest.raises(DataError, match="reads as s"):  # the fetch merge refuses it before any download
        funding_to_store(NoNetwork(), "BTC/USDT:USDT", T0, None, tmp_path)
    assert p.read_bytes() == before


@pytest.mark.skipif(_drop_read_caps() is None, reason="running as root and setpriv is not installed")
def test_read_only_store_is_one_line_even_for_root(tmp_path):
    """The write side of 5./13.: a store folder the process may not write (root without
    CAP_DAC_OVERRIDE) gives one line, exit 2, and the stored file is unchanged."""
    store = tmp_path / "s"
    p = store / "x" / "BTC_USDT-1h.parquet"
    write_table(p, generated(T0, 3, H))
    before = p.read_bytes()
    src = tmp_path / "a.csv"
    generated(T0 + 3 * H, 3, H).to_csv(src, index=False)
    p.parent.chmod(0o555)
    try:
        r = subprocess.run(_drop_read_caps() + [sys.executable, "-m", "rmsbt", "data", "import", str(src),
                                                "--exchange", "x", "--symbol", "BTC/USDT", "--timeframe", "1h",
                                                "--data-dir", str(store)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        p.parent.chmod(0o755)
    assert r.returncode == 2 and r.stderr == f"rmsbt: error: {p}: cannot write (Permission denied)\n", r.stderr
    assert p.read_bytes() == before
