"""Read candle files in the layouts people have on disk: ``read_candles(path)``.

Detected layouts (in this order; anything else is refused with the reason):

1. **Parquet** (``.parquet`` or the ``PAR1`` magic) with the normalized columns; ``timestamp`` as
   ``datetime64`` (naive = UTC) or integers in one unit by the unit rule.
2. **ccxt / freqtrade JSON**: ``[[ts, open, high, low, close, volume], ...]`` (``.json``, ``.json.gz``).
3. **CSV** (``.csv``, ``.csv.gz``, ``.zip``, ``.txt``), by its first line(s):

   - *CryptoDataDownload*: an optional first line that is not a header (a URL, or
     ``Timestamps are UTC timezone,https://www.CryptoDataDownload.com``), then a header with
     ``unix`` or ``Unix Timestamp``, ``date``, ``symbol``, OHLC and ``Volume <BASE>``,
     ``Volume <QUOTE>``. Volume = the ``Volume <BASE>`` column (BASE read from the ``symbol``
     column, e.g. ``BTC/USDT`` or ``BTCUSDT``; if that fails, the first volume column, which CDD
     always writes first). These files are known to mix seconds (older rows, written as floats) and
     milliseconds (newer rows) in one column, so **each row** is converted by the unit rule of
     :mod:`rmsbt.data.units`.
   - *Binance public data* (data.binance.vision klines): 12 columns ``open_time, open, high, low,
     close, volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume,
     ignore``, without header (or with the header ``Opentime,Open,...,Closetime,...``); open time in
     ms (up to 2024) or µs (from 2025), decided for the whole file by the unit rule.
   - *headerless 6 columns*: ``ts, open, high, low, close, volume``.
   - *generic* with a header: a time column named ``timestamp``/``time``/``ts``/``open_time``/
     ``unix``/``date``/``datetime`` (case and ``_``/space insensitive) and ``open, high, low,
     close, volume``. A numeric time column is converted with ONE unit for the whole file by the
     unit rule (a column mixing units is refused); a text time column must be ISO 8601
     (``2024-01-01``, ``2024-01-01 00:00``, ``2024-01-01T00:00:00Z``, ``...+02:00``) or RFC 2822
     (``Mon, 01 Jan 2024 00:00:00 GMT``); without a zone it is read as UTC; with one it is
     converted to UTC.

After reading, every layout goes through the same rules:

- **Order**: rows are sorted by timestamp (file order carries no meaning in these layouts;
  CryptoDataDownload writes newest first). A note records it.
- **Duplicates**: rows with the same timestamp and identical values are kept once (a note counts
  them). Same timestamp with *different* values is a conflict: refused by default
  (``on_conflict="error"``, the message names the first conflicting timestamp, both rows and the
  count), or resolved by keeping the row that comes ``"first"`` or ``"last"`` in file order (for a
  newest-first CryptoDataDownload file ``"first"`` keeps the newer download section).
- Then :func:`rmsbt.data.validate.validate_candles` (prices > 0, OHLC consistent, ...).

- Times must lie in the millisecond class of the unit rule after conversion
  (:func:`rmsbt.data.store.store_timestamps`).

:func:`read_candles` does not know the timeframe or the clock; :func:`import_file` does, and applies
the timeframe rule and drops a still-open last candle (see there). Not detectable at all, hence left
to the user: filler rows for outage hours, bogus values that are still OHLC-consistent.
"""

from __future__ import annotations

import csv
import email.utils
import gzip
import io
import json
import re
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms
from .store import os_error, read_parquet_file, read_store_file, require_file, store_timestamps
from .units import column_to_ms, rows_to_ms
from .validate import COLUMNS, validate_candles

BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                   "taker_buy_volume", "taker_buy_quote_volume", "ignore")
_TIME_NAMES = ("timestamp", "time", "ts", "opentime", "unix", "unixtimestamp", "date", "datetime", "opentimestamp")


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "", str(name).strip().lower())


