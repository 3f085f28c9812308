"""Where candles live in a local store, and reading them back.

Layout: ``<data-dir>/<exchange>/<BASE>_<QUOTE>-<timeframe>.<ext>``, e.g.
``data/binance/BTC_USDT-1h.csv``; a perpetual ``BTC/USDT:USDT`` is stored as ``BTC_USDT_USDT``.
``ext`` is one of ``.parquet``, ``.csv``, ``.csv.gz`` and is looked for in that order. Every file
holds the columns ``timestamp,open,high,low,close,volume`` with ``timestamp`` the bar's open time in
integer milliseconds UTC, and is validated on every read (:mod:`rmsbt.data.validate`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms
from .validate import validate_candles

EXTENSIONS = (".parquet", ".csv", ".csv.gz")

_SYMBOL_RE = re.compile(r"^[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*/[A-Za-z0-9]+(?::[A-Za-z0-9]+)?$")
_EXCHANGE_RE = re.compile(r"^[a-z0-9_]+$")


def symbol_to_stem(symbol: str) -> str:
    """``"BTC/USDT"`` → ``"BTC_USDT"``; ``"BTC/USDT:USDT"`` → ``"BTC_USDT_USDT"``.

    Refuses anything that is not ``BASE/QUOTE[:SETTLE]`` made of letters and digits, so that no
    symbol can name a path outside the store (``../``, ``/``, ``\\``, spaces...).
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise DataError(
            f"symbol {symbol!r} is not of the form BASE/QUOTE or BASE/QUOTE:SETTLE (letters and digits only)"
        )
    return symbol.replace("/", "_").replace(":", "_")


def check_exchange_name(exchange: str) -> str:
    if not isinstance(exchange, str) or not _EXCHANGE_RE.match(exchange):
        raise DataError(f"exchange {exchange!r} must be a ccxt exchange id (lower-case letters, digits, _)")
    return exchange


def candle_stem(exchange: str, symbol: str, timeframe: str) -> str:
    """The store path without extension, relative to the data dir: ``binance/BTC_USDT-1h``."""
    timeframe_to_ms(timeframe)  # validates
    return f"{check_exchange_name(exchange)}/{symbol_to_stem(symbol)}-{timeframe}"


def find_candle_file(data_dir: str | Path, exchange: str, symbol: str, timeframe: str) -> Path:
    """Return the stored file for (exchange, symbol, timeframe), or raise a DataError saying how to get it."""
    stem = candle_stem(exchange, symbol, timeframe)
    base = Path(data_dir)
    for ext in EXTENSIONS:
        p = base / f"{stem}{ext}"
        if p.is_file():
            return p
    raise DataError(
        f"no candles for {symbol} {timeframe} on {exchange}: expected {base / stem}.parquet (or .csv / .csv.gz); "
        f"download them with `rmsbt fetch --exchange {exchange} --symbols {symbol} --timeframe {timeframe} "
        f"--since YYYY-MM-DD --data-dir {base}` or point --data-dir at a store that has them"
    )


def read_store_file(path: str | Path) -> pd.DataFrame:
    """Read one normalized store file (``.parquet``, ``.csv`` or ``.csv.gz``) and validate it."""
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path)
        elif name.endswith(".csv") or name.endswith(".csv.gz"):
            df = pd.read_csv(path)
        else:
            raise DataError(f"{path}: unknown candle file type; expected one of {', '.join(EXTENSIONS)}")
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # malformed CSV/Parquet: one line, named file
        raise DataError(f"{path}: cannot be read as a candle table ({type(exc).__name__}: {exc})") from None
    return validate_candles(df, str(path))


def load_symbol(data_dir: str | Path, exchange: str, symbol: str, timeframe: str) -> pd.DataFrame:
    """Find and read the stored candles of one symbol."""
    return read_store_file(find_candle_file(data_dir, exchange, symbol, timeframe))
