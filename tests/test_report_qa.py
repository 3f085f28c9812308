"""Report regressions from the QA findings (/work/qa/metrics_qa.md 4, 5, 6, 10): card colours, user errors of
`rmsbt report`, a ruined run's report, number formats, chart axes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_helpers import write_pairs_run

from rmsbt.cli import main
from rmsbt.report import REPORT_FILE, RunData, write_report
from rmsbt.report import charts
from rmsbt.report.html import page, trades_table

RUN_FILES = ["summary.json", "equity.csv", "trades.csv", "round_trips.csv", "params.csv"]
H = 3_600_000
T0 = 1_704_067_200_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_pairs_run(tmp_path_factory.mktemp("run") / "pairs", n=600)


def _copy(run_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in RUN_FILES:
        shutil.copy(run_dir / f, dest / f)
    return dest


# ---- 5. headline cards: one class attribute, negative values red ----------------------------------------
def test_cards_have_one_class_attribute_and_colours():
    m = {"total_return": -0.1, "cagr": 0.05, "sharpe": 1.2, "sortino": -0.5, "max_drawdown": 0.2, "trades": 3,
         "bars": 10, "start": T0, "end": T0 + 10 * H}
    text = page({"name": "t", "symbols": ["A/B"], "timeframe": "1h", "metrics": m}, [], pd.DataFrame())
    assert not re.search(r"<[^>]*\bclass=\"[^\"]*\"[^>]*\bclass=", text)  # no tag with two class attributes
    cards = dict(re.findall(r'<div class="k">([^<]*)</div><div class="([^"]*)">', text))
    assert cards["total return"] == "v neg" and cards["Sortino"] == "v neg"
    assert cards["max drawdown"] == "v neg"  # a 20 % drawdown is a loss: red
    assert cards["CAGR"] == "v pos" and cards["Sharpe"] == "v pos" and cards["trades"] == "v"


# ---- 10. money in the trades table: 2 decimals ------------------------------------------------------------
def test_trades_table_money_two_decimals():
    t = pd.DataFrame({"symbol": ["A/B"], "side": ["long"], "qty": [1.0], "entry_time": [T0], "entry_price": [10.0],
                      "exit_time": [T0 + H], "exit_price": [9.6], "gross_pnl": [-0.4], "fees": [0.049611],
                      "net_pnl": [-0.449611], "duration_bars": [1]})
    text = trades_table(t)
    assert ">-0.45<" in text and ">0.05<" in text and "0.449611" not in text


# ---- 6. `rmsbt report` user errors: one line, exit 2, naming the file ------------------------------------
def _edit_csv(path: Path, fn) -> None:
    df = pd.read_csv(path)
    fn(df).to_csv(path, index=False)


CORRUPTIONS = {
    "equity timestamp not a number": (
        lambda d: _edit_csv(d / "equity.csv", lambda df: df.astype({"timestamp": object}).assign(
            timestamp=lambda x: x["timestamp"].where(x.index != 5, "yesterday"))), "equity.csv: column timestamp"),
    "params.csv without timestamp": (
        lambda d: _edit_csv(d / "params.csv", lambda df: df.drop(columns="timestamp")), "params.csv: no timestamp"),
    "metrics is a string": (
        lambda d: (d / "summary.json").write_text(json.dumps({**json.loads((d / "summary.json").read_text()),
                                                               "metrics": "x"})), "summary.json: 'metrics'"),
    "symbol without pos_ column": (
        lambda d: (d / "summary.json").write_text(json.dumps({**json.loads((d / "summary.json").read_text()),
                                                               "symbols": ["BTC/USDT", "SOL/USDT"]})),
        "equity.csv: no pos_SOL_USDT column"),
    "equity in reversed order": (
        lambda d: _edit_csv(d / "equity.csv", lambda df: df.iloc[::-1]), "equity.csv: timestamps must increase"),
    "0-byte trades.csv": (lambda d: (d / "trades.csv").write_bytes(b""), "trades.csv: empty file"),
    "trades.csv cut after 3 lines": (
        lambda d: (d / "trades.csv").write_text("".join((d / "trades.csv").read_text().splitlines(True)[:3])),
        "trades.csv: 2 fills, but summary.json counts"),
    "round_trips.csv cut mid-row": (
        lambda d: (d / "round_trips.csv").write_text((d / "round_trips.csv").read_text()[:-40]),
        "round_trips.csv: the last line is cut off"),
    "round_trips.csv 0 bytes": (lambda d: (d / "round_trips.csv").write_bytes(b""), "round_trips.csv: empty file"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_report_user_errors_one_line_exit_2(run_dir, tmp_path, capsys, case):
    corrupt, expected = CORRUPTIONS[case]
    d = _copy(run_dir, tmp_path / "c")
    assert json.loads((d / "summary.json").read_text())["metrics"]["trades"] > 0  # the copy has trades to cut
    corrupt(d)
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rmsbt: error: ") and "Traceback" not in err
    assert expected in err, err
    assert not (d / REPORT_FILE).exists()


# ---- 4. a ruined run's report says what covers what and marks the ruin bar -------------------------------
def test_ruined_run_report_marks_the_ruin(tmp_path):
    from test_metrics_qa import _ruin_run

    from rmsbt.config import Config, DataConfig, StrategyConfig
    from rmsbt.engine.broker import BrokerConfig
    from rmsbt.metrics import summarize
    from rmsbt.outputs import write_outputs
    from rmsbt.runner import Run

    res, md = _ruin_run()
    cfg = Config("ruin", Path("ruin.toml"), DataConfig("binance", res.symbols, "1d"), BrokerConfig(100.0),
                 StrategyConfig("x.py:X", {}), {})
    d = write_outputs(Run(cfg, res, summarize(res, market=md), object(), md), tmp_path / "ruin")
    text = (d / REPORT_FILE).read_text(encoding="utf-8")
    assert 'class="ruin"' in text and "2024-01-03 00:00 UTC" in text  # bar 2 opens on 2024-01-03
    # both trades of the full log are listed; both were closed or opened after the ruin bar → †
    assert len(re.findall(r"<tr><td>\d+ †</td>", text)) == 2
    m = json.loads((d / "summary.json").read_text())["metrics"]
    assert m["ruined"] is True and m["ruin_time"] == int(res.timestamps[2])
    assert main(["report", str(d)]) == 0  # the run folder reloads: ≥ counts after a ruin are accepted


# ---- 10. chart axes: underwater tick labels, one-bar runs ------------------------------------------------
def _rundata(equity, pos=None):
    n = len(equity)
    ts = T0 + np.arange(n, dtype=np.int64) * H
    eq = pd.DataFrame({"timestamp": ts, "cash": equity, "equity": equity,
                       "pos_A_B": pos if pos is not None else np.zeros(n), "close_A_B": np.full(n, 10.0)})
    m = {"initial_equity": 100.0, "bars": n, "periods_per_year": 8760.0}
    return RunData(Path("."), {"symbols": ["A/B"], "timeframe": "1h", "metrics": m}, eq, pd.DataFrame(),
                   pd.DataFrame(columns=["symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price"]),
                   pd.DataFrame())


def test_underwater_tick_labels_are_distinct_for_a_small_drawdown():
    fig = charts.equity_drawdown(_rundata([99.0, 98.2, 99.5, 100.5, 100.0]))  # max drawdown 1.8 %
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels() if t.get_text()]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels


def test_one_bar_run_charts_show_that_bar():
    run = _rundata([101.0], pos=[1.0])
    for fig in (charts.positions(run), charts.prices_with_trades(run)):
        lo, hi = fig.axes[0].get_xlim()  # matplotlib date units: days
        assert hi - lo <= 3 / 24 + 1e-9  # the bar and one bar either side, not years


def test_money_metrics_two_decimals_everywhere():
    from rmsbt.report.html import fmt

    # quote-currency amounts: 2 decimals whatever their size; ratios keep 3, small non-money values 6 digits
    assert fmt("funding_paid", 0.121517) == "0.12" and fmt("avg_trade", -0.449611) == "-0.45"
    assert fmt("pnl", -741.906) == "-741.91" and fmt("sharpe", -0.1559) == "-0.156"


def test_recorded_values_without_a_step_size_are_not_called_adapted(tmp_path):
    """A strategy that records a moving average (no lr_eff_ column) gets "Recorded values", not
    "Adapted parameters"; the pairs strategy's β with lr_eff_beta stays an adapted parameter."""
    from rmsbt.report import charts
    import pandas as pd
    p = pd.DataFrame({"timestamp": [0, 3_600_000], "fast": [1.0, 2.0], "beta": [1.0, 1.1], "lr_eff_beta": [0.1, 0.1]})
    fig = charts.parameters(type("R", (), {"params": p})())
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles[0] == "recorded value fast" and titles[1].startswith("adapted parameter beta")
