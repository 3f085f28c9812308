"""``rmsbt fetch`` arguments and output (QA report on issue 4, items 9-13 and Low): one conversion of
--since/--until, future and unaligned --since, exchange options, --limit, --funding on spot, progress
bar only on a terminal, ``backtest --fetch --quiet``."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmsbt.cli import main
from rmsbt.cli_data import _Bar, run_fetch
from rmsbt.data.fetch import FetchError, closed_end, fetch_to_store, grid_ceil, open_exchange, parse_when
from rmsbt.data.store import read_store_file, write_table
from rmsbt.data.units import MS_MIN
from tests.fakeexchange.data import generated
from tests.test_fetch_loopback import END, START, H, assert_equal_source, server, src  # noqa: F401 (fixtures)

DAY = 86_400_000


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rmsbt: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


class NoNetwork:
    """A Downloader stand-in: any download is a test failure."""

    id = "binance"

    def __init__(self, now):
        self._now = now

    def now_ms(self):
        return self._now

    def candles(self, *a, **k):
        raise AssertionError("went to the network")


# ----------------------------------------------------------------------------------------------------
# 9. one conversion of --since / --until
# ----------------------------------------------------------------------------------------------------

def test_parse_when_by_hand():
    assert parse_when("2024-01-01") == 1704067200000
    assert parse_when("1704067200") == parse_when(1704067200000) == 1704067200000  # s and ms: same instant
    # 1970-06-01 = 151 days after the epoch = 13,046,400,000 ms < 1e11: before any market → 1973-03-03
    assert parse_when("1970-06-01") == MS_MIN == 100_000_000_000
    with pytest.raises(FetchError, match="did you mean 2024-01-01"):
        parse_when("20240101")  # 20,240,101 s = 1970-08-23: a typo, not a date
    with pytest.raises(FetchError, match="not a date"):
        parse_when("nan")


@settings(max_examples=40, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_parse_when_is_idempotent(d):
    """Property: converting an already converted value changes nothing (the old double conversion
    turned 1970-06-01 into 1970-06-01 × 1000)."""
    ms = parse_when(d.isoformat())
    assert parse_when(ms) == ms and ms >= MS_MIN


def test_fetch_since_1970_gets_the_whole_history(server, src, tmp_path, capsys):  # noqa: F811
    """QA 9: --since 1970-06-01 used to be converted twice and report "0 (up to date)"."""
    cfg = tmp_path / "fetch.toml"
    urls = server.ccxt_config()["urls"]["api"]
    cfg.write_text("[exchange.options]\nrateLimit = 1\n[exchange.options.urls.api]\n"
                   + "".join(f'{k} = "{v}"\n' for k, v in urls.items()))
    assert main(["fetch", "--exchange", "binance", "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "1970-06-01",
                 "--until", "2021-02-13", "--data-dir", str(tmp_path), "--config", str(cfg), "--limit", "50",
                 "--quiet"]) == 0
    # MS_MIN = 1e11 ms = 1973-03-03 09:46:40 UTC; the first 1h bar at or after it opens 10:00 = 1e11 + 800,000
    assert int(server.klines_requests()[0][2]["startTime"]) == 100_000_800_000
    assert_equal_source(read_store_file(tmp_path / "binance" / "BTC_USDT-1h.parquet"), src["BTC"])


def test_since_typo_is_refused_on_the_command_line(tmp_path, capsys):
    assert main(["fetch", "--exchange", "binance", "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "20240101",
                 "--data-dir", str(tmp_path)]) == 2
    assert "did you mean 2024-01-01" in one_line_error(capsys)


# ----------------------------------------------------------------------------------------------------
# 10. future --since; 11. unaligned --since; closed bars of weeks
# ----------------------------------------------------------------------------------------------------

def test_future_since_is_an_error(tmp_path, capsys):
    now = 1764720000000  # 2025-12-03 00:00 UTC
    with pytest.raises(FetchError, match=r"--since 2099-01-01 00:00 is in the future \(now 2025-12-03 00:00 UTC\)"):
        fetch_to_store(NoNetwork(now), "BTC/USDT", "1h", "2099-01-01", None, tmp_path)
    assert main(["fetch", "--exchange", "binance", "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2099-01-01",
                 "--data-dir", str(tmp_path)]) == 2
    assert "is in the future" in one_line_error(capsys)
    assert not (tmp_path / "binance").exists()


def test_grid_ceil_and_weekly_closed_end_by_hand():
    t = 1514764800000  # 2018-01-01 00:00 UTC (a Monday)
    assert grid_ceil(t + 30 * 60_000, "1h") == t + H      # 00:30 → 01:00
    assert grid_ceil(t, "1h") == t                         # on the grid: unchanged
    assert grid_ceil(t + 1, "1d") == t + DAY
    assert grid_ceil(t + DAY, "1w") == t + 7 * DAY         # Tuesday → next Monday
    assert grid_ceil(t + 5 * DAY, "1M") == 1517443200000   # 2018-01-06 → 2018-02-01
    # Thursday 2018-01-04 12:00: the week opened Monday 01-01 runs to 01-08, so it is still open and
    # the exclusive bound of closed weekly bars is 2018-01-01 (the old epoch floor gave Thursday 01-04)
    assert closed_end(t + 3 * DAY + 12 * H, "1w") == t


def test_unaligned_since_asks_nothing_the_store_has(tmp_path):
    """QA 11: the store starts at 01:00 (first bar after --since 00:30); a rerun must not go online."""
    t = 1514764800000
    p = tmp_path / "binance" / "BTC_USDT-1h.parquet"
    write_table(p, generated(t + H, 10, H))
    before = p.read_bytes()
    r = fetch_to_store(NoNetwork(t + 11 * H), "BTC/USDT", "1h", "2018-01-01T00:30", None, tmp_path)
    assert not r.wrote and r.fetched == 0 and p.read_bytes() == before


# ----------------------------------------------------------------------------------------------------
# 12. progress only on a terminal; backtest --fetch --quiet
# ----------------------------------------------------------------------------------------------------

def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys):
    with _Bar(quiet=False) as bar:  # under pytest stderr is captured: not a terminal
        assert bar.task("BTC/USDT 1h") is None


def test_backtest_fetch_quiet_silences_fetch(monkeypatch, tmp_path):
    import rmsbt.cli_data as cd

    seen = {}

    class Stop(Exception):
        pass

    def fake(cfg, data_dir, fetch_config=None, quiet=False):
        seen["quiet"] = quiet
        raise Stop

    monkeypatch.setattr(cd, "fetch_for_config", fake)
    with pytest.raises(Stop):
        main(["backtest", "configs/pairs_btc_eth.toml", "--fetch", "--quiet", "--data-dir", str(tmp_path)])
    assert seen == {"quiet": True}


# ----------------------------------------------------------------------------------------------------
# 13. exchange options; Low: --limit, --funding on spot
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("option, needle", [
    ("timeout=abc", "exchange option timeout = 'abc': expected a number"),
    ("enableRateLimit=1", "expected true or false"),
    ("timout=100", "'timout' is not a ccxt binance option; did you mean timeout?"),
])
def test_bad_exchange_options_are_one_line(tmp_path, capsys, option, needle):
    assert main(["fetch", "--exchange", "binance", "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01",
                 "--exchange-option", option, "--data-dir", str(tmp_path)]) == 2
    assert needle in one_line_error(capsys)


def test_good_exchange_options_still_pass():
    ex = open_exchange("binance", {"timeout": 1234, "enableRateLimit": False, "urls": {"api": {"public": "http://x"}}})
    assert ex.timeout == 1234 and ex.enableRateLimit is False


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_limit_must_be_positive(tmp_path, capsys, limit):
    assert main(["fetch", "--exchange", "binance", "--symbols", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01",
                 "--limit", limit, "--data-dir", str(tmp_path)]) == 2
    assert "--limit / fetch.limit must be a whole number >= 1" in one_line_error(capsys)


def test_funding_on_spot_fails_before_any_candle(server, tmp_path):  # noqa: F811
    cfg = {"exchange": {"options": server.ccxt_config(rateLimit=1)}}
    with pytest.raises(FetchError, match="BTC/USDT is not a perpetual swap"):
        run_fetch("binance", ["BTC/USDT"], "1h", START, END, tmp_path, cfg, quiet=True, funding=True)
    assert server.klines_requests() == [] and not (tmp_path / "binance").exists()


def test_lower_case_symbol_suggests_the_exchange_spelling(server):  # noqa: F811
    from tests.test_fetch_loopback import make_dl

    with pytest.raises(FetchError, match=r"has no market 'btc/usdt'; nearest: BTC/USDT"):
        make_dl(server).check("btc/usdt", "1h")
