"""The report's charts: static matplotlib figures rendered to PNG bytes.

Why matplotlib (Agg) rather than plotly/bokeh: the report must be one offline file; static PNGs need
no JavaScript (nothing to inline, nothing to break in a browser, ~50–150 kB per chart instead of a
3–4 MB inlined JS bundle), and the same figures are written as PNG files for terminals and READMEs.
The price: no zoom or hover — the numbers are in the tables and CSV files beside the report.

No pyplot: figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas, so there is
no global state and nothing opens a window. Long series are thinned for display only
(:mod:`.downsample`); every number in the report comes from ``summary.json`` or the CSV files.
PNG metadata carries no software version or time, so the same run gives the same bytes.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # headless; must precede any backend use
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from ..metrics import buy_and_hold, drawdown, equity_curve, rolling_sharpe, simple_returns  # noqa: E402
from .downsample import thin  # noqa: E402
from .rundata import RunData  # noqa: E402

DPI = 100
WIDTH = 11.0  # inches → 1100 px
COLORS = {"equity": "#1f5fa8", "bh": "#9a9a9a", "dd": "#c0392b", "long": "#1e8449", "short": "#c0392b",
          "exit": "#555555", "p2": "#8e44ad", "band": "#e67e22"}
SYMBOL_COLORS = ["#1f5fa8", "#e67e22", "#1e8449", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]


def _dt(ms) -> np.ndarray:
    return np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")


def _figure(rows: int, height_per_row: float = 2.6, ratios=None) -> tuple[Figure, list]:
    fig = Figure(figsize=(WIDTH, max(height_per_row * rows, 2.8)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": ratios} if ratios else None)[:, 0]
    for ax in axes:
        ax.grid(True, color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=9)
    return fig, list(axes)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _line(ax, x, y, **kw):
    xs, ys = thin(x, y)
    return ax.plot(xs, ys, linewidth=kw.pop("linewidth", 1.1), **kw)


def _money(ax):
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"))


def mark_ruin(run: RunData, *axes) -> None:
    """A ruined run: a red dashed vertical line at the close of the ruin bar on each time axis (the
    metrics stop there; the charts show the whole run)."""
    m = run.metrics
    if not m.get("ruined") or m.get("ruin_time") is None:
        return
    x = _dt([int(m["ruin_time"]) + run.timeframe_ms])[0]
    for ax in axes:
        ax.axvline(x, color=COLORS["dd"], linestyle="--", linewidth=1.2, label="ruin")


def _one_bar_xlim(run: RunData, *axes) -> None:
    """A single bar: show that bar (open to close), not matplotlib's default multi-year span around one point."""
    ts = run.equity["timestamp"].to_numpy(np.int64)
    if ts.size == 1:
        lo, hi = _dt([ts[0] - run.timeframe_ms, ts[0] + 2 * run.timeframe_ms])
        for ax in axes:
            ax.set_xlim(lo, hi)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777777", fontsize=11)


def curve_points(run: RunData) -> tuple[np.ndarray, np.ndarray]:
    """Equity curve with its starting point: times ``[ts_0, close of bar 0, ...]`` and ``[E_0, E_1, ...]``."""
    ts = run.equity["timestamp"].to_numpy(np.int64)
    t = np.concatenate([[ts[0]], ts + run.timeframe_ms])
    return _dt(t), equity_curve(run.initial_cash, run.equity["equity"].to_numpy(np.float64))


def equity_drawdown(run: RunData) -> Figure:
    """Equity against equal-weight buy-and-hold (top) and the underwater chart (bottom)."""
    fig, (ax, ax_dd) = _figure(2, ratios=[2.2, 1], height_per_row=3.0)
    x, curve = curve_points(run)
    _line(ax, x, curve, color=COLORS["equity"], label="strategy equity", linewidth=1.4)
    closes = run.closes()
    per = run.metrics.get("per_symbol") or {}
    if closes is not None and per:
        raw = [(per.get(s) or {}).get("buy_and_hold_start_price") for s in run.symbols]
        start = np.array([math.nan if v is None else float(v) for v in raw])  # JSON null → NaN
        bh, _ = buy_and_hold(start, closes, run.initial_cash)
        _line(ax, x, np.concatenate([[run.initial_cash], bh]), color=COLORS["bh"],
              label="buy & hold (equal weight: " + ", ".join(run.symbols) + ")")
    ax.axhline(run.initial_cash, color="#bbbbbb", linewidth=0.8, linestyle=":")
    ax.set_ylabel("equity (quote)")
    _money(ax)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9, edgecolor="none")
    ax.set_title("Equity and buy & hold", loc="left", fontsize=11, fontweight="bold")
    dd, _ = drawdown(curve)
    xs, ys = thin(x, -dd)
    ax_dd.fill_between(xs, ys, 0, color=COLORS["dd"], alpha=0.35, linewidth=0)
    ax_dd.plot(xs, ys, color=COLORS["dd"], linewidth=0.9)
    ax_dd.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))  # decimals chosen from the range: no "−1%, −1%"
    mark_ruin(run, ax, ax_dd)
    ax_dd.set_ylabel("drawdown")
    ax_dd.set_title("Underwater (drawdown from the running peak)", loc="left", fontsize=11, fontweight="bold")
    return fig


