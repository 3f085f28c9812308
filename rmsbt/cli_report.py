"""Terminal side of results: the ``rmsbt report RUN_DIR`` handler, the summary table printed after
``rmsbt backtest`` and its progress bar. Logic lives in :mod:`rmsbt.metrics` and :mod:`rmsbt.report`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path


def summary_table(name: str, symbols, timeframe: str, m: dict):
    """A rich table of the key metrics (same formatting as the report)."""
    from rich.table import Table

    from .report.html import fmt, fmt_time

    t = Table(title=f"rmsbt backtest: {name}", show_header=True, header_style="bold", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    f = lambda k: fmt(k, m.get(k))  # noqa: E731
    rows = [
        ("period", f"{fmt_time(m['start'])} → {fmt_time(m['end'])} UTC"),
        ("bars", f"{m['bars']:,} × {timeframe}" + (f" ({m['missing_bars']:,} missing)" if m.get("missing_bars") else "")),
        ("symbols", ", ".join(symbols)),
        None,
        ("initial → final equity", f"{f('initial_equity')} → {f('final_equity')}"),
        ("PnL", f("pnl")),
        ("total return", f("total_return")),
        ("buy & hold (equal weight)", f("buy_and_hold_return")),
        ("CAGR (365-day years)", f("cagr")),
        None,
        ("volatility (ann.)", f("annual_volatility")),
        ("Sharpe (ann.)", f("sharpe")),
        ("Sortino (ann.)", f("sortino")),
        ("Calmar", f("calmar")),
        ("max drawdown", f"{f('max_drawdown')} ({f('max_drawdown_quote')})"),
        ("longest drawdown", f"{fmt('x_days', m.get('max_drawdown_duration_days'))} days "
                             f"({fmt('x_bars', m.get('max_drawdown_duration_bars'))} bars, same episode)"),
        None,
        ("trades (round trips)", f"{m.get('trades', 0):,} ({m.get('fills', 0):,} fills"
                                 + (f", {m['open_trades']} open)" if m.get("open_trades") else ")")),
        ("win rate", f("win_rate")),
        ("profit factor", f("profit_factor")),
        ("average trade", f("avg_trade")),
        ("fees paid", f("fees_paid")),
        ("funding paid", f("funding_paid")),
        ("exposure (time)", f("exposure_time")),
    ]
    for r in rows:
        if r is None:
            t.add_section()
        elif not (r[0] == "buy & hold (equal weight)" and "buy_and_hold_return" not in m):
            t.add_row(*r)
    return t


def print_run_summary(name, symbols, timeframe, m: dict, out_dir: Path, report: Path | None, seconds: float,
                      timing: dict | None = None, order_events: dict | None = None) -> None:
    from rich.console import Console

    c = Console()
    c.print(summary_table(name, symbols, timeframe, m))
    if order_events is not None:  # rmsbt.outputs.order_event_counts
        c.print("orders: " + ", ".join(f"{v:,} {k}" for k, v in order_events.items()) + " (events.csv)",
                highlight=False)
    for note in m.get("notes") or []:
        c.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    c.print(f"outputs: {out_dir}   ({seconds:.2f} s)", highlight=False)
    if timing:
        c.print(f"time:    data {timing['data']:.2f} s · Numba kernels compiled or loaded from cache "
                f"{timing['kernels']:.2f} s · simulation {timing['simulation']:.2f} s · metrics "
                f"{timing['metrics']:.2f} s · outputs and report {timing.get('outputs', 0.0):.2f} s", highlight=False)
    if report is not None:
        c.print(f"report:  {report}", highlight=False)


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str = "backtest"):
    """Yield a ``progress(done, total)`` callback drawing a rich bar on stderr, or None when disabled or
    stderr is not a terminal (nothing is written then). Redraws at most ~200 times per run."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as p:
        task = p.add_task(label, total=None)
        step = [1]

        def progress(done: int, total: int) -> None:
            if done == 1 or done == total or done % step[0] == 0:
                if done == 1:
                    step[0] = max(total // 200, 1)
                p.update(task, completed=done, total=total)

        yield progress


def cmd_report(args) -> int:
    """``rmsbt report RUN_DIR``: rebuild report.html (and its PNGs) from the run folder's files."""
    from .report import write_report

    path = write_report(args.run_dir)
    print(f"report: {path}")
    return 0
