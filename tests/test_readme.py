"""The README stays true: its two set-up commands and its strategy example run as written."""

import re
from pathlib import Path

import numpy as np

from rmsbt.testing import flat_candles, market
from rmsbt.engine import BrokerConfig, run_backtest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[0].startswith("python -m pip install -e . && rmsbt backtest configs/pairs_btc_eth.toml")
    assert block[1] == 'python -m pip install -e ".[dev]" && python -m pytest -q'
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pip install -e \".[dev]\"" in ci and "python -m pytest -q" in ci


def test_strategy_example_runs():
    code = re.search(r"```python\n(from rmsbt import RMSprop, Strategy.*?)```", README, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    closes = 100 * np.exp(np.linspace(0, 0.3, 300))
    data = market({"BTC/USDT": flat_candles(closes)})
    res = run_backtest(ns["MyStrategy"](symbol="BTC/USDT", lr=0.01), data, BrokerConfig(initial_cash=10_000.0))
    assert (res.fills["bar"] > res.fills["decided_bar"]).all()
    assert res.fills["bar"].iloc[0] == 101  # decided on bar 100, filled at bar 101's open
    assert "my_param" in res.records.columns
