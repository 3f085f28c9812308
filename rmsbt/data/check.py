"""``rmsbt data check`` and ``rmsbt data list``: what a candle file holds and what is wrong with it.

:func:`check_file` reads a file in any layout :func:`rmsbt.data.formats.read_candles` knows, in
FILE order (nothing sorted or dropped), and counts:

=========================  =====  ==============================================================
finding                    hard   rule
=========================  =====  ==============================================================
unsorted rows              yes    a timestamp below the one before it
duplicate timestamps       yes    identical rows and conflicting rows, counted separately
OHLC violations            yes    ``high < max(open, close)`` or ``low > min(open, close)``
NaN values                 yes    a missing open/high/low/close/volume
prices not finite > 0      yes    any of open/high/low/close ``<= 0`` or infinite
volume not finite >= 0     yes    ``volume < 0`` or infinite
incomplete last candle     yes    the last bar had not closed when checked: ``t + tf > now``
timeframe rule broken      yes    not bars of the timeframe: off its grid (``t`` not a multiple of
                                  it since the epoch; weeks from Monday) or most common step not
                                  the timeframe (the rule of ``rmsbt data import``)
gaps                       no     count, longest (bars) and total missing bars between rows
zero-volume bars           no     ``volume == 0`` (exchanges publish these; kept)
=========================  =====  ==============================================================

A hard finding makes ``rmsbt data check`` exit with status 1. The timeframe comes from
``--timeframe``, else from the file name (``...-1h.csv``), else the most common step between rows.
The row rules are the store's own (:func:`rmsbt.data.validate_nb.row_flags`). A file named like a
store file (``BTC_USDT-1h.csv``) must also pass the store's timestamp rule (integer ms,
:func:`rmsbt.data.store.store_timestamps`), as a backtest would apply it; any other file is read like
a file to import (units converted by the unit rule).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, RmsbtError
from ..timeframes import timeframe_to_ms
from .formats import load_raw
from .fetch import next_open
from .gaps import find_gaps, most_common_step, spacing_problem, step_label
from .store import EXTENSIONS, store_file_timestamps

_TF_IN_NAME = re.compile(r"-(\d+[smhdwMy])(?:-|\.|$)")


@dataclass
class CheckReport:
    path: str
    layout: str = ""
    rows: int = 0
    first: int | None = None
    last: int | None = None
    timeframe: str | None = None
    counts: dict = field(default_factory=dict)
    hard: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.hard


def infer_timeframe(path: str | Path, ts: np.ndarray) -> tuple[str | None, int | None]:
    m = _TF_IN_NAME.search(Path(path).name)
    if m:
        try:
            return m.group(1), timeframe_to_ms(m.group(1))
        except RmsbtError:
            pass
    step = most_common_step(ts)
    return (step_label(step), step) if step else (None, None)


def check_frame(df: pd.DataFrame, tf_ms: int | None, now_ms: int | None = None,
                timeframe: str | None = None) -> tuple[dict, list[str]]:
    """Counts of every finding in the table of the module docstring, and the hard ones as messages.

    The row rules are :func:`rmsbt.data.validate_nb.row_flags` (the store's own rules), the spacing
    rule is :func:`rmsbt.data.gaps.spacing_problem` (the rule of ``rmsbt data import``).
    """
    from . import validate_nb as nb

    ts = df["timestamp"].to_numpy(np.int64)
    o, h, l, c, v = (np.ascontiguousarray(df[k].to_numpy(np.float64)) for k in ("open", "high", "low", "close", "volume"))
    d = np.diff(ts)
    unsorted = int((d < 0).sum())
    s = np.sort(ts, kind="stable")
    dup_mask = np.concatenate([[False], s[1:] == s[:-1]])
    dups = int(dup_mask.sum())
    ident = 0
    if dups:
        srt = df.iloc[np.argsort(ts, kind="stable")][["timestamp", "open", "high", "low", "close", "volume"]]
        ident = int(srt.duplicated(keep="first").sum())
    flags = nb.row_flags(o, h, l, c, v)
    bit = lambda *slots: (flags & sum(1 << k for k in slots)) != 0  # noqa: E731
    nan_rows = bit(nb.NAN_OPEN, nb.NAN_HIGH, nb.NAN_LOW, nb.NAN_CLOSE, nb.NAN_VOLUME)
    ohlc = int(bit(nb.HIGH_BELOW, nb.LOW_ABOVE).sum())
    badprice = int((bit(nb.BAD_OPEN, nb.BAD_HIGH, nb.BAD_LOW, nb.BAD_CLOSE) & ~nan_rows).sum())
    badvol = int((bit(nb.BAD_VOLUME) & ~nan_rows).sum())
    zerovol = int((v == 0).sum())
    counts = {"unsorted rows": unsorted, "duplicate timestamps (identical)": ident,
              "duplicate timestamps (conflicting)": dups - ident, "OHLC violations": ohlc,
              "prices not finite > 0": badprice, "NaN values": int(nan_rows.sum()),
              "volume not finite >= 0": badvol, "zero-volume bars": zerovol}
    hard = []
    if tf_ms:
        u = np.unique(s)
        tf = timeframe or step_label(tf_ms)
        g = find_gaps(u, tf)
        counts.update({"gaps": g.gaps, "longest gap (bars)": g.longest, "missing bars": g.missing})
        problem = spacing_problem(u, tf)
        counts["timeframe rule broken"] = int(problem is not None)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        counts["incomplete last candle"] = int(next_open(int(s[-1]), tf) > now)
        if problem:
            hard.append(f"not {tf} bars: {problem}")
    hard_keys = ("unsorted rows", "duplicate timestamps (identical)", "duplicate timestamps (conflicting)",
                 "OHLC violations", "prices not finite > 0", "NaN values", "volume not finite >= 0",
                 "incomplete last candle")
    hard = [f"{k}: {counts[k]}" for k in hard_keys if counts.get(k)] + hard
    return counts, hard


_STORE_NAME = re.compile(r"^[A-Za-z0-9.-]+(?:_[A-Za-z0-9.-]+){1,2}-(?:\d+[smhdwMy]|funding)\.(?:parquet|csv|csv\.gz)$")


def is_store_name(path: str | Path) -> bool:
    """A file named like a store file (``BTC_USDT-1h.csv``, ``BTC_USDT_USDT-funding.parquet``): checked
    by the store's rules (integer ms timestamps), not converted like a file to import."""
    return bool(_STORE_NAME.match(Path(path).name))


def check_file(path: str | Path, timeframe: str | None = None, now_ms: int | None = None) -> CheckReport:
    r = CheckReport(str(path))
    try:
        if is_store_name(path):
            store_file_timestamps(path)  # the store's timestamp rule, exactly as a backtest applies it
        r.layout, df = load_raw(path)
    except RmsbtError as exc:
        r.error = str(exc)
        return r
    ts = df["timestamp"].to_numpy(np.int64)
    r.rows = int(ts.size)
    r.first, r.last = int(ts.min()), int(ts.max())
    if timeframe:
        r.timeframe, tf_ms = timeframe, timeframe_to_ms(timeframe)
    else:
        r.timeframe, tf_ms = infer_timeframe(path, ts)
    r.counts, r.hard = check_frame(df, tf_ms, now_ms, r.timeframe)
    return r


def print_reports(reports: list[CheckReport]) -> None:
    from rich.table import Table

    from .display import make_console
    from .fetch import fmt_ms

    con = make_console()
    for r in reports:
        if r.error:  # the error already starts with the path
            msg = r.error if r.error.startswith(r.path) else f"{r.path}: {r.error}"
            con.print(f"[bold red]FAIL[/] {msg}", markup=True, soft_wrap=True)
            continue
        t = Table(title=f"{'[green]OK[/]' if r.ok else '[bold red]FAIL[/]'} {r.path}", show_header=False)
        t.add_column("what")
        t.add_column("value", justify="right")
        t.add_row("layout", r.layout)
        t.add_row("timeframe", r.timeframe or "?")
        t.add_row("rows", f"{r.rows:,}")
        t.add_row("first candle", fmt_ms(r.first))
        t.add_row("last candle", fmt_ms(r.last))
        for k, v in r.counts.items():
            t.add_row(k, f"{v:,}")
        con.print(t)
        for h in r.hard:
            con.print(f"  [red]hard rule failed[/] {h}", soft_wrap=True)


def stem_to_symbol(stem: str) -> str:
    """``BTC_USDT`` → ``BTC/USDT``; ``BTC_USDT_USDT`` → ``BTC/USDT:USDT`` (inverse of store.symbol_to_stem)."""
    parts = stem.split("_")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return stem


def list_store(data_dir: str | Path) -> list[dict]:
    """Every candle/funding file under ``<data-dir>/<exchange>/`` with rows and first/last timestamps.

    Timestamps are read by the store's rule (:func:`rmsbt.data.store.store_file_timestamps`); a file
    breaking it, or unreadable, is listed with ``rows = None`` and ``problem`` = the one-line reason.
    A file that a reader never sees because a file of the same pair comes first in the look-up order
    (``.parquet`` before ``.csv`` before ``.csv.gz``) gets ``problem = "hidden by <file>"``.
    Raises DataError when ``data_dir`` is not a folder.
    """
    base = Path(data_dir)
    if not base.exists():
        raise DataError(f"{base}: data dir not found")
    if not base.is_dir():
        raise DataError(f"{base}: is not a folder")
    out = []
    for ex in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        seen: dict[str, str] = {}
        files = [f for f in ex.iterdir() if not f.name.startswith(".") and f.is_file()
                 and any(f.name.endswith(e) for e in EXTENSIONS)]
        ext_of = lambda f: next(e for e in EXTENSIONS if f.name.endswith(e))  # noqa: E731
        files.sort(key=lambda f: (f.name[: -len(ext_of(f))], EXTENSIONS.index(ext_of(f))))
        for f in files:
            ext = ext_of(f)
            stem = f.name[: -len(ext)]
            what, _, tf = stem.rpartition("-")
            rows = first = last = problem = None
            try:
                ts = store_file_timestamps(f)
                rows = int(ts.size)
                first, last = (int(ts.min()), int(ts.max())) if ts.size else (None, None)
            except RmsbtError as exc:  # listing never fails on one bad file
                problem = str(exc)
            if stem in seen:
                problem = f"{f}: hidden by {seen[stem]} (readers take the first of .parquet, .csv, .csv.gz)"
            else:
                seen[stem] = f.name
            out.append({"exchange": ex.name, "symbol": stem_to_symbol(what), "timeframe": tf,
                        "format": ext.lstrip("."), "rows": rows, "first": first, "last": last,
                        "bytes": f.stat().st_size, "path": str(f), "problem": problem})
    return out


def print_listing(items: list[dict], data_dir) -> None:
    from rich.table import Table

    from .display import make_console
    from .fetch import fmt_ms

    con = make_console()
    if not items:
        con.print(f"store {data_dir}: no candle files (fetch candles with `rmsbt fetch` or `rmsbt data import`)")
        return
    t = Table(title=f"store {data_dir}", header_style="bold")
    for c in ("exchange", "symbol", "timeframe", "format", "rows", "first", "last", "size"):
        t.add_column(c, justify="right" if c in ("rows", "size") else "left", overflow="fold")
    for i in items:
        t.add_row(i["exchange"], i["symbol"], i["timeframe"], i["format"],
                  "?" if i["rows"] is None else f"{i['rows']:,}", fmt_ms(i["first"]), fmt_ms(i["last"]),
                  f"{i['bytes'] / 1e6:,.1f} MB")
    con.print(t)
    for i in items:
        if i["problem"]:
            con.print(f"problem: {i['problem']}", soft_wrap=True)
