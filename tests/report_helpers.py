"""Synthetic runs for the report tests: seeded candles, the real pairs strategy, the real engine."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rmsbt.config import Config, DataConfig, StrategyConfig
from rmsbt.engine.broker import BrokerConfig
from rmsbt.engine.loop import run_backtest
from rmsbt.metrics import summarize
from rmsbt.outputs import write_outputs
from rmsbt.runner import Run
from rmsbt.testing import candles, market
from strategies.pairs_rmsprop import PairsRMSprop

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
H = 3_600_000


def pair_candles(n: int, seed: int = 3):
    """BTC-like and ETH-like hourly candles: ETH = BTC^1 · mean-reverting noise (a tradable spread)."""
    rng = np.random.default_rng(seed)
    lx = np.log(40_000) + np.cumsum(rng.normal(0, 0.006, n))
    s = np.zeros(n)
    for k in range(1, n):
        s[k] = 0.97 * s[k - 1] + rng.normal(0, 0.004)
    ly = lx - np.log(15.0) + s
    out = {}
    for sym, lc in (("BTC/USDT", lx), ("ETH/USDT", ly)):
        c = np.exp(lc)
        o = np.concatenate([[c[0]], c[:-1]])
        rows = [(T0 + k * H, o[k], max(o[k], c[k]) * 1.001, min(o[k], c[k]) * 0.999, c[k], 10.0) for k in range(n)]
        out[sym] = candles(rows)
    return out


def pairs_run(n: int = 1200, **params) -> Run:
    p = {"warmup": 100, "zscore_span": 50, "lr": 0.002, **params}
    raw = {"name": "synthetic_pairs", "data": {"exchange": "binance", "symbols": ["BTC/USDT", "ETH/USDT"],
                                                "timeframe": "1h"},
           "broker": {"initial_cash": 10_000.0, "fee_bps": 10.0, "slippage_bps": 2.0},
           "strategy": {"class": "strategies/pairs_rmsprop.py:PairsRMSprop", "params": p}}
    broker = BrokerConfig(initial_cash=10_000.0, taker_fee_bps=10.0, slippage_bps=2.0)  # as in raw["broker"]
    cfg = Config("synthetic_pairs", Path("synthetic.toml"), DataConfig("binance", ("BTC/USDT", "ETH/USDT"), "1h"),
                 broker, StrategyConfig(raw["strategy"]["class"], p), raw)
    data = market(pair_candles(n), "1h")
    strategy = PairsRMSprop(**p)
    res = run_backtest(strategy, data, broker)
    return Run(cfg, res, summarize(res, market=data), strategy, data)


def write_pairs_run(folder: Path, n: int = 1200, **params) -> Path:
    return write_outputs(pairs_run(n, **params), folder)


def decode_png(png: bytes) -> np.ndarray:
    """RGB pixels of a PNG (Pillow comes with matplotlib)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def n_colours(px: np.ndarray) -> int:
    """Distinct RGB colours in an image: a blank or near-blank image has a handful."""
    rgb = px.astype(np.int32)
    return int(np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).size)
