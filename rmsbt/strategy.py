"""The base class of strategies. A strategy sees one closed bar at a time and places orders.

Write a strategy by subclassing :class:`Strategy` and overriding :meth:`on_bar`::

    class BuyOnce(Strategy):
        def on_bar(self, ctx):
            if ctx.bar == 10:
                ctx.order("BTC/USDT", 0.1)   # fills at bar 11's open

Parameters from the config's ``[strategy.params]`` table arrive as keyword arguments of
``__init__`` and are kept in ``self.params``.
"""

from __future__ import annotations


class Strategy:
    #: ``{name: (type, default)}``: the parameters a config's ``[strategy.params]`` may set
    PARAMS: dict = {}

    def __init__(self, **params):
        """Keep ``params`` in ``self.params``, with the defaults of ``PARAMS`` for those not given;
        unknown names and wrong types raise :class:`~rmsbt.errors.ConfigError` (so a strategy built
        in Python is checked exactly as one built from a config)."""
        if self.PARAMS:
            from .config import check_params

            params = check_params(params, self.PARAMS, type(self).__name__)
        self.params = dict(params)

    def on_start(self, ctx) -> None:
        """Called once before the first bar (no bar is visible yet)."""

    def on_bar(self, ctx) -> None:
        """Called after every bar closes; ``ctx`` shows bars up to and including this one."""
        raise NotImplementedError(f"{type(self).__name__} must define on_bar(self, ctx)")

    def on_end(self, ctx) -> None:
        """Called once after the last bar."""
