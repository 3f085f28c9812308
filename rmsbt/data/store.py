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
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..timeframes import timeframe_to_ms
from .units import MS_MAX, MS_MIN, unit_of
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


_NEXT_UNIT = {"s": (60, "m"), "m": (60, "h"), "h": (24, "d")}


def canonical_timeframe(timeframe: str) -> str:
    """The spelling exchanges and configs use: the largest of s/m/h/d that divides evenly
    (``60m`` → ``1h``, ``1440m`` → ``1d``, ``120s`` → ``2m``). Days are never turned into weeks (a
    ``7d`` bar is epoch-aligned, a ``1w`` bar starts on Monday) and ``w``/``M``/``y`` stay as given."""
    timeframe_to_ms(timeframe)  # validates
    n, u = int(timeframe[:-1]), timeframe[-1]
    while u in _NEXT_UNIT and n % _NEXT_UNIT[u][0] == 0:
        n, u = n // _NEXT_UNIT[u][0], _NEXT_UNIT[u][1]
    return f"{n}{u}"


def candle_stem(exchange: str, symbol: str, timeframe: str) -> str:
    """The store path without extension, relative to the data dir: ``binance/BTC_USDT-1h``.

    Only the canonical timeframe spelling is accepted (:func:`canonical_timeframe`): a file
    ``-60m`` would never be found by a config asking for ``1h``."""
    canon = canonical_timeframe(timeframe)
    if canon != timeframe:
        raise DataError(f"timeframe {timeframe!r}: write it as {canon!r} (the spelling store files, exchanges and "
                        "configs use)")
    return f"{check_exchange_name(exchange)}/{symbol_to_stem(symbol)}-{timeframe}"


def find_candle_file(data_dir: str | Path, exchange: str, symbol: str, timeframe: str) -> Path:
    """Return the stored file for (exchange, symbol, timeframe), or raise a DataError saying how to get it."""
    stem = candle_stem(exchange, symbol, timeframe)
    base = Path(data_dir)
    for ext in EXTENSIONS:
        p = base / f"{stem}{ext}"
        if p.is_file():
            return p
    import difflib

    import ccxt  # only on this error path: is the exchange one ccxt knows?

    if exchange not in ccxt.exchanges:
        near = difflib.get_close_matches(exchange, ccxt.exchanges, n=3)
        raise DataError(f"no candles for {symbol} {timeframe} on {exchange}, and {exchange!r} is no ccxt exchange id"
                        + (f" (did you mean {', '.join(near)}?)" if near else ""))
    raise DataError(
        f"no candles for {symbol} {timeframe} on {exchange}: expected {base / stem}.parquet (or .csv / .csv.gz); "
        f"download them with `rmsbt fetch --exchange {exchange} --symbols {symbol} --timeframe {timeframe} "
        f"--since YYYY-MM-DD --data-dir {base}` or point --data-dir at a store that has them"
    )


def os_error(path: str | Path, exc: OSError, doing: str = "read") -> DataError:
    """An OS error on ``path`` as one line: ``data/x.csv: cannot read (Permission denied)``."""
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{path}: cannot {doing}: it is a directory, not a file")
    return DataError(f"{path}: cannot {doing} ({exc.strerror or type(exc).__name__})")


