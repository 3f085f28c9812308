"""Config validation and the CLI's behaviour on user errors: one line naming file and key, exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from rmsbt.config import load_config
from rmsbt.errors import ConfigError
from rmsbt.runner import build_strategy

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "configs" / "pairs_btc_eth.toml"


def variant(tmp_path, old, new, name="cfg.toml"):
    text = MAIN.read_text()
    assert old in text
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def test_main_config_loads():
    cfg = load_config(MAIN)
    assert cfg.name == "pairs_btc_eth" and cfg.data.symbols == ("BTC/USDT", "ETH/USDT")
    assert cfg.data.start_ms == 1514764800000 and cfg.data.end_ms == 1664582400000  # 2018-01-01, 2022-10-01 UTC
    s = build_strategy(cfg)
    assert s.params["lr"] == 0.001 and s.params["decay"] == 0.99


@pytest.mark.parametrize("old, new, needle", [
    ("taker_fee_bps = 4.0", "taker_fee_bps = 4.0\nfees = 3", "unknown key broker.fees"),
    ("taker_fee_bps = 4.0", "taker_fee_bps = \"ten\"", "broker.taker_fee_bps: expected a number"),
    ("taker_fee_bps = 4.0", "taker_fee_bps = -1", "broker.taker_fee_bps: must be >= 0"),
    ("initial_cash = 10000.0", "initial_cash = 0", "broker.initial_cash: must be > 0"),
    ("timeframe = \"1h\"", "timeframe = \"1H\"", "unknown timeframe '1H'"),
    ("symbols = [\"BTC/USDT\", \"ETH/USDT\"]", "symbols = \"BTC/USDT\"", "data.symbols must be a non-empty list"),
    ("start = 2018-01-01", "start = \"yesterday\"", "data.start"),
    ("exchange = \"binance\"", "exchnage = \"binance\"", "unknown key data.exchnage"),
])
def test_config_errors_name_file_and_key(tmp_path, old, new, needle):
    p = variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert needle in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("old, new, needle", [
    ("decay = 0.99", "decay = 1.0", "decay must be in (0, 1)"),
    ("decay = 0.99", "decay = 0", "decay must be in (0, 1)"),
    ("lr = 0.001", "lr = 0.0", "lr must be > 0"),
    ("lr = 0.001", "lr = -0.1", "lr must be > 0"),
    ("lr = 0.001", "lr = \"fast\"", "strategy.params.lr: expected float"),
    ("warmup = 500", "warmup = 500\nwarm_up = 3", "unknown key strategy.params.warm_up"),
    ("exit_z = 0.5", "exit_z = 4.0", "exit_z < entry_z"),
])
def test_strategy_param_errors(tmp_path, old, new, needle):
    p = variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as e:
        build_strategy(load_config(p))
    assert needle in str(e.value) and str(p) in str(e.value)


def rmsbt(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "rmsbt", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    p = variant(tmp_path, "decay = 0.99", "decay = 1.5")
    r = rmsbt("backtest", str(p), "--data-dir", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rmsbt: error:") and "decay" in lines[0]
    assert "Traceback" not in r.stderr


def test_cli_missing_data_names_file_and_how_to_get_it(tmp_path):
    r = rmsbt("backtest", str(MAIN), "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "binance/BTC_USDT-1h" in r.stderr and "rmsbt fetch" in r.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_cli_missing_config(tmp_path):
    r = rmsbt("backtest", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "config file not found" in r.stderr and "Traceback" not in r.stderr
