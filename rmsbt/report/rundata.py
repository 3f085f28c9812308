"""Reading a run folder back: everything the report needs comes from the files a backtest wrote.

Files (see :mod:`rmsbt.outputs`): ``summary.json`` (metrics, symbols, timeframe, config echo),
``equity.csv`` (timestamp, cash, equity, ``pos_<STEM>``, ``close_<STEM>``), ``trades.csv`` (fills),
``round_trips.csv`` (per-trade log; derived from ``trades.csv`` when absent) and ``params.csv``
(what the strategy recorded per bar).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.store import symbol_to_stem
from ..errors import RmsbtError
from ..metrics import TRADE_COLUMNS
from ..timeframes import timeframe_to_ms


class ReportError(RmsbtError):
    """A run folder the report cannot be built from."""


@dataclass
class RunData:
    folder: Path
    summary: dict
    equity: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    params: pd.DataFrame

    @property
    def metrics(self) -> dict:
        return self.summary["metrics"]

    @property
    def symbols(self) -> list[str]:
        return list(self.summary["symbols"])

    @property
    def timeframe_ms(self) -> int:
        return timeframe_to_ms(self.summary["timeframe"])

    @property
    def initial_cash(self) -> float:
        return float(self.metrics["initial_equity"])

    def closes(self) -> np.ndarray | None:
        """Closes ``(n_symbols, n_bars)`` from ``close_<STEM>`` columns (None if the run has none)."""
        cols = [f"close_{symbol_to_stem(s)}" for s in self.symbols]
        if not all(c in self.equity.columns for c in cols):
            return None
        return self.equity[cols].to_numpy(np.float64).T

    def positions(self) -> np.ndarray:
        return self.equity[[f"pos_{symbol_to_stem(s)}" for s in self.symbols]].to_numpy(np.float64).T

    def strategy_params(self) -> dict:
        """The strategy's effective parameters (``strategy_params``), else the config echo's."""
        if isinstance(self.summary.get("strategy_params"), dict):
            return dict(self.summary["strategy_params"])
        cfg = self.summary.get("config") or {}
        return dict((cfg.get("strategy") or {}).get("params") or {})


def _read_csv(path: Path, required: bool = True) -> pd.DataFrame | None:
    """Read one CSV of the run folder. A 0-byte file is refused (a run always writes a header line, even
    with no rows: an empty file is a truncated copy), and so is a file whose last line has no line end."""
    if not path.is_file():
        if required:
            raise ReportError(f"{path}: missing (is this a rmsbt run folder?)")
        return None
    size = path.stat().st_size
    if size == 0:
        raise ReportError(f"{path}: empty file (0 bytes; rmsbt always writes a header line): truncated copy?")
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            raise ReportError(f"{path}: the last line is cut off (no line end): truncated copy?")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read ({exc})") from None


def _number_column(df: pd.DataFrame, col: str, path: Path, *, integer: bool = False, nan_ok: bool = False) -> None:
    """Check (in place: convert) that ``df[col]`` is numeric — integer-valued if asked — without gaps."""
    v = pd.to_numeric(df[col], errors="coerce")
    bad = (v.isna() & df[col].notna()) | (v.isna() if not nan_ok else False)
    if integer:
        bad |= v.notna() & (v != np.round(v))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReportError(f"{path}: column {col}, data row {k + 1}: {df[col].iloc[k]!r} is not "
                          + ("an integer (ms since the epoch)" if integer else "a number")
                          + (" — truncated file?" if k == len(df) - 1 else ""))
    df[col] = v.astype(np.int64) if integer else v.astype(np.float64)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_summary(summary, sp: Path) -> None:
    if not isinstance(summary, dict):
        raise ReportError(f"{sp}: expected a JSON object at the top level")
    for key in ("metrics", "symbols", "timeframe"):
        if key not in summary:
            raise ReportError(f"{sp}: no '{key}' entry")
    m, syms = summary["metrics"], summary["symbols"]
    if not isinstance(m, dict):
        raise ReportError(f"{sp}: 'metrics' must be an object of metric values, got {type(m).__name__}")
    if not isinstance(syms, list) or not all(isinstance(x, str) for x in syms):
        raise ReportError(f"{sp}: 'symbols' must be a list of symbol strings such as \"BTC/USDT\"")
    try:
        timeframe_to_ms(summary["timeframe"])
    except RmsbtError as exc:
        raise ReportError(f"{sp}: 'timeframe': {exc}") from None


def _check_metric_values(m: dict, sp: Path) -> None:
    for key in ("initial_equity", "bars"):
        if not _is_num(m.get(key)):
            raise ReportError(f"{sp}: metrics.{key} must be a number, got {m.get(key)!r}")
    for key in ("start", "end", "fills", "trades", "open_trades", "ruin_time", "periods_per_year", "risk_free_rate"):
        if key in m and m[key] is not None and not _is_num(m[key]):
            raise ReportError(f"{sp}: metrics.{key} must be a number, got {m[key]!r}")
    per = m.get("per_symbol")
    if per is not None and not (isinstance(per, dict) and all(isinstance(r, dict) for r in per.values())):
        raise ReportError(f"{sp}: metrics.per_symbol must map each symbol to an object")
    for s, r in (per or {}).items():
        v = r.get("buy_and_hold_start_price")
        if v is not None and not _is_num(v):
            raise ReportError(f"{sp}: metrics.per_symbol.{s}.buy_and_hold_start_price must be a number, got {v!r}")
    if not isinstance(m.get("notes", []), list):
        raise ReportError(f"{sp}: metrics.notes must be a list of sentences")


def _check_rows(n_file: int, m: dict, key: str, path: Path, what: str, extra: int = 0) -> None:
    """The file must hold as many rows as the summary counted (at least as many after a ruin: the
    summary stops at the ruin bar, the files cover the whole run)."""
    want = m.get(key)
    if not _is_num(want):
        return
    want = int(want) + extra
    ok = n_file >= want if m.get("ruined") else n_file == want
    if not ok:
        raise ReportError(f"{path}: {n_file} {what}, but summary.json counts {want}: truncated, or not from this run")


TRADE_NUMERIC = ("entry_time", "exit_time", "entry_price", "exit_price", "net_pnl")


def load_run(folder: str | Path) -> RunData:
    """Load a run folder; raises :class:`ReportError` naming the file (and column/key) when something is
    missing, malformed, out of order or inconsistent with ``summary.json``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder")
    sp = folder / "summary.json"
    if not sp.is_file():
        raise ReportError(f"{sp}: missing (is this a rmsbt run folder?)")
    try:
        summary = json.loads(sp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{sp}: not valid JSON ({exc})") from None
    _check_summary(summary, sp)
    m = summary["metrics"]
    ep = folder / "equity.csv"
    equity = _read_csv(ep)
    if not {"timestamp", "equity"} <= set(equity.columns) or equity.empty:
        raise ReportError(f"{ep}: needs rows with columns timestamp and equity")
    _check_metric_values(m, sp)
    _number_column(equity, "timestamp", ep, integer=True)
    _number_column(equity, "equity", ep)
    ts = equity["timestamp"].to_numpy()
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        k = int(np.flatnonzero(np.diff(ts) <= 0)[0])
        raise ReportError(f"{ep}: timestamps must increase (rows in time order); data row {k + 2} "
                          f"({ts[k + 1]}) is not after row {k + 1} ({ts[k]})")
    for s in summary["symbols"]:
        col = f"pos_{symbol_to_stem(s)}"
        if col not in equity.columns:
            raise ReportError(f"{ep}: no {col} column for symbol {s} listed in summary.json")
        _number_column(equity, col, ep)
    _check_rows(len(equity), m, "bars", ep, "bars")
    fp = folder / "trades.csv"
    fills = _read_csv(fp)
    _check_rows(len(fills), m, "fills", fp, "fills")
    params = _read_csv(folder / "params.csv", required=False)
    if params is not None and len(params.columns):
        pp = folder / "params.csv"
        if "timestamp" not in params.columns:
            raise ReportError(f"{pp}: no timestamp column")
        _number_column(params, "timestamp", pp, integer=True)
    tp = folder / "round_trips.csv"
    trades = _read_csv(tp)
    if trades.empty and not len(trades.columns):
        trades = pd.DataFrame(columns=TRADE_COLUMNS)
    missing = [c for c in ("symbol", "side", *TRADE_NUMERIC) if c not in trades.columns]
    if missing:
        raise ReportError(f"{tp}: no {missing[0]} column (not a trade log written by rmsbt)")
    for c in TRADE_NUMERIC:
        _number_column(trades, c, tp, integer=c.endswith("_time"))
    if "trades" in m and "open_trades" in m and _is_num(m.get("open_trades")):
        _check_rows(len(trades), m, "trades", tp, "trades", extra=int(m["open_trades"]))
    return RunData(folder, summary, equity, fills, trades, params if params is not None else pd.DataFrame())
