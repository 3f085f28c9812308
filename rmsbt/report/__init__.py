"""The backtest report: ``report.html`` plus ``equity_drawdown.png`` and ``parameters.png``.

:func:`write_report` builds them from a run folder's files alone (``summary.json``, ``equity.csv``,
``trades.csv``, ``round_trips.csv``, ``params.csv``), so ``rmsbt report RUN_DIR`` rebuilds exactly
what the backtest wrote. Chart choices: :mod:`rmsbt.report.charts`; page: :mod:`rmsbt.report.html`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .rundata import ReportError, RunData, load_run

__all__ = ["write_report", "load_run", "RunData", "ReportError", "REPORT_FILE", "PNG_FILES"]

REPORT_FILE = "report.html"
PNG_FILES = {"equity_drawdown": "equity_drawdown.png", "parameters": "parameters.png"}


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(folder: str | Path) -> Path:
    """Build ``report.html`` (and the PNGs) in ``folder`` from its files; return the report's path."""
    from . import charts, html

    run = load_run(folder)
    out = []
    ed = charts.png_bytes(charts.equity_drawdown(run))
    _atomic_write(run.folder / PNG_FILES["equity_drawdown"], ed)
    out.append(("Equity and drawdown", "equity curve against buy and hold, and the underwater chart", ed))
    out.append(("Equity and drawdown", "rolling Sharpe", charts.png_bytes(charts.rolling_sharpe_chart(run))))
    fig = charts.prices_with_trades(run)
    if fig is not None:
        out.append(("Prices and trades", "each symbol's close with trade entries and exits", charts.png_bytes(fig)))
    out.append(("Positions", "position value per symbol over time", charts.png_bytes(charts.positions(run))))
    fig = charts.parameters(run)
    if fig is not None:
        pp = charts.png_bytes(fig)
        _atomic_write(run.folder / PNG_FILES["parameters"], pp)
        adapted = any(f"lr_eff_{c}" in run.params.columns for c in charts.parameter_columns(run.params))
        out.append(("Adapted parameters", "adapted parameters and their effective step sizes", pp) if adapted
                   else ("Recorded values", "the values the strategy recorded on each bar (params.csv)", pp))
    else:
        (run.folder / PNG_FILES["parameters"]).unlink(missing_ok=True)  # no stale chart from an earlier run
    fig = charts.spread_zscore(run)
    if fig is not None:
        bands = charts.band_text(charts.z_bands(run))
        out.append(("Spread and z-score", "spread and z-score" + (f" with bands {bands}" if bands else ""),
                    charts.png_bytes(fig)))
    path = run.folder / REPORT_FILE
    _atomic_write(path, html.page(run.summary, out, run.trades).encode("utf-8"))
    return path
