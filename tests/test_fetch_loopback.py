"""``rmsbt fetch`` with the real ccxt.binance client against a fake Binance on 127.0.0.1.

Every fault test asserts that the stored file equals the source candles exactly afterwards.
Source: real BTC/USDT and ETH/USDT hourly candles from ../shared/data (2021-02-09 .. 2021-02-13,
which includes the exchange's own gap at 2021-02-11 04:00), or a generated series if absent.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from rmsbt.data.fetch import Downloader, FetchError, RetryPolicy, fetch_to_store, funding_to_store, open_exchange
from rmsbt.data.store import read_store_file
from tests.fakeexchange import FakeBinance, Fault
from tests.fakeexchange.data import as_array, source_candles

ROOT = Path(__file__).resolve().parent.parent
H = 3_600_000
START = 1612828800000  # 2021-02-09 00:00 UTC
END = START + 96 * H    # 2021-02-13 00:00 UTC


@pytest.fixture(scope="module")
def src():
    return {"BTC": source_candles("BTC_USDT", "1h", START, END), "ETH": source_candles("ETH_USDT", "1h", START, END)}


@pytest.fixture
def server(src):
    funding = np.array([[START + k * 8 * H + (17 if k % 2 else 0), 1e-4 * (1 + k % 3)] for k in range(12)])
    s = FakeBinance({("BTCUSDT", "1h"): as_array(src["BTC"]), ("ETHUSDT", "1h"): as_array(src["ETH"])},
                    perp_candles={("BTCUSDT", "1h"): as_array(src["BTC"])}, funding={"BTCUSDT": funding}).start()
    s.funding_rows = funding
    yield s
    s.stop()


def make_dl(server, *, timeout=1000, tries=5, now=None, limit=20, slept=None, **opts):
    ex = open_exchange("binance", server.ccxt_config(timeout=timeout, rateLimit=1, **opts))

    def sleep(s):
        if slept is not None:
            slept.append(s)
        time.sleep(s)

    return Downloader(ex, policy=RetryPolicy(tries=tries, base_delay=0.01, max_delay=0.05, seed=0), sleep=sleep,
                      now_ms=(lambda: now) if now else None, limit=limit)


def stored(tmp_path, stem="BTC_USDT-1h.parquet"):
    return read_store_file(tmp_path / "binance" / stem)


def assert_equal_source(df, src):
    pdt.assert_frame_equal(df.reset_index(drop=True), src.reset_index(drop=True), check_exact=True)


def test_clean_download_equals_source_and_is_parquet(server, src, tmp_path):
    r = fetch_to_store(make_dl(server), "BTC/USDT", "1h", START, END, tmp_path)
    assert r.path == tmp_path / "binance" / "BTC_USDT-1h.parquet"
    assert_equal_source(stored(tmp_path), src["BTC"])
    assert r.rows == len(src["BTC"]) and r.wrote
    # pages of 20 from START: every request asks startTime = last_ts + 1h and limit 20
    ks = server.klines_requests()
    assert all(q["limit"] == "20" for _, _, q, _ in ks)
    starts = [int(q["startTime"]) for _, _, q, _ in ks]
    assert starts[0] == START and all(b > a for a, b in zip(starts, starts[1:]))


def test_br35_since_in_seconds_through_ccxt(server, src, tmp_path):
    """BR-35: the downloader given since = 1612828800 (seconds) converts it (unit rule: < 1e11 → s)."""
    fetch_to_store(make_dl(server), "BTC/USDT", "1h", START // 1000, END // 1000, tmp_path)
    assert int(server.klines_requests()[0][2]["startTime"]) == START  # never 1612828800 ms (1970-01-19)
    assert_equal_source(stored(tmp_path), src["BTC"])


def test_rate_limiter_is_on_by_default(server):
    assert open_exchange("binance", server.ccxt_config()).enableRateLimit is True


@pytest.mark.parametrize("fault", [
    Fault("status", status=429, headers={"Retry-After": "0.2"}, after=1),
    Fault("status", status=418, after=2),
    Fault("status", status=500, after=1),
    Fault("status", status=503, times=2, after=1),
    Fault("status", status=502, path="exchangeInfo"),
    Fault("slow", delay=0.6, after=1),
    Fault("truncated", after=1),
    Fault("empty", after=2),
    Fault("overlap", shift=3, times=None),
    Fault("cap", rows=7, times=None),
], ids=lambda f: f"{f.kind}-{f.status if f.kind == 'status' else ''}{f.path if f.path != 'klines' else ''}")
def test_fault_then_exact_result(server, src, tmp_path, fault):
    fault = dataclasses.replace(fault)
    server.faults.append(fault)
    slept = []
    fetch_to_store(make_dl(server, timeout=300, slept=slept), "BTC/USDT", "1h", START, END, tmp_path)
    assert_equal_source(stored(tmp_path), src["BTC"])
    assert fault.after == 0 and fault.times in (0, None)  # the fault really happened
    if fault.kind in ("status", "slow"):
        assert len(slept) >= 1                            # ... and was retried after a back-off
    if fault.kind in ("truncated", "empty"):              # ccxt gives [] for both: re-asked at once
        starts = [q["startTime"] for _, _, q, _ in server.klines_requests()]
        assert len(starts) == len(set(starts)) + 1
    if fault.headers.get("Retry-After"):
        assert max(slept) >= 0.2  # waited at least Retry-After, although the backoff asked for ~0.01 s


def test_br39_server_rate_limit_through_ccxt(server, src, tmp_path):
    """BR-39 on the wire: the server allows one klines request per 0.25 s and answers 429 to faster ones."""
    server.faults.append(Fault("ratelimit", interval=0.25, times=None, headers={"Retry-After": "0"}))
    fetch_to_store(make_dl(server, limit=40, tries=8), "BTC/USDT", "1h", START, END, tmp_path)
    assert_equal_source(stored(tmp_path), src["BTC"])
    ok = [t for t, _, _, status in server.klines_requests() if status == 200]
    assert len(ok) == 3                                       # 96 candles in pages of 40: 3 successful pages
    assert all(b - a >= 0.25 for a, b in zip(ok, ok[1:]))    # the server's rule held; we retried, not died
    assert any(status == 429 for *_, status in server.klines_requests())


def test_every_request_fails_bounded_retries_no_file(server, tmp_path):
    server.faults.append(Fault("status", status=429, times=None, headers={"Retry-After": "0"}))
    with pytest.raises(FetchError, match=r"gave up after 3 tries .*got nothing"):
        fetch_to_store(make_dl(server, tries=3), "BTC/USDT", "1h", START, END, tmp_path)
    assert not (tmp_path / "binance").exists() or not any((tmp_path / "binance").iterdir())


def test_failure_mid_run_keeps_complete_prefix_then_resume(server, src, tmp_path):
    server.faults.append(Fault("status", status=503, times=None, after=3))
    with pytest.raises(FetchError, match="run the same command again to resume"):
        fetch_to_store(make_dl(server, tries=2), "BTC/USDT", "1h", START, END, tmp_path, checkpoint_pages=1)
    part = stored(tmp_path)
    assert_equal_source(part, src["BTC"].iloc[: len(part)])  # a valid prefix, 3 pages of 20
    assert len(part) == 60
    server.faults.clear()
    n0 = len(server.klines_requests())
    r = fetch_to_store(make_dl(server), "BTC/USDT", "1h", START, END, tmp_path)
    assert_equal_source(stored(tmp_path), src["BTC"])
    first_resume = int(server.klines_requests()[n0][2]["startTime"])
    assert first_resume == int(part.timestamp.iloc[-1]) + H and r.fetched == len(src["BTC"]) - 60


def test_incremental_and_noop_runs(server, src, tmp_path):
    mid = START + 40 * H
    fetch_to_store(make_dl(server), "BTC/USDT", "1h", mid, END - 30 * H, tmp_path)
    # --since moved earlier and --until later: fetches [START, mid) and [last + 1h, END) only
    n0 = len(server.klines_requests())
    fetch_to_store(make_dl(server), "BTC/USDT", "1h", START, END, tmp_path)
    assert_equal_source(stored(tmp_path), src["BTC"])
    asked = [int(q["startTime"]) for _, _, q, _ in server.klines_requests()[n0:]]
    assert asked[0] == START and all(not (mid <= a < END - 30 * H) for a in asked)
    # everything present: no request at all, file untouched
    p = tmp_path / "binance" / "BTC_USDT-1h.parquet"
    before = (p.stat().st_mtime_ns, len(server.log))
    r = fetch_to_store(make_dl(server), "BTC/USDT", "1h", START, END, tmp_path)
    assert not r.wrote and (p.stat().st_mtime_ns, len(server.log)) == before


def test_open_candle_is_never_stored(server, src, tmp_path):
    last = int(src["BTC"].timestamp.iloc[-1])
    now = last + 30 * 60_000  # the server's last candle is only half an hour old: still open
    fetch_to_store(make_dl(server, now=now), "BTC/USDT", "1h", START, None, tmp_path)
    assert_equal_source(stored(tmp_path), src["BTC"].iloc[:-1])


def test_csv_store_format_round_trips_exactly(server, src, tmp_path):
    fetch_to_store(make_dl(server), "ETH/USDT", "1h", START, END, tmp_path, fmt="csv")
    assert_equal_source(read_store_file(tmp_path / "binance" / "ETH_USDT-1h.csv"), src["ETH"])


def test_unknown_symbol_timeframe_exchange_fail_at_once(server, tmp_path):
    dl = make_dl(server)
    with pytest.raises(FetchError, match=r"no market 'BTC/USDC'.*nearest: BTC/USDT"):
        fetch_to_store(dl, "BTC/USDC", "1h", START, END, tmp_path)
    with pytest.raises(FetchError, match=r"no timeframe '7m'.*1m, 3m, 5m"):
        fetch_to_store(dl, "BTC/USDT", "7m", START, END, tmp_path)
    with pytest.raises(FetchError, match="did you mean binance"):
        open_exchange("binanse")
    with pytest.raises(FetchError, match="API keys"):
        open_exchange("binance", {"apiKey": "x"})
    assert len(server.klines_requests()) == 0
    assert not (tmp_path / "binance").exists()


def test_exchange_refusing_a_request_is_one_clear_error(server, tmp_path):
    # binance lists 5m, but the fake has no 5m klines for BTCUSDT: it answers -1120 "Invalid interval."
    with pytest.raises(FetchError, match=r"binance refused BTC/USDT 5m \(BadRequest: .*Invalid interval"):
        fetch_to_store(make_dl(server), "BTC/USDT", "5m", START, END, tmp_path)
    assert len(server.klines_requests()) == 1  # not retried


def test_symbol_escaping_the_data_dir_is_refused(server, tmp_path):
    from rmsbt.errors import DataError

    for bad in ("../../etc/passwd", "/abs/USDT", "BTC/../USDT", "BTC USDT/X"):
        with pytest.raises(DataError):
            fetch_to_store(make_dl(server), bad, "1h", START, END, tmp_path)


def test_perpetual_candles_and_funding(server, src, tmp_path):
    dl = make_dl(server)
    r = fetch_to_store(dl, "BTC/USDT:USDT", "1h", START, END, tmp_path)
    assert r.path.name == "BTC_USDT_USDT-1h.parquet"
    assert_equal_source(stored(tmp_path, "BTC_USDT_USDT-1h.parquet"), src["BTC"])
    f = funding_to_store(dl, "BTC/USDT:USDT", START, END, tmp_path)
    got = pd.read_parquet(f.path)
    assert f.path.name == "BTC_USDT_USDT-funding.parquet"
    assert got.timestamp.tolist() == server.funding_rows[:, 0].astype(np.int64).tolist()
    assert got.funding_rate.tolist() == server.funding_rows[:, 1].tolist()
    with pytest.raises(FetchError, match="not a perpetual"):
        funding_to_store(dl, "BTC/USDT", START, END, tmp_path)
    from rmsbt.data.store import load_funding

    pd.testing.assert_frame_equal(load_funding(tmp_path, "binance", "BTC/USDT:USDT"), got)
    n = len(server.log)
    again = funding_to_store(dl, "BTC/USDT:USDT", START, END, tmp_path)   # incremental: only after the last
    assert not again.wrote and all(int(q["startTime"]) > int(got.timestamp.iloc[-1])
                                   for _, path, q, _ in server.log[n:] if path.endswith("fundingRate"))


def _fetch_config(server, tmp_path, **fetch) -> Path:
    api = server.ccxt_config()["urls"]["api"]
    lines = ["[exchange]", 'id = "binance"', "[exchange.options]", "timeout = 2000", "rateLimit = 1",
             "[exchange.options.urls.api]"] + [f'{k} = "{v}"' for k, v in api.items()]
    lines += ["[retry]", "base_delay = 0.01", "max_delay = 0.05", "[fetch]"] + [f"{k} = {v}" for k, v in fetch.items()]
    p = tmp_path / "fetch.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_kill_9_mid_run_then_resume(server, src, tmp_path):
    cfg = _fetch_config(server, tmp_path, checkpoint_pages=1, limit=5)
    server.faults.append(Fault("slow", delay=0.1, times=None))
    data = tmp_path / "store"
    cmd = [sys.executable, "-m", "rmsbt", "fetch", "--exchange", "binance", "--symbols", "BTC/USDT",
           "--timeframe", "1h", "--since", str(START), "--until", str(END), "--data-dir", str(data),
           "--config", str(cfg), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(server.klines_requests()) < 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    p = data / "binance" / "BTC_USDT-1h.parquet"
    if p.exists():  # the previous complete file (a prefix), never a torn one
        part = read_store_file(p)
        assert 0 < len(part) < len(src["BTC"])
        assert_equal_source(part, src["BTC"].iloc[: len(part)])
    server.faults.clear()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert_equal_source(read_store_file(p), src["BTC"])


def test_cli_exchange_options_reach_ccxt(server, src, tmp_path):
    from rmsbt.cli_data import make_downloader, parse_option

    assert parse_option("timeout=1500") == (["timeout"], 1500)
    assert parse_option('urls.api.public="http://x"') == (["urls", "api", "public"], "http://x")
    assert parse_option("enableRateLimit=false") == (["enableRateLimit"], False)

    class A:
        exchange_option = ["timeout=1234", f'urls.api.public="{server.base_url}/api/v3"']

    dl = make_downloader("binance", {}, A())
    assert dl.ex.timeout == 1234 and dl.ex.urls["api"]["public"] == f"{server.base_url}/api/v3"
    assert dl.ex.urls["api"]["sapi"].startswith("https://api.binance.com")  # deep-merged, not replaced
    out = subprocess.run([sys.executable, "-m", "rmsbt", "fetch", "--exchange", "binance", "--symbols", "BTC/USDT",
                          "--timeframe", "1h", "--since", str(START), "--until", str(END), "--data-dir", str(tmp_path),
                          "--quiet", "--exchange-option", f'urls.api.public="{server.base_url}/api/v3"',
                          "--exchange-option", f'urls.api.fapiPublic="{server.base_url}/fapi/v1"',
                          "--exchange-option", f'urls.api.dapiPublic="{server.base_url}/dapi/v1"'],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert_equal_source(stored(tmp_path), src["BTC"])


def test_cli_fetch_errors_are_one_line(server, tmp_path):
    cfg = _fetch_config(server, tmp_path)
    out = subprocess.run([sys.executable, "-m", "rmsbt", "fetch", "--symbols", "BTC/USDX", "--timeframe", "1h",
                          "--since", "2021-02-09", "--data-dir", str(tmp_path), "--config", str(cfg), "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no market 'BTC/USDX'" in out.stderr and "BTC/USDT" in out.stderr
    assert "Traceback" not in out.stderr


def test_backtest_fetch_is_a_noop_when_the_store_covers_the_config(shared_data, tmp_path):
    """The README's first command on ../shared/data (read-only): --fetch must not touch network or disk."""
    from rmsbt.cli_data import fetch_for_config
    from rmsbt.config import load_config

    cfg = load_config(ROOT / "configs" / "pairs_btc_eth.toml")
    dead = tmp_path / "dead.toml"  # any network call would fail: nothing listens on port 9
    dead.write_text('[exchange.options]\ntimeout = 200\n[exchange.options.urls.api]\npublic = "http://127.0.0.1:9/api/v3"\n'
                    '[retry]\ntries = 1\n')
    before = {p: p.stat().st_mtime_ns for p in (shared_data / "binance").iterdir()}
    results = fetch_for_config(cfg, shared_data, str(dead), quiet=True)
    assert not any(r.wrote for r in results) and all(r.fetched == 0 for r in results)
    assert {p: p.stat().st_mtime_ns for p in (shared_data / "binance").iterdir()} == before


