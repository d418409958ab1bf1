"""One registry type for everything that is looked up by name (blocks, models, spaces, ...).

Unknown names raise :class:`UnknownNameError` listing every known name, the way
timm's ``create_model`` does.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Iterator, List

from nas.errors import NasError


class UnknownNameError(NasError, KeyError):
    """A name that is not in a registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class Registry:
    """A name -> object mapping with per-entry metadata.

    >>> BLOCKS = Registry("block")
    >>> @BLOCKS.register("mbconv", examples=[...])
    ... class MBConv(nn.Module): ...
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Any] = {}
        self._meta: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str | None = None, obj: Any = None, **meta: Any) -> Callable:
        """Register ``obj`` under ``name`` (decorator when ``obj`` is omitted)."""

        def add(target: Any) -> Any:
            key = name or getattr(target, "__name__")
            if key in self._items:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._items[key] = target
            self._meta[key] = dict(meta)
            return target

        return add(obj) if obj is not None else add

    def get(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    __getitem__ = get

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(str(name), known, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known {self.kind}s: {', '.join(known)}"

    def meta(self, name: str) -> Dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)

    def names(self) -> List[str]:
        return sorted(self._items)

    def items(self):
        return ((k, self._items[k]) for k in self.names())

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._items
        except TypeError:  # an unhashable name (a list read from a file) is no known name
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"
