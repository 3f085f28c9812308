"""Pagination and retry logic of rmsbt.data.fetch against in-process mocks (fault cases BR-31, BR-35, BR-39)."""

from __future__ import annotations

import ccxt
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rmsbt.data.fetch import (FetchError, RetryPolicy, call_with_retries, closed_end, next_open, paginate,
                              parse_retry_after, parse_when)

H = 3_600_000


def _case(cases_dir, name):
    return pd.read_csv(cases_dir / f"{name}.csv")


def _rows(df):
    return [[int(r[0]), *map(float, r[1:])] for r in df.itertuples(index=False)]


class Mock:
    """fetch_ohlcv(since, limit): candles with ts >= since, at most min(limit, cap), ascending."""

    def __init__(self, rows, cap=None):
        self.rows, self.cap, self.calls = rows, cap, []

    def __call__(self, since, limit):
        n = limit if self.cap is None else min(limit, self.cap)
        page = [r for r in self.rows if r[0] >= since][:n]
        self.calls.append((since, limit, len(page)))
        return [list(r) for r in page]


def _paginate(mock, start, end, limit, **kw):
    return paginate(mock, start, end, limit=limit, step=lambda t: t + H, empty_skip=limit * H,
                    policy=RetryPolicy(base_delay=0.0, jitter=0.0), sleep=lambda s: None, **kw)


def test_br31_pagination_limit5(cases_dir):
    truth = _rows(_case(cases_dir, "BR-31"))
    mock = Mock(truth)
    # download 00:00..11:00 inclusive → [1704067200000, 1704106800000 + 1h)
    rows, log = _paginate(mock, 1704067200000, 1704106800000 + H, 5)
    assert len(rows) == 12
    ts = np.array([r[0] for r in rows])
    assert ts[0] == 1704067200000 and ts[-1] == 1704106800000
    assert (np.diff(ts) == 3600000).all()
    assert rows.tolist() == truth
    # next since = last_ts + 3600000: rows 0-4, 5-9, 10-11 → 3 non-empty calls then stop (last_ts >= end)
    assert [c[0] for c in mock.calls] == [1704067200000, 1704067200000 + 5 * H, 1704067200000 + 10 * H]
    assert [c[2] for c in mock.calls] == [5, 5, 2]


def test_br31_variant_b_pages_capped_at_3(cases_dir):
    truth = _rows(_case(cases_dir, "BR-31"))
    mock = Mock(truth, cap=3)
    rows, log = _paginate(mock, 1704067200000, 1704106800000 + H, 5)
    assert rows.tolist() == truth and len(rows) == 12
    # 4 calls of 3 rows (0-2, 3-5, 6-8, 9-11); the short pages did not stop the loop
    assert [c[2] for c in mock.calls] == [3, 3, 3, 3]
    assert [c[0] for c in mock.calls] == [1704067200000 + k * 3 * H for k in range(4)]


def test_overlapping_pages_are_deduplicated(cases_dir):
    truth = _rows(_case(cases_dir, "BR-31"))

    def overlapping(since, limit):  # every page starts 2 candles before `since`
        return [list(r) for r in truth if r[0] >= since - 2 * H][:limit]

    rows, _ = _paginate(overlapping, truth[0][0], truth[-1][0] + H, 5)
    assert rows.tolist() == truth


def test_empty_page_inside_range_is_reasked_and_gaps_are_stepped_over():
    # 30 hourly candles with a 12-hour hole (exchange gap) at 10..21; the first answer for every
    # since is [] once (as a truncated body through ccxt looks).
    t0 = 1704067200000
    truth = [[t0 + i * H, 1.0, 2.0, 0.5, 1.5, float(i)] for i in range(30) if not 10 <= i < 22]
    seen = set()

    def flaky(since, limit):
        if since not in seen:
            seen.add(since)
            return []
        return [list(r) for r in truth if since <= r[0] < since + limit * H][:limit]  # window-style exchange

    rows, log = _paginate(flaky, t0, t0 + 30 * H, 5)
    assert rows.tolist() == truth
    assert log.steps >= 1  # the window 10..14 was empty twice → stepped over, not taken as the end