def require_file(path: str | Path) -> Path:
    """``path`` as a Path if it is a regular file; else a DataError saying what it is instead."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise os_error(path, exc) from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: is not a regular file (a FIFO, socket or device)")
    return path


def store_timestamps(values, source: str, fix: str | None = None) -> np.ndarray:
    """THE store's timestamp rule: integers in milliseconds since the epoch, i.e. an integer dtype and
    every value in the unit rule's millisecond class ``1e11 <= t < 1e14`` (1973-03-03 .. the year
    5138; :mod:`rmsbt.data.units`). Seconds, microseconds, nanoseconds, floats, dates and text are
    refused with one line naming ``source``, the 1-based data row and the rule. Returns int64 ms.

    Every path that reads the store applies it (:func:`read_store_file` → backtest, fetch merge,
    import merge; ``rmsbt data check`` and ``rmsbt data list`` via :func:`store_file_timestamps`), and
    every candle write (:func:`write_candles`). The file loaders apply it to the converted times of
    every layout (absurd times such as 1e23 are refused), ``fix`` replacing the hint at the end.
    """
    v = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    fix = fix or ("the store holds integer milliseconds only: move the file out of the store and "
                  "`rmsbt data import` it (import converts dates and epoch units)")
    if v.dtype.kind == "f":
        frac = np.flatnonzero(~np.isfinite(v) | (v != np.floor(v)))
        if frac.size:
            i = int(frac[0])
            raise DataError(f"{source}: row {i + 1} (timestamp {float(v[i])!r}): not a whole number of "
                            f"milliseconds; {fix}")
    if v.dtype.kind not in "iu":
        what = "dates" if v.dtype.kind == "M" else "text" if v.dtype.kind in "OUS" else "floats" \
            if v.dtype.kind == "f" else str(v.dtype)
        first = str(v[0])[:40] if v.size else ""
        raise DataError(f"{source}: row 1 (timestamp {first}): the column holds {what} ({v.dtype}), "
                        f"not integer milliseconds; {fix}")
    bad = np.flatnonzero((v < MS_MIN) | (v >= MS_MAX)) if v.size else np.zeros(0, np.int64)
    if bad.size:
        i = int(bad[0])
        x = int(v[i])
        reads = "" if abs(x) >= MS_MAX * 1e4 else f" (reads as {unit_of(x)})"
        raise DataError(f"{source}: row {i + 1} (timestamp {x}): not milliseconds since the epoch{reads}: "
                        f"store timestamps must lie in [{MS_MIN}, {MS_MAX}) ms (1973-03-03 .. year 5138); {fix}")
    return v.astype(np.int64, copy=False)


def read_parquet_file(path: str | Path) -> pd.DataFrame:
    """``pandas.read_parquet`` with its failures as one-line :class:`DataError` naming the file."""
    try:
        return pd.read_parquet(path)
    except OSError as exc:
        raise os_error(path, exc) from None
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None


def _read_table(path: Path, columns=None) -> pd.DataFrame:
    name = path.name.lower()
    if not any(name.endswith(e) for e in EXTENSIONS):
        raise DataError(f"{path}: unknown candle file type; expected one of {', '.join(EXTENSIONS)}")
    require_file(path)
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns)
    except OSError as exc:
        raise os_error(path, exc) from None
    except Exception as exc:  # malformed CSV/Parquet: one line, named file
        raise DataError(f"{path}: cannot be read as a candle table ({type(exc).__name__}: {exc})") from None


def read_store_file(path: str | Path) -> pd.DataFrame:
    """Read one normalized store file (``.parquet``, ``.csv`` or ``.csv.gz``) and validate it:
    :func:`store_timestamps` (integer ms only), then :func:`~rmsbt.data.validate.validate_candles`."""
    path = Path(path)
    df = _read_table(path)
    if "timestamp" in df.columns:
        store_timestamps(df["timestamp"], str(path))
    return validate_candles(df, str(path))


def store_file_timestamps(path: str | Path) -> np.ndarray:
    """Only the ``timestamp`` column of a store file, checked by :func:`store_timestamps`."""
    path = Path(path)
    return store_timestamps(_read_table(path, ["timestamp"])["timestamp"], str(path))


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
    stem = candle_stem(exchange, symbol, timeframe)
    for ext in EXTENSIONS:  # a directory or FIFO where a store file belongs: refuse before any download
        p = Path(data_dir) / f"{stem}{ext}"
        if os.path.lexists(p):
            require_file(p)
    if fmt not in FORMATS:
        raise DataError(f"unknown store format {fmt!r}; use one of {', '.join(FORMATS)}")
    return Path(data_dir) / f"{stem}{FORMATS[fmt]}"


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
    return read_funding_file(path)


def read_funding_file(path: str | Path) -> pd.DataFrame:
    """Read and check a funding file (the fetch merge reads the existing file through here too):
    columns ``timestamp, funding_rate``; timestamps by :func:`store_timestamps`, ascending, unique."""
    path = require_file(path)
    df = read_parquet_file(path)
    if list(df.columns) != ["timestamp", "funding_rate"]:
        raise DataError(f"{path}: expected the columns timestamp, funding_rate; found {', '.join(map(str, df.columns))}")
    ts = store_timestamps(df["timestamp"], str(path))
    rate = df["funding_rate"].to_numpy(dtype="float64")
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
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

    Permissions: a rewritten file keeps the old file's mode; a new file gets ``0o666 & ~umask``
    (what ``open()`` would give), not ``mkstemp``'s private 0600.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(path):
            require_file(path)
        mode = file_mode_for(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error(path, exc, "write") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise os_error(path, exc, "write") from None
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


def current_umask() -> int:
    """The process umask (read from /proc when possible, so it is never changed even briefly)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode_for(path: str | Path) -> int:
    """Permission bits for a (re)written ``path``: the existing file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


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
    """Check ``df`` by the store's rules (:func:`store_timestamps`,
    :func:`~rmsbt.data.validate.validate_candles`) and write it atomically. Every candle write of
    fetch and import goes through here."""
    store_timestamps(df["timestamp"], str(path))
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
