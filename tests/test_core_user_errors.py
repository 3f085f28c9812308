"""User mistakes around a backtest: one line naming the problem, exit 2, and for a bug in the user's
own strategy their frames and the bar where it happened."""

import subprocess
import sys
from pathlib import Path

import pytest

from rmsbt.config import load_config
from rmsbt.errors import StrategyError
from rmsbt.runner import coverage_notes
from rmsbt.testing import flat_candles, market, run_script

ROOT = Path(__file__).resolve().parent.parent


def rmsbt(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "rmsbt", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def store_and_config(tmp_path, strategy_src, klass="Mine", start="2024-01-01", end="2024-01-08"):
    (tmp_path / "store" / "binance").mkdir(parents=True, exist_ok=True)
    flat_candles([100 + k for k in range(5)], "1d").to_csv(tmp_path / "store" / "binance" / "BTC_USDT-1d.csv",
                                                          index=False)
    (tmp_path / "mine.py").write_text(strategy_src)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nexchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframe = "1d"\nstart = {start}\n'
                   f'end = {end}\n[strategy]\nclass = "mine.py:{klass}"\n')
    return cfg


OK = "from rmsbt import Strategy\nclass Mine(Strategy):\n    def on_bar(self, ctx):\n        pass\n"


def test_exception_in_on_bar_names_the_bar_and_shows_the_users_frame(tmp_path):
    src = ("from rmsbt import Strategy\nclass Mine(Strategy):\n    def on_bar(self, ctx):\n"
           "        if ctx.bar == 3:\n            raise ValueError('boom')\n")
    cfg = store_and_config(tmp_path, src)
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    # bar 3 of daily candles from 2024-01-01 opened on 2024-01-04
    assert last == ("rmsbt: error: strategy Mine raised ValueError in on_bar at bar 3 (opened 2024-01-04 00:00 UTC): "
                    "boom")
    assert "mine.py" in r.stderr and "raise ValueError('boom')" in r.stderr
    assert "rmsbt/engine" not in r.stderr  # rmsbt's own frames are left out


def test_strategy_error_in_library_use_keeps_the_cause():
    def script(ctx):
        if ctx.bar == 1:
            ctx.order("BTC/USDT", 1.0, limit=-5.0)  # a bad price: the broker refuses it
    with pytest.raises(StrategyError, match="at bar 1") as e:
        run_script(script, {"BTC/USDT": flat_candles([1, 2, 3])})
    assert e.value.__cause__ is not None


def test_syntax_error_and_missing_class_are_one_line(tmp_path):
    cfg = store_and_config(tmp_path, "class Mine(:\n")
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "mine.py:1: SyntaxError" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    cfg = store_and_config(tmp_path / "b", OK, klass="Mien")
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "b" / "store"))
    assert r.returncode == 2 and "no class Mien" in r.stderr and "Mine" in r.stderr


def test_out_that_is_a_file_is_refused_before_running(tmp_path):
    cfg = store_and_config(tmp_path, OK)
    f = tmp_path / "afile"
    f.write_text("x")
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"), "--out", str(f))
    assert r.returncode == 2 and "exists and is not a folder" in r.stderr and "Traceback" not in r.stderr
    assert f.read_text() == "x"


def test_period_longer_than_the_data_is_said(tmp_path):
    # candles 2024-01-01 .. 2024-01-05 (daily); asked for 2023-12-25 .. 2024-01-08
    cfg = load_config(store_and_config(tmp_path, OK, start="2023-12-25", end="2024-01-08"))
    md = market({"BTC/USDT": flat_candles([100, 101, 102, 103, 104], "1d")})
    notes = coverage_notes(cfg, md)
    assert len(notes) == 2
    assert "start at 2024-01-01 00:00 UTC, after data.start (2023-12-25 00:00 UTC)" in notes[0]
    assert "end at 2024-01-06 00:00 UTC, before data.end (2024-01-08 00:00 UTC)" in notes[1]
    cfg = load_config(store_and_config(tmp_path / "x", OK, start="2024-01-01", end="2024-01-06"))
    assert coverage_notes(cfg, md) == []


def test_unknown_exchange_gets_a_suggestion_not_a_fetch_hint(tmp_path):
    from rmsbt.data import find_candle_file
    from rmsbt.errors import DataError
    with pytest.raises(DataError, match="'binanse' is no ccxt exchange id \\(did you mean binance"):
        find_candle_file(tmp_path, "binanse", "BTC/USDT", "1h")


def test_strategy_param_checked_against_the_data_names_the_config(tmp_path, shared_data):
    cfg = ROOT / "configs" / "pairs_btc_eth.toml"
    bad = tmp_path / "p.toml"
    bad.write_text(cfg.read_text().replace('y_symbol = "ETH/USDT"', 'y_symbol = "SOL/USDT"'))
    r = rmsbt("backtest", str(bad), "--data-dir", str(shared_data), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "SOL/USDT is not in data.symbols" in r.stderr


def test_period_without_candles_names_the_config(tmp_path):
    cfg = store_and_config(tmp_path, OK, start="2030-01-01", end="2030-02-01")
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"))
    assert r.returncode == 2 and str(cfg) in r.stderr and "data.start/data.end" in r.stderr


@pytest.mark.parametrize("src, needle", [
    ("from rmsbt import Strategy\nclass Mine(Strategy):\n    def __init__(self):\n        raise RuntimeError('bad init')\n"
     "    def on_bar(self, ctx):\n        pass\n", "strategy Mine raised RuntimeError in __init__: bad init"),
    ("from rmsbt import Strategy\n1/0\nclass Mine(Strategy):\n    pass\n", "raised ZeroDivisionError: division by zero"),
    ("import sys\nfrom rmsbt import Strategy\nclass Mine(Strategy):\n    def on_bar(self, ctx):\n        sys.exit(0)\n",
     "strategy Mine raised SystemExit in on_bar at bar 0"),
    ("from rmsbt import Strategy\nclass Mine(Strategy):\n    pass\n", "Mine must define on_bar(self, ctx)"),
])
def test_user_code_failures_are_exit_2_with_one_line(tmp_path, src, needle):
    cfg = store_and_config(tmp_path, src)
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr.strip().splitlines()[-1]
    assert "rmsbt/runner.py" not in r.stderr and "rmsbt/engine" not in r.stderr


def test_params_without_a_params_declaration_say_what_to_do(tmp_path):
    cfg = store_and_config(tmp_path, OK)
    cfg.write_text(cfg.read_text() + "[strategy.params]\nlookback = 5\n")
    r = rmsbt("backtest", str(cfg), "--data-dir", str(tmp_path / "store"))
    assert r.returncode == 2 and "declares no PARAMS" in r.stderr
