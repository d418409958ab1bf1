"""The one error type of the space room: names the file, the key and what was expected."""

from __future__ import annotations

from typing import Any


class SpaceError(ValueError):
    """A search-space file or an architecture that does not fit its space."""

    def __init__(self, source: str, key: str, expected: str, got: Any = ...):
        self.source, self.key, self.expected = source, key, expected
        msg = f"{source}: {key}: expected {expected}"
        if got is not ...:
            msg += f", got {got!r}"
        super().__init__(msg)
