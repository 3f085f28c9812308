"""Data benchmarks (ratios against references measured in the same run; no absolute targets in tests).

Times are medians of alternating runs.

1. ``rmsbt fetch`` throughput against the loopback fake Binance (tests/fakeexchange), ccxt's rate
   limiter OFF: our own overhead = wall time of ``fetch_to_store`` minus the time spent inside
   ``exchange.fetch_ohlcv`` (HTTP + ccxt parsing). Target: >= 50,000 candles/s of our overhead.
   Reference: a bare loop calling ``fetch_ohlcv`` with ``since = last + tf`` and nothing else.
2. Loading 1,000,000 rows from the store (``read_store_file``: read + full validation) against a plain
   ``pandas.read_parquet`` / ``pandas.read_csv`` of the same file. Target: <= 1.2x.

Run: ``python benchmarks/bench_data.py [--rows 1000000] [--candles 200000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from rmsbt.data.fetch import Downloader, RetryPolicy, fetch_to_store, open_exchange  # noqa: E402
from rmsbt.data.store import read_store_file, write_table  # noqa: E402
from tests.fakeexchange import FakeBinance  # noqa: E402
from tests.fakeexchange.data import as_array, generated  # noqa: E402

M = 60_000


def interleaved(ref, ours, n=21):
    """Median times of ``ref`` and ``ours`` run alternately (fair on a shared, noisy machine)."""
    ta, tb = [], []
    for _ in range(n):
        for fn, acc in ((ref, ta), (ours, tb)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    return sorted(ta)[n // 2], sorted(tb)[n // 2]


def bench_fetch(n: int) -> None:
    t0 = 1_600_000_000_000 // M * M
    src = generated(t0, n, M, seed=1)
    with FakeBinance({("BTCUSDT", "1m"): as_array(src)}) as srv:
        ex = open_exchange("binance", srv.ccxt_config(enableRateLimit=False, timeout=30_000))
        ex.load_markets()
        inside = [0.0]
        orig = ex.fetch_ohlcv

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                inside[0] += time.perf_counter() - t

        ex.fetch_ohlcv = timed
        dl = Downloader(ex, policy=RetryPolicy(base_delay=0.01), limit=1000)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            r = fetch_to_store(dl, "BTC/USDT", "1m", t0, t0 + n * M, d)
            wall = time.perf_counter() - t
        assert r.rows == n
        ours = wall - inside[0]
        # reference: bare ccxt loop
        t = time.perf_counter()
        since, got = t0, 0
        while since < t0 + n * M:
            page = orig("BTC/USDT", "1m", since=since, limit=1000)
            if not page:
                break
            got += len(page)
            since = page[-1][0] + M
        ref = time.perf_counter() - t
    print(f"fetch {n:,} 1m candles (loopback, rate limiter off, pages of 1000):")
    print(f"  fetch_to_store wall {wall:.2f} s, inside ccxt.fetch_ohlcv {inside[0]:.2f} s, our overhead {ours:.3f} s")
    print(f"  our overhead: {n / ours:,.0f} candles/s (target >= 50,000)")
    print(f"  ratio fetch_to_store / bare ccxt loop ({got:,} candles in {ref:.2f} s): {wall / ref:.2f}x")


def bench_load(n: int) -> None:
    df = generated(1_500_000_000_000, n, M, seed=2)
    with tempfile.TemporaryDirectory() as d:
        for ext, plain in (("parquet", pd.read_parquet), ("csv", pd.read_csv)):
            p = Path(d) / f"BTC_USDT-1m.{ext}"
            write_table(p, df)
            read_store_file(p)  # warm the numba cache / OS page cache
            a, b = interleaved(lambda: plain(p), lambda: read_store_file(p))
            print(f"load {n:,} rows {ext:>7}: pandas {a * 1e3:7.1f} ms, read_store_file (with validation) "
                  f"{b * 1e3:7.1f} ms → ratio {b / a:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--candles", type=int, default=200_000)
    a = ap.parse_args()
    bench_load(a.rows)
    bench_fetch(a.candles)
