"""Candle data: the local store, validation, alignment (and, later, fetching and file formats)."""

from .align import MarketData, align
from .formats import read_candles
from .store import candle_stem, find_candle_file, load_symbol, read_store_file, symbol_to_stem, write_candles
from .validate import COLUMNS, validate_candles

__all__ = [
    "COLUMNS", "MarketData", "align", "candle_stem", "find_candle_file", "load_symbol",
    "read_candles", "read_store_file", "symbol_to_stem", "validate_candles", "write_candles",
]
