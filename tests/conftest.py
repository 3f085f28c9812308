"""Shared test fixtures.

Real exchange candles live in ``../shared/data`` beside the project root (never copied into the
repo). Tests that need them use the ``shared_data`` fixture, which skips with a clear reason when the
folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
CASES = SHARED / "cases"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "binance" / "BTC_USDT-1h.csv").is_file():
        pytest.skip(f"real candle data not found at {SHARED_DATA} (the ../shared/data folder beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    if not (CASES / "CASES.md").is_file():
        pytest.skip(f"fault cases not found at {CASES} (the ../shared/cases folder beside the project)")
    return CASES


# Property tests: on CI (CI=true) hypothesis draws a fixed sequence of examples, so a run's verdict
# depends only on the code; developers' runs keep exploring new examples (and find new cases, as
# they did for the margin rules).
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