def _open_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise os_error(path, exc) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:  # truncated or corrupt stream
            raise DataError(f"{path}: truncated or corrupt gzip file ({type(exc).__name__}: {exc})") from None
    elif raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                names = [n for n in z.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise DataError(f"{path}: a zip must hold exactly one file, found {len(names)}")
                raw = z.read(names[0])
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
            raise DataError(f"{path}: truncated or corrupt zip file ({type(exc).__name__}: {exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (not UTF-8) and not Parquet") from None


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_candles(path: str | Path, on_conflict: str = "error") -> pd.DataFrame:
    """Read any supported candle file into a validated frame (see the module docstring).

    The frame's ``attrs["layout"]`` names the detected layout and ``attrs["notes"]`` lists what was
    done to it (sorted, identical duplicates dropped, conflicts resolved).
    """
    if on_conflict not in ("error", "first", "last"):
        raise DataError(f"on_conflict must be 'error', 'first' or 'last', got {on_conflict!r}")
    layout, df = load_raw(path)
    return _finish(df, str(path), layout, on_conflict)


def load_raw(path: str | Path) -> tuple[str, pd.DataFrame]:
    """Detect the layout and return ``(layout, frame)`` with ``timestamp`` in int ms and float OHLCV,
    in FILE order, nothing dropped or sorted (what ``rmsbt data check`` inspects)."""
    path = require_file(path)
    src = str(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise os_error(path, exc) from None
    if path.name.lower().endswith(".parquet") or magic == b"PAR1":
        df = read_parquet_file(path)
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise DataError(f"{src}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
        layout, df, per_row = "parquet", df[list(COLUMNS)].copy(), False
        df["timestamp"] = _parquet_times(df["timestamp"], src)
    else:
        text = _open_text(path)
        head = text.lstrip()[:1]
        if head == "[":
            layout, df, per_row = "ccxt/freqtrade JSON", _json_frame(text, src), False
        elif head == "{":
            raise DataError(f"{src}: JSON object; expected a ccxt/freqtrade candle list [[ts, open, high, low, close, volume], ...]")
        elif not text.strip():
            raise DataError(f"{src}: empty file")
        else:
            layout, df, per_row = _csv_frame(text, src)
    if len(df) == 0:
        raise DataError(f"{src}: no candles in the file")
    for c in COLUMNS[1:]:
        col = pd.to_numeric(df[c], errors="coerce")
        bad = np.flatnonzero(col.isna().to_numpy())
        if bad.size:
            raise DataError(f"{src}: data row {bad[0] + 1}: {c} {df[c].iloc[bad[0]]!r} is not a number")
        df[c] = col.astype(np.float64)
    ts = df["timestamp"].to_numpy(np.int64) if layout == "parquet" else \
        _parse_times(df["timestamp"].rename(df.attrs.get("time_column", "timestamp")), src, per_row)
    store_timestamps(ts, src, fix="not a candle time (the unit rule of rmsbt.data.units gave this)")
    return layout, pd.DataFrame({"timestamp": ts, **{c: df[c].to_numpy() for c in COLUMNS[1:]}})


def _parquet_times(col: pd.Series, src: str) -> np.ndarray:
    """A Parquet time column → int64 ms: ``datetime64`` (naive = UTC, zoned converted to UTC) or
    integers with ONE unit for the column by the unit rule. Anything else is refused."""
    if col.dtype.kind == "M" or isinstance(col.dtype, pd.DatetimeTZDtype):
        if col.isna().any():
            raise DataError(f"{src}: data row {int(np.flatnonzero(col.isna().to_numpy())[0]) + 1}: timestamp is missing")
        t = pd.to_datetime(col, utc=True)
        return (t.astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).to_numpy(np.int64)
    if col.dtype.kind in "iu":
        return column_to_ms(col.to_numpy(), src)
    return store_timestamps(col, src)  # floats / text: the store rule's one-line refusal


def _json_frame(text: str, src: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{src}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, list):
        raise DataError(f"{src}: expected a JSON list of [ts, open, high, low, close, volume] rows")
    if not data:
        raise DataError(f"{src}: no candles in the file (empty list)")
    bad = next((i for i, r in enumerate(data) if not isinstance(r, list) or len(r) < 6), None)
    if bad is not None:
        raise DataError(f"{src}: row {bad + 1} is not a [ts, open, high, low, close, volume] list: {data[bad]!r:.80}")
    a = np.asarray([r[:6] for r in data], dtype=object)
    return pd.DataFrame({c: a[:, i] for i, c in enumerate(COLUMNS)})


def _csv_frame(text: str, src: str) -> tuple[str, pd.DataFrame, bool]:
    lines = text.splitlines()
    skip = 0
    first = lines[0].split(",")
    # CryptoDataDownload's URL line: one or two fields, none a column name we know, containing a URL
    if ("http" in lines[0].lower() or "cryptodatadownload" in lines[0].lower()) and len(lines) > 1:
        skip, first = 1, lines[1].split(",")
    numeric_header = all(_is_number(x) for x in first if x.strip() != "")
    body = "\n".join(lines[skip:])
    try:
        if numeric_header:
            df = pd.read_csv(io.StringIO(body), header=None, dtype=str, keep_default_na=False)
        else:
            df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{src}: cannot be read as CSV ({type(exc).__name__}: {exc})") from None
    if numeric_header:
        if df.shape[1] == 12:
            df.columns = list(BINANCE_COLUMNS)
            return "Binance public data (no header)", _pick(df, "open_time", "volume", src), False
        if df.shape[1] == 6:
            df.columns = list(COLUMNS)
            return "headerless ts,open,high,low,close,volume", df, False
        raise DataError(f"{src}: {df.shape[1]} columns without a header; known headerless layouts have 6 "
                        "(ts,open,high,low,close,volume) or 12 (Binance public data) columns")
    header = [_norm(x) for x in next(csv.reader([lines[skip]]), [])]
    known = set(_TIME_NAMES) | {"open", "high", "low", "close", "volume", "symbol"}
    twice = sorted({h for h in header if h in known and header.count(h) > 1})
    if twice:
        raise DataError(f"{src}: column {twice[0]!r} appears more than once in the header; keep one")
    cols = {_norm(c): c for c in df.columns}
    if ("unix" in cols or "unixtimestamp" in cols) and "symbol" in cols:
        vol = _cdd_volume(df, src)
        tcol = cols.get("unix", cols.get("unixtimestamp"))
        return "CryptoDataDownload", _pick(df, tcol, vol, src), True
    if "opentime" in cols and "closetime" in cols:
        return "Binance public data (with header)", _pick(df, cols["opentime"], cols.get("volume"), src), False
    tcol = next((cols[n] for n in _TIME_NAMES if n in cols), None)
    if tcol is None:
        raise DataError(f"{src}: no time column; expected one named timestamp, time, date, datetime, unix or "
                        f"open_time (found: {', '.join(map(str, df.columns[:12]))})")
    return "generic CSV", _pick(df, tcol, cols.get("volume"), src), False


def _cdd_volume(df: pd.DataFrame, src: str) -> str:
    vols = [c for c in df.columns if _norm(c).startswith("volume") and _norm(c) != "volume"]
    if not vols:
        raise DataError(f"{src}: CryptoDataDownload layout without 'Volume <BASE>' column")
    sym = str(df[[c for c in df.columns if _norm(c) == "symbol"][0]].iloc[0]).replace("/", "").replace("-", "").upper()
    for c in vols:
        asset = str(c).strip()[len("volume"):].strip().upper()
        if asset and sym.startswith(asset):
            return c
    return vols[0]


def _pick(df: pd.DataFrame, tcol: str, vcol: str | None, src: str) -> pd.DataFrame:
    cols = {_norm(c): c for c in df.columns}
    missing = [c for c in ("open", "high", "low", "close") if c not in cols]
    if vcol is None or missing:
        need = missing + ([] if vcol is not None else ["volume"])
        raise DataError(f"{src}: missing column(s) {', '.join(need)} (found: {', '.join(map(str, df.columns[:12]))})")
    out = pd.DataFrame({"timestamp": df[tcol]})
    for c in ("open", "high", "low", "close"):
        out[c] = df[cols[c]]
    out["volume"] = df[vcol]
    out.attrs["time_column"] = str(tcol)  # for messages: the file's own name of the time column
    return out


def _parse_times(col: pd.Series, src: str, per_row: bool) -> np.ndarray:
    s = col.astype(str).str.strip()
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all():
        v = num.to_numpy()
        if np.all(v == np.floor(v)) and np.abs(v).max() < 2**53:
            v = v.astype(np.int64)
        return rows_to_ms(v, src) if per_row else column_to_ms(v, src)
    if num.notna().any():
        i = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise DataError(f"{src}: data row {i + 1}: time {s.iloc[i]!r} is not a number like the other rows")
    try:
        t = pd.to_datetime(s, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        try:
            t = pd.to_datetime(s.map(email.utils.parsedate_to_datetime), utc=True)
        except (ValueError, TypeError):
            bad = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce").isna().to_numpy()
            i = int(np.flatnonzero(bad)[0]) if bad.any() else 0
            raise DataError(f"{src}: data row {i + 1}: time {s.iloc[i]!r} in column {col.name!r} is neither an "
                            "epoch number nor an ISO 8601 / RFC 2822 date") from None
    return (t.astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).to_numpy(np.int64)


def _finish(df: pd.DataFrame, src: str, layout: str, on_conflict: str) -> pd.DataFrame:
    ts = df["timestamp"].to_numpy()
    zeros = (df[["high", "low", "close", "volume"]].to_numpy() == 0).all()
    if zeros and (df["open"] != 0).any():
        raise DataError(f"{src}: high, low, close and volume are all 0: this looks like funding rates in candle "
                        "layout [ts, rate, 0, 0, 0, 0], not candles")
    notes = []
    if len(ts) > 1 and not (np.diff(ts) >= 0).all():
        descending = (np.diff(ts) <= 0).all()
        order = np.argsort(ts, kind="stable")
        df = df.iloc[order].reset_index(drop=True)
        notes.append("rows were newest-first; sorted ascending" if descending else "rows were out of order; sorted")
        df, more = _dedup(df, src, on_conflict, order_in_file=order)
    else:
        df, more = _dedup(df, src, on_conflict, order_in_file=None)
    notes += more
    out = validate_candles(df, src)
    out.attrs.update(layout=layout, notes=notes)
    return out


def _dedup(df: pd.DataFrame, src: str, on_conflict: str, order_in_file) -> tuple[pd.DataFrame, list[str]]:
    ts = df["timestamp"].to_numpy()
    if len(ts) < 2 or not (dup := ts[1:] == ts[:-1]).any():
        return df, []
    notes = []
    same_as_prev = np.concatenate([[False], dup])
    vals = df[list(COLUMNS[1:])].to_numpy()
    identical = same_as_prev.copy()
    identical[1:] &= (vals[1:] == vals[:-1]).all(axis=1)
    n_ident = int(identical.sum())
    df = df.loc[~identical].reset_index(drop=True)
    if n_ident:
        notes.append(f"{n_ident} identical duplicate row(s) dropped")
    file_pos = (np.arange(len(ts)) if order_in_file is None else np.asarray(order_in_file))[~identical]
    ts = df["timestamp"].to_numpy()
    conflict = np.concatenate([[False], ts[1:] == ts[:-1]])
    if not conflict.any():
        return df, notes
    n_ts = int(np.unique(ts[conflict]).size)
    if on_conflict == "error":
        i = int(np.flatnonzero(conflict)[0])
        a, b = df.iloc[i - 1], df.iloc[i]
        when = pd.Timestamp(int(a.timestamp), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")
        show = lambda r: "/".join(repr(float(r[c])) for c in COLUMNS[1:])  # noqa: E731
        raise DataError(
            f"{src}: {n_ts} timestamp(s) appear twice with different values, first {when} "
            f"(o/h/l/c/v {show(a)} vs {show(b)}); choose which to keep with --on-conflict first|last "
            "(in file order) or fix the file"
        )
    # keep the row that comes first / last in the file among rows with the same timestamp
    key = pd.DataFrame({"ts": ts, "pos": file_pos}).reset_index()
    key = key.sort_values(["ts", "pos"], kind="stable")
    keep = key.drop_duplicates("ts", keep="first" if on_conflict == "first" else "last")["index"].to_numpy()
    notes.append(f"{n_ts} conflicting timestamp(s): kept the {on_conflict} row in file order")
    return df.iloc[np.sort(keep)].reset_index(drop=True), notes


def import_file(path: str | Path, data_dir: str | Path, exchange: str, symbol: str, timeframe: str, *,
                fmt: str = "parquet", on_conflict: str = "error",
                now_ms: int | None = None) -> tuple[Path, pd.DataFrame, int]:
    """``rmsbt data import``: read ``path`` (any layout), check its bars are ``timeframe`` bars, drop the
    candles not yet closed, and merge it into the store file atomically (imported rows replace stored
    rows with the same timestamp).

    Returns ``(store path, imported frame, rows replaced)``. Rules, in order:

    - names: the symbol must not be all lower-case (``btc/usdt``: ccxt writes ``BTC/USDT``) and the
      timeframe must be spelled canonically (``1h``, not ``60m``), so that configs find the file;
    - spacing (:func:`rmsbt.data.gaps.spacing_problem`): on the ``timeframe`` grid and the most
      common step is ``timeframe`` (``1M``: month starts); else refused (a 1d file imported as 1h, or
      minute bars as ``1M``, would corrupt the store);
    - a candle opened after ``now`` is refused (a clock or unit error, never real data);
    - a candle still open at ``now`` (``t <= now < t + timeframe``, e.g. CryptoDataDownload's newest
      row) is dropped, with a note: the store holds closed candles only, the same rule as fetch.
    """
    from .fetch import fmt_ms, next_open
    from .gaps import check_spacing
    from .store import merge_candles, store_path, write_candles

    timeframe_to_ms(timeframe)
    if symbol == symbol.lower() != symbol.upper():
        raise DataError(f"symbol {symbol!r}: ccxt symbols are upper-case, e.g. {symbol.upper()!r}; a store file "
                        f"named after {symbol!r} would never be found by a config asking for {symbol.upper()!r}")
    store = store_path(data_dir, exchange, symbol, timeframe, fmt)
    df = read_candles(path, on_conflict=on_conflict)
    ts = df["timestamp"].to_numpy()
    check_spacing(ts, timeframe, str(path))
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    future = np.flatnonzero(ts > now)
    if future.size:
        raise DataError(f"{path}: candle {fmt_ms(int(ts[future[0]]))} (timestamp {int(ts[future[0]])}) opens after "
                        f"now ({fmt_ms(now)} UTC); {future.size} such row(s): a wrong clock or time unit, not candles")
    if ts.size and next_open(int(ts[-1]), timeframe) > now:  # only the last can still be open (spacing rule)
        notes = df.attrs.get("notes", []) + [f"last candle {fmt_ms(int(ts[-1]))} not yet closed: dropped"]
        layout = df.attrs.get("layout")
        df = df.iloc[:-1].reset_index(drop=True)
        df.attrs.update(layout=layout, notes=notes)
        if len(df) == 0:
            raise DataError(f"{path}: its only candle had not closed yet at {fmt_ms(now)} UTC; nothing to import")
    existing = read_store_file(store) if store.is_file() else None
    merged, replaced = merge_candles(existing, df)
    write_candles(store, merged)
    return store, df, replaced