def test_retries_are_bounded_and_say_how_far_it_got():
    t0 = 1704067200000
    truth = [[t0 + i * H, 1.0, 2.0, 0.5, 1.5, 1.0] for i in range(12)]
    calls = []

    def failing_after_first(since, limit):
        calls.append(since)
        if since > t0:
            raise ccxt.ExchangeNotAvailable("binance 503")
        return truth[:5]

    with pytest.raises(FetchError) as e:
        paginate(failing_after_first, t0, t0 + 12 * H, limit=5, step=lambda t: t + H, empty_skip=5 * H,
                 policy=RetryPolicy(tries=4, base_delay=0.0, jitter=0.0), sleep=lambda s: None, what="x")
    msg = str(e.value)
    assert "gave up after 4 tries" in msg and "5 rows up to 2024-01-01 04:00" in msg and "resume" in msg
    assert len(calls) == 1 + 4


def test_backoff_formula_jitter_seeded_and_retry_after_honoured():
    p = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    # min(max_delay, base * 2**(k-1)): 0.5, 1, 2, 3 (capped)
    assert [p.delay(k) for k in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert p.delay(1, retry_after=7.0) == 7.0          # never less than Retry-After
    a = [RetryPolicy(seed=3).delay(k) for k in (1, 2, 3)]
    b = [RetryPolicy(seed=3).delay(k) for k in (1, 2, 3)]
    assert a == b and all(1.0 * 2 ** (k - 1) <= d <= 1.25 * 2 ** (k - 1) for k, d in zip((1, 2, 3), a))
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert parse_retry_after(None) is None


def test_non_retryable_errors_are_not_retried():
    calls = []

    def bad():
        calls.append(1)
        raise ccxt.BadSymbol("binance does not have market symbol FOO/BAR")

    with pytest.raises(ccxt.BadSymbol):
        call_with_retries(bad, RetryPolicy(base_delay=0.0), sleep=lambda s: None)
    assert calls == [1]


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def sleep(self, s):
        self.t += s


def test_br39_rate_limit_one_request_per_second(cases_dir):
    """Mock: page limit 5, one request per 1000 ms; a faster one gets RateLimitExceeded (HTTP 429)."""
    truth = _rows(_case(cases_dir, "BR-39"))
    clock = FakeClock()
    ok_times, last_ok = [], [None]

    def limited(since, limit):
        now = clock.t
        if last_ok[0] is not None and now - last_ok[0] < 1.0:
            raise ccxt.RateLimitExceeded("binance 429 Too Many Requests")
        last_ok[0] = now
        ok_times.append(now)
        clock.t += 0.01  # the request itself takes 10 ms
        return [list(r) for r in truth if r[0] >= since][:5]

    rows, log = paginate(limited, truth[0][0], truth[-1][0] + H, limit=5, step=lambda t: t + H, empty_skip=5 * H,
                         policy=RetryPolicy(tries=5, base_delay=0.3, jitter=0.25, seed=1), sleep=clock.sleep)
    assert rows.tolist() == truth and len({r[0] for r in rows}) == 12      # 12 unique rows equal to the CSV
    assert len(ok_times) == 3                                       # 3 successful page requests
    assert ok_times[2] - ok_times[0] >= 2.0                         # >= 2000 ms between 1st and 3rd
    assert all(b - a >= 1.0 for a, b in zip(ok_times, ok_times[1:]))
    assert log.retries >= 2


def test_br39_variant_b_always_429_gives_up_after_5_tries(cases_dir, tmp_path):
    from rmsbt.data.fetch import Downloader, fetch_to_store

    class Always429:
        id = "binance"
        has = {"fetchOHLCV": True}
        timeframes = {"1h": "1h"}
        markets = {"ETH/USDT": {"type": "spot"}}
        features = {}
        last_response_headers = {"Retry-After": "0"}
        calls = 0

        def load_markets(self):
            return self.markets

        def fetch_ohlcv(self, *a, **k):
            Always429.calls += 1
            raise ccxt.RateLimitExceeded("binance 429 Too Many Requests")

    clock = FakeClock()
    dl = Downloader(Always429(), policy=RetryPolicy(tries=5, base_delay=0.1, seed=0), sleep=clock.sleep,
                    now_ms=lambda: 1704110400000, limit=5)
    with pytest.raises(FetchError) as e:
        fetch_to_store(dl, "ETH/USDT", "1h", 1704067200000, 1704110400000, tmp_path)
    assert "gave up after 5 tries" in str(e.value) and "RateLimitExceeded" in str(e.value)
    assert Always429.calls == 5
    # back-off 0.1·(1,2,4,8) s × (1 + jitter·u) waited between the 5 tries
    assert 1.5 <= clock.t <= 1.5 * 1.25
    assert not any(tmp_path.rglob("*.*"))  # no file at all, let alone a partial one presented as complete


def test_br35_since_in_seconds_is_converted_not_sent_as_1970(cases_dir):
    # unit rule: < 1e11 → seconds, 1e11..1e14 → ms, 1e14..1e17 → µs
    assert parse_when(1704067200) == 1704067200000
    assert parse_when("1704067200") == 1704067200000
    assert parse_when(1704067200000) == 1704067200000
    assert parse_when(1704067200000000) == 1704067200000
    assert parse_when("2024-01-01") == 1704067200000
    truth = _rows(_case(cases_dir, "BR-35"))
    mock = Mock(truth)
    D = 86_400_000
    rows, _ = paginate(mock, parse_when(1704067200), 1704240000000 + D, limit=5, step=lambda t: t + D,
                       empty_skip=5 * D, policy=RetryPolicy(base_delay=0), sleep=lambda s: None)
    assert mock.calls[0][0] == 1704067200000  # never 1704067200 ms (1970-01-20)
    assert [r[0] for r in rows] == [1704067200000, 1704153600000, 1704240000000]


def test_closed_end_and_next_open():
    # bar t is closed iff t + tf <= now
    assert closed_end(1704067200000 + 30 * 60_000, "1h") == 1704067200000   # 00:30 → only bars before 00:00
    assert closed_end(1704070800000, "1h") == 1704070800000                    # 01:00 → bar 00:00 closed
    assert next_open(1704067200000, "1M") == 1706745600000                     # 2024-01-01 → 2024-02-01
    assert next_open(1706745600000, "1M") == 1709251200000                     # Feb 2024 has 29 days


@settings(max_examples=60, deadline=None)
@given(present=st.lists(st.booleans(), min_size=1, max_size=80), limit=st.integers(1, 12),
       cap=st.none() | st.integers(1, 12), overlap=st.integers(0, 3), empties=st.sets(st.integers(0, 40), max_size=5),
       window=st.booleans())
def test_pagination_property(present, limit, cap, overlap, empties, window):
    """Whatever the exchange does (gaps of any length, capped pages, overlapping pages, spurious empty
    answers — at most empty_confirm = 2 in a row —, window- or start-style paging) the result is
    exactly the truth."""
    assume(not any(k in empties and k + 1 in empties and k + 2 in empties for k in empties))
    t0 = 1704067200000
    truth = [[t0 + i * H, 1.0, 2.0, 0.5, 1.5, float(i)] for i, p in enumerate(present) if p]
    end = t0 + len(present) * H
    n_calls = [0]

    def exchange(since, lim):
        k = n_calls[0]
        n_calls[0] += 1
        if k in empties:
            return []
        n = lim if cap is None else min(lim, cap)
        lo = since - overlap * H
        rows = [r for r in truth if r[0] >= lo and (not window or r[0] < since + lim * H)]
        return [list(r) for r in rows[:n + overlap]]

    rows, log = paginate(exchange, t0, end, limit=limit, step=lambda t: t + H, empty_skip=limit * H,
                         policy=RetryPolicy(base_delay=0.0), sleep=lambda s: None)
    assert rows.tolist() == truth
    # bounded: every page advances >= 1 bar, every empty window (asked 1 + empty_confirm = 3 times) >= 1 bar
    assert n_calls[0] <= 3 * len(present) + len(empties) + 1
