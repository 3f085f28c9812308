"""Where candles live in a local store, and reading them back.

Layout: ``<data-dir>/<exchange>/<BASE>_<QUOTE>-<timeframe>.<ext>``, e.g.
``data/binance/BTC_USDT-1h.csv``; a perpetual ``BTC/USDT:USDT`` is stored as ``BTC_USDT_USDT``.
``ext`` is one of ``.parquet``, ``.csv``, ``.csv.gz`` and is looked for in that order. Every file
holds the columns ``timestamp,open,high,low,close,volume`` with ``timestamp`` the bar's open time in
integer milliseconds UTC, and is validated on every read (:mod:`rmsbt.data.validate`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..timeframes import timeframe_to_ms
from .validate import COLUMNS, validate_candles

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


# --------------------------------------------------------------------------------------------------
# Write side
# --------------------------------------------------------------------------------------------------

FORMATS = {"parquet": ".parquet", "csv": ".csv", "csv.gz": ".csv.gz"}


def store_path(data_dir: str | Path, exchange: str, symbol: str, timeframe: str, fmt: str = "parquet") -> Path:
    """Where (exchange, symbol, timeframe) is stored: the existing file if there is one (any format),
    else ``<data-dir>/<exchange>/<stem>-<tf>.<fmt>``."""
    try:
        return find_candle_file(data_dir, exchange, symbol, timeframe)
    except DataError:
        pass
    if fmt not in FORMATS:
        raise DataError(f"unknown store format {fmt!r}; use one of {', '.join(FORMATS)}")
    return Path(data_dir) / f"{candle_stem(exchange, symbol, timeframe)}{FORMATS[fmt]}"


def funding_path(data_dir: str | Path, exchange: str, symbol: str) -> Path:
    """Funding-rate history of a perpetual, beside its candles: ``binance/BTC_USDT_USDT-funding.parquet``."""
    return Path(data_dir) / check_exchange_name(exchange) / f"{symbol_to_stem(symbol)}-funding.parquet"


def load_funding(data_dir: str | Path, exchange: str, symbol: str) -> pd.DataFrame:
    """Funding-rate history of a perpetual from the store: columns ``timestamp`` (int64 ms, the
    exchange's funding time, ascending, unique) and ``funding_rate`` (float64, a fraction per funding
    interval: 0.0001 = 0.01 %). Raises DataError naming the file when missing or malformed."""
    path = funding_path(data_dir, exchange, symbol)
    if not path.is_file():
        raise DataError(f"no funding rates for {symbol} on {exchange}: expected {path}; download them with "
                        f"`rmsbt fetch --exchange {exchange} --symbols {symbol} --timeframe 8h --funding --since YYYY-MM-DD`")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None
    if list(df.columns) != ["timestamp", "funding_rate"]:
        raise DataError(f"{path}: expected the columns timestamp, funding_rate; found {', '.join(map(str, df.columns))}")
    ts = df["timestamp"].to_numpy()
    rate = df["funding_rate"].to_numpy(dtype="float64")
    if ts.dtype.kind != "i" or (len(ts) > 1 and not (ts[1:] > ts[:-1]).all()):
        raise DataError(f"{path}: funding timestamps must be integer ms, ascending and unique")
    if not pd.notna(rate).all() or not (abs(rate) < float("inf")).all():
        raise DataError(f"{path}: a funding rate is missing or not finite")
    return df


def atomic_write(path: str | Path, write) -> None:
    """Write a file so that a crash at any moment leaves either the old complete file or the new one.

    ``write(fileobj)`` writes the content to a temporary file in the same folder (same file system,
    so the rename is atomic); the file is flushed and fsynced, then ``os.replace``-d over ``path``,
    and the folder is fsynced so the rename itself is durable. On any error the temporary file is
    removed and the old file is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems cannot fsync a directory; the rename is still atomic
        pass


def write_table(path: str | Path, df: pd.DataFrame) -> None:
    """Atomically write a frame as Parquet, CSV or gzip CSV, chosen by the file name.

    CSV floats are written in Python's shortest round-trip form, so reading back gives the same bits.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        table = pa.Table.from_pandas(df, preserve_index=False)
        atomic_write(path, lambda f: pq.write_table(table, f))
    elif name.endswith(".csv.gz"):
        atomic_write(path, lambda f: df.to_csv(f, index=False, compression={"method": "gzip", "mtime": 0}))
    elif name.endswith(".csv"):
        atomic_write(path, lambda f: f.write(df.to_csv(index=False).encode()))
    else:
        raise DataError(f"{path}: unknown file type; expected one of {', '.join(EXTENSIONS)}")


def write_candles(path: str | Path, df: pd.DataFrame) -> pd.DataFrame:
    """Validate ``df`` (:func:`~rmsbt.data.validate.validate_candles`) and write it atomically."""
    df = validate_candles(df, str(path))
    write_table(path, df)
    return df


def merge_candles(old: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Union of two candle frames keyed on ``timestamp``, sorted ascending.

    Where both have a timestamp, the row of ``new`` wins (it is the exchange's latest answer).
    Returns ``(merged, replaced)`` with ``replaced`` = rows of ``old`` whose values ``new`` changed.
    """
    if old is None or len(old) == 0:
        out = new
        replaced = 0
    else:
        both = pd.concat([old, new], ignore_index=True)
        dup_old = both.duplicated("timestamp", keep="last").to_numpy()
        changed = both.loc[dup_old].merge(new, on="timestamp", suffixes=("", "_n"))
        replaced = int(sum((changed[c] != changed[c + "_n"]).to_numpy() for c in COLUMNS[1:]).astype(bool).sum()) \
            if len(changed) else 0
        out = both.loc[~dup_old]
    out = out.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return out[list(COLUMNS)], replaced
