"""report.html and its PNGs: self-contained, rebuilt from the run folder's files alone, deterministic."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_helpers import decode_png, n_colours, write_pairs_run

from rmsbt.cli import main
from rmsbt.report import PNG_FILES, REPORT_FILE, ReportError, write_report
from rmsbt.report.downsample import MAX_POINTS, minmax_indices

RUN_FILES = ["summary.json", "equity.csv", "trades.csv", "round_trips.csv", "params.csv"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_pairs_run(tmp_path_factory.mktemp("run") / "pairs")


def embedded_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]




def test_backtest_writes_a_self_contained_report(run_dir):
    html = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert "<script" not in html.lower()  # nothing to execute, nothing to fetch
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)  # no CDN, no remote resource
    pngs = embedded_pngs(html)
    # equity+underwater, rolling Sharpe, prices+trades, positions, parameters, spread+z-score
    assert len(pngs) == 6
    for png in pngs:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        px = decode_png(png)
        assert px.shape[0] >= 250 and px.shape[1] == 1100
        assert n_colours(px) > 50  # a drawn chart, not a blank image
    for png_name in PNG_FILES.values():
        assert (run_dir / png_name).read_bytes() in pngs  # the PNG files are the report's charts
    # the numbers shown come from summary.json
    m = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert f"{m['total_return'] * 100:,.2f}%" in html and f"{m['sharpe']:,.3f}" in html
    assert "±entry_z = 2" in html and "±exit_z = 0.5" in html  # bands from the strategy's effective params
    assert f"{m['trades']:,} trades" in html


def test_report_cli_rebuilds_from_the_files_alone(run_dir, tmp_path, capsys):
    only = tmp_path / "copy"
    only.mkdir()
    for f in RUN_FILES:
        shutil.copy(run_dir / f, only / f)
    assert main(["report", str(only)]) == 0
    assert str(only / REPORT_FILE) in capsys.readouterr().out
    # same bytes as the report the backtest wrote: nothing else was needed, nothing time-dependent
    assert (only / REPORT_FILE).read_bytes() == (run_dir / REPORT_FILE).read_bytes()
    for png_name in PNG_FILES.values():
        assert (only / png_name).read_bytes() == (run_dir / png_name).read_bytes()


def test_round_trips_csv_required(run_dir, tmp_path):
    """The trade log is the broker's (round_trips.csv); a folder without it is refused, naming the file."""
    d = tmp_path / "old"
    d.mkdir()
    for f in RUN_FILES:
        if f != "round_trips.csv":
            shutil.copy(run_dir / f, d / f)
    with pytest.raises(ReportError, match="round_trips.csv: missing"):
        write_report(d)


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"rmsbt: error: {tmp_path / 'nope'}: not a folder"
    (tmp_path / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match="summary.json: not valid JSON"):
        write_report(tmp_path)
    (tmp_path / "summary.json").write_text('{"metrics": {}, "symbols": [], "timeframe": "1h"}', encoding="utf-8")
    with pytest.raises(ReportError, match="equity.csv: missing"):
        write_report(tmp_path)
    assert not (tmp_path / REPORT_FILE).exists()  # nothing half-written


def test_no_trade_run_report(tmp_path):
    d = write_pairs_run(tmp_path / "flat", n=300, entry_z=50.0, exit_z=0.5)  # z never reaches 50
    html = (d / REPORT_FILE).read_text(encoding="utf-8")
    assert "No trades." in html and "no closed trades" in html
    assert len(embedded_pngs(html)) == 6


# ---- display thinning --------------------------------------------------------------------------------
def test_minmax_thinning_keeps_extremes_small_example():
    y = np.zeros(20_000)
    y[12_345], y[777] = 5.0, -3.0  # one-bar spikes must survive
    idx = minmax_indices(y, 100)
    assert len(idx) <= 100 and 12_345 in idx and 777 in idx and idx[0] == 0 and idx[-1] == 19_999
    assert (np.diff(idx) > 0).all()
    assert len(minmax_indices(np.arange(50.0), 100)) == 50  # short series untouched


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.integers(4, 400))
def test_minmax_thinning_properties(values, max_points):
    y = np.array(values)
    idx = minmax_indices(y, max_points)
    # short series are drawn whole; long ones from ≤ max_points points (2 per bucket + both ends)
    assert len(idx) == len(y) if len(y) <= max_points else len(idx) <= max_points
    assert (np.diff(idx) > 0).all()
    assert y[idx].max() == y.max() and y[idx].min() == y.min()
    assert idx[0] == 0 and idx[-1] == len(y) - 1


def test_max_points_default():
    assert MAX_POINTS == 5000 and len(minmax_indices(np.random.default_rng(0).normal(size=1_000_000))) <= 5000


def test_same_run_same_bytes(run_dir, tmp_path):
    """Same input and config → bit-identical summary.json, CSVs, PNGs and report (no wall-clock in them)."""
    again = write_pairs_run(tmp_path / "again")
    for f in RUN_FILES + [REPORT_FILE, *PNG_FILES.values()]:
        assert (again / f).read_bytes() == (run_dir / f).read_bytes(), f
