"""Valid ranges of numeric options, declared beside the schema fields, and the one checker that reads them.

A schema field (a dataclass field of a structured config, or of an options dataclass such as
``FBNetOptions``) declares its range with :func:`ranged`::

    @dataclass
    class TrainConf:
        epochs: int = ranged(30, ge=1)
        lr: float = ranged(0.1, gt=0)
        threads: Optional[int] = ranged(None, ge=1)   # None stays allowed for Optional fields

:func:`check_ranges` walks a resolved config (an OmegaConf node whose structured type is such a
dataclass, nested sections included) and raises :class:`ConfigError` for the first value outside its
range: ``config: method.epochs: expected an integer >= 1, got -1``. Non-finite numbers (nan, inf) are
never in range. Each app calls it once, where its config is resolved, before anything is read or
written (``nas.search.config.check_search_config``, ``nas.train.run.run_train``, ``nas.latency.app.run``,
``nas.export.__main__``, ``nas.report.__main__``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence, Tuple

from nas.errors import NasError

SOURCE = "config"


class ConfigError(NasError):
    """A config value outside its valid range, or options that do not go together."""


@dataclass(frozen=True)
class Range:
    """``ge``/``gt``/``le``/``lt`` bounds; ``allowed``: values accepted besides the interval (e.g. 0 for off)."""

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    allowed: Tuple[Any, ...] = ()

    def ok(self, value: Any) -> bool:
        if value in self.allowed and not isinstance(value, bool):
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return not ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                    or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))

    def describe(self, integer: bool = False, optional: bool = False) -> str:
        what = "an integer" if integer else "a number"
        lo = f">= {_num(self.ge)}" if self.ge is not None else f"> {_num(self.gt)}" if self.gt is not None else None
        hi = f"<= {_num(self.le)}" if self.le is not None else f"< {_num(self.lt)}" if self.lt is not None else None
        text = f"{what} {lo} and {hi}" if lo and hi else f"{what} {lo or hi}" if lo or hi else f"a finite {what[2:]}"
        extras = [repr(a) for a in self.allowed] + (["null"] if optional else [])
        return text + (f" (or {' or '.join(extras)})" if extras else "")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def ranged(default: Any, *, ge: Optional[float] = None, gt: Optional[float] = None, le: Optional[float] = None,
           lt: Optional[float] = None, allowed: Sequence[Any] = ()) -> Any:
    """A dataclass field with ``default`` whose value must lie in the given range (see the module docstring)."""
    return field(default=default, metadata={"range": Range(ge, gt, le, lt, tuple(allowed))})


def field_range(cls: type, name: str) -> Optional[Range]:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("range")
    return None


def _type_text(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return str(text).replace("typing.", "").replace(" ", "")


def _is_integer(annotation: Any) -> bool:
    return re.fullmatch(r"(Optional\[int\]|int|int\|None|None\|int)", _type_text(annotation)) is not None


def _is_optional(annotation: Any) -> bool:
    text = _type_text(annotation)
    return text.startswith("Optional[") or "None" in text.split("|")


def iter_ranges(cls: type) -> Iterator[Tuple[str, Range, bool, bool]]:
    """``(field name, range, integer?, optional?)`` of every ranged field of dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        r = f.metadata.get("range")
        if r is not None:
            yield f.name, r, _is_integer(f.type), _is_optional(f.type)


def check_value(cls: type, name: str, value: Any, key: Optional[str] = None, source: str = SOURCE) -> None:
    """Raise :class:`ConfigError` unless ``value`` lies in the range of field ``name`` of ``cls``."""
    for fname, r, integer, optional in iter_ranges(cls):
        if fname == name:
            if value is None and optional:
                return
            if not r.ok(value):
                raise ConfigError(source, key or name, r.describe(integer, optional), value)


def check_ranges(cfg: Any, source: str = SOURCE, prefix: str = "") -> None:
    """Check every ranged field of ``cfg`` (an OmegaConf DictConfig of structured configs, nested sections
    included, or a dataclass instance), and that it holds no key its schema lacks (``+key=...``); the
    first problem raises :class:`ConfigError`."""
    from omegaconf import DictConfig, OmegaConf

    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        for name, r, integer, optional in iter_ranges(type(cfg)):
            check_value(type(cfg), name, getattr(cfg, name), prefix + name, source)
        return
    if not isinstance(cfg, DictConfig):
        return
    cls = OmegaConf.get_type(cfg)
    if cls is not None and dataclasses.is_dataclass(cls):
        known = [f.name for f in dataclasses.fields(cls)]
        for key in cfg:  # keys added with +key=... are not in the schema: nothing would read them
            if key not in known:
                section = f"{prefix[:-1]}" if prefix else "the config"
                raise ConfigError(source, f"{prefix}{key}", f"a key of {section} ({', '.join(known)})")
        for name, r, integer, optional in iter_ranges(cls):
            if name in cfg:
                check_value(cls, name, cfg[name], prefix + name, source)
    for key in cfg:
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            check_ranges(child, source, f"{prefix}{key}.")


def require(ok: bool, key: str, expected: str, got: Any = ..., source: str = SOURCE) -> None:
    """A cross-field check: raise ``ConfigError(source, key, expected, got)`` unless ``ok``."""
    if not ok:
        raise ConfigError(source, key, expected, got)


def one_of(value: Any, choices: Sequence[Any], key: str, source: str = SOURCE) -> None:
    require(value in choices, key, f"one of {', '.join(str(c) for c in choices)}", value, source)
