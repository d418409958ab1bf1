"""The one error type of the export room: names the file (or object), the key and what was expected."""

from __future__ import annotations

from typing import Any


class ExportError(ValueError):
    """A network, checkpoint or output location that cannot be exported as asked."""

    def __init__(self, source: str, key: str, expected: str, got: Any = ...):
        self.source, self.key, self.expected = source, key, expected
        msg = f"{source}: {key}: expected {expected}"
        if got is not ...:
            msg += f", got {got}"
        super().__init__(msg)