def test_backtest_fetch_downloads_what_is_missing(server, src, tmp_path):
    from rmsbt.cli_data import fetch_for_config
    from rmsbt.config import load_config

    conf = tmp_path / "c.toml"
    conf.write_text('name = "t"\n[data]\nexchange = "binance"\nsymbols = ["BTC/USDT", "ETH/USDT"]\ntimeframe = "1h"\n'
                    'start = 2021-02-09\nend = 2021-02-12\n[strategy]\nclass = "strategies/pairs_rmsprop.py:PairsRMSprop"\n')
    store = tmp_path / "store"
    fetch_for_config(load_config(conf), store, str(_fetch_config(server, tmp_path)), quiet=True)
    for k in ("BTC", "ETH"):
        got = read_store_file(store / "binance" / f"{k}_USDT-1h.parquet")
        want = src[k][src[k].timestamp < START + 72 * H]
        assert_equal_source(got, want)
    n = len(server.log)
    fetch_for_config(load_config(conf), store, str(_fetch_config(server, tmp_path)), quiet=True)
    assert len(server.log) == n  # second time: covered, no request


def test_cli_backtest_fetch_from_nothing(server, src, tmp_path):
    """`rmsbt backtest CONFIG --fetch` on an empty store: downloads through the fake exchange, then runs."""
    from rmsbt.cli import main

    conf = tmp_path / "c.toml"
    conf.write_text('name = "t"\n[data]\nexchange = "binance"\nsymbols = ["BTC/USDT", "ETH/USDT"]\ntimeframe = "1h"\n'
                    'start = 2021-02-09\nend = 2021-02-13\n[strategy]\nclass = "strategies/pairs_rmsprop.py:PairsRMSprop"\n'
                    '[strategy.params]\nwarmup = 20\nzscore_span = 10\n')
    store, out = tmp_path / "store", tmp_path / "out"
    rc = main(["backtest", str(conf), "--fetch", "--fetch-config", str(_fetch_config(server, tmp_path)),
               "--data-dir", str(store), "--out", str(out)])
    assert rc == 0 and (out / "summary.json").is_file()
    assert_equal_source(read_store_file(store / "binance" / "ETH_USDT-1h.parquet"), src["ETH"])
