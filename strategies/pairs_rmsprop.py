"""Pairs trading ETH against BTC with a hedge ratio adapted bar by bar by RMSprop.

Model. The spread of log prices ``s_t = ln y_t − β·ln x_t − c`` (y = ``y_symbol``, default ETH/USDT;
x = ``x_symbol``, default BTC/USDT). On every bar where both legs traded, (β, c) take one RMSprop
step on the loss ``L = s_t²``, whose gradient is::

    ∂L/∂β = −2·s_t·ln x_t        ∂L/∂c = −2·s_t

Signal. The z-score ``z_t = (s_t − m_{t−1}) / √var_{t−1}`` compares the spread with an exponentially
weighted mean and variance (``alpha = 2 / (span + 1)``) of the spreads *before* bar t; then
``m_t = m_{t−1} + alpha·(s_t − m_{t−1})`` and ``var_t = (1 − alpha)·(var_{t−1} + alpha·(s_t − m_{t−1})²)``.

Timing (decided and tested): the spread that drives bar t's decision is computed with (β, c) from
**before** bar t's update, i.e. fitted on bars ≤ t−1 — the one-step-ahead residual, as a Kalman
pairs trader uses its innovation. Bar t's gradient then updates (β, c), which first drive the
decision of bar t+1. Orders decided on bar t fill at bar t+1's open (engine rule).

Trading. After ``warmup`` bars: flat and ``z > entry_z`` → short the spread (sell y, buy x); flat and
``z < −entry_z`` → long the spread; in a position and ``|z| < exit_z`` → flat. Legs are sized at bar
t's closes: of a gross notional ``gross_exposure · equity``, y gets ``1/(1+|β|)`` and x
``|β|/(1+|β|)``, with opposite signs (a long spread is long y and short β units of x per unit of y's
log-exposure). Positions are re-sized only when entering.

Recorded on every bar (``params.csv``): β and c after the update, their effective step sizes
``lr/(√v+ε)``, the spread, its z-score and the position state. On a bar where a leg has no candle
nothing is updated or decided: the row repeats β and c with NaN spread and z-score.

Missing candles (engine rule): an order waits for its symbol's next real bar, so if one leg has no
candle at t+1 the two legs fill on different bars and the pair is briefly unhedged. On Binance's
BTC/ETH data the outages are exchange-wide and this does not happen.
"""

from __future__ import annotations

import math

import numpy as np

from rmsbt import RMSprop
from rmsbt.errors import ConfigError
from rmsbt.strategy import Strategy


def spread_and_grad(params: np.ndarray, ln_y: float, ln_x: float, grad_out: np.ndarray) -> float:
    """Return ``s = ln_y − β·ln_x − c`` and write ∂(s²)/∂(β, c) = (−2·s·ln_x, −2·s) into ``grad_out``."""
    s = ln_y - params[0] * ln_x - params[1]
    grad_out[0] = -2.0 * s * ln_x
    grad_out[1] = -2.0 * s
    return s


