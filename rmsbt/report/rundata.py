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
    if not path.is_file():
        if required:
            raise ReportError(f"{path}: missing (is this a rmsbt run folder?)")
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read ({exc})") from None


def load_run(folder: str | Path) -> RunData:
    """Load a run folder; raises :class:`ReportError` naming the file when something is missing."""
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
    for key in ("metrics", "symbols", "timeframe"):
        if key not in summary:
            raise ReportError(f"{sp}: no '{key}' entry")
    equity = _read_csv(folder / "equity.csv")
    if not {"timestamp", "equity"} <= set(equity.columns) or equity.empty:
        raise ReportError(f"{folder / 'equity.csv'}: needs rows with columns timestamp and equity")
    fills = _read_csv(folder / "trades.csv")
    params = _read_csv(folder / "params.csv", required=False)
    trades = _read_csv(folder / "round_trips.csv")
    if trades.empty:
        trades = pd.DataFrame(columns=TRADE_COLUMNS)
    elif "net_pnl" not in trades.columns:
        raise ReportError(f"{folder / 'round_trips.csv'}: no net_pnl column (not a trade log written by rmsbt)")
    return RunData(folder, summary, equity, fills, trades, params if params is not None else pd.DataFrame())
