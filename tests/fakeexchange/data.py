"""Candles the fake exchange serves: a slice of the real ``../shared/data`` files, or a small
generated series (random walk, seeded) when that folder is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TF_MS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}


def generated(start_ms: int, n: int, tf_ms: int, seed: int = 0, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    vol = rng.uniform(1, 1000, n)
    df = pd.DataFrame({"timestamp": start_ms + np.arange(n, dtype=np.int64) * tf_ms, "open": open_, "high": high,
                       "low": low, "close": close, "volume": vol})
    return df.drop(index=list(drop)).reset_index(drop=True)


def source_candles(stem: str, tf: str, start_ms: int, end_ms: int, seed: int = 0) -> pd.DataFrame:
    """Real candles ``binance/<stem>-<tf>.csv[.gz]`` with ``start <= ts < end`` (generated if absent)."""
    for ext in (".csv", ".csv.gz"):
        p = SHARED_DATA / "binance" / f"{stem}-{tf}{ext}"
        if p.is_file():
            df = pd.read_csv(p)
            df = df[(df.timestamp >= start_ms) & (df.timestamp < end_ms)].reset_index(drop=True)
            return df.astype({"timestamp": "int64", **{c: "float64" for c in df.columns[1:]}})
    n = (end_ms - start_ms) // TF_MS[tf]
    return generated(start_ms, int(n), TF_MS[tf], seed=seed, drop=(n // 2,))


def as_array(df: pd.DataFrame) -> np.ndarray:
    return df[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(np.float64)
