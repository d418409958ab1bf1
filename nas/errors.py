"""The one base class of every error a user can cause: where, which key, what was expected.

Apps catch :class:`NasError` alone and print it as one ``error:`` line (exit code 2); anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any, Optional


class NasError(ValueError):
    """``<source>: <key>: expected <expected>[, got <got>]`` (source: a file, a config, an object).

    ``NasError(message)`` with a single argument takes a message already in that shape."""

    show_got = repr

    def __init__(self, source: str, key: Optional[str] = None, expected: Optional[str] = None, got: Any = ...):
        self.source, self.key, self.expected = source, key, expected
        if key is None and expected is None:
            msg = str(source)
        else:
            msg = f"{source}: {key}: expected {expected}"
            if got is not ...:
                msg += f", got {type(self).show_got(got)}"
        super().__init__(msg)
