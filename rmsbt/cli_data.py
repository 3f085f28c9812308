"""Handlers of ``rmsbt fetch`` and ``rmsbt data import|check|list`` (and ``backtest --fetch``).

Argument parsing lives in :func:`add_parsers`; :mod:`rmsbt.cli` registers it. No data logic here:
everything is in :mod:`rmsbt.data`.
"""

from __future__ import annotations

import copy
import time
import tomllib
from pathlib import Path

from .errors import ConfigError
from .timeframes import timeframe_to_ms

_FETCH_KEYS = {"exchange", "retry", "fetch"}


# --------------------------------------------------------------------------------------------------
# Fetch config (configs/fetch.toml)
# --------------------------------------------------------------------------------------------------

def load_fetch_config(path: str | Path | None) -> dict:
    """``[exchange] id``, ``[exchange.options]`` (ccxt constructor), ``[retry]``, ``[fetch]``."""
    if path is None:
        return {}
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: fetch config not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - _FETCH_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]}; allowed: [exchange], [retry], [fetch]")
    allowed = {"exchange": {"id", "options"}, "retry": {"tries", "base_delay", "max_delay", "jitter", "seed",
                                                        "max_retry_after"},
               "fetch": {"limit", "checkpoint_pages", "empty_confirm", "format"}}
    for sec, keys in allowed.items():
        t = raw.get(sec, {})
        if not isinstance(t, dict):
            raise ConfigError(f"{path}: [{sec}] must be a table")
        bad = sorted(set(t) - keys)
        if bad:
            raise ConfigError(f"{path}: unknown key {sec}.{bad[0]}; allowed: {', '.join(sorted(keys))}")
    raw["_path"] = str(path)
    return raw


