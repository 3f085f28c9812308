"""TOML configs for ``rmsbt backtest``: parsed into typed objects, every error naming file and key.

A config has these tables::

    [data]       exchange, symbols, timeframe, start (optional), end (optional)
    [broker]     initial_cash, mode, taker_fee_bps (alias fee_bps), maker_fee_bps, ... (docs/broker.md)
    [strategy]   class = "strategies/pairs_rmsprop.py:PairsRMSprop"  (or "package.module:Class")
    [strategy.params]  whatever the strategy class declares in its ``PARAMS``
    [metrics]    optional: periods_per_year (> 0; default 365 days / bar length), risk_free (annual
                 rate, finite and > −1; default 0) — docs/metrics.md

``data.timeframe`` may be any fixed bar length (``1m`` … ``1w``); calendar months (``1M``) are refused:
their bars are 28–31 days long, and bar counts, durations and annualisation assume one bar length.

``start`` is inclusive and ``end`` exclusive; both are UTC dates (``2021-01-01``) or date-times
(``2021-01-01T12:00``, read as UTC unless an offset is given) and select bars by their open time.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data.store import check_exchange_name, symbol_to_stem
from .engine.broker import BrokerConfig
from .errors import ConfigError, RmsbtError
from .timeframes import timeframe_to_ms


@dataclass(frozen=True)
class DataConfig:
    exchange: str
    symbols: tuple[str, ...]
    timeframe: str
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class StrategyConfig:
    spec: str  # "path/to/file.py:Class" or "module:Class"
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsConfig:
    periods_per_year: float | None = None  #: None: 365 days / bar length
    risk_free: float = 0.0  #: annual rate


@dataclass(frozen=True)
class Config:
    name: str
    path: Path
    data: DataConfig
    broker: BrokerConfig
    strategy: StrategyConfig
    raw: dict  # the parsed TOML, echoed into summary.json
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


def parse_time_ms(value: Any, where: str) -> int:
    """A UTC date / date-time (TOML date, TOML datetime or ISO string) → ms since the epoch."""
    if isinstance(value, dt.datetime):
        d = value
    elif isinstance(value, dt.date):
        d = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            d = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a date such as 2021-01-01 or 2021-01-01T12:00") from None
    else:
        raise ConfigError(f"{where}: expected a date such as 2021-01-01, got {type(value).__name__}")
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp() * 1000)


def _table(raw: dict, key: str, file: str) -> dict:
    t = raw.get(key, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{file}: [{key}] must be a table")
    return t


def _num(table: dict, key: str, default: float, where: str, *, min_excl: float | None = None,
         min_incl: float | None = None) -> float:
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}.{key}: expected a number, got {v!r}")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        raise ConfigError(f"{where}.{key}: must be finite, got {v!r}")
    if min_excl is not None and not v > min_excl:
        raise ConfigError(f"{where}.{key}: must be > {min_excl:g}, got {v!r}")
    if min_incl is not None and not v >= min_incl:
        raise ConfigError(f"{where}.{key}: must be >= {min_incl:g}, got {v!r}")
    return v


def load_config(path: str | Path) -> Config:
    """Read and validate a backtest config. Raises :class:`ConfigError` naming the file and key."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None

    unknown = sorted(set(raw) - {"name", "data", "broker", "strategy", "metrics"})
    if unknown:
        raise ConfigError(f"{file}: unknown key {unknown[0]}; allowed top-level keys: name, [data], [broker], "
                          "[strategy], [metrics]")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ConfigError(f"{file}: name must be a non-empty string without slashes")

    d = _table(raw, "data", file)
    _keys(d, {"exchange", "symbols", "timeframe", "start", "end"}, {"exchange", "symbols", "timeframe"}, file, "data")
    try:
        exchange = check_exchange_name(d["exchange"])
        symbols = d["symbols"]
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise ConfigError(f"{file}: data.symbols must be a non-empty list of strings such as \"BTC/USDT\"")
        for s in symbols:
            symbol_to_stem(s)
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"{file}: data.symbols lists a symbol twice")
        timeframe_to_ms(d["timeframe"])
        if d["timeframe"].endswith("M"):
            raise ConfigError(f"{file}: data.timeframe: {d['timeframe']!r} (calendar months) is not supported in "
                              "backtests: month bars are 28–31 days long, and bar counts, durations and "
                              "annualisation assume one fixed bar length; use 1w or 1d")
    except ConfigError:
        raise
    except RmsbtError as exc:
        raise ConfigError(f"{file}: data: {exc}") from None
    start = parse_time_ms(d["start"], f"{file}: data.start") if "start" in d else None
    end = parse_time_ms(d["end"], f"{file}: data.end") if "end" in d else None
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"{file}: data.end must be after data.start")
    data = DataConfig(exchange, tuple(symbols), d["timeframe"], start, end)

    broker = parse_broker(_table(raw, "broker", file), file, data.symbols)

    s = _table(raw, "strategy", file)
    _keys(s, {"class", "params"}, {"class"}, file, "strategy")
    if not isinstance(s["class"], str) or ":" not in s["class"]:
        raise ConfigError(f"{file}: strategy.class must look like \"strategies/pairs_rmsprop.py:PairsRMSprop\"")
    params = s.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{file}: strategy.params must be a table")
    metrics = parse_metrics(_table(raw, "metrics", file), file)
    return Config(name, path, data, broker, StrategyConfig(s["class"], dict(params)), raw, metrics)


