"""A loopback fake of Binance's public REST API for testing ``rmsbt fetch`` with the real ccxt client."""

from .server import FakeBinance, Fault

__all__ = ["FakeBinance", "Fault"]