class PairsRMSprop(Strategy):
    PARAMS = {
        "y_symbol": (str, "ETH/USDT"),
        "x_symbol": (str, "BTC/USDT"),
        "lr": (float, 1e-3),
        "decay": (float, 0.99),
        "eps": (float, 1e-8),
        "eps_in_sqrt": (bool, False),  # True: g/√(v+ε) (Keras/TF1/optax) instead of g/(√v+ε) (PyTorch)
        "centered": (bool, False),  # centered RMSprop (second moment minus the squared mean gradient)
        "momentum": (float, 0.0),  # PyTorch-form momentum
        "beta0": (float, 1.0),
        "c0": (str, "auto"),  # "auto": c = ln y − β0·ln x at the first bar; or a number as a string
        "zscore_span": (int, 200),
        "entry_z": (float, 2.0),
        "exit_z": (float, 0.5),
        "gross_exposure": (float, 1.0),
        "warmup": (int, 500),
    }

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        if p["zscore_span"] < 2:
            raise ConfigError("strategy.params.zscore_span: must be >= 2")
        if not (p["entry_z"] > 0 and 0 <= p["exit_z"] < p["entry_z"]):
            raise ConfigError("strategy.params.exit_z/entry_z: need 0 <= exit_z < entry_z")
        if not (p["gross_exposure"] > 0):
            raise ConfigError("strategy.params.gross_exposure: must be > 0")
        if p["warmup"] < 0:
            raise ConfigError("strategy.params.warmup: must be >= 0")
        if p["c0"] != "auto":
            try:
                float(p["c0"])
            except ValueError:
                raise ConfigError(f"strategy.params.c0: expected \"auto\" or a number, got {p['c0']!r}") from None
        try:
            self.opt = RMSprop(lr=p["lr"], decay=p["decay"], eps=p["eps"], eps_in_sqrt=p["eps_in_sqrt"],
                               centered=p["centered"], momentum=p["momentum"])
        except ConfigError as exc:
            raise ConfigError(f"strategy.params: {exc}") from None
        self.theta = np.array([p["beta0"], 0.0 if p["c0"] == "auto" else float(p["c0"])])
        self.grad = np.zeros(2)
        self.alpha = 2.0 / (p["zscore_span"] + 1.0)
        self.mean = math.nan
        self.var = 0.0
        self.n_seen = 0
        self.state = 0  # +1 long spread, -1 short spread, 0 flat

    def on_start(self, ctx):
        self.opt.init(2)
        for s in (self.params["y_symbol"], self.params["x_symbol"]):
            if s not in ctx.symbols:
                raise ConfigError(f"strategy.params: {s} is not in data.symbols ({', '.join(ctx.symbols)})")

    def on_bar(self, ctx):
        p = self.params
        ysym, xsym = p["y_symbol"], p["x_symbol"]
        py, px = ctx.price(ysym), ctx.price(xsym)
        if not (py > 0 and px > 0):  # a leg has no bar now: no update, no decision, a row of NaN signals
            step = self.opt.effective_lr()
            ctx.record(beta=self.theta[0], c=self.theta[1], lr_eff_beta=step[0], lr_eff_c=step[1],
                       spread=math.nan, zscore=math.nan, state=self.state)
            return
        ln_y, ln_x = math.log(py), math.log(px)
        if self.n_seen == 0 and p["c0"] == "auto":
            self.theta[1] = ln_y - self.theta[0] * ln_x
        # spread with (β, c) from before this bar's update: the one-step-ahead residual
        s = spread_and_grad(self.theta, ln_y, ln_x, self.grad)
        if self.n_seen == 0:
            z = math.nan
            self.mean, self.var = s, 0.0
        else:
            dev = s - self.mean
            z = dev / math.sqrt(self.var) if self.var > 0 else math.nan
            self.mean += self.alpha * dev
            self.var = (1.0 - self.alpha) * (self.var + self.alpha * dev * dev)
        self.n_seen += 1

        if self.n_seen > p["warmup"] and z == z:
            if self.state == 0 and abs(z) > p["entry_z"]:
                self.state = -1 if z > 0 else 1
                beta = self.theta[0]
                gross = p["gross_exposure"] * ctx.equity
                w_y = gross / (1.0 + abs(beta))
                w_x = gross * abs(beta) / (1.0 + abs(beta))
                sign_x = -1.0 if beta >= 0 else 1.0
                ctx.order_target(ysym, self.state * w_y / py)
                ctx.order_target(xsym, self.state * sign_x * w_x / px)
            elif self.state != 0 and abs(z) < p["exit_z"]:
                self.state = 0
                ctx.order_target(ysym, 0.0)
                ctx.order_target(xsym, 0.0)

        # this bar's data updates (β, c); they drive decisions from the next bar on
        self.opt.step(self.theta, self.grad)
        step = self.opt.effective_lr()
        ctx.record(beta=self.theta[0], c=self.theta[1], lr_eff_beta=step[0], lr_eff_c=step[1],
                   spread=s, zscore=z, state=self.state)
