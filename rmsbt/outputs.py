"""Writing a run's output folder: summary.json, equity.csv, trades.csv, round_trips.csv, params.csv,
report.html with equity_drawdown.png and parameters.png.

- ``summary.json``: the metrics (:func:`rmsbt.metrics.summarize`), the config echo and the strategy's
  effective parameters (config values plus defaults: ``strategy_params``).
- ``equity.csv``: timestamp (bar open, ms UTC), cash, equity (marked at that bar's close), one
  ``pos_<SYMBOL>`` column per symbol (quantity held after that bar's fills) and one ``close_<SYMBOL>``
  column per symbol (that bar's close; empty where the symbol had no bar).
- ``trades.csv``: one row per fill: timestamp (open time of the fill bar), symbol, side, qty (signed),
  price, fee (quote currency), realized_pnl (gross of fees), decided_bar.
- ``round_trips.csv``: one row per round-trip trade (:func:`rmsbt.metrics.trade_log`), columns
  :data:`rmsbt.metrics.TRADE_COLUMNS`.
- ``report.html`` and the PNGs: :func:`rmsbt.report.write_report`, built from the files above only.
- ``params.csv``: timestamp plus whatever the strategy recorded on that bar (for the pairs strategy:
  β, c after bar t's update, their effective step sizes lr/(√v+ε), the spread and its z-score).
- ``events.csv``: the broker's events log (:attr:`rmsbt.engine.loop.BacktestResult.events`: every
  order's submitted / triggered / filled / resized / cancelled / rejected / expired events with their
  ``reason``, and liquidations); ``summary.json`` counts them under ``order_events``
  (:func:`order_event_counts`), and the terminal summary prints the counts.
- ``funding.csv``: one row per funding payment (timestamp, bar, symbol, qty, mark_price, rate, paid).

Floats are written with Python's shortest round-trip repr, so the files reload bit-exactly, and two
runs of the same config on the same data write identical files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .data.store import symbol_to_stem
from .metrics import trade_log


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf; null means undefined
    if isinstance(x, (np.floating,)):
        return _jsonable(float(x))
    if isinstance(x, (np.integer,)):
        return int(x)
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return x


ORDER_EVENTS = ("rejected", "resized", "expired", "cancelled", "liquidated")


def order_event_counts(result) -> dict[str, int]:
    """How many events of each kind in ``ORDER_EVENTS`` the run's events log holds (``liquidated``:
    liquidations; the others: orders)."""
    ev = result.events["event"]
    return {k: int((ev == k).sum()) for k in ORDER_EVENTS}


def write_outputs(run, out_dir: str | Path, report: bool = True) -> Path:
    """Write every output file of ``run`` into ``out_dir`` (created); ``report=False`` skips report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = run.result
    summary = {"name": run.config.name, "symbols": list(res.symbols), "timeframe": res.timeframe,
               "metrics": run.summary, "dropped_orders": res.dropped_orders, "order_events": order_event_counts(res),
               "config": run.config.raw,
               "strategy_params": dict(getattr(run.strategy, "params", {}) or {})}
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n", encoding="utf-8")
    eq = pd.DataFrame({"timestamp": res.timestamps, "cash": res.cash, "equity": res.equity})
    for j, s in enumerate(res.symbols):
        eq[f"pos_{symbol_to_stem(s)}"] = res.positions[:, j]
    market = getattr(run, "market", None)
    if market is not None:
        for j, s in enumerate(res.symbols):
            eq[f"close_{symbol_to_stem(s)}"] = market.close[market.index(s)]
    eq.to_csv(out / "equity.csv", index=False, float_format=None)
    res.fills.to_csv(out / "trades.csv", index=False)
    trade_log(res).to_csv(out / "round_trips.csv", index=False)
    res.records.to_csv(out / "params.csv", index=False)
    res.events.to_csv(out / "events.csv", index=False)
    if res.funding is not None:
        res.funding.to_csv(out / "funding.csv", index=False)
    if report:
        from .report import write_report

        write_report(out)
    return out
