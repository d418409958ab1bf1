"""Small checkers for space files: each failure is one SpaceError naming file, key and expectation."""

from __future__ import annotations

import inspect
from typing import Any, Dict, Iterable, Mapping

from nas.blocks import BLOCKS
from nas.space.errors import SpaceError


class Checker:
    """Reads typed values out of a parsed YAML mapping, naming ``source`` and the dotted key on failure."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, expected: str, got: Any = ...) -> SpaceError:
        return SpaceError(self.source, key, expected, got)

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "a mapping", value)
        return value

    def keys(self, value: Mapping[str, Any], key: str, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required, allowed = set(required), set(required) | set(optional)
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else str(k), f"one of the keys {', '.join(sorted(allowed))}")
        for k in sorted(required):
            if k not in value:
                raise self.fail(f"{key}.{k}" if key else k, "this key to be present")

    def int(self, value: Any, key: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"an integer >= {minimum}", value)
        return value

    def number(self, value: Any, key: str, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self.fail(key, f"a number >= {minimum}", value)
        return float(value)

    def str(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a non-empty string", value)
        return value

    def list(self, value: Any, key: str, min_len: int = 1) -> list:
        if not isinstance(value, list) or len(value) < min_len:
            raise self.fail(key, f"a list of at least {min_len} item(s)", value)
        return value

    def block_config(self, value: Any, key: str) -> Dict[str, Any]:
        """``{block: <registered block>, <option>: <value>, ...}`` with options the block accepts."""
        cfg = dict(self.mapping(value, key))
        name = cfg.pop("block", None)
        if name not in BLOCKS:
            raise self.fail(f"{key}.block", f"a registered block ({', '.join(BLOCKS.names())})", name)
        params = inspect.signature(BLOCKS.get(name).__init__).parameters
        allowed = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
        for opt in cfg:
            if opt not in allowed:
                raise self.fail(f"{key}.{opt}", f"an option of block '{name}' ({', '.join(allowed) or 'none'})")
        return {"block": name, **cfg}
