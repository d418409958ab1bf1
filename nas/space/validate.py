"""Small checkers for space files: each failure is one SpaceError naming file, key and expectation."""

from __future__ import annotations

import inspect
import math
from typing import Any, Dict, Iterable, Mapping, Optional

from nas.blocks import BLOCKS
from nas.space.errors import SpaceError


# Upper bounds of a space file's sizes: far above any real network, low enough that a typo (an extra zero
# or three) is an error instead of a network that cannot be built or a loader that never ends.
MAX_CHS, MAX_LAYERS, MAX_STRIDE, MAX_KERNEL = 16384, 256, 8, 15
MAX_RESOLUTION, MAX_CLASSES, MAX_WIDTH, MAX_NODES = 4096, 100_000, 16.0, 16


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

    def int(self, value: Any, key: str, minimum: int = 1, maximum: Optional[int] = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or \
                (maximum is not None and value > maximum):
            raise self.fail(key, f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else ""),
                            value)
        return value

    def number(self, value: Any, key: str, minimum: float = 0.0, maximum: Optional[float] = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < minimum or (maximum is not None and value > maximum):
            raise self.fail(key, f"a finite number >= {minimum}" + (f" and <= {maximum}" if maximum is not None
                                                                     else ""), value)
        return float(value)

    def str(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a non-empty string", value)
        return value

    def list(self, value: Any, key: str, min_len: int = 1) -> list:
        if not isinstance(value, list) or len(value) < min_len:
            raise self.fail(key, f"a list of at least {min_len} item(s)", value)
        return value

    def kernel(self, value: Any, key: str) -> int:
        """An odd kernel size (a 'same' convolution keeps the feature map's size)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > MAX_KERNEL or not value % 2:
            raise self.fail(key, f"an odd integer from 1 to {MAX_KERNEL}", value)
        return value

    def act(self, value: Any, key: str) -> Any:
        """A registered activation name, or null (none)."""
        from nas.layers.registry import ACTIVATIONS

        if value is not None and (not isinstance(value, str) or value not in ACTIVATIONS):
            raise self.fail(key, f"an activation ({', '.join(ACTIVATIONS.names())}) or null", value)
        return value

    def option(self, block: str, opt: str, value: Any, default: Any, key: str) -> Any:
        """A block option's value, typed after the block's default: an odd kernel size, an activation
        name, a bool, a positive integer, a finite number in its range; options without a default value
        (None) take a positive integer, a finite number, a string or null."""
        if opt in ("kernel_size", "dw_size"):
            return self.kernel(value, key)
        if opt in ("act", "se_act", "se_gate") or (isinstance(default, str) and default in _activation_names()):
            return self.act(value, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise self.fail(key, "true or false", value)
            return value
        if isinstance(default, int) or opt.endswith("_chs") or opt in ("groups", "growth_rate", "num_layers"):
            if value is None and default is None:
                return value
            return self.int(value, key, 1, MAX_CHS)
        if isinstance(default, float) or opt.endswith(("_ratio", "_rate", "_factor")) or opt.startswith("pct"):
            if value is None and default is None:
                return value
            if opt in UNIT_OPTIONS:
                return self.number(value, key, 0.0, 1.0)
            return self.number(value, key, 0.01 if opt == "exp_ratio" else 0.0, 64.0)
        if value is not None and not isinstance(value, (str, int, float, list)) or \
                (isinstance(value, float) and not math.isfinite(value)):
            raise self.fail(key, f"a value of option {opt!r} of block {block!r}", value)
        return value

    def block_config(self, value: Any, key: str) -> Dict[str, Any]:
        """``{block: <registered block>, <option>: <value>, ...}`` with options the block accepts, each of
        the type (and in the range) its default has."""
        cfg = dict(self.mapping(value, key))
        name = cfg.pop("block", None)
        if not isinstance(name, str) or name not in BLOCKS:
            raise self.fail(f"{key}.block", f"a registered block ({', '.join(BLOCKS.names())})", name)
        params = inspect.signature(BLOCKS.get(name).__init__).parameters
        allowed = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
        for opt in cfg:
            if opt not in allowed:
                raise self.fail(f"{key}.{opt}", f"an option of block '{name}' ({', '.join(allowed) or 'none'})")
            default = params[opt].default
            cfg[opt] = self.option(name, opt, cfg[opt], None if default is inspect.Parameter.empty else default,
                                   f"{key}.{opt}")
        return {"block": name, **cfg}


UNIT_OPTIONS = ("se_ratio", "drop_rate", "pct_3x3", "squeeze_ratio")  # fractions: 0..1


def _activation_names():
    from nas.layers.registry import ACTIVATIONS

    return ACTIVATIONS.names()
