"""Python literals for generated code: constructor arguments and module-level constants."""

from __future__ import annotations

import json
import math
from typing import Any

WIDTH = 120


def is_literal(value: Any) -> bool:
    """Whether ``value`` can be written as a plain Python literal (numbers, strings, containers of them)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (tuple, list, set, frozenset)):
        return type(value) in (tuple, list, set, frozenset) and all(is_literal(v) for v in value)
    if isinstance(value, dict):
        return type(value) is dict and all(is_literal(k) and is_literal(v) for k, v in value.items())
    return False


def literal(value: Any, multiline: bool = False, indent: int = 0) -> str:
    """Source text of a literal; strings in double quotes; long containers one item a line if ``multiline``."""
    if not is_literal(value):
        raise TypeError(f"no literal for {type(value).__name__}")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        items = [f"{literal(k)}: {literal(v, multiline, indent + 1)}" for k, v in value.items()]
        open_, close = "{", "}"
    else:
        items = [literal(v, multiline, indent + 1) for v in (sorted(value, key=repr) if isinstance(
            value, (set, frozenset)) else value)]
        open_, close = {tuple: ("(", ")"), list: ("[", "]")}.get(type(value), ("{", "}"))
        if isinstance(value, frozenset):
            open_, close = "frozenset({", "})"
        if isinstance(value, (set, frozenset)) and not value:
            return "frozenset()" if isinstance(value, frozenset) else "set()"
    one = open_ + ", ".join(items) + ("," if isinstance(value, tuple) and len(items) == 1 else "") + close
    if not multiline or len(one) + 4 * indent <= WIDTH or not items:
        return one
    pad = "    " * (indent + 1)
    return open_ + "\n" + "".join(f"{pad}{it},\n" for it in items) + "    " * indent + close
