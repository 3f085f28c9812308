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
