"""Candle data: the local store, validation, alignment (and, later, fetching and file formats)."""

from .align import MarketData, align
from .store import candle_stem, find_candle_file, load_symbol, read_store_file, symbol_to_stem
from .validate import COLUMNS, validate_candles

read_candles = read_store_file

__all__ = [
    "COLUMNS", "MarketData", "align", "candle_stem", "find_candle_file", "load_symbol",
    "read_candles", "read_store_file", "symbol_to_stem", "validate_candles",
]