def prices_with_trades(run: RunData) -> Figure | None:
    """Each symbol's close with round-trip entries (▲ long, ▼ short) and exits (×)."""
    closes = run.closes()
    if closes is None:
        return None
    fig, axes = _figure(len(run.symbols), height_per_row=2.7)
    x = _dt(run.equity["timestamp"].to_numpy(np.int64))
    tr = run.trades
    for j, (ax, s) in enumerate(zip(axes, run.symbols)):
        c = closes[j]
        ok = ~np.isnan(c)
        _line(ax, x[ok], c[ok], color=SYMBOL_COLORS[j % len(SYMBOL_COLORS)], linewidth=1.0,
              marker="o" if ok.sum() == 1 else None)
        mark_ruin(run, ax)
        mine = tr.loc[tr["symbol"] == s] if len(tr) else tr
        ms, alpha = (28, 1.0) if len(mine) < 300 else (7, 0.55)  # thousands of trades: small, see-through
        for side, marker, color in (("long", "^", COLORS["long"]), ("short", "v", COLORS["short"])):
            e = mine.loc[mine["side"] == side] if len(mine) else mine
            if len(e):
                ax.scatter(_dt(e["entry_time"].to_numpy(np.int64)), e["entry_price"], marker=marker, s=ms,
                           color=color, zorder=3, label=f"{side} entry", linewidths=0, alpha=alpha)
        closed = mine.loc[mine["exit_time"].notna()] if len(mine) else mine
        if len(closed):
            ax.scatter(_dt(closed["exit_time"].to_numpy(np.float64).astype(np.int64)), closed["exit_price"],
                       marker="x", s=ms * 0.8, color=COLORS["exit"], zorder=3, label="exit",
                       linewidths=0.9 if alpha == 1.0 else 0.5, alpha=alpha)
        ax.set_title(f"{s}: close, trade entries and exits", loc="left", fontsize=11, fontweight="bold")
        _money(ax)
        _one_bar_xlim(run, ax)
        if len(mine):
            ax.legend(loc="upper left", fontsize=8, ncol=3, markerscale=2.0 if alpha < 1 else 1.0, framealpha=0.9,
                      edgecolor="none")
    return fig


def positions(run: RunData) -> Figure:
    """Each symbol's position value (quantity × close, quote currency), step-wise per bar."""
    fig, (ax,) = _figure(1, height_per_row=2.8)
    x = _dt(run.equity["timestamp"].to_numpy(np.int64))
    pos = run.positions()
    closes = run.closes()
    for j, s in enumerate(run.symbols):
        if closes is not None:
            c = closes[j].copy()
            last = np.maximum.accumulate(np.where(np.isnan(c), 0, np.arange(c.size)))
            y = pos[j] * c[last]
            label = f"{s} (quote value)"
        else:
            y, label = pos[j], f"{s} (quantity)"
        xs, ys = thin(x, np.nan_to_num(y))
        ax.step(xs, ys, where="post", linewidth=0.9, color=SYMBOL_COLORS[j % len(SYMBOL_COLORS)], label=label,
                marker="o" if len(xs) == 1 else None)
    ax.axhline(0, color="#999999", linewidth=0.8)
    _money(ax)
    mark_ruin(run, ax)
    _one_bar_xlim(run, ax)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9, edgecolor="none")
    ax.set_title("Positions over time (+ long, − short)", loc="left", fontsize=11, fontweight="bold")
    return fig


SIGNAL_COLUMNS = {"spread", "zscore", "state", "timestamp"}


def parameter_columns(params) -> list[str]:
    """Numeric recorded columns that are adapted parameters: not the signal columns, not ``lr_eff_*``."""
    return [c for c in params.columns if c not in SIGNAL_COLUMNS and not c.startswith("lr_eff_")
            and np.issubdtype(params[c].dtype, np.number)]


