"""The report page: one self-contained HTML file (inline CSS, charts as base64 PNG, no script, no CDN).

Every number shown comes from ``summary.json`` (metrics) or ``round_trips.csv`` (trades table); the
page computes nothing. Formatting: fractions as percentages, money with thousands separators,
times in UTC. Undefined values (NaN / JSON null) show as "n/a"; the summary's notes say why.
"""

from __future__ import annotations

import base64
import html
import math

import numpy as np
import pandas as pd

from ..timeframes import utc_text

TRADES_SHOWN = 500  #: the first and the last this many trades are listed; all of them are in round_trips.csv

PCT = {"total_return", "cagr", "annual_volatility", "max_drawdown", "current_drawdown", "win_rate", "exposure",
       "exposure_time", "time_under_water", "time_under_water_bars", "avg_trade_return", "buy_and_hold_return",
       "risk_free_rate"}
TIME = {"start", "end", "max_drawdown_start", "max_drawdown_trough", "max_drawdown_recovery", "ruin_time"}
RATIO = {"sharpe", "sortino", "calmar", "profit_factor", "turnover"}
#: amounts of quote currency: always 2 decimals (−0.45, not −0.449611)
MONEY = {"initial_equity", "final_equity", "peak_equity", "pnl", "max_drawdown_quote", "best_trade", "worst_trade",
         "avg_trade", "avg_win", "avg_loss", "expectancy", "fees_paid", "funding_paid", "turnover_quote",
         "net_pnl_closed_trades", "gross_pnl", "net_pnl", "fees", "funding"}

GROUPS = [
    ("Period", ["start", "end", "duration_days", "bars", "missing_bars", "periods_per_year", "risk_free_rate"]),
    ("Returns", ["initial_equity", "final_equity", "peak_equity", "pnl", "total_return", "cagr",
                 "buy_and_hold_return"]),
    ("Risk", ["annual_volatility", "sharpe", "sortino", "calmar", "ruined", "ruin_time"]),
    ("Drawdown", ["max_drawdown", "max_drawdown_quote", "max_drawdown_start", "max_drawdown_trough",
                  "max_drawdown_recovery", "max_drawdown_duration_days", "max_drawdown_duration_bars",
                  "avg_drawdown_duration_days", "avg_drawdown_duration_bars", "drawdown_episodes",
                  "time_under_water", "time_under_water_bars", "current_drawdown"]),
    ("Trades", ["trades", "open_trades", "win_rate", "best_trade", "worst_trade", "avg_trade", "avg_win", "avg_loss",
                "profit_factor", "expectancy", "avg_trade_return", "avg_trade_duration_days",
                "max_trade_duration_days", "avg_trade_duration_bars", "max_trade_duration_bars"]),
    ("Costs and activity", ["fills", "fees_paid", "funding_paid", "turnover_quote", "turnover", "exposure",
                            "exposure_time"]),
]

