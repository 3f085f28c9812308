"""Errors a user can fix. The CLI prints them as one line and exits non-zero, without a traceback.

Every message names the problem and the file or config key it is about.
"""


class RmsbtError(Exception):
    """Base class of all user-facing errors (bad files, bad configs, bad arguments, network faults)."""


class ConfigError(RmsbtError):
    """A config file is malformed: unknown key, wrong type, value out of range."""


class DataError(RmsbtError):
    """Candle data is missing, malformed or breaks a validation rule."""


class TimeframeError(RmsbtError, ValueError):
    """A timeframe string is not one rmsbt knows."""