def parameters(run: RunData) -> Figure | None:
    """Each adapted parameter (left axis) with its effective step size ``lr_eff_<name>`` (right, log)."""
    p = run.params
    cols = parameter_columns(p) if len(p) else []
    if not cols:
        return None
    fig, axes = _figure(len(cols), height_per_row=2.5)
    x = _dt(p["timestamp"].to_numpy(np.int64))
    for ax, c in zip(axes, cols):
        _line(ax, x, p[c].to_numpy(np.float64), color=COLORS["equity"], label=c)
        ax.set_ylabel(c)
        step = f"lr_eff_{c}"
        # a value with an effective step size lr_eff_<name> is an adapted parameter; others are what
        # the strategy recorded (an indicator, say)
        title = f"adapted parameter {c}" if step in p.columns else f"recorded value {c}"
        if step in p.columns:
            ax2 = ax.twinx()
            v = p[step].to_numpy(np.float64)
            pos = v > 0
            if pos.any():
                _line(ax2, x[pos], v[pos], color=COLORS["band"], linewidth=0.8, alpha=0.8)
                ax2.set_yscale("log")
                lo, hi = np.percentile(v[pos], [0.5, 99.5])  # the first steps (v ≈ 0) would squash the rest
                ax2.set_ylim(lo / 1.5, hi * 1.5)
            ax2.set_ylabel("effective step", color=COLORS["band"], fontsize=9)
            ax2.tick_params(labelsize=8, colors=COLORS["band"])
            ax2.spines["top"].set_visible(False)
            title += " (blue) and its effective step size lr/(√v+ε) (orange, log scale, 0.5–99.5 % range)"
        ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    return fig


def z_bands(run: RunData) -> list[tuple[str, float]]:
    """``[("entry_z", v), ("exit_z", v)]`` from the strategy's parameters, those that are numbers."""
    sp = run.strategy_params()
    return [(k, float(sp[k])) for k in ("entry_z", "exit_z") if isinstance(sp.get(k), (int, float))]


def band_text(bands) -> str:
    return ", ".join(f"±{k} = {v:g}" for k, v in bands)


def spread_zscore(run: RunData) -> Figure | None:
    """Spread (top) and z-score (bottom) with ±entry_z and ±exit_z bands from the config echo."""
    p = run.params
    if not len(p) or not {"spread", "zscore"} <= set(p.columns):
        return None
    fig, (ax, axz) = _figure(2, height_per_row=2.6)
    x = _dt(p["timestamp"].to_numpy(np.int64))
    _line(ax, x, p["spread"].to_numpy(np.float64), color=COLORS["p2"])
    ax.set_title("Spread", loc="left", fontsize=11, fontweight="bold")
    z = p["zscore"].to_numpy(np.float64)
    ok = np.isfinite(z)
    _line(axz, x[ok], z[ok], color=COLORS["equity"], linewidth=0.7)
    bands = z_bands(run)
    for key, v in bands:
        for sign in (1, -1):
            axz.axhline(sign * v, color=COLORS["band"], linestyle="-" if key == "entry_z" else "--", linewidth=1.1)
    if ok.any():
        lim = max(float(np.nanpercentile(np.abs(z[ok]), 99.9)) * 1.15, max([v for _, v in bands], default=0) * 1.3, 1.0)
        axz.set_ylim(-lim, lim)
    axz.set_title("z-score" + (" with bands " + band_text(bands) if bands else ""), loc="left", fontsize=11,
                  fontweight="bold")
    return fig


def rolling_sharpe_chart(run: RunData, window_days: float = 30.0) -> Figure:
    """Sharpe of a trailing window (default 30 days of bars), same formula as the summary's Sharpe."""
    fig, (ax,) = _figure(1, height_per_row=2.6)
    x, curve = curve_points(run)
    r = simple_returns(curve)
    ppy = float(run.metrics.get("periods_per_year") or 365 * 86_400_000 / run.timeframe_ms)
    w = max(int(round(window_days * 86_400_000 / run.timeframe_ms)), 2)
    if r.size >= w:
        rs = rolling_sharpe(r, w, ppy, float(run.metrics.get("risk_free_rate") or 0.0))
        if np.isfinite(rs).any():  # NaN (a flat window: undefined) stays a gap in the line
            _line(ax, x[1:], rs, color=COLORS["equity"], linewidth=0.8)
        else:
            _empty(ax, "rolling Sharpe undefined (zero dispersion in every window)")
    else:
        _empty(ax, f"fewer bars ({r.size}) than the rolling window ({w})")
    ax.axhline(0, color="#999999", linewidth=0.8)
    mark_ruin(run, ax)
    ax.set_title(f"Rolling Sharpe ({window_days:g}-day window = {w:,} bars, annualised ×√{ppy:g})", loc="left",
                 fontsize=11, fontweight="bold")
    return fig
