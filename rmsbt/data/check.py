"""``rmsbt data check`` and ``rmsbt data list``: what a candle file holds and what is wrong with it.

:func:`check_file` reads a file in any layout :func:`rmsbt.data.formats.read_candles` knows, in
FILE order (nothing sorted or dropped), and counts:

=========================  =====  ==============================================================
finding                    hard   rule
=========================  =====  ==============================================================
unsorted rows              yes    a timestamp below the one before it
duplicate timestamps       yes    identical rows and conflicting rows, counted separately
OHLC violations            yes    ``high < max(open, close)`` or ``low > min(open, close)``
non-positive prices        yes    any of open/high/low/close ``<= 0``
negative volume            yes    ``volume < 0``
incomplete last candle     yes    the last bar had not closed when checked: ``t + tf > now``
misaligned timestamps      no     ``t`` not a multiple of the timeframe (epoch-aligned bars)
gaps                       no     count, longest (bars) and total missing bars between rows
zero-volume bars           no     ``volume == 0`` (exchanges publish these; kept)
=========================  =====  ==============================================================

A hard finding makes ``rmsbt data check`` exit with status 1. The timeframe comes from
``--timeframe``, else from the file name (``...-1h.csv``), else the most common step between rows.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RmsbtError
from ..timeframes import timeframe_to_ms
from .formats import load_raw
from .gaps import find_gaps, most_common_step, step_label
from .store import EXTENSIONS

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


def check_frame(df: pd.DataFrame, tf_ms: int | None, now_ms: int | None = None) -> tuple[dict, list[str]]:
    """Counts of every finding in the table of the module docstring, and the hard ones as messages."""
    ts = df["timestamp"].to_numpy(np.int64)
    o, h, l, c, v = (df[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume"))
    d = np.diff(ts)
    unsorted = int((d < 0).sum())
    s = np.sort(ts, kind="stable")
    dup_mask = np.concatenate([[False], s[1:] == s[:-1]])
    dups = int(dup_mask.sum())
    ident = 0
    if dups:
        srt = df.iloc[np.argsort(ts, kind="stable")][["timestamp", "open", "high", "low", "close", "volume"]]
        ident = int(srt.duplicated(keep="first").sum())
    ohlc = int(((h < np.maximum(o, c)) | (l > np.minimum(o, c))).sum())
    nonpos = int(((o <= 0) | (h <= 0) | (l <= 0) | (c <= 0)).sum())
    nan = int(np.isnan(np.column_stack([o, h, l, c, v])).any(axis=1).sum())
    negvol = int((v < 0).sum())
    zerovol = int((v == 0).sum())
    counts = {"unsorted rows": unsorted, "duplicate timestamps (identical)": ident,
              "duplicate timestamps (conflicting)": dups - ident, "OHLC violations": ohlc,
              "non-positive prices": nonpos, "NaN values": nan, "negative volume": negvol, "zero-volume bars": zerovol}
    if tf_ms:
        u = np.unique(s)
        g = find_gaps(u, step_label(tf_ms))
        counts.update({"gaps": g.gaps, "longest gap (bars)": g.longest, "missing bars": g.missing,
                       "misaligned timestamps": int((u % tf_ms != 0).sum())})
        now = int(time.time() * 1000) if now_ms is None else now_ms
        counts["incomplete last candle"] = int(s[-1] + tf_ms > now)
    hard_keys = ("unsorted rows", "duplicate timestamps (identical)", "duplicate timestamps (conflicting)",
                 "OHLC violations", "non-positive prices", "NaN values", "negative volume", "incomplete last candle")
    hard = [f"{k}: {counts[k]}" for k in hard_keys if counts.get(k)]
    return counts, hard


def check_file(path: str | Path, timeframe: str | None = None, now_ms: int | None = None) -> CheckReport:
    r = CheckReport(str(path))
    try:
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
    r.counts, r.hard = check_frame(df, tf_ms, now_ms)
    return r


def print_reports(reports: list[CheckReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    from .fetch import fmt_ms

    con = Console()
    for r in reports:
        if r.error:
            con.print(f"[bold red]FAIL[/] {r.path}: {r.error}")
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
            con.print(f"  [red]hard rule failed[/] {h}")


def list_store(data_dir: str | Path) -> list[dict]:
    """Every candle/funding file under ``<data-dir>/<exchange>/`` with rows and first/last timestamps."""
    base = Path(data_dir)
    out = []
    if not base.is_dir():
        return out
    for ex in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(ex.iterdir()):
            name = f.name
            if name.startswith(".") or not f.is_file() or not any(name.endswith(e) for e in EXTENSIONS):
                continue
            ext = next(e for e in EXTENSIONS if name.endswith(e))
            stem = name[: -len(ext)]
            what, _, tf = stem.rpartition("-")
            try:
                ts = (pd.read_parquet(f, columns=["timestamp"]) if ext == ".parquet"
                      else pd.read_csv(f, usecols=["timestamp"]))["timestamp"].to_numpy(np.int64)
                rows, first, last = int(ts.size), int(ts.min()) if ts.size else None, int(ts.max()) if ts.size else None
            except Exception as exc:  # listing never fails on one bad file
                rows, first, last = -1, None, f"unreadable ({type(exc).__name__})"
            out.append({"exchange": ex.name, "symbol": what, "timeframe": tf, "format": ext.lstrip("."),
                        "rows": rows, "first": first, "last": last, "bytes": f.stat().st_size, "path": str(f)})
    return out


def print_listing(items: list[dict], data_dir) -> None:
    from rich.console import Console
    from rich.table import Table

    from .fetch import fmt_ms

    t = Table(title=f"store {data_dir}", header_style="bold")
    for c in ("exchange", "symbol", "timeframe", "format", "rows", "first", "last", "size"):
        t.add_column(c, justify="right" if c in ("rows", "size") else "left")
    for i in items:
        last = i["last"] if isinstance(i["last"], str) else fmt_ms(i["last"])
        t.add_row(i["exchange"], i["symbol"], i["timeframe"], i["format"], f"{i['rows']:,}", fmt_ms(i["first"]), last,
                  f"{i['bytes'] / 1e6:,.1f} MB")
    if not items:
        Console().print(f"store {data_dir}: empty (fetch candles with `rmsbt fetch` or `rmsbt data import`)")
        return
    Console().print(t)
