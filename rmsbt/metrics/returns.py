"""Return-based metrics: the equity curve, per-bar returns, volatility, Sharpe, Sortino, CAGR, Calmar.

Notation (all documented again in ``docs/metrics.md``):

- ``E_0 = initial cash`` at the open of the first bar, ``E_k`` (k = 1..n) equity marked at the close of
  bar k−1. The curve has n + 1 points for n bars.
- ``r_k = E_k / E_{k−1} − 1`` (k = 1..n): simple per-bar returns, n of them. They are **bar-based**:
  a gap in the clock (bars missing for every symbol) makes one return span more time, and it still
  counts as one period.
- ``P`` = periods per year. Default: a 365-day year divided by the bar length (8760 for ``1h``,
  365 for ``1d``, 525600 for ``1m``); callers may override it (e.g. 252 to compare with equity tools).
- ``rf_p = (1 + rf)^(1/P) − 1``: an annual risk-free rate ``rf`` de-annualised per period
  (geometric, so compounding ``rf_p`` over P periods gives exactly ``rf``). Default rf = 0.
- Zero-dispersion rule (fault case BR-28): a dispersion ``d`` of a series ``x`` counts as zero when
  ``d <= 1e-12 · max|x|`` (or d == 0): the standard deviation of a constant series is rounding residue
  (≈ 2e-19 for 250 × 0.001), not risk, so ratios dividing by it are NaN, never ~1e15 or inf.
"""

from __future__ import annotations

import math

import numpy as np

from ..timeframes import YEAR_MS, timeframe_to_ms

ZERO_DISPERSION = 1e-12


def periods_per_year_for(timeframe: str, override: float | None = None) -> float:
    """``override`` if given, else 365 days / bar length (24/7 markets)."""
    if override is not None:
        p = float(override)
        if not (p > 0 and math.isfinite(p)):
            raise ValueError(f"periods_per_year must be a positive number, got {override!r}")
        return p
    return YEAR_MS / timeframe_to_ms(timeframe)


def per_period_rate(annual_rate: float, periods_per_year: float) -> float:
    """``(1 + annual_rate)^(1/P) − 1``: the per-period rate that compounds to ``annual_rate`` in a year.

    ``annual_rate`` must be finite and > −1 (−100 % a year); anything else (e.g. −1.5, which would give
    a complex root, or NaN) raises ValueError."""
    rf = float(annual_rate)
    if not (math.isfinite(rf) and rf > -1.0):
        raise ValueError(f"risk_free must be a finite annual rate > -1 (e.g. 0.04 for 4 %), got {annual_rate!r}")
    return (1.0 + float(annual_rate)) ** (1.0 / periods_per_year) - 1.0


def equity_curve(initial_cash: float, equity: np.ndarray) -> np.ndarray:
    """``[E_0 = initial_cash, E_1 = equity[0], ..., E_n = equity[n−1]]``."""
    return np.concatenate([[float(initial_cash)], np.asarray(equity, dtype=np.float64)])


def simple_returns(curve: np.ndarray) -> np.ndarray:
    """``r_k = E_k / E_{k−1} − 1`` for k = 1..n (n returns for n + 1 curve points)."""
    curve = np.asarray(curve, dtype=np.float64)
    return curve[1:] / curve[:-1] - 1.0


def _is_zero_dispersion(d: float, x: np.ndarray) -> bool:
    return d == 0.0 or d <= ZERO_DISPERSION * float(np.max(np.abs(x)))


def std_is_zero(sd, absmax, spread):
    """The zero-dispersion rule for a standard deviation ``sd`` of values with largest magnitude
    ``absmax`` and range ``spread = max − min`` (scalars or arrays, element-wise): zero when
    ``sd == 0``, ``sd <= 1e-12 · absmax``, or all values are equal (``spread == 0``: then any ``sd`` is
    rounding residue — a rolling std of an all-zero window can keep ~1e-10 from earlier values).
    :func:`annual_volatility`, :func:`sharpe_ratio` and :func:`rolling_sharpe` all decide with it."""
    return (sd == 0.0) | (sd <= ZERO_DISPERSION * absmax) | (spread == 0.0)


def _std_is_zero(sd: float, x: np.ndarray) -> bool:
    return bool(std_is_zero(sd, float(np.max(np.abs(x))), float(np.ptp(x))))


def _sharpe(mean, sd, periods_per_year: float):
    """``mean / sd · √P`` — the one Sharpe formula (scalars or arrays)."""
    return mean / sd * math.sqrt(periods_per_year)