def parse_metrics(t: dict, file: str) -> MetricsConfig:
    """The optional ``[metrics]`` table → :class:`MetricsConfig` (periods_per_year > 0; risk_free > −1)."""
    _keys(t, {"periods_per_year", "risk_free"}, set(), file, "metrics")
    w = f"{file}: metrics"
    ppy = _num(t, "periods_per_year", 1.0, w, min_excl=0.0) if "periods_per_year" in t else None
    return MetricsConfig(ppy, _num(t, "risk_free", 0.0, w, min_excl=-1.0))


BROKER_KEYS = {"initial_cash", "mode", "fee_bps", "taker_fee_bps", "maker_fee_bps", "fixed_fee", "min_fee",
               "slippage_bps", "spread_bps", "impact_bps", "volume_cap", "on_insufficient", "protective_same_bar",
               "max_leverage", "maintenance_margin", "liquidation_fee_bps", "lot_size", "min_notional", "funding",
               "funding_rate", "funding_interval_hours", "intrabar", "intrabar_timeframe"}


def parse_broker(b: dict, file: str, symbols=()) -> BrokerConfig:
    """The ``[broker]`` table → :class:`BrokerConfig` (keys and rules: docs/broker.md).

    This checks what only a config file has (unknown keys, the ``fee_bps`` alias, per-symbol tables
    naming symbols of ``data.symbols``); every value is checked by ``BrokerConfig`` itself (one set of
    rules for TOML and library users), its error prefixed with the file."""
    _keys(b, BROKER_KEYS, set(), file, "broker")
    w = f"{file}: broker"
    if "fee_bps" in b and "taker_fee_bps" in b:
        raise ConfigError(f"{w}.fee_bps: is an alias of broker.taker_fee_bps; give only one of them")
    for key in ("max_leverage", "lot_size", "min_notional"):
        v = b.get(key)
        if isinstance(v, dict):
            for sym in v:
                if sym != "*" and sym not in symbols:
                    raise ConfigError(f"{w}.{key}: {sym!r} is not in data.symbols ({', '.join(symbols)})")
    values = {("taker_fee_bps" if k == "fee_bps" else k): v for k, v in b.items()}
    try:
        return BrokerConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _keys(table: dict, allowed: set[str], required: set[str], file: str, section: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{file}: unknown key {section}.{unknown[0]}; allowed in [{section}]: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(table))
    if missing:
        raise ConfigError(f"{file}: missing key {section}.{missing[0]}")


def check_params(params: dict, spec: dict[str, tuple[type, Any]], file: str, section: str = "strategy.params") -> dict:
    """Validate a strategy's params against ``spec`` = {name: (type, default)}; return them with defaults.

    Unknown keys and wrong types raise :class:`ConfigError` naming ``section.key`` and the file.
    ``float`` accepts integers; ``bool`` accepts only booleans.
    """
    unknown = sorted(set(params) - set(spec))
    if unknown:
        if not spec:
            raise ConfigError(f"{file}: unknown key {section}.{unknown[0]}: the strategy declares no PARAMS "
                              "(add PARAMS = {name: (type, default)} to its class to accept parameters)")
        raise ConfigError(f"{file}: unknown key {section}.{unknown[0]}; allowed: {', '.join(sorted(spec))}")
    out = {}
    for k, (typ, default) in spec.items():
        v = params.get(k, default)
        ok = (isinstance(v, bool) if typ is bool else
              (isinstance(v, (int, float)) and not isinstance(v, bool)) if typ is float else
              (isinstance(v, int) and not isinstance(v, bool)) if typ is int else isinstance(v, typ))
        if not ok:
            raise ConfigError(f"{file}: {section}.{k}: expected {typ.__name__}, got {v!r}")
        out[k] = float(v) if typ is float else v
    return out
