"""From a config to a finished backtest: load data, build the strategy, run, measure, write outputs.

The CLI calls :func:`run_config`; library users can call it too, or assemble the pieces
(:func:`rmsbt.data.load_symbol`, :func:`rmsbt.data.align`, :func:`rmsbt.engine.run_backtest`,
:func:`rmsbt.metrics.summarize`) themselves.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from numba.core import event as numba_event

from .config import Config, check_params
from .data.align import MarketData, align
from .data.store import load_symbol
from .engine.funding import funding_matrix
from .engine.intrabar import intrabar_matrix
from .engine.loop import BacktestResult, run_backtest
from .errors import ConfigError, DataError, StrategyError
from .metrics import summarize
from .strategy import Strategy
from .timeframes import timeframe_to_ms, utc_text


def _load_module_from_file(file: Path, config_file: Path):
    candidates = [file] if file.is_absolute() else [Path.cwd() / file, config_file.parent / file,
                                                     config_file.parent.parent / file]
    for c in candidates:
        if c.is_file():
            name = f"rmsbt_user_strategy_{c.stem}"
            spec = importlib.util.spec_from_file_location(name, c)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except SyntaxError as exc:
                raise ConfigError(f"{config_file}: strategy.class: {exc.filename}:{exc.lineno}: SyntaxError: "
                                  f"{exc.msg}") from None
            except ImportError as exc:
                raise ConfigError(f"{config_file}: strategy.class: importing {c} failed ({exc})") from None
            except (Exception, SystemExit) as exc:  # the user's module raised while loading
                raise StrategyError(f"{config_file}: strategy.class: importing {c} raised "
                                    f"{type(exc).__name__}: {exc}") from exc
            return mod
    raise ConfigError(f"{config_file}: strategy.class: file {file} not found (looked in "
                      + ", ".join(str(c.parent) for c in candidates) + ")")


def strategy_class(spec: str, config_file: Path) -> type[Strategy]:
    """Resolve ``"path/file.py:Class"`` (relative to the cwd, the config's folder or its parent) or
    ``"package.module:Class"``."""
    target, _, cls_name = spec.rpartition(":")
    if target.endswith(".py"):
        mod = _load_module_from_file(Path(target), config_file)
    else:
        try:
            mod = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"{config_file}: strategy.class: cannot import {target} ({exc})") from None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(mod).items()
                       if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy)
        raise ConfigError(f"{config_file}: strategy.class: no class {cls_name} in {target} "
                          f"(strategy classes there: {', '.join(found) or 'none'})")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"{config_file}: strategy.class: {cls_name} in {target} is not a rmsbt Strategy class")
    return cls


def build_strategy(config: Config) -> Strategy:
    cls = strategy_class(config.strategy.spec, config.path)
    params = check_params(config.strategy.params, getattr(cls, "PARAMS", {}), str(config.path))
    try:
        return cls(**params)
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    except (Exception, SystemExit) as exc:  # the user's __init__ raised
        raise StrategyError(f"{config.path}: strategy {cls.__name__} raised {type(exc).__name__} in __init__: "
                            f"{exc}") from exc


def load_market(config: Config, data_dir: str | Path) -> MarketData:
    d = config.data
    frames = {s: load_symbol(data_dir, d.exchange, s, d.timeframe) for s in d.symbols}
    try:
        return align(frames, d.timeframe, d.start_ms, d.end_ms)
    except DataError as exc:  # e.g. no candles in [data.start, data.end): name the config
        raise DataError(f"{config.path}: data.start/data.end: {exc}") from None


def coverage_notes(config: Config, market: MarketData) -> list[str]:
    """Notes when the candles cover less than the configured ``[data.start, data.end)`` (by a bar or more)."""
    fmt = utc_text
    tf = timeframe_to_ms(market.timeframe)
    first, end = int(market.timestamps[0]), int(market.timestamps[-1]) + tf
    d, notes = config.data, []
    if d.start_ms is not None and first - d.start_ms >= tf:
        notes.append(f"the candles start at {fmt(first)}, after data.start ({fmt(d.start_ms)}): the run covers "
                     "less than the configured period")
    if d.end_ms is not None and d.end_ms - end >= tf:
        notes.append(f"the candles end at {fmt(end)}, before data.end ({fmt(d.end_ms)}): the run covers less "
                     "than the configured period")
    return notes


@dataclass
class Run:
    config: Config
    result: BacktestResult
    summary: dict
    strategy: Strategy
    market: MarketData | None = None  #: the aligned candles (outputs write their closes; metrics' buy-and-hold)
    timing: dict = field(default_factory=dict)  #: seconds per phase (never written to the outputs)


def run_config(config: Config, data_dir: str | Path = "data", progress=None) -> Run:
    """Run a config. ``Run.timing`` splits the wall time: ``data`` (loading candles), ``kernels`` (Numba
    compiling or loading its cache, whenever it happens), ``simulation`` (the bar loop without the
    kernel compilation) and ``metrics``."""
    listen = lambda: numba_event.install_listener("numba:compiler_lock", numba_event.TimingListener())  # noqa: E731
    seconds = lambda timer: timer.duration if timer.done else 0.0  # noqa: E731
    t0 = time.perf_counter()
    with listen() as k_data:
        strategy = build_strategy(config)
        market = load_market(config, data_dir)
        # errors of the broker's extra inputs name the config file and key that asked for them
        try:
            funding = funding_matrix(config.broker, market.symbols, market.timestamps,
                                     timeframe_to_ms(market.timeframe), data_dir, config.data.exchange)
        except DataError as exc:
            raise DataError(f"{config.path}: broker.funding = \"{config.broker.funding}\": {exc}") from None
        try:
            intrabar = intrabar_matrix(config.broker, market, data_dir, config.data.exchange)
        except DataError as exc:
            msg = str(exc)
            raise DataError(f"{config.path}: " + (msg if msg.startswith("broker.") else
                                                  f"broker.intrabar = \"{config.broker.intrabar}\": {msg}")) from None
    t1 = time.perf_counter()
    with listen() as k_sim:
        try:
            result = run_backtest(strategy, market, config.broker, progress=progress, funding=funding,
                                  intrabar=intrabar)
        except ConfigError as exc:  # a strategy checking its params against the data (on_start)
            raise ConfigError(f"{config.path}: {exc}") from None
    t2 = time.perf_counter()
    m = config.metrics
    summary = summarize(result, market=market, periods_per_year=m.periods_per_year, risk_free=m.risk_free)
    summary.setdefault("notes", []).extend(coverage_notes(config, market))
    if config.broker.intrabar == "finer_candles":
        summary["notes"].append(
            f"intrabar = finer_candles: over the whole run, {result.intrabar_finer_bars} bar(s) took the order of their high and low "
            f"from {config.broker.intrabar_timeframe} candles; every other bar used adverse-first"
            + (" (no finer candles covered this run)" if result.intrabar_finer_bars == 0 else ""))
    timing = {"data": t1 - t0 - seconds(k_data), "kernels": seconds(k_data) + seconds(k_sim),
              "simulation": t2 - t1 - seconds(k_sim), "metrics": time.perf_counter() - t2}
    return Run(config, result, summary, strategy, market, timing)
