"""Timeframe strings → milliseconds (fault case BR-36: units parsed wrongly)."""

import pytest

from rmsbt.errors import TimeframeError
from rmsbt.timeframes import periods_per_year, timeframe_to_ms


@pytest.mark.parametrize("tf, ms", [
    ("1m", 60_000), ("3m", 180_000), ("5m", 300_000), ("15m", 900_000), ("30m", 1_800_000),
    ("1h", 3_600_000), ("2h", 7_200_000), ("4h", 14_400_000), ("6h", 21_600_000), ("8h", 28_800_000),
    ("12h", 43_200_000), ("1d", 86_400_000), ("3d", 259_200_000), ("1w", 604_800_000),
    ("1M", 2_592_000_000),  # BR-36: 30-day nominal month, as ccxt.parse_timeframe
])
def test_ccxt_timeframes(tf, ms):
    assert timeframe_to_ms(tf) == ms


def test_month_and_minute_are_not_confused():
    assert timeframe_to_ms("1M") != timeframe_to_ms("1m")


@pytest.mark.parametrize("bad", ["1x", "0h", "1H", "", "h", "-1h", "1.5h", "01h"])
def test_bad_timeframes_raise(bad):
    with pytest.raises(TimeframeError, match="unknown timeframe"):
        timeframe_to_ms(bad)


def test_periods_per_year_24_7():
    assert periods_per_year("1h") == 8760.0  # 365 × 24
    assert periods_per_year("1d") == 365.0
    assert periods_per_year("1m") == 525_600.0
