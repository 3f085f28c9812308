"""Download candles (and funding rates) through ccxt into the local store: resumable, polite, atomic.

Pagination (:func:`paginate`), for a wanted range ``[start, end)`` of bar open times:

- ``end`` is cut to the last *closed* bar: a bar opened at ``t`` is closed once ``now >= t + tf``
  (calendar month for ``1M``). The still-open bar is never stored.
- Ask ``fetch_ohlcv(symbol, tf, since=cursor, limit)``; keep rows with ``start <= ts < end``; the
  next ``cursor`` is ``last_ts + tf`` (never ``last_ts``: ``since`` is inclusive).
- A short page is not the end: the loop goes on from ``last_ts + tf`` until ``cursor >= end``.
- An empty page (or one whose rows are all before ``cursor``) is not the end either: through ccxt a
  truncated body comes back as ``[]``. It is re-asked ``empty_confirm`` times (default 2), after the
  same back-off as a retry; if it stays empty the range ``[cursor, cursor + limit * tf)`` is taken
  as a gap on the exchange and the cursor steps past it.
- A page whose first row is at or after ``end`` ends the loop (nothing left in the range).
- Overlapping pages are merged on the timestamp; a row received again replaces the earlier one.

Faults (:func:`call_with_retries`): ccxt's ``OperationFailed`` family (``NetworkError``,
``RequestTimeout``, ``RateLimitExceeded``, ``DDoSProtection`` (HTTP 418/429), ``ExchangeNotAvailable``
(HTTP 5xx), ``BadResponse``) and malformed pages are retried: at most ``RetryPolicy.tries`` attempts
per request (default 5), waiting ``min(max_delay, base_delay * 2**(k-1)) * (1 + jitter * u)`` before
retry ``k`` with ``u`` drawn from a ``random.Random(seed)`` (default seed 0: reproducible), and never
less than the server's ``Retry-After`` header (seconds, capped at ``max_retry_after``). After the last
try a :class:`FetchError` says which request failed and how far the download got. Errors retrying
cannot fix (unknown exchange, symbol, timeframe; no OHLCV) fail at once and list what is valid.

ccxt's own rate limiter (``enableRateLimit``) stays on unless the options turn it off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from ..timeframes import timeframe_to_ms, utc_text
from .store import (COLUMNS, funding_path, merge_candles, read_funding_file, read_store_file, store_path,
                    symbol_to_stem, write_candles, write_table)
from .gaps import find_gaps, grid_offset
from .units import MS_MIN, scalar_to_ms
from .validate import validate_candles


class FetchError(DataError):
    """A download failed (after retries) or cannot start (unknown exchange/symbol/timeframe)."""


class MalformedResponse(Exception):
    """A page that is not a list of ``[ts, o, h, l, c, v]`` rows (retried like a network fault)."""


def _ccxt():
    import ccxt

    return ccxt


def retryable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a retry can cure: ccxt's OperationFailed family and malformed pages."""
    return (_ccxt().OperationFailed, MalformedResponse)


def fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return utc_text(ms, suffix=False)


# --------------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------------

def parse_when(value, what: str = "--since") -> int:
    """THE conversion of a ``--since``/``--until`` value to int ms UTC (the CLI, ``backtest --fetch``
    and :func:`fetch_to_store` all go through it, and it is idempotent on its own results):

    - a date (``2023-01-01``), ISO date-time (``2023-01-01T12:00``; UTC unless an offset is given);
      a date before 1e11 ms (1973-03-03 09:46:40 UTC) is taken as that instant (:data:`~rmsbt.data.units.MS_MIN`:
      no market existed before, and earlier instants cannot be told apart from epoch seconds);
    - an epoch number, unit by :mod:`rmsbt.data.units` (``1704067200`` s and ``1704067200000`` ms are
      the same instant). An epoch number before 1973-03-03 is refused: it is a typo (``20240101``
      read as seconds is 1970-08-23), never a wanted date.
    """
    def epoch(x) -> int:
        try:
            ms = scalar_to_ms(x)
        except DataError as exc:
            raise FetchError(f"{what}: {value!r}: {exc}") from None
        if ms < MS_MIN:
            looks_like_date = re.fullmatch(r"(19|20)\d{6}", str(value).strip())
            hint = (f"; did you mean {str(value)[:4]}-{str(value)[4:6]}-{str(value)[6:8]}?" if looks_like_date
                    else "; give a date such as 2023-01-01")
            raise FetchError(f"{what}: {value!r} as an epoch number is {fmt_ms(ms)} UTC, before any market{hint}")
        return ms

    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(float(value)):
            raise FetchError(f"{what}: {value!r} is not a date or an epoch number")
        return epoch(value)
    if isinstance(value, dt.datetime):
        d = value
    elif isinstance(value, dt.date):
        d = dt.datetime(value.year, value.month, value.day)
    else:
        s = str(value).strip()
        try:
            x = float(s)
        except ValueError:
            x = None
        if x is not None:
            if not np.isfinite(x):
                raise FetchError(f"{what}: {value!r} is not a date or an epoch number")
            return epoch(int(x) if x == int(x) and abs(x) < 2**63 else x)
        try:
            d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise FetchError(f"{what}: {value!r} is not a date such as 2023-01-01, a date-time such as "
                             "2023-01-01T12:00 or an epoch number") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return max(MS_MIN, int(round(d.timestamp() * 1000)))


