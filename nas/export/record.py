"""Record how every module of a network was constructed: ``(class, args, kwargs)`` per instance.

While :func:`record_constructors` is active, the ``__init__`` of every ``nn.Module`` subclass of this
package and of ``torch.nn`` is wrapped; the outermost ``__init__`` call of each instance (the one its
caller wrote, e.g. ``MBConv(16, 24, 2, kernel_size=3, exp_ratio=6)``) is kept. The code generator
turns those calls back into source. Wrappers use ``functools.wraps``, so ``inspect.signature`` of a
wrapped ``__init__`` (which the factorized space reads) is unchanged; everything is restored on exit.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Tuple

import torch
from torch import nn


@dataclass(frozen=True)
class Call:
    """One constructor call: ``cls(*args, **kwargs)``."""

    cls: type
    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]

    def rebuild(self, device: str = "meta") -> nn.Module:
        """The same call again (on ``device``; ``meta`` allocates nothing)."""
        with torch.device(device):
            return self.cls(*self.args, **self.kwargs)


class Records:
    """``module -> Call`` for every module constructed while recording (keyed by identity)."""

    def __init__(self) -> None:
        self._calls: Dict[int, Tuple[nn.Module, Call]] = {}

    def add(self, module: nn.Module, call: Call) -> None:
        self._calls.setdefault(id(module), (module, call))

    def get(self, module: nn.Module) -> Call | None:
        entry = self._calls.get(id(module))
        return entry[1] if entry is not None and entry[0] is module else None

    def __len__(self) -> int:
        return len(self._calls)


def _module_classes() -> List[type]:
    """Every loaded ``nn.Module`` subclass of ``nas`` or ``torch.nn`` that defines its own ``__init__``."""
    seen, out, todo = set(), [], list(nn.Module.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        mod = getattr(cls, "__module__", "") or ""
        if (mod == "nas" or mod.startswith(("nas.", "torch.nn."))) and "__init__" in cls.__dict__:
            out.append(cls)
    return out


def _wrap(init, records: Records):
    @functools.wraps(init)
    def recording_init(self, *args, **kwargs):
        records.add(self, Call(type(self), args, dict(kwargs)))
        return init(self, *args, **kwargs)

    return recording_init


@contextmanager
def record_constructors() -> Iterator[Records]:
    """Context manager yielding the :class:`Records` of every module built inside it."""
    records = Records()
    patched = []
    try:
        for cls in _module_classes():
            init = cls.__dict__["__init__"]
            cls.__init__ = _wrap(init, records)
            patched.append((cls, init))
        yield records
    finally:
        for cls, init in reversed(patched):
            cls.__init__ = init
