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

from .errors import RmsbtError, StrategyError


def print_summary(run, out_dir: Path, seconds: float, report: Path | None = None) -> None:
    from .cli_report import print_run_summary
    from .outputs import order_event_counts

    print_run_summary(run.config.name, run.result.symbols, run.result.timeframe, run.summary, out_dir, report, seconds,
                      run.timing, order_event_counts(run.result))


def cmd_backtest(args) -> int:
    from .cli_report import progress_bar
    from .config import load_config
    from .outputs import write_outputs
    from .report import REPORT_FILE
    from .runner import run_config

    cfg = load_config(args.config)
    if args.fetch:
        from .cli_data import fetch_for_config

        fetch_for_config(cfg, args.data_dir, args.fetch_config, quiet=args.quiet)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise RmsbtError(f"--out {args.out}: exists and is not a folder")
    t0 = time.perf_counter()
    with progress_bar(not args.quiet) as progress:
        run = run_config(cfg, data_dir=args.data_dir, progress=progress)
    if args.out:
        out = Path(args.out)
    else:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.name}-{stamp}"
    t_out = time.perf_counter()
    write_outputs(run, out)
    run.timing["outputs"] = time.perf_counter() - t_out
    print_summary(run, out, time.perf_counter() - t0, out / REPORT_FILE)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rmsbt", description="Backtest crypto strategies whose parameters adapt online.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backtest", help="run a backtest from a TOML config and print its summary")
    b.add_argument("config", help="TOML config, e.g. configs/pairs_btc_eth.toml")
    b.add_argument("--data-dir", default="data", help="candle store to read (default: data)")
    b.add_argument("--out", default=None, help="output folder (default: runs/<config-name>-<UTC time>)")
    b.add_argument("--quiet", action="store_true", help="no progress bar (it is never shown when stderr is not a terminal)")
    b.add_argument("--fetch", action="store_true", help="first download the candles the config needs and the store lacks")
    b.add_argument("--fetch-config", default=None, help="exchange options for --fetch (TOML, see configs/fetch.toml)")
    b.set_defaults(func=cmd_backtest)
    from .cli_data import add_parsers
    from .cli_report import cmd_report

    add_parsers(sub)
    r = sub.add_parser("report", help="rebuild report.html (and its PNGs) from a run folder's files")
    r.add_argument("run_dir", help="a folder written by `rmsbt backtest` (summary.json, equity.csv, ...)")
    r.set_defaults(func=cmd_report)
    return p


def _print_user_frames(exc: BaseException) -> None:
    """The traceback of an exception raised by a user's strategy, without rmsbt's own frames."""
    import traceback

    pkg = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not str(Path(f.filename).resolve()).startswith(pkg)]
    if frames:
        print("Traceback (your strategy's frames):", file=sys.stderr)
        print("".join(traceback.format_list(frames)).rstrip(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RmsbtError as exc:
        if isinstance(exc, StrategyError) and exc.__cause__ is not None:
            _print_user_frames(exc.__cause__)
        print(f"rmsbt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rmsbt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
