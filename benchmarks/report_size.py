"""Report size and build time for a year of 1-minute bars (525,600 bars, two symbols).

Synthetic seeded candles (a BTC-like random walk and an ETH-like leg with a mean-reverting spread),
the real pairs strategy and engine, then ``write_outputs`` (CSV files + report). Prints file sizes and
the report's build time as a ratio to writing the CSV files in the same run (no absolute timing claims).

    python benchmarks/report_size.py [--bars 525600] [--out /tmp/rmsbt-1m-year]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rmsbt.config import Config, DataConfig, StrategyConfig  # noqa: E402
from rmsbt.data.align import align  # noqa: E402
from rmsbt.engine.broker import BrokerConfig  # noqa: E402
from rmsbt.engine.loop import run_backtest  # noqa: E402
from rmsbt.metrics import summarize  # noqa: E402
from rmsbt.outputs import write_outputs  # noqa: E402
from rmsbt.report import write_report  # noqa: E402
from rmsbt.runner import Run  # noqa: E402
from strategies.pairs_rmsprop import PairsRMSprop  # noqa: E402

import pandas as pd  # noqa: E402

T0, M = 1_672_531_200_000, 60_000  # 2023-01-01, one minute


def candles(n: int, seed: int = 11) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    lx = np.log(20_000) + np.cumsum(rng.normal(0, 0.0008, n))
    e = rng.normal(0, 0.0006, n)
    s = np.zeros(n)
    for k in range(1, n):  # AR(1) spread
        s[k] = 0.995 * s[k - 1] + e[k]
    out = {}
    for sym, lc in (("BTC/USDT", lx), ("ETH/USDT", lx - np.log(13.0) + s)):
        c = np.exp(lc)
        o = np.concatenate([[c[0]], c[:-1]])
        out[sym] = pd.DataFrame({"timestamp": T0 + np.arange(n, dtype=np.int64) * M, "open": o,
                                 "high": np.maximum(o, c) * 1.0003, "low": np.minimum(o, c) * 0.9997, "close": c,
                                 "volume": 1.0})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=525_600)
    ap.add_argument("--out", default="/tmp/rmsbt-1m-year")
    a = ap.parse_args()
    params = {"warmup": 1000, "zscore_span": 500, "entry_z": 2.5, "exit_z": 0.5, "lr": 0.0005}
    raw = {"name": "bench_1m_year", "strategy": {"class": "strategies/pairs_rmsprop.py:PairsRMSprop", "params": params}}
    broker = BrokerConfig(10_000.0, 10.0, 2.0)
    cfg = Config("bench_1m_year", Path("bench.toml"), DataConfig("binance", ("BTC/USDT", "ETH/USDT"), "1m"), broker,
                 StrategyConfig(raw["strategy"]["class"], params), raw)
    data = align(candles(a.bars), "1m")
    strat = PairsRMSprop(**params)
    res = run_backtest(strat, data, broker)
    run = Run(cfg, res, summarize(res, market=data), strat, data)
    out = Path(a.out)
    t0 = time.perf_counter()
    write_outputs(run, out, report=False)
    t_csv = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_report(out)
    t_rep = time.perf_counter() - t0
    print(f"bars {a.bars:,}   trades {run.summary['trades']:,}   fills {run.summary['fills']:,}")
    for f in sorted(out.iterdir()):
        print(f"  {f.name:22s} {f.stat().st_size / 1e6:8.2f} MB")
    print(f"report build time / CSV write time = {t_rep / t_csv:.2f}")


if __name__ == "__main__":
    main()
