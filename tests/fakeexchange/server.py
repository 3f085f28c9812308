"""A small HTTP server on 127.0.0.1 that speaks the part of Binance's public REST API ccxt needs.

What ccxt 4.5's ``binance`` calls for ``load_markets`` + ``fetch_ohlcv`` (read from
``ccxt/binance.py``: ``fetch_markets`` asks ``/api/v3/exchangeInfo`` for spot, ``/fapi/v1/exchangeInfo``
for linear and ``/dapi/v1/exchangeInfo`` for inverse markets; ``fetch_currencies`` needs API keys and
is skipped without them; ``fetch_ohlcv`` asks ``/api/v3/klines`` (spot) or ``/fapi/v1/klines``
(USDT-margined perpetuals) with ``symbol``, ``interval``, ``startTime``, ``endTime``, ``limit``;
``fetch_funding_rate_history`` asks ``/fapi/v1/fundingRate``). Point ccxt at it with
``FakeBinance.ccxt_config()`` which overrides ``urls['api']``.

Faults are injected by appending :class:`Fault` objects to ``server.faults``; each applies to the
next ``times`` requests whose path ends with ``path`` (default: klines). Every request is logged in
``server.log`` as ``(monotonic time, path, query dict, status)``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


@dataclass
class Fault:
    """One injected fault.

    kind: ``status`` (answer ``status`` with ``headers`` and a Binance error body), ``slow`` (sleep
    ``delay`` s, then answer normally), ``truncated`` (cut the JSON body in half), ``empty`` (``[]``),
    ``overlap`` (start the page ``shift`` rows before ``startTime``), ``cap`` (at most ``rows`` rows),
    ``ratelimit`` (429 when the previous accepted request was less than ``interval`` s ago).
    ``times`` = how many matching requests it applies to (``None`` = forever).
    """

    kind: str
    times: int | None = 1
    path: str = "klines"
    status: int = 500
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    shift: int = 0
    rows: int = 0
    interval: float = 0.0
    after: int = 0  # skip this many matching requests first


def _market(base: str, quote: str, perp: bool) -> dict:
    m = {
        "symbol": f"{base}{quote}", "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
        "baseAssetPrecision": 8, "quoteAssetPrecision": 8, "quotePrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.0", "stepSize": "0.00001"},
        ],
    }
    if perp:
        m.update({"pair": f"{base}{quote}", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                  "onboardDate": 1569398400000, "marginAsset": quote, "pricePrecision": 2,
                  "quantityPrecision": 3, "underlyingType": "COIN", "contractStatus": "TRADING"})
        m["status"] = "TRADING"
    return m


class FakeBinance:
    """``candles[(market_id, interval)] = array (n, 6)`` of ts, o, h, l, c, v (ts ascending, ms).

    ``perp_candles`` likewise for USDT-margined perpetuals; ``funding[market_id] = array (n, 2)`` of
    (fundingTime ms, rate). ``now_ms`` (optional) makes the server also serve a still-open candle:
    rows with ``ts <= now_ms`` are served, the last one possibly unfinished.
    """

    def __init__(self, candles: dict, perp_candles: dict | None = None, funding: dict | None = None,
                 max_limit: int = 1000):
        self.candles = candles
        self.perp_candles = perp_candles or {}
        self.funding = funding or {}
        self.max_limit = max_limit
        self.faults: list[Fault] = []
        self.log: list[tuple] = []
        self._lock = threading.Lock()
        self._last_ok = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "FakeBinance":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ccxt_config(self, **extra) -> dict:
        """Constructor config for ``ccxt.binance`` that sends every public call here."""
        b = self.base_url
        cfg = {"urls": {"api": {"public": f"{b}/api/v3", "v1": f"{b}/api/v1",
                                "fapiPublic": f"{b}/fapi/v1", "fapiPublicV2": f"{b}/fapi/v2",
                                "fapiPublicV3": f"{b}/fapi/v3", "dapiPublic": f"{b}/dapi/v1",
                                "fapiData": f"{b}/futures/data", "dapiData": f"{b}/futures/data",
                                "eapiPublic": f"{b}/eapi/v1"}}}
        cfg.update(extra)
        return cfg

    def klines_requests(self, path_end: str = "klines") -> list[tuple]:
        return [r for r in self.log if r[1].endswith(path_end)]

    # -- request handling ------------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if not path.endswith(f.path) or f.times == 0:
                    continue
                if f.after > 0:
                    f.after -= 1
                    continue
                if f.kind == "ratelimit":
                    now = time.monotonic()
                    if self._last_ok is not None and now - self._last_ok < f.interval:
                        return Fault("status", status=429, headers=f.headers)
                    self._last_ok = now
                    continue
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    def _exchange_info(self, perp: bool) -> dict:
        src = self.perp_candles if perp else self.candles
        ids = sorted({k[0] for k in src})
        syms = []
        for mid in ids:
            for q in ("USDT", "BUSD", "BTC", "ETH"):
                if mid.endswith(q) and len(mid) > len(q):
                    syms.append(_market(mid[: -len(q)], q, perp))
                    break
        return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [], "symbols": syms}

    def _klines(self, q: dict, perp: bool, fault: Fault | None):
        src = self.perp_candles if perp else self.candles
        key = (q.get("symbol"), q.get("interval"))
        if key not in src:
            if not any(k[0] == q.get("symbol") for k in src):
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 400, {"code": -1120, "msg": "Invalid interval."}
        arr = src[key]
        limit = min(int(q.get("limit", 500)), self.max_limit)
        ts = arr[:, 0]
        lo = np.searchsorted(ts, int(q["startTime"])) if "startTime" in q else 0
        hi = np.searchsorted(ts, int(q["endTime"]), side="right") if "endTime" in q else len(ts)
        if fault is not None and fault.kind == "overlap":
            lo = max(0, lo - fault.shift)
        if fault is not None and fault.kind == "cap":
            limit = min(limit, fault.rows)
        rows = arr[lo:min(hi, lo + limit)]
        interval = INTERVAL_MS.get(q["interval"], 60_000)
        out = []
        for r in rows:
            t = int(r[0])
            out.append([t, repr(float(r[1])), repr(float(r[2])), repr(float(r[3])), repr(float(r[4])),
                        repr(float(r[5])), t + interval - 1, "0", 1, "0", "0", "0"])
        return 200, out

    def _funding(self, q: dict):
        arr = self.funding.get(q.get("symbol"))
        if arr is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        limit = min(int(q.get("limit", 100)), 1000)
        ts = arr[:, 0]
        lo = np.searchsorted(ts, int(q["startTime"])) if "startTime" in q else 0
        hi = np.searchsorted(ts, int(q["endTime"]), side="right") if "endTime" in q else len(ts)
        rows = arr[lo:min(hi, lo + limit)]
        return 200, [{"symbol": q["symbol"], "fundingTime": int(r[0]), "fundingRate": repr(float(r[1])),
                      "markPrice": "0"} for r in rows]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                path = u.path
                fault = server._take_fault(path)
                status, body, headers = 200, None, {}
                if fault is not None and fault.kind == "status":
                    status, headers = fault.status, fault.headers
                    body = {"code": -1003, "msg": "Too many requests."} if status in (418, 429) else \
                        {"code": -1000, "msg": "An unknown error occurred while processing the request."}
                else:
                    if fault is not None and fault.kind == "slow":
                        time.sleep(fault.delay)
                    if path == "/api/v3/exchangeInfo":
                        body = server._exchange_info(False)
                    elif path == "/fapi/v1/exchangeInfo":
                        body = server._exchange_info(True)
                    elif path == "/dapi/v1/exchangeInfo":
                        body = {"timezone": "UTC", "serverTime": int(time.time() * 1000), "symbols": []}
                    elif path in ("/api/v3/klines", "/fapi/v1/klines"):
                        status, body = server._klines(q, path.startswith("/fapi"), fault)
                    elif path == "/fapi/v1/fundingRate":
                        status, body = server._funding(q)
                    else:
                        status, body = 404, {"code": -1, "msg": f"no such endpoint {path}"}
                    if fault is not None and fault.kind == "empty" and status == 200:
                        body = []
                text = json.dumps(body).encode()
                if fault is not None and fault.kind == "truncated":
                    text = text[: max(1, len(text) // 2)]
                server.log.append((time.monotonic(), path, q, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(text)))
                    for k, v in headers.items():
                        self.send_header(k, str(v))
                    self.end_headers()
                    self.wfile.write(text)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