def next_open(ts: int, timeframe: str) -> int:
    """Open time of the bar after the one opened at ``ts`` (calendar months for ``nM``)."""
    if timeframe.endswith("M"):
        n = int(timeframe[:-1])
        d = dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc)
        m = d.month - 1 + n
        d2 = d.replace(year=d.year + m // 12, month=m % 12 + 1)
        return int(d2.timestamp() * 1000)
    return ts + timeframe_to_ms(timeframe)


def closed_end(now_ms: int, timeframe: str) -> int:
    """Exclusive bound on open times of closed bars: bar ``t`` is closed iff ``t + tf <= now``.

    For bars on the timeframe's grid (:func:`rmsbt.data.gaps.grid_offset`: multiples of ``tf``
    since the epoch, weeks from Monday 1970-01-05) that is the grid point at or before ``now``:
    ``floor((now - off) / tf) * tf + off``; for ``1M`` it is the first day of the current month
    (00:00 UTC).
    """
    if timeframe.endswith("M"):
        if timeframe != "1M":
            raise FetchError(f"timeframe {timeframe!r}: only 1M is supported for monthly candles")
        d = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.timezone.utc)
        return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    tf = timeframe_to_ms(timeframe)
    off = grid_offset(timeframe)
    return (now_ms - off) // tf * tf + off


def grid_ceil(t: int, timeframe: str) -> int:
    """The first bar open time at or after ``t`` (``2018-01-01T00:30`` → ``01:00`` for 1h)."""
    b = closed_end(t, timeframe)  # the grid point at or before t
    return b if b == t else next_open(b, timeframe)


# --------------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------------

