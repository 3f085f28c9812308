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


class StrategyError(RmsbtError):
    """A strategy's own code raised (in on_start, on_bar or on_end). The message says where (bar index
    and time); the original exception is the ``__cause__``, whose frames in the user's code the CLI
    prints above the one-line error."""

    @classmethod
    def at(cls, strategy, hook: str, bar: int, open_ms: int | None, exc: BaseException) -> "StrategyError":
        from .timeframes import utc_text

        where = hook if bar < 0 or open_ms is None else f"{hook} at bar {bar} (opened {utc_text(open_ms)})"
        return cls(f"strategy {type(strategy).__name__} raised {type(exc).__name__} in {where}: {exc}")
