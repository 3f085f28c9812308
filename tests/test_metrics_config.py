"""The [metrics] table of the backtest TOML (periods_per_year, risk_free): validation naming file and key,
passed by the runner to summarize, echoed in summary.json and used by `rmsbt report`; 1M refused (QA 8);
the terminal's funding row; identical runs give identical summary.json bytes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_helpers import pair_candles

from rmsbt.cli import main
from rmsbt.config import load_config
from rmsbt.data.store import store_path, write_candles
from rmsbt.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CFG = """name = "m"
[data]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "{tf}"
[broker]
initial_cash = 10000.0
fee_bps = 10.0
[strategy]
class = "{root}/strategies/pairs_rmsprop.py:PairsRMSprop"
[strategy.params]
warmup = 100
zscore_span = 50
lr = 0.002
{metrics}"""


def cfg_file(tmp_path, metrics="", tf="1h", name="c.toml") -> Path:
    p = tmp_path / name
    p.write_text(CFG.format(root=ROOT, metrics=metrics, tf=tf))
    return p


def test_metrics_table_parsed_and_defaults(tmp_path):
    c = load_config(cfg_file(tmp_path, "[metrics]\nperiods_per_year = 252\nrisk_free = 0.04\n"))
    assert c.metrics.periods_per_year == 252.0 and c.metrics.risk_free == 0.04
    d = load_config(cfg_file(tmp_path, name="d.toml"))
    assert d.metrics.periods_per_year is None and d.metrics.risk_free == 0.0


@pytest.mark.parametrize("table, needle", [
    ("periods_per_year = 0", "metrics.periods_per_year: must be > 0"),
    ("periods_per_year = \"daily\"", "metrics.periods_per_year: expected a number"),
    ("risk_free = -1.5", "metrics.risk_free: must be > -1"),
    ("risk_free = nan", "metrics.risk_free: must be finite"),
    ("rf = 0.04", "unknown key metrics.rf"),
])
def test_metrics_table_errors_name_file_and_key(tmp_path, table, needle):
    p = cfg_file(tmp_path, "[metrics]\n" + table + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_calendar_month_timeframe_refused(tmp_path):
    p = cfg_file(tmp_path, tf="1M")
    with pytest.raises(ConfigError, match=r"data.timeframe: '1M' \(calendar months\) is not supported") as e:
        load_config(p)
    assert str(p) in str(e.value)


def test_summarize_refuses_calendar_months():
    from rmsbt.errors import TimeframeError
    from rmsbt.metrics import summarize
    from tests.test_metrics import result

    r = result([101.0, 102.0])
    r.timeframe = "1M"
    with pytest.raises(TimeframeError, match="calendar months"):
        summarize(r)


def test_metrics_config_reaches_summary_and_report(tmp_path, capsys):
    data = tmp_path / "data"
    for sym, df in pair_candles(400).items():
        write_candles(store_path(data, "binance", sym, "1h"), df)
    p = cfg_file(tmp_path, "[metrics]\nperiods_per_year = 252\nrisk_free = 0.04\n")
    outs = [tmp_path / "out1", tmp_path / "out2"]
    for out in outs:
        assert main(["backtest", str(p), "--data-dir", str(data), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "funding paid" in printed
    # identical runs → identical summary.json bytes
    assert (outs[0] / "summary.json").read_bytes() == (outs[1] / "summary.json").read_bytes()
    s = json.loads((outs[0] / "summary.json").read_text())
    m = s["metrics"]
    assert m["periods_per_year"] == 252.0 and m["risk_free_rate"] == 0.04
    assert s["config"]["metrics"] == {"periods_per_year": 252, "risk_free": 0.04}  # the echo
    # recompute Sharpe from equity.csv with numpy: x = r − ((1.04)^(1/252) − 1); mean/std(ddof=1)·√252
    eq = pd.read_csv(outs[0] / "equity.csv")["equity"].to_numpy()
    curve = np.concatenate([[10_000.0], eq])
    x = curve[1:] / curve[:-1] - 1.0 - (1.04 ** (1 / 252) - 1.0)
    assert np.std(x) > 0
    assert m["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252), rel=1e-9)
    # the report rebuilds from the folder with the same values (rolling Sharpe with P = 252, rf = 4 %)
    before = (outs[0] / "report.html").read_bytes()
    assert main(["report", str(outs[0])]) == 0
    assert (outs[0] / "report.html").read_bytes() == before
    from rmsbt.report import charts, load_run

    fig = charts.rolling_sharpe_chart(load_run(outs[0]))
    assert "×√252" in fig.axes[0].get_title(loc="left")
