"""The ``rmsbt`` command. Parses arguments, calls the library, prints. No logic of its own.

User errors (:class:`rmsbt.errors.RmsbtError`) print one line ``rmsbt: error: ...`` to stderr and
exit with status 2; nothing is half-written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from .errors import RmsbtError


def _fmt_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def print_summary(run, out_dir: Path, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    m = run.summary
    t = Table(title=f"rmsbt backtest: {run.config.name}", show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    pct = lambda x: "n/a" if x != x else f"{x * 100:.2f}%"  # noqa: E731
    num = lambda x, f=",.2f": "n/a" if x != x else format(x, f)  # noqa: E731
    rows = [
        ("period", f"{_fmt_ms(m['start'])} → {_fmt_ms(m['end'])} UTC"),
        ("bars", f"{m['bars']:,} × {run.result.timeframe}"),
        ("symbols", ", ".join(run.result.symbols)),
        ("initial equity", num(m["initial_equity"])),
        ("final equity", num(m["final_equity"])),
        ("PnL", num(m["pnl"])),
        ("total return", pct(m["total_return"])),
        ("max drawdown", f"{pct(m['max_drawdown'])} ({num(m['max_drawdown_quote'])})"),
        ("max drawdown duration", f"{m['max_drawdown_duration_days']:.1f} days ({m['max_drawdown_duration_bars']:,} bars)"),
        ("Sharpe (ann.)", num(m["sharpe"], ".3f")),
        ("trades (round trips)", f"{m['trades']:,} ({m['fills']:,} fills)"),
        ("fees paid", num(m["fees_paid"])),
        ("exposure", pct(m["exposure"])),
    ]
    for k, v in rows:
        t.add_row(k, v)
    c = Console()
    c.print(t)
    c.print(f"outputs: {out_dir}   ({seconds:.2f} s)")


def cmd_backtest(args) -> int:
    from .config import load_config
    from .outputs import write_outputs
    from .runner import run_config

    cfg = load_config(args.config)
    if args.fetch:
        from .cli_data import fetch_for_config

        fetch_for_config(cfg, args.data_dir, args.fetch_config)
    t0 = time.perf_counter()
    run = run_config(cfg, data_dir=args.data_dir)
    if args.out:
        out = Path(args.out)
    else:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.name}-{stamp}"
    write_outputs(run, out)
    print_summary(run, out, time.perf_counter() - t0)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rmsbt", description="Backtest crypto strategies whose parameters adapt online.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backtest", help="run a backtest from a TOML config and print its summary")
    b.add_argument("config", help="TOML config, e.g. configs/pairs_btc_eth.toml")
    b.add_argument("--data-dir", default="data", help="candle store to read (default: data)")
    b.add_argument("--out", default=None, help="output folder (default: runs/<config-name>-<UTC time>)")
    b.add_argument("--fetch", action="store_true", help="first download the candles the config needs and the store lacks")
    b.add_argument("--fetch-config", default=None, help="exchange options for --fetch (TOML, see configs/fetch.toml)")
    b.set_defaults(func=cmd_backtest)
    from .cli_data import add_parsers

    add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RmsbtError as exc:
        print(f"rmsbt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rmsbt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
