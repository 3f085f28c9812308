"""The one rich Console factory of the data commands (``fetch``, ``data check``, ``data list``).

On a terminal rich uses the terminal's width; when the output is piped or redirected rich would fall
back to 80 columns and fold paths and dates, so a wide fixed width is used instead (tables are sized
to their content, never padded to it).
"""

from __future__ import annotations

import sys

PIPE_WIDTH = 400


def make_console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr, highlight=False, width=None if tty else PIPE_WIDTH)


def stderr_is_terminal() -> bool:
    """Progress bars are drawn only when stderr is a terminal."""
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
