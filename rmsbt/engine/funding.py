"""Perpetual-futures funding: when it is charged, at what rate, on what notional.

Rule. At each funding time ``T`` a position of ``qty`` pays ``qty · mark · rate`` (a long pays a
positive rate, a short receives it; a negative rate reverses both). ``T`` is booked on the first bar
whose close time ``open + bar length`` is ``>= T`` (for 1h bars, the 08:00 funding lands on the 07:00
bar), after that bar's fills, on the position held at its close, with ``mark`` = that bar's close (the
symbol's last close if it has no bar there). Several funding times inside one bar (daily bars) are
summed into one rate. Funding applies in margin mode only.

Sources (``[broker] funding``):

- ``"constant"``: ``funding_rate`` at every multiple of ``funding_interval_hours`` since 1970-01-01
  00:00 UTC (00:00, 08:00, 16:00 for 8 h).
- ``"history"``: a stored file beside the candles, ``<data-dir>/<exchange>/<STEM>-funding.<ext>``
  (``<STEM>`` as for candles, e.g. ``BTC_USDT_USDT``; ``ext`` = ``parquet``, ``csv`` or ``csv.gz``,
  looked for in that order) with the columns ``timestamp`` (funding time, integer ms UTC, strictly
  increasing) and ``funding_rate`` (fraction per funding time, e.g. 0.0001 = 0.01 %). Funding times
  outside the backtest's bars are ignored; bars before the file's first row get no funding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .broker import BrokerConfig

FUNDING_EXTENSIONS = (".parquet", ".csv", ".csv.gz")


def funding_rates_on_bars(times_ms: np.ndarray, rates: np.ndarray, bar_open_ms: np.ndarray,
                          tf_ms: int) -> np.ndarray:
    """Sum funding ``rates`` at ``times_ms`` onto bars: time T goes to the first bar with close >= T.

    Returns one rate per bar, NaN where no funding time falls.
    """
    out = np.full(bar_open_ms.shape[0], np.nan)
    if times_ms.size == 0 or bar_open_ms.size == 0:
        return out
    closes = bar_open_ms + tf_ms
    j = np.searchsorted(closes, times_ms, side="left")
    ok = (j < closes.shape[0]) & (times_ms > bar_open_ms[0])
    j, r = j[ok], rates[ok]
    if j.size:
        sums = np.bincount(j, weights=r, minlength=closes.shape[0])
        hit = np.bincount(j, minlength=closes.shape[0]) > 0
        out[hit] = sums[hit]
    return out


def constant_funding_times(first_open_ms: int, last_close_ms: int, interval_hours: float) -> np.ndarray:
    step = int(round(interval_hours * 3_600_000))
    first = (first_open_ms // step + 1) * step
    return np.arange(first, last_close_ms + 1, step, dtype=np.int64)


def find_funding_file(data_dir: str | Path, exchange: str, symbol: str) -> Path:
    from ..data.store import check_exchange_name, symbol_to_stem

    stem = f"{check_exchange_name(exchange)}/{symbol_to_stem(symbol)}-funding"
    base = Path(data_dir)
    for ext in FUNDING_EXTENSIONS:
        p = base / f"{stem}{ext}"
        if p.is_file():
            return p
    raise DataError(f"no funding history for {symbol} on {exchange}: expected {base / stem}.parquet "
                    f"(or .csv / .csv.gz) with columns timestamp,funding_rate; or set [broker] funding = \"constant\"")


def read_funding_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a funding-rate file → (times ms int64, rates float64)."""
    path = Path(path)
    try:
        df = pd.read_parquet(path) if path.name.lower().endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as a funding table ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("timestamp", "funding_rate") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column {missing[0]} (need timestamp,funding_rate)")
    ts = pd.to_numeric(df["timestamp"], errors="coerce").to_numpy(np.float64)
    rate = pd.to_numeric(df["funding_rate"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(ts) | ~np.isfinite(rate)
    if bad.any():
        raise DataError(f"{path}: row {int(np.argmax(bad)) + 2}: timestamp and funding_rate must be finite numbers")
    if ts.size and (np.any(ts != np.floor(ts)) or ts.min() < 1e11):
        raise DataError(f"{path}: timestamp must be integer milliseconds since the epoch")
    if ts.size > 1 and np.any(np.diff(ts) <= 0):
        k = int(np.argmax(np.diff(ts) <= 0))
        raise DataError(f"{path}: row {k + 3}: timestamps must be strictly increasing (duplicate or unsorted)")
    return ts.astype(np.int64), rate


def funding_matrix(cfg: BrokerConfig, symbols, bar_open_ms: np.ndarray, tf_ms: int,
                   data_dir: str | Path | None = None, exchange: str | None = None) -> np.ndarray | None:
    """Funding rate per (symbol, bar), NaN where none; ``None`` when funding is off (or spot mode)."""
    if cfg.mode != "margin" or cfg.funding == "none" or bar_open_ms.size == 0:
        return None
    out = np.full((len(symbols), bar_open_ms.shape[0]), np.nan)
    if cfg.funding == "constant":
        times = constant_funding_times(int(bar_open_ms[0]), int(bar_open_ms[-1]) + tf_ms, cfg.funding_interval_hours)
        row = funding_rates_on_bars(times, np.full(times.shape[0], cfg.funding_rate), bar_open_ms, tf_ms)
        out[:] = row
        return out
    if data_dir is None or exchange is None:
        raise DataError("funding = \"history\" needs the data directory and exchange to find the funding files")
    for i, s in enumerate(symbols):
        times, rates = read_funding_file(find_funding_file(data_dir, exchange, s))
        out[i] = funding_rates_on_bars(times, rates, bar_open_ms, tf_ms)
    return out