def annual_volatility(returns: np.ndarray, periods_per_year: float) -> float:
    """``std(r, ddof=1) · √P``. NaN with fewer than two returns; exactly 0.0 under the zero-dispersion rule."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    sd = float(np.std(r, ddof=1))
    if _std_is_zero(sd, r):
        return 0.0
    return sd * math.sqrt(periods_per_year)


def sharpe_ratio(returns: np.ndarray, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio.

    ``x_k = r_k − rf_p``;  ``Sharpe = mean(x) / std(x, ddof=1) · √P``.
    NaN (undefined) with fewer than two returns or under the zero-dispersion rule (BR-28).
    ``risk_free`` is an annual rate, de-annualised with :func:`per_period_rate`.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    x = r - per_period_rate(risk_free, periods_per_year) if risk_free else r
    sd = float(np.std(x, ddof=1))
    if _std_is_zero(sd, x):
        return math.nan
    return float(_sharpe(float(np.mean(x)), sd, periods_per_year))


def downside_deviation(returns: np.ndarray, target: float = 0.0) -> float:
    """``√( (1/n) · Σ_k min(r_k − target, 0)² )`` over **all** n periods (BR-25), not only losing ones."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return math.nan
    d = np.minimum(r - target, 0.0)
    return math.sqrt(float(np.mean(d * d)))


def sortino_ratio(returns: np.ndarray, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sortino ratio with the target return ``rf_p`` (0 by default).

    ``Sortino = mean(r − rf_p) / DD · √P`` with ``DD`` = :func:`downside_deviation` (target rf_p).
    NaN with fewer than two returns, or when there is no downside (DD zero by the zero-dispersion
    rule): undefined, never inf (BR-28).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    target = per_period_rate(risk_free, periods_per_year) if risk_free else 0.0
    dd = downside_deviation(r, target)
    x = r - target
    if _is_zero_dispersion(dd, x):
        return math.nan
    return float(np.mean(x)) / dd * math.sqrt(periods_per_year)


CAGR_MAX_LOG = math.log(1.7976931348623157e308)  #: ≈ 709.78: exp() of anything larger is not a float


def cagr(initial: float, final: float, duration_ms: int) -> float:
    """Compound annual growth rate, **time-based** with 365-day years.

    ``CAGR = (E_end / E_0)^(1 / years) − 1`` with ``years = duration_ms / (365 · 86 400 000)`` (the
    wall-clock span from the first bar's open to the last bar's close, gaps included), computed as
    ``expm1(ln(E_end / E_0) / years)`` so that nothing overflows: when the annualised growth factor
    exceeds the largest float (``ln(E_end / E_0) / years > ln(1.797e308) ≈ 709.78`` — e.g. +10 % in
    one hour annualises to 1.1^8760 ≈ 1e362) the result is NaN (:func:`cagr_overflows` tells that case
    apart; the summary adds a note), never an exception or inf. Ruin (``E_end ≤ 0``): −1.0, all
    capital lost (a negative base has no real root). NaN if the duration is not positive.
    """
    if not duration_ms > 0:
        return math.nan
    if final <= 0.0:
        return -1.0
    g = (math.log(final) - math.log(initial)) / (duration_ms / YEAR_MS)  # no underflow of final/initial
    if not g <= CAGR_MAX_LOG:
        return math.nan
    return math.expm1(g)


def cagr_overflows(initial: float, final: float, duration_ms: int) -> bool:
    """True when :func:`cagr` is NaN because the annualised growth factor does not fit in a float."""
    return (duration_ms > 0 and final > 0.0
            and not (math.log(final) - math.log(initial)) / (duration_ms / YEAR_MS) <= CAGR_MAX_LOG)


def calmar_ratio(cagr_value: float, max_drawdown: float) -> float:
    """``CAGR / max_drawdown`` (max drawdown as a positive fraction). NaN when there was no drawdown."""
    if not max_drawdown > 0.0 or not math.isfinite(cagr_value):
        return math.nan
    return cagr_value / max_drawdown


def rolling_sharpe(returns: np.ndarray, window: int, periods_per_year: float, risk_free: float = 0.0) -> np.ndarray:
    """Sharpe of each trailing window of ``window`` returns: the formula and zero-dispersion rule of
    :func:`sharpe_ratio` (same helpers: :func:`std_is_zero`, the Sharpe formula), so a window where
    :func:`sharpe_ratio` is NaN is NaN here too (a gap in the chart, never 0.0). NaN for the first
    ``window − 1`` points. Rolling means/stds come from pandas (O(n)); they may differ from numpy's
    by rounding residue, which the rule absorbs. For display."""
    import pandas as pd

    r = np.asarray(returns, dtype=np.float64)
    x = pd.Series(r - per_period_rate(risk_free, periods_per_year) if risk_free else r)
    w = max(int(window), 2)
    roll = x.rolling(w)
    mean, sd = roll.mean().to_numpy(), roll.std(ddof=1).to_numpy()
    absmax = x.abs().rolling(w).max().to_numpy()
    spread = (roll.max() - roll.min()).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _sharpe(mean, sd, periods_per_year)
        out[std_is_zero(sd, absmax, spread) | np.isnan(sd)] = math.nan
    return out
