"""The shape every user-facing error of the toolkit shares: where, which key, what was expected."""

from __future__ import annotations

from typing import Any


class NasError(ValueError):
    """``<source>: <key>: expected <expected>[, got <got>]`` (source: a file, a config, an object)."""

    show_got = repr

    def __init__(self, source: str, key: str, expected: str, got: Any = ...):
        self.source, self.key, self.expected = source, key, expected
        msg = f"{source}: {key}: expected {expected}"
        if got is not ...:
            msg += f", got {type(self).show_got(got)}"
        super().__init__(msg)
