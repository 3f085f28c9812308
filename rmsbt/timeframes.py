"""Timeframe strings (ccxt's spelling) to milliseconds: the one place this conversion lives.

Unit letters are case-sensitive, as in ccxt: ``m`` is a minute and ``M`` a month. A month is the
nominal 30 days that ``ccxt.Exchange.parse_timeframe`` uses; paginating monthly candles must step by
calendar month instead (the fetcher does). Unknown units, zero or negative counts and upper-case
aliases such as ``1H`` are refused with :class:`~rmsbt.errors.TimeframeError`: never defaulted to
minutes.
"""

from __future__ import annotations

import re

from .errors import TimeframeError

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS  #: a 24/7 market's year: 365 days (used for annualisation)

_UNIT_MS = {
    "s": SECOND_MS,
    "m": MINUTE_MS,
    "h": HOUR_MS,
    "d": DAY_MS,
    "w": 7 * DAY_MS,
    "M": 30 * DAY_MS,
    "y": 365 * DAY_MS,
}

#: The timeframes ccxt's unified API commonly offers (Binance's list).
COMMON_TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")

_RE = re.compile(r"^([1-9][0-9]*)([smhdwMy])$")


def timeframe_to_ms(timeframe: str) -> int:
    """Return the length of one bar of ``timeframe`` (e.g. ``"1h"``) in milliseconds.

    >>> timeframe_to_ms("1h")
    3600000
    >>> timeframe_to_ms("1w")
    604800000
    """
    if not isinstance(timeframe, str):
        raise TimeframeError(f"timeframe must be a string such as '1h', got {timeframe!r}")
    m = _RE.match(timeframe)
    if not m:
        raise TimeframeError(
            f"unknown timeframe {timeframe!r}: use a positive count and one of the units "
            "s m h d w M y (case-sensitive; m = minute, M = month), e.g. " + ", ".join(COMMON_TIMEFRAMES)
        )
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def utc_text(ms: int, suffix: bool = True) -> str:
    """``2024-01-01 00:00 UTC`` for a time in integer ms since the epoch (the one formatter for messages,
    notes and tables; ``suffix=False`` drops the `` UTC``)."""
    import datetime as dt

    text = dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return text + " UTC" if suffix else text


def periods_per_year(timeframe: str) -> float:
    """Bars in a 365-day year for a 24/7 market (8760 for ``1h``, 365 for ``1d``)."""
    return YEAR_MS / timeframe_to_ms(timeframe)