@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter (see the module docstring for the formula)."""

    tries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25
    max_retry_after: float = 300.0
    seed: int = 0
    _rng: random.Random = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.tries < 1:
            raise FetchError(f"retry tries must be >= 1, got {self.tries}")
        self._rng = random.Random(self.seed)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        d = min(self.max_delay, self.base_delay * 2 ** (retry - 1)) * (1.0 + self.jitter * self._rng.random())
        if retry_after is not None and retry_after > 0:
            d = max(d, min(retry_after, self.max_retry_after))
        return d


def parse_retry_after(headers) -> float | None:
    """``Retry-After`` in seconds (a number; HTTP dates are ignored), or None."""
    if not headers:
        return None
    v = None
    for k in headers:
        if str(k).lower() == "retry-after":
            v = headers[k]
            break
    try:
        return max(0.0, float(v)) if v is not None else None
    except (TypeError, ValueError):
        return None


class GaveUp(Exception):
    def __init__(self, last: BaseException, tries: int):
        super().__init__(f"{type(last).__name__}: {str(last)[:200]}")
        self.last, self.tries = last, tries


def call_with_retries(fn: Callable[[], object], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep,
                      retry_after: Callable[[BaseException], float | None] = lambda exc: None, on_retry=None):
    """Call ``fn`` until it succeeds, retrying retryable errors; raise :class:`GaveUp` after ``policy.tries``."""
    retryable = retryable_errors()
    for attempt in range(1, policy.tries + 1):
        try:
            return fn()
        except retryable as exc:
            if attempt == policy.tries:
                raise GaveUp(exc, attempt) from exc
            wait = policy.delay(attempt, retry_after(exc))
            if on_retry is not None:
                on_retry(exc, attempt, wait)
            sleep(wait)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------------

def check_page(page, width: int = 6) -> np.ndarray:
    """A page must be a list of rows ``[int ts, numbers...]`` of at least ``width`` fields.

    Returns a float64 array ``(n, width)`` (timestamps below 2**53 are exact in float64).
    """
    if not isinstance(page, list):
        raise MalformedResponse(f"expected a list of rows, got {type(page).__name__}")
    if not page:
        return np.zeros((0, width))
    try:
        a = np.asarray(page, dtype=np.float64)
    except (TypeError, ValueError):
        raise MalformedResponse(f"malformed rows, first {page[0]!r:.80}") from None
    if a.ndim != 2 or a.shape[1] < width:
        raise MalformedResponse(f"malformed rows, first {page[0]!r:.80}")
    a = a[:, :width]
    t = a[:, 0]
    if not (np.isfinite(t).all() and (t == np.floor(t)).all() and (np.abs(t) < 2.0**53).all()):
        raise MalformedResponse("non-integer timestamp in a page")
    return a


@dataclass
class PageLog:
    """What the pagination did (for tests and the final report)."""

    requests: int = 0
    pages: int = 0
    empty: int = 0
    steps: int = 0  # empty windows stepped over
    retries: int = 0


def paginate(fetch_page: Callable[[int, int], list], start: int, end: int, *, limit: int,
             step: Callable[[int], int], empty_skip: int, policy: RetryPolicy | None = None,
             sleep: Callable[[float], None] = time.sleep,
             retry_after: Callable[[BaseException], float | None] = lambda exc: None,
             on_page: Callable[[np.ndarray], None] | None = None, empty_confirm: int = 2, width: int = 6,
             what: str = "") -> tuple[np.ndarray, PageLog]:
    """Fetch every row with ``start <= ts < end`` (``end`` already cut to closed bars).

    ``fetch_page(since, limit)`` returns raw rows; ``step(ts)`` is the next bar's open after ``ts``;
    ``empty_skip`` is how far (ms) to step over a confirmed-empty window. Returns the rows as a float64
    array ``(n, width)`` sorted by timestamp (a timestamp received twice keeps the later answer) and
    a :class:`PageLog`. Raises :class:`FetchError` after bounded retries, saying how far it got.
    """
    policy = policy or RetryPolicy()
    pieces: list[np.ndarray] = []
    got, last_got = 0, None
    log = PageLog()
    cursor, empties, in_gap = int(start), 0, False

    def retried(exc, attempt, wait):
        log.retries += 1

    while cursor < end:
        log.requests += 1
        try:
            page = call_with_retries(lambda: check_page(fetch_page(cursor, limit), width), policy, sleep=sleep,
                                     retry_after=retry_after, on_retry=retried)
        except GaveUp as g:
            so_far = f"{got} rows up to {fmt_ms(last_got)}" if got else "nothing"
            raise FetchError(
                f"{what}: gave up after {g.tries} {'try' if g.tries == 1 else 'tries'} on the page starting {fmt_ms(cursor)} ({g}); "
                f"got {so_far} of [{fmt_ms(start)}, {fmt_ms(end)}); run the same command again to resume"
            ) from None
        t = page[:, 0]
        after = t >= cursor
        if after.any() and t[after].min() >= end:
            break  # the exchange has nothing more inside the range
        keep = page[(t >= start) & (t < end)]
        fresh = keep[keep[:, 0] >= cursor]
        if len(keep):
            pieces.append(keep)
        if not len(fresh):
            log.empty += 1
            if empties < empty_confirm:  # re-ask after a back-off: a transient fault looks the same
                empties += 1
                if not in_gap:  # inside a long confirmed gap the back-off is not repeated per window
                    sleep(policy.delay(empties))
                continue
            empties = 0
            in_gap = True
            log.steps += 1
            cursor += empty_skip
            continue
        empties, in_gap = 0, False
        log.pages += 1
        last = int(fresh[:, 0].max())
        got, last_got = got + len(fresh), last
        cursor = int(step(last))
        if on_page is not None:
            on_page(fresh)
    if not pieces:
        return np.zeros((0, width)), log
    rows = np.concatenate(pieces)
    # keep the LAST answer for a timestamp: unique over the reversed rows, then sort ascending
    rev = rows[::-1]
    _, idx = np.unique(rev[:, 0], return_index=True)
    return rev[idx], log


# --------------------------------------------------------------------------------------------------
# ccxt exchange
# --------------------------------------------------------------------------------------------------

_SECRET_KEYS = {"apikey", "secret", "password", "uid", "privatekey", "walletaddress", "token"}


def open_exchange(exchange_id: str, options: dict | None = None):
    """Construct a ccxt exchange (no network call yet).

    ``options`` go to the ccxt constructor (``timeout``, ``enableRateLimit``, ``rateLimit``,
    ``proxies``, ``urls`` (deep-merged, e.g. ``{"api": {"public": "http://127.0.0.1:8080/api/v3"}}``),
    ``options``); ``sandbox = true`` switches to the exchange's testnet. API keys are refused here:
    public candles need none.
    """
    ccxt = _ccxt()
    if exchange_id not in ccxt.exchanges:
        near = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; ccxt knows {len(ccxt.exchanges)} exchanges (e.g. binance, kraken, okx, bybit, coinbase)"
        raise FetchError(f"unknown exchange {exchange_id!r}{hint}")
    cfg = dict(options or {})
    secret = sorted(k for k in cfg if k.lower() in _SECRET_KEYS)
    if secret:
        raise FetchError(f"exchange options: {secret[0]} is not accepted (public candles need no API keys; "
                         "rmsbt never reads or stores keys)")
    sandbox = cfg.pop("sandbox", False)
    if not isinstance(sandbox, bool):
        raise FetchError(f"exchange option sandbox = {sandbox!r}: expected true or false")
    cls = getattr(ccxt, exchange_id)
    check_exchange_options(cls, cfg)
    cfg.setdefault("enableRateLimit", True)
    try:
        ex = cls(cfg)
    except Exception as exc:  # noqa: BLE001 - whatever ccxt's constructor trips on, one line
        raise FetchError(f"exchange options for {exchange_id} refused by ccxt ({type(exc).__name__}: {exc})") from None
    if sandbox:
        ex.set_sandbox_mode(True)
    return ex


#: the options users set most; any attribute of the ccxt exchange class is accepted
COMMON_OPTIONS = ("timeout", "enableRateLimit", "rateLimit", "proxies", "httpsProxy", "httpProxy", "socksProxy",
                  "urls", "options", "headers", "userAgent", "verbose", "sandbox")


def check_exchange_options(cls, cfg: dict) -> None:
    """Refuse option keys the ccxt exchange class does not have (a typo would be silently ignored
    by ccxt) and values whose type differs from the class default's (``timeout = "abc"``): bool
    defaults need true/false, numeric ones a number, dict ones a table; ``None`` defaults take anything."""
    for k, v in cfg.items():
        if not hasattr(cls, k):
            near = difflib.get_close_matches(k, [a for a in dir(cls) if not a.startswith("_")], n=3, cutoff=0.7)
            hint = f"did you mean {', '.join(near)}? " if near else ""
            raise FetchError(f"exchange option {k!r} is not a ccxt {cls.__name__} option; {hint}"
                             f"common ones: {', '.join(COMMON_OPTIONS)}")
        default = getattr(cls, k)
        if callable(default):
            raise FetchError(f"exchange option {k!r} is a ccxt method, not an option")
        if isinstance(default, bool):
            ok, want = isinstance(v, bool), "true or false"
        elif isinstance(default, (int, float)):
            ok, want = isinstance(v, (int, float)) and not isinstance(v, bool), "a number"
        elif isinstance(default, dict):
            ok, want = isinstance(v, dict), "a table"
        elif isinstance(default, str):
            ok, want = isinstance(v, str), "a string"
        else:
            ok, want = True, ""
        if not ok:
            raise FetchError(f"exchange option {k} = {v!r}: expected {want} (ccxt's default is {default!r})")


class Downloader:
    """One exchange: loads its markets once (with retries) and checks symbols and timeframes."""

    def __init__(self, exchange, *, policy: RetryPolicy | None = None, sleep=time.sleep,
                 now_ms: Callable[[], int] | None = None, limit: int | None = None, empty_confirm: int = 2):
        self.ex = exchange
        self.id = exchange.id
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.limit = limit
        self.empty_confirm = empty_confirm
        self._loaded = False

    @contextlib.contextmanager
    def _refused(self, what: str):
        """A ccxt error retrying cannot fix (bad request, bad symbol, ...) → one-line FetchError."""
        try:
            yield
        except _ccxt().BaseError as exc:
            raise FetchError(f"{self.id} refused {what} ({type(exc).__name__}: {str(exc)[:200]})") from None

    def retry_after(self, exc: BaseException) -> float | None:
        """The server's Retry-After, for the errors that carry one (429/418 → RateLimitExceeded or
        DDoSProtection, 503 → ExchangeNotAvailable); never a stale header after a timeout."""
        ccxt = _ccxt()
        if not isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.ExchangeNotAvailable)):
            return None
        return parse_retry_after(getattr(self.ex, "last_response_headers", None))

    def _call(self, fn, what: str):
        try:
            return call_with_retries(fn, self.policy, sleep=self.sleep, retry_after=self.retry_after)
        except GaveUp as g:
            raise FetchError(f"{self.id}: {what} failed after {g.tries} {'try' if g.tries == 1 else 'tries'} ({g})") from None

    def load(self) -> None:
        if self._loaded:
            return
        ccxt = _ccxt()
        try:
            self._call(self.ex.load_markets, "loading the market list")
        except ccxt.BaseError as exc:
            raise FetchError(f"{self.id}: cannot load the market list ({type(exc).__name__}: {str(exc)[:200]})") from None
        self._loaded = True

    def check(self, symbol: str, timeframe: str, kind: str = "ohlcv") -> dict:
        """The ccxt market of ``symbol``; FetchError listing valid names when anything is unknown."""
        symbol_to_stem(symbol)
        self.load()
        has = self.ex.has.get("fetchOHLCV" if kind == "ohlcv" else "fetchFundingRateHistory")
        if not has:
            raise FetchError(f"{self.id} does not offer {'OHLCV candles' if kind == 'ohlcv' else 'funding-rate history'} through ccxt")
        if symbol not in self.ex.markets:
            upper = {m.upper(): m for m in self.ex.markets}
            near = ([upper[symbol.upper()]] if symbol.upper() in upper else []) + \
                difflib.get_close_matches(symbol.upper(), list(upper), n=5, cutoff=0.5)
            near = list(dict.fromkeys(upper.get(n, n) for n in near))[:5]
            hint = f"; nearest: {', '.join(near)}" if near else ""
            raise FetchError(f"{self.id} has no market {symbol!r}{hint} ({len(self.ex.markets)} markets)")
        tfs = self.ex.timeframes or {}
        if kind == "ohlcv":
            timeframe_to_ms(timeframe)
            if tfs and timeframe not in tfs:
                raise FetchError(f"{self.id} has no timeframe {timeframe!r}; it offers {', '.join(tfs)}")
        return self.ex.markets[symbol]

    def page_limit(self, market: dict, kind: str = "ohlcv") -> int:
        if self.limit:
            return int(self.limit)
        feats = getattr(self.ex, "features", None) or {}
        mtype = market.get("type", "spot")
        node = feats.get(mtype, {}) or {}
        if mtype in ("swap", "future"):
            node = node.get("linear" if market.get("linear") else "inverse", {}) or {}
        meth = node.get("fetchOHLCV") if kind == "ohlcv" else None
        lim = (meth or {}).get("limit") if isinstance(meth, dict) else None
        return int(lim) if lim else (1000 if kind == "funding" else 500)

    # -- candles ------------------------------------------------------------------------------------
    def candles(self, symbol: str, timeframe: str, start: int, end: int, *, on_page=None) -> tuple[pd.DataFrame, PageLog]:
        """Closed candles with ``start <= ts < end`` as a validated frame."""
        market = self.check(symbol, timeframe)
        limit = self.page_limit(market)
        end = min(end, closed_end(self.now_ms(), timeframe))
        with self._refused(f"{symbol} {timeframe}"):
            rows, log = paginate(
                lambda since, lim: self.ex.fetch_ohlcv(symbol, timeframe, since=since, limit=lim),
                start, end, limit=limit, step=lambda t: next_open(t, timeframe),
                empty_skip=limit * timeframe_to_ms(timeframe), policy=self.policy, sleep=self.sleep,
                retry_after=self.retry_after, on_page=on_page, empty_confirm=self.empty_confirm,
                what=f"{self.id} {symbol} {timeframe}")
        return rows_to_frame(rows, f"{self.id} {symbol} {timeframe}"), log

    def swap_market(self, symbol: str) -> dict:
        """The market of a perpetual swap; FetchError when ``symbol`` is not one (no funding rates)."""
        market = self.check(symbol, "8h", kind="funding")
        if not market.get("swap"):
            raise FetchError(f"{self.id} {symbol} is not a perpetual swap; funding rates exist only for "
                             "symbols such as BTC/USDT:USDT")
        return market

    # -- funding rates -----------------------------------------------------------------------------
    def funding(self, symbol: str, start: int, end: int, *, on_page=None) -> tuple[pd.DataFrame, PageLog]:
        """Funding-rate history ``timestamp, funding_rate`` with ``start <= ts < min(end, now)``."""
        self.swap_market(symbol)
        limit = self.limit or 1000

        def page(since, lim):
            res = self.ex.fetch_funding_rate_history(symbol, since=since, limit=lim)
            if not isinstance(res, list):
                raise MalformedResponse(f"expected a list of funding rates, got {type(res).__name__}")
            return [[r.get("timestamp"), r.get("fundingRate")] for r in res]

        with self._refused(f"{symbol} funding rates"):
            rows, log = paginate(page, start, min(end, self.now_ms() + 1), limit=limit, step=lambda t: t + 1,
                                 empty_skip=limit * 3_600_000, policy=self.policy, sleep=self.sleep,
                                 retry_after=self.retry_after, on_page=on_page, empty_confirm=self.empty_confirm,
                                 width=2, what=f"{self.id} {symbol} funding")
        return pd.DataFrame({"timestamp": rows[:, 0].astype(np.int64), "funding_rate": rows[:, 1]}), log


def rows_to_frame(rows, source: str) -> pd.DataFrame:
    """``(n, 6)`` rows ``[ts, o, h, l, c, v]`` (array or list of arrays) → a validated candle frame."""
    a = np.concatenate(rows) if isinstance(rows, list) and rows and isinstance(rows[0], np.ndarray) \
        else np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    df = pd.DataFrame({c: a[:, i] for i, c in enumerate(COLUMNS)})
    df["timestamp"] = a[:, 0].astype(np.int64)
    return df if len(df) == 0 else validate_candles(df, source)


# --------------------------------------------------------------------------------------------------
# Into the store
# --------------------------------------------------------------------------------------------------

@dataclass
class StoreResult:
    symbol: str
    path: Path
    rows: int
    first: int | None
    last: int | None
    gaps: int
    missing: int
    fetched: int
    replaced: int
    wrote: bool
    log: PageLog | None = None


def missing_ranges(existing: pd.DataFrame | None, start: int, end: int, timeframe: str) -> list[tuple[int, int]]:
    """What a store file lacks of ``[start, end)``: before its first and after its last candle.

    Gaps inside the stored range are taken as the exchange's own gaps and are not asked again.
    """
    if existing is None or len(existing) == 0:
        return [(start, end)] if start < end else []
    first = int(existing["timestamp"].iloc[0])
    last = int(existing["timestamp"].iloc[-1])
    out = []
    if start < first:
        out.append((start, min(first, end)))
    tail = max(start, next_open(last, timeframe))
    if tail < end:
        out.append((tail, end))
    return [(a, b) for a, b in out if a < b]


def fetch_to_store(dl: Downloader, symbol: str, timeframe: str, since: int, until: int | None,
                   data_dir: str | Path, *, fmt: str = "parquet", checkpoint_pages: int = 100,
                   progress: Callable[[str, int], None] | None = None) -> StoreResult:
    """Bring ``<data-dir>/<exchange>/<symbol>-<tf>`` up to date for ``[since, until)``.

    Only missing ranges are downloaded (:func:`missing_ranges`); when nothing is missing no network
    call is made and nothing is written. The range after the last stored candle is written every
    ``checkpoint_pages`` pages (atomically), so a killed run resumes where the file ends; a range
    before the first stored candle is written once, when complete (so the file never has a hole that
    a resume would not see). On a download error the pages received so far in the trailing range are
    written (they are complete, contiguous candles) and the error says where it stopped.
    """
    # one conversion (parse_when: idempotent on ms, converts seconds by the unit rule, never 1970 ms);
    # both bounds moved up to the bar grid, so an unaligned --since asks nothing the store already has
    since = parse_when(since, "--since")
    now = dl.now_ms()
    if since > now:
        raise FetchError(f"--since {fmt_ms(since)} is in the future (now {fmt_ms(now)} UTC): nothing to fetch")
    since = grid_ceil(since, timeframe)
    until = None if until is None else grid_ceil(parse_when(until, "--until"), timeframe)
    if until is not None and until <= since:
        raise FetchError(f"--until {fmt_ms(until)} must be after --since {fmt_ms(since)} (both on the {timeframe} grid)")
    path = store_path(data_dir, dl.id, symbol, timeframe, fmt)
    existing = read_store_file(path) if path.is_file() else None
    end = closed_end(now, timeframe) if until is None else min(until, closed_end(now, timeframe))
    ranges = missing_ranges(existing, since, end, timeframe)
    if progress is not None:
        progress("total", sum((b - a) // timeframe_to_ms(timeframe) for a, b in ranges))
    fetched = replaced = 0
    wrote = False
    plog = PageLog()
    current = existing
    for a, b in ranges:
        is_tail = existing is None or a > int(existing["timestamp"].iloc[-1])
        pending: list[np.ndarray] = []
        pages = 0

        def on_page(rows):
            nonlocal pages, current, replaced, wrote
            if progress is not None:
                progress("advance", len(rows))
            if not is_tail:
                return
            pending.append(rows)
            pages += 1
            if pages % checkpoint_pages == 0:
                current, rep = merge_candles(current, rows_to_frame(pending, str(path)))
                replaced += rep
                pending.clear()
                write_candles(path, current)
                wrote = True

        try:
            df, log = dl.candles(symbol, timeframe, a, b, on_page=on_page)
        except FetchError:
            if is_tail and pending:
                current, rep = merge_candles(current, rows_to_frame(pending, str(path)))
                write_candles(path, current)
            raise
        for k in ("requests", "pages", "empty", "steps", "retries"):
            setattr(plog, k, getattr(plog, k) + getattr(log, k))
        fetched += len(df)
        if len(df):
            current, rep = merge_candles(current, df)
            replaced += rep
            write_candles(path, current)
            wrote = True
    if progress is not None:
        progress("done", 0)
    ts = current["timestamp"].to_numpy(np.int64) if current is not None else np.zeros(0, np.int64)
    g = find_gaps(ts, timeframe)
    gaps, missing = g.gaps, g.missing
    return StoreResult(symbol, path, int(ts.size), int(ts[0]) if ts.size else None,
                       int(ts[-1]) if ts.size else None, gaps, missing, fetched, replaced, wrote, plog)


def funding_to_store(dl: Downloader, symbol: str, since: int, until: int | None, data_dir: str | Path,
                     progress=None) -> StoreResult:
    """Funding-rate history of a perpetual into ``<exchange>/<stem>-funding.parquet`` (incremental)."""
    since = parse_when(since, "--since")
    until = None if until is None else parse_when(until, "--until")
    path = funding_path(data_dir, dl.id, symbol)
    existing = read_funding_file(path) if os.path.lexists(path) else None
    end = dl.now_ms() + 1 if until is None else until
    ranges = []
    if existing is None or len(existing) == 0:
        ranges = [(since, end)]
    else:
        first, last = int(existing["timestamp"].iloc[0]), int(existing["timestamp"].iloc[-1])
        if since < first:
            ranges.append((since, first))
        if last + 1 < end:
            ranges.append((max(since, last + 1), end))
    current, fetched, wrote = existing, 0, False
    if progress is not None:
        progress("total", sum((b - a) // (8 * 3_600_000) for a, b in ranges))
    for a, b in ranges:
        df, _ = dl.funding(symbol, a, b, on_page=(lambda rows: progress("advance", len(rows))) if progress else None)
        fetched += len(df)
        if len(df):
            both = df if current is None else pd.concat([current, df], ignore_index=True)
            current = both.drop_duplicates("timestamp", keep="last").sort_values("timestamp").reset_index(drop=True)
            write_table(path, current)
            wrote = True
    if progress is not None:
        progress("done", 0)
    n = 0 if current is None else len(current)
    first = int(current["timestamp"].iloc[0]) if n else None
    last = int(current["timestamp"].iloc[-1]) if n else None
    return StoreResult(symbol + " funding", path, n, first, last, 0, 0, fetched, 0, wrote)
