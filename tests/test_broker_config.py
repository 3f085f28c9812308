"""The [broker] table: new keys, defaults, and one-line errors naming the key and the file."""

from __future__ import annotations

import pytest

from rmsbt.config import load_config
from rmsbt.errors import ConfigError

HEAD = """
[data]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "1h"
[strategy]
class = "strategies/pairs_rmsprop.py:PairsRMSprop"
[broker]
"""


def cfg(tmp_path, body):
    p = tmp_path / "c.toml"
    p.write_text(HEAD + body)
    return p


def test_defaults_margin_mode(tmp_path):
    b = load_config(cfg(tmp_path, "")).broker
    assert (b.mode, b.taker_fee_bps, b.maker_fee_bps, b.on_insufficient, b.protective_same_bar) == (
        "margin", 10.0, 10.0, "reject", "after_open_fill")


def test_fee_bps_alias_and_maker_default(tmp_path):
    b = load_config(cfg(tmp_path, "fee_bps = 7\n")).broker
    assert b.taker_fee_bps == 7.0 and b.fee_bps == 7.0 and b.maker_fee_bps == 7.0


def test_all_keys(tmp_path):
    b = load_config(cfg(tmp_path, """mode = "spot"
taker_fee_bps = 5
maker_fee_bps = -1
fixed_fee = 0.1
min_fee = 0.2
slippage_bps = 1
spread_bps = 2
impact_bps = 3
volume_cap = 0.1
on_insufficient = "resize"
protective_same_bar = "never"
max_leverage = {"BTC/USDT" = 3, "*" = 2}
maintenance_margin = 0.004
liquidation_fee_bps = 50
lot_size = {"BTC/USDT" = 0.001}
min_notional = 5
""")).broker
    assert b.mode == "spot" and b.maker_fee_bps == -1.0 and b.volume_cap == 0.1
    assert b.per_symbol("max_leverage", "BTC/USDT") == 3.0 and b.per_symbol("max_leverage", "ETH/USDT") == 2.0
    assert b.per_symbol("lot_size", "ETH/USDT") == 0.0 and b.per_symbol("min_notional", "ETH/USDT") == 5.0


@pytest.mark.parametrize("body,msg", [
    ("feebps = 1\n", "unknown key broker.feebps"),
    ("mode = \"futures\"\n", "broker.mode: expected one of 'spot', 'margin'"),
    ("taker_fee_bps = \"4\"\n", "broker.taker_fee_bps: expected a number"),
    ("fee_bps = 4\ntaker_fee_bps = 4\n", "broker.fee_bps: is an alias"),
    ("taker_fee_bps = -1\n", "broker.taker_fee_bps: must be >= 0"),
    ("volume_cap = 2\n", "broker.volume_cap: a share"),
    ("max_leverage = 0.5\n", "broker.max_leverage: must be >= 1"),
    ("max_leverage = {\"DOGE/USDT\" = 2}\n", "broker.max_leverage: 'DOGE/USDT' is not in data.symbols"),
    ("lot_size = {\"BTC/USDT\" = \"x\"}\n", "broker.lot_size.BTC/USDT: expected a number"),
    ("mode = \"spot\"\nfunding = \"constant\"\n", "broker.funding: funding applies to perpetuals"),
    ("on_insufficient = \"ignore\"\n", "broker.on_insufficient"),
    ("protective_same_bar = true\n", "broker.protective_same_bar"),
    ("intrabar = \"best\"\n", "broker.intrabar: expected one of 'adverse_first', 'finer_candles'"),
    ("intrabar_timeframe = \"7x\"\n", "broker.intrabar_timeframe"),
    ("intrabar_timeframe = 5\n", "broker.intrabar_timeframe"),
])
def test_errors_name_key_and_file(tmp_path, body, msg):
    p = cfg(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert msg in str(e.value) and str(p) in str(e.value)


def test_pairs_config_parses():
    from pathlib import Path

    b = load_config(Path(__file__).resolve().parent.parent / "configs" / "pairs_btc_eth.toml").broker
    assert b.mode == "margin" and b.maker_fee_bps < b.taker_fee_bps and b.funding == "constant"


def test_runner_reads_funding_history_beside_the_candles(tmp_path):
    """End to end: [broker] funding = "history" reads <data>/<exchange>/<STEM>-funding.csv."""
    import pandas as pd

    from rmsbt.runner import run_config

    d = tmp_path / "data" / "binance"
    d.mkdir(parents=True)
    h, t0 = 3_600_000, 1704067200000
    rows = [(t0 + i * h, 100.0, 100.0, 100.0, 100.0, 10.0) for i in range(12)]
    pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"]).to_csv(
        d / "BTC_USDT-1h.csv", index=False)
    # funding at 08:00 → bar 07:00 (index 7); the long of 2 BTC pays 2 · 100 · 0.0003 = 0.06
    pd.DataFrame({"timestamp": [t0 + 8 * h], "funding_rate": [0.0003]}).to_csv(d / "BTC_USDT-funding.csv", index=False)
    (tmp_path / "buy.py").write_text(
        "from rmsbt.strategy import Strategy\n"
        "class Buy(Strategy):\n"
        "    def on_bar(self, ctx):\n"
        "        if ctx.bar == 0:\n"
        "            ctx.order('BTC/USDT', 2)\n")
    p = tmp_path / "c.toml"
    p.write_text(f"""
[data]
exchange = "binance"
symbols = ["BTC/USDT"]
timeframe = "1h"
[broker]
taker_fee_bps = 0
funding = "history"
[strategy]
class = "{tmp_path / 'buy.py'}:Buy"
""")
    r = run_config(load_config(p), tmp_path / "data").result
    assert list(r.funding["bar"]) == [7] and r.funding["paid"].iloc[0] == pytest.approx(0.06)
    assert r.equity[-1] == pytest.approx(10000 - 0.06)


@pytest.mark.parametrize("extra, msg", [
    ('funding = "history"\n', 'broker.funding = "history": no funding history for BTC/USDT'),
    ('intrabar = "finer_candles"\nintrabar_timeframe = "2h"\n', "broker.intrabar_timeframe 2h must divide"),
])
def test_runner_errors_of_broker_inputs_name_the_config_file(tmp_path, extra, msg):
    """QA docs 4: a missing funding file or an intrabar timeframe that does not fit names the config."""
    import pandas as pd

    from rmsbt.errors import DataError
    from rmsbt.runner import run_config

    d = tmp_path / "data" / "binance"
    d.mkdir(parents=True)
    h, t0 = 3_600_000, 1704067200000
    pd.DataFrame([(t0 + i * h, 100.0, 100.0, 100.0, 100.0, 10.0) for i in range(4)],
                 columns=["timestamp", "open", "high", "low", "close", "volume"]).to_csv(d / "BTC_USDT-1h.csv",
                                                                                         index=False)
    (tmp_path / "idle.py").write_text("from rmsbt.strategy import Strategy\n"
                                      "class Idle(Strategy):\n    def on_bar(self, ctx):\n        pass\n")
    p = tmp_path / "c.toml"
    p.write_text(f'[data]\nexchange = "binance"\nsymbols = ["BTC/USDT"]\ntimeframe = "1h"\n[broker]\n{extra}'
                 f'[strategy]\nclass = "{tmp_path / "idle.py"}:Idle"\n')
    with pytest.raises(DataError) as e:
        run_config(load_config(p), tmp_path / "data")
    assert str(e.value).startswith(f"{p}: ") and msg in str(e.value)