def parse_option(text: str) -> tuple[list[str], object]:
    """``--exchange-option timeout=10000`` / ``urls.api.public="http://..."`` → (key path, TOML value).

    The value is read as a TOML value (numbers, true/false, quoted strings); anything else is a string.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--exchange-option {text!r}: expected KEY=VALUE, e.g. timeout=10000")
    try:
        v = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        v = value
    return [k.strip() for k in key.split(".")], v


def _deep_set(d: dict, path: list[str], value) -> None:
    for k in path[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"--exchange-option {'.'.join(path)}: {k} is not a table")
    d[path[-1]] = value


def make_downloader(exchange_id: str, cfg: dict, args=None):
    from .data.fetch import Downloader, RetryPolicy, open_exchange

    ex_cfg = cfg.get("exchange", {})
    options = copy.deepcopy(ex_cfg.get("options", {}))
    for text in getattr(args, "exchange_option", None) or []:
        _deep_set(options, *parse_option(text))
    r = dict(cfg.get("retry", {}))
    f = cfg.get("fetch", {})
    if args is not None and getattr(args, "retries", None) is not None:
        r["tries"] = args.retries
    try:
        policy = RetryPolicy(**r)
    except TypeError as exc:
        raise ConfigError(f"{cfg.get('_path', 'fetch config')}: [retry]: {exc}") from None
    limit = getattr(args, "limit", None)
    limit = f.get("limit") if limit is None else limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit / fetch.limit must be a whole number >= 1 (candles per request), got {limit!r}")
    ex = open_exchange(exchange_id, options)
    return Downloader(ex, policy=policy, limit=limit, empty_confirm=int(f.get("empty_confirm", 2)))


# --------------------------------------------------------------------------------------------------
# Progress and report
# --------------------------------------------------------------------------------------------------

class _Bar:
    """A rich progress bar per symbol: candles, candles/s, ETA. Silent when quiet or when stderr is not
    a terminal (a log file gets no bar; an error stays one line)."""

    def __init__(self, quiet: bool):
        from .data.display import stderr_is_terminal

        self.quiet = quiet or not stderr_is_terminal()
        self.progress = None

    def __enter__(self):
        if not self.quiet:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeRemainingColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[rate]}"),
                                     TaskProgressColumn(), TimeRemainingColumn(), transient=False,
                                     console=_console(stderr=True))
        self.started = False
        return self

    def __exit__(self, *exc):
        if self.started:
            self.progress.stop()

    def task(self, name: str):
        """A progress callback for ``fetch_to_store``; the bar appears only once there is work."""
        if self.progress is None:
            return None
        state = {"tid": None, "done": 0, "t0": time.perf_counter()}

        def cb(event: str, n: int):
            p = self.progress
            if state["tid"] is None:
                if event == "total" and n <= 0 or event == "done":
                    return
                if not self.started:  # no bar at all when nothing needs fetching
                    p.start()
                    self.started = True
                state["tid"] = p.add_task(name, total=None, rate="")
            tid = state["tid"]
            if event == "total":
                p.update(tid, total=n)
            elif event == "done":  # gaps on the exchange: fewer candles than the range could hold
                p.update(tid, total=state["done"], completed=state["done"])
            else:
                state["done"] += n
                rate = state["done"] / max(time.perf_counter() - state["t0"], 1e-9)
                p.update(tid, advance=n, rate=f"{rate:,.0f} candles/s")

        return cb


def _console(stderr: bool = False):
    from .data.display import make_console

    return make_console(stderr)


def print_store_table(results, title: str, quiet: bool = False) -> None:
    if quiet:
        return
    from rich.table import Table

    from .data.fetch import fmt_ms

    t = Table(title=title, header_style="bold")
    for c in ("symbol", "first", "last", "rows", "gaps (missing)", "new", "file"):
        t.add_column(c, justify="right" if c in ("rows", "new", "gaps (missing)") else "left")
    for r in results:
        t.add_row(r.symbol, fmt_ms(r.first), fmt_ms(r.last), f"{r.rows:,}", f"{r.gaps} ({r.missing})",
                  f"{r.fetched:,}" if r.wrote else "0 (up to date)",
                  str(r.path) if r.path.exists() else "- (nothing stored)")
    _console().print(t)


# --------------------------------------------------------------------------------------------------
# rmsbt fetch
# --------------------------------------------------------------------------------------------------

def run_fetch(exchange: str, symbols: list[str], timeframe: str, since_ms: int, until_ms: int | None,
              data_dir: str | Path, cfg: dict, *, args=None, quiet: bool = False, funding: bool = False,
              fmt: str | None = None):
    """Fetch every symbol (and optionally funding rates) into the store; returns the results."""
    from .data.fetch import fetch_to_store, funding_to_store
    from .data.store import symbol_to_stem

    timeframe_to_ms(timeframe)
    for s in symbols:
        symbol_to_stem(s)
    f = cfg.get("fetch", {})
    fmt = fmt or f.get("format", "parquet")
    dl = make_downloader(exchange, cfg, args)
    if funding:  # before any candle is downloaded: every symbol must be a perpetual
        for s in symbols:
            dl.swap_market(s)
    results = []
    with _Bar(quiet) as bar:
        for s in symbols:
            results.append(fetch_to_store(dl, s, timeframe, since_ms, until_ms, data_dir, fmt=fmt,
                                          checkpoint_pages=int(f.get("checkpoint_pages", 100)),
                                          progress=bar.task(f"{s} {timeframe}")))
            if funding:
                results.append(funding_to_store(dl, s, since_ms, until_ms, data_dir, progress=bar.task(f"{s} funding")))
    return results


def cmd_fetch(args) -> int:
    from .data.fetch import parse_when

    cfg = load_fetch_config(args.config)
    exchange = args.exchange or cfg.get("exchange", {}).get("id")
    if not exchange:
        raise ConfigError("fetch: give --exchange (or [exchange] id in --config)")
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise ConfigError("fetch: --symbols is empty; give e.g. BTC/USDT,ETH/USDT")
    since = parse_when(args.since, "--since")
    until = parse_when(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise ConfigError("fetch: --until must be after --since")
    results = run_fetch(exchange, symbols, args.timeframe, since, until, args.data_dir, cfg, args=args,
                        quiet=args.quiet, funding=args.funding, fmt=args.format)
    print_store_table(results, f"rmsbt fetch: {exchange} {args.timeframe} → {args.data_dir}", args.quiet)
    return 0


def fetch_for_config(config, data_dir: str | Path, fetch_config: str | None = None, quiet: bool = False):
    """``backtest --fetch``: download what the backtest needs and the store lacks (same code path).

    The range is the config's ``[data.start, data.end)`` (``end`` defaults to now). When the store
    already covers it, no network call is made and nothing is written.
    """
    d = config.data
    if d.start_ms is None:
        raise ConfigError(f"{config.path}: data.start is needed for --fetch (which candles to download)")
    results = run_fetch(d.exchange, list(d.symbols), d.timeframe, d.start_ms, d.end_ms, data_dir,
                        load_fetch_config(fetch_config), quiet=quiet)
    if any(r.wrote for r in results):
        print_store_table(results, f"rmsbt fetch: {d.exchange} {d.timeframe} → {data_dir}", quiet)
    return results


# --------------------------------------------------------------------------------------------------
# rmsbt data import | check | list
# --------------------------------------------------------------------------------------------------

def cmd_data_import(args) -> int:
    from .data.formats import import_file

    path, df, replaced = import_file(args.file, args.data_dir, args.exchange, args.symbol, args.timeframe,
                                     fmt=args.format, on_conflict=args.on_conflict)
    if not args.quiet:
        notes = "; ".join(df.attrs.get("notes", []))
        print(f"imported {len(df):,} candles ({df.attrs.get('layout', '?')}) from {args.file} → {path}"
              + (f", {replaced} stored rows replaced" if replaced else "") + (f" [{notes}]" if notes else ""))
    return 0


def cmd_data_check(args) -> int:
    from .data.check import check_file, print_reports

    reports = [check_file(f, timeframe=args.timeframe) for f in args.files]
    print_reports(reports)
    return 1 if any(not r.ok for r in reports) else 0


def cmd_data_list(args) -> int:
    from .data.check import list_store, print_listing

    print_listing(list_store(args.data_dir), args.data_dir)
    return 0


def add_parsers(sub) -> None:
    """Register ``fetch`` and ``data`` on the top-level subparsers of :mod:`rmsbt.cli`."""
    f = sub.add_parser("fetch", help="download candles through ccxt into the local store (resumable)")
    f.add_argument("--exchange", help="ccxt exchange id, e.g. binance")
    f.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USDT,ETH/USDT or BTC/USDT:USDT")
    f.add_argument("--timeframe", required=True, help="e.g. 1m, 1h, 1d")
    f.add_argument("--since", required=True, help="first bar: 2023-01-01, 2023-01-01T12:00 (UTC) or an epoch number in s/ms/us "
                        "(moved up to the next bar open; must not be in the future)")
    f.add_argument("--until", default=None, help="exclusive end (default: now; the open bar is never stored)")
    f.add_argument("--data-dir", default="data", help="store folder (default: data)")
    f.add_argument("--config", default=None, help="TOML with [exchange.options], [retry], [fetch] (configs/fetch.toml)")
    f.add_argument("--format", choices=("parquet", "csv", "csv.gz"), default=None,
                   help="format of NEW store files (default parquet; existing files keep theirs)")
    f.add_argument("--exchange-option", action="append", metavar="KEY=VALUE",
                   help="ccxt constructor option, repeatable; wins over --config (e.g. timeout=10000, "
                        "enableRateLimit=true, urls.api.public=\"http://127.0.0.1:8080/api/v3\")")
    f.add_argument("--funding", action="store_true", help="also fetch funding-rate history (perpetuals)")
    f.add_argument("--limit", type=int, default=None, help="candles per request, >= 1 (default: the exchange's maximum)")
    f.add_argument("--retries", type=int, default=None, help="tries per request before giving up (default 5)")
    f.add_argument("--quiet", action="store_true",
                   help="no progress bar and no table (the bar is only drawn when stderr is a terminal)")
    f.set_defaults(func=cmd_fetch)

    d = sub.add_parser("data", help="import, check and list candle files")
    dsub = d.add_subparsers(dest="data_command", required=True)
    i = dsub.add_parser("import", help="read a candle file in any known layout into the store")
    i.add_argument("file")
    i.add_argument("--exchange", required=True)
    i.add_argument("--symbol", required=True, help="ccxt symbol, e.g. BTC/USDT or BTC/USDT:USDT")
    i.add_argument("--timeframe", required=True,
                   help="bar length of the file, canonical spelling (1m, 1h, 1d, 1w, 1M); checked against the rows")
    i.add_argument("--data-dir", default="data")
    i.add_argument("--format", choices=("parquet", "csv", "csv.gz"), default="parquet")
    i.add_argument("--on-conflict", choices=("error", "first", "last"), default="error",
                   help="a timestamp twice with different values: refuse (default) or keep the first/last in file order")
    i.add_argument("--quiet", action="store_true")
    i.set_defaults(func=cmd_data_import)
    c = dsub.add_parser("check", help="report rows, range, duplicates, gaps, OHLC violations per file")
    c.add_argument("files", nargs="+")
    c.add_argument("--timeframe", default=None, help="bar length (default: from the file name or the data)")
    c.set_defaults(func=cmd_data_check)
    ls = dsub.add_parser("list", help="show what the store holds")
    ls.add_argument("--data-dir", default="data")
    ls.set_defaults(func=cmd_data_list)