LABELS = {"cagr": "CAGR (365-day years)", "pnl": "PnL", "annual_volatility": "volatility (annualised)",
          "sharpe": "Sharpe (annualised)", "sortino": "Sortino (annualised)", "turnover": "turnover (× mean equity)",
          "turnover_quote": "turnover (quote)", "exposure": "exposure (bars)", "exposure_time": "exposure (time)",
          "time_under_water": "time under water (time)", "time_under_water_bars": "time under water (bars)",
          "max_drawdown_quote": "max drawdown (quote)", "missing_bars": "bars missing from the clock"}

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#222}
main{max-width:1140px;margin:0 auto;padding:18px 20px 40px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin-bottom:14px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:8px 14px;min-width:120px}
.card .k{font-size:11px;color:#666;text-transform:uppercase;letter-spacing:.03em}.card .v{font-size:19px;font-weight:600}
.neg{color:#b03a2e}.pos{color:#1e8449}
figure{margin:10px 0;background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:6px}
figure img{width:100%;height:auto;display:block}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
table{border-collapse:collapse;background:#fff;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
.mt caption{text-align:left;font-weight:600;padding:4px 0}
.scroll{max-height:520px;overflow:auto;border:1px solid #e1e4e8;border-radius:6px}
.notes li{font-size:13px;color:#7a4b00}
.ruin{background:#fdecea;border:1px solid #c0392b;border-radius:6px;padding:8px 12px;color:#7b241c;font-size:14px}
footer{color:#888;font-size:12px;margin-top:30px}
"""


def _isnum(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def fmt_time(ms) -> str:
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "—"
    return utc_text(ms, suffix=False)


def fmt(key: str, v) -> str:
    """One metric value as text, by what the key measures."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—" if key in TIME else "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key in TIME:
        return fmt_time(v)
    if not _isnum(v):
        return str(v)
    if key in PCT:
        return f"{v * 100:,.2f}%"
    if key in RATIO:
        return f"{v:,.3f}"
    if key in MONEY:
        return f"{v:,.2f}"
    if isinstance(v, (int, np.integer)) or (key.endswith("_bars") and float(v).is_integer()):
        return f"{int(v):,}"
    if key.endswith("_days") or key.endswith("_bars"):
        return f"{v:,.2f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:,.6g}"


def _sign(v) -> str:
    """``"pos"`` / ``"neg"`` for a positive / negative number, ``""`` otherwise (zero, NaN, not a number)."""
    if not _isnum(v) or v != v or v == 0:
        return ""
    return "pos" if v > 0 else "neg"


def _sign_class(v) -> str:
    c = _sign(v)
    return f' class="{c}"' if c else ""


#: headline cards: (label, metric key, colour rule). "sign": green above 0, red below; "loss": a
#: positive value is bad (max drawdown is a positive fraction) → red; None: no colour.
CARDS = [("total return", "total_return", "sign"), ("buy & hold", "buy_and_hold_return", "sign"),
         ("CAGR", "cagr", "sign"), ("Sharpe", "sharpe", "sign"), ("Sortino", "sortino", "sign"),
         ("max drawdown", "max_drawdown", "loss"), ("trades", "trades", None), ("win rate", "win_rate", None),
         ("fees paid", "fees_paid", None)]


def card(label: str, key: str, rule: str | None, m: dict) -> str:
    """One headline card; its value ``<div>`` carries one class attribute (``v`` plus the colour)."""
    v = m.get(key)
    colour = _sign(v) if rule == "sign" else ("neg" if rule == "loss" and _sign(v) == "pos" else "")
    return (f'<div class="card"><div class="k">{html.escape(label)}</div>'
            f'<div class="{"v " + colour if colour else "v"}">{html.escape(fmt(key, v))}</div></div>')


def money(v) -> str:
    """An amount of quote currency in a table: 2 decimals with thousands separators ("−0.45")."""
    return fmt("pnl", v)


def ruin_banner(m: dict) -> str:
    """A ruined run: say what covers what, and where the ruin bar is."""
    if not m.get("ruined"):
        return ""
    when = fmt_time(m.get("ruin_time"))
    return (f'<p class="ruin">Ruin: equity reached zero or below at the close of the bar opening {when} UTC. '
            "The cards and the metrics cover the run up to that bar; the charts and the trades table show the "
            "whole run — the red dashed line marks the ruin bar, and trades marked † were opened or closed after it."
            "</p>")


def metrics_tables(m: dict) -> str:
    out, seen = [], set()
    for title, keys in GROUPS:
        rows = [f"<tr><td>{html.escape(LABELS.get(k, k.replace('_', ' ')))}</td><td>{html.escape(fmt(k, m[k]))}</td></tr>"
                for k in keys if k in m]
        seen.update(keys)
        if rows:
            out.append(f'<table class="mt"><caption>{title}</caption>{"".join(rows)}</table>')
    return '<div class="grid">' + "".join(out) + "</div>"


PER_SYMBOL_MONEY = {"pnl", "net_pnl_closed_trades", "fees_paid", "turnover_quote"}


def per_symbol_table(m: dict) -> str:
    per = m.get("per_symbol") or {}
    if not per:
        return ""
    cols = ["pnl", "buy_and_hold_return", "trades", "win_rate", "net_pnl_closed_trades", "fills", "fees_paid",
            "turnover_quote", "exposure"]
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in ["symbol"] + cols)
    body = "".join("<tr><td>" + html.escape(s) + "</td>" + "".join(
        f"<td{_sign_class(r.get(c)) if c in ('pnl', 'net_pnl_closed_trades') else ''}>"
        f"{html.escape(money(r.get(c)) if c in PER_SYMBOL_MONEY else fmt(c, r.get(c)))}</td>"
        for c in cols) + "</tr>" for s, r in per.items())
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


MONEY_COLUMNS = {"gross_pnl", "fees", "net_pnl", "funding"}


def trades_table(trades: pd.DataFrame, ruin_time=None) -> str:
    if not len(trades):
        return "<p>No trades.</p>"
    n = len(trades)
    shown = trades if n <= 2 * TRADES_SHOWN else pd.concat([trades.head(TRADES_SHOWN), trades.tail(TRADES_SHOWN)])
    cols = ["symbol", "side", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "gross_pnl", "fees",
            "net_pnl", "return", "duration_bars"]
    cols = [c for c in cols if c in trades.columns]
    head = "<th>#</th>" + "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
    rows = []
    for i, (idx, r) in enumerate(shown.iterrows()):
        if n > 2 * TRADES_SHOWN and i == TRADES_SHOWN:
            rows.append(f'<tr><td colspan="{len(cols) + 1}" style="text-align:center">… {n - 2 * TRADES_SHOWN:,} '
                        "trades not listed here (all are in round_trips.csv) …</td></tr>")
        cells = []
        for c in cols:
            v = r[c]
            if c in ("entry_time", "exit_time"):
                t = fmt_time(None if pd.isna(v) else v)
                cells.append(f"<td>{t if t != '—' or c == 'entry_time' else 'open'}</td>")
            elif c in ("symbol", "side"):
                cells.append(f"<td>{html.escape(str(v))}</td>")
            elif c == "return":
                cells.append(f"<td{_sign_class(v)}>{fmt('avg_trade_return', v)}</td>")
            elif c == "qty":
                cells.append(f"<td>{v:.6g}</td>")
            elif c == "duration_bars":
                cells.append(f"<td>{fmt('x_bars', v)}</td>")
            elif c in MONEY_COLUMNS:
                cells.append(f"<td{_sign_class(v) if c.endswith('pnl') else ''}>{money(v)}</td>")
            else:
                cells.append(f"<td>{fmt(c, v)}</td>")
        after = ruin_time is not None and (r["exit_time"] > ruin_time or r["entry_time"] > ruin_time)
        rows.append(f"<tr><td>{idx + 1}{' †' if after else ''}</td>{''.join(cells)}</tr>")
    note = f"<p class='sub'>{n:,} trades" + (f"; the first and last {TRADES_SHOWN} are listed" if n > 2 * TRADES_SHOWN
                                             else "") + ". Amounts in quote currency, net = gross − fees − funding.</p>"
    return note + f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def img(png: bytes, alt: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}"></figure>')


def page(summary: dict, charts: list[tuple[str, str, bytes]], trades: pd.DataFrame) -> str:
    """The whole HTML page. ``charts``: (section title, alt text, PNG bytes) in display order."""
    m = summary["metrics"]
    name = html.escape(str(summary.get("name", "backtest")))
    card_html = "".join(card(label, key, rule, m) for label, key, rule in CARDS if key in m)
    notes = m.get("notes") or []
    notes_html = ("<ul class='notes'>" + "".join(f"<li>{html.escape(s)}</li>" for s in notes) + "</ul>") if notes else ""
    sections, last = [], None
    for title, alt, png in charts:
        if title != last:
            sections.append(f"<h2>{html.escape(title)}</h2>")
            last = title
        sections.append(img(png, alt))
    sub = (f"{html.escape(', '.join(summary.get('symbols', [])))} · {html.escape(str(summary.get('timeframe')))} bars · "
           f"{fmt_time(m.get('start'))} → {fmt_time(m.get('end'))} UTC · {m.get('bars', 0):,} bars")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rmsbt report: {name}</title>
<style>{CSS}</style></head>
<body><main>
<h1>rmsbt backtest report: {name}</h1>
<div class="sub">{sub}</div>
<div class="cards">{card_html}</div>
{ruin_banner(m)}
{notes_html}
{''.join(sections)}
<h2>Metrics</h2>
{metrics_tables(m)}
<h2>Per symbol</h2>
{per_symbol_table(m) or '<p>No per-symbol breakdown in this run.</p>'}
<h2>Trades</h2>
{trades_table(trades, m.get("ruin_time") if m.get("ruined") else None)}
<footer>Definitions of every metric: docs/metrics.md. Charts thin long series for display only (min/max per
bucket); all numbers come from summary.json and the CSV files beside this report.</footer>
</main></body></html>
"""
