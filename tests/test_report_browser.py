"""report.html in a real headless browser (Debian's ``chromium``; .ci/run installs it when missing).

Loads the file from disk, offline: no console messages (the page has no script, so any message is
a failed resource or a browser complaint), every chart image in the DOM, and a screenshot that shows
the charts (many distinct colours, the equity line's blue and the underwater chart's red present).
Skipped with the reason when no chromium binary is found.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from report_helpers import decode_png, n_colours, write_pairs_run

from rmsbt.report import REPORT_FILE
from rmsbt.report.charts import COLORS

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def chromium():
    for b in BROWSERS:
        path = shutil.which(b)
        if path:
            return path
    pytest.skip("no chromium found (Debian: apt-get install -y chromium; .ci/run does this in CI)")


def headless(chromium, tmp_path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


def test_console_capture_works(chromium, tmp_path):
    """The check below can fail: a page with a script error shows up as a CONSOLE line."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script></body></html>", encoding="utf-8")
    p = headless(chromium, tmp_path, bad.as_uri(), "--dump-dom")
    assert any("undefinedFunction" in ln for ln in console_lines(p.stderr))


def test_report_renders_in_chromium(chromium, tmp_path):
    run = write_pairs_run(tmp_path / "run")
    url = (run / REPORT_FILE).as_uri()
    dom = headless(chromium, tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', dom.stdout)
    assert len(imgs) == 6 and any("underwater" in a for a in imgs)
    assert "Metrics" in dom.stdout and "Trades" in dom.stdout

    shot = tmp_path / "shot.png"
    p = headless(chromium, tmp_path, url, f"--screenshot={shot}", "--window-size=1200,2400")
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    assert console_lines(p.stderr) == []
    px = decode_png(shot.read_bytes())
    assert px.shape[:2] == (2400, 1200)
    assert n_colours(px) > 1000  # text, cards and anti-aliased charts: far from blank

    def count_near(hex_colour: str, tol: int = 30) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(px.astype(int) - rgb).max(axis=2) <= tol).sum())

    assert count_near(COLORS["equity"]) > 500  # the equity line (and rolling Sharpe) drawn
    assert count_near("#e9bab5", 10) > 5000  # underwater fill: #c0392b at alpha 0.35 over white
