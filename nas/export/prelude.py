"""Plain-code stand-ins for the package functions that look things up in registries.

``nas.layers.create_act`` reads the activation registry; the exported file gets a ``create_act``
written out from that registry, limited to the activations the network actually contains.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

from torch import nn

from nas.layers import activations
from nas.layers.registry import ACTIVATIONS
from nas.export.literals import literal

Replacement = Callable[[], Tuple[str, Dict[str, Any]]]


def _class_ref(cls: type, namespace: Dict[str, Any]) -> str:
    if getattr(nn, cls.__name__, None) is cls:
        return f"nn.{cls.__name__}"
    namespace[cls.__name__] = cls
    return cls.__name__


def create_act_source(model: nn.Module) -> Tuple[str, Dict[str, Any]]:
    """Source of ``create_act`` for the activations found in ``model`` (identity always)."""
    present = {type(m) for m in model.modules()}
    namespace: Dict[str, Any] = {"nn": nn}
    keys = [k for k in ACTIVATIONS.names() if k == "identity" or ACTIVATIONS.get(k) in present]
    keys = [k for k in keys if k != "identity"] + ["identity"]
    aliases = {a: k for a, k in activations._ALIASES.items() if k in keys}
    lines = [
        "def create_act(name: str | None, inplace: bool = True) -> nn.Module:",
        '    """An activation module by name (``None`` or ``"identity"``: ``nn.Identity``).',
        "",
        "    Only the activations this network uses are listed.",
        '    """',
        f"    aliases = {literal(aliases)}",
        '    key = "identity" if name is None else aliases.get(str(name).lower(), str(name).lower())',
    ]
    for k in keys:
        ref = _class_ref(ACTIVATIONS.get(k), namespace)
        call = f"{ref}(inplace=inplace)" if ACTIVATIONS.meta(k).get("inplace", True) else f"{ref}()"
        lines += [f"    if key == {literal(k)}:", f"        return {call}"]
    lines.append('    raise ValueError(f"unknown activation {name!r}")')
    return "\n".join(lines) + "\n", namespace


def replacements(model: nn.Module) -> Dict[Tuple[str, str], Replacement]:
    """``(module, qualname) -> source factory`` for the package functions the collector must not copy."""
    fn = activations.create_act
    return {(fn.__module__, fn.__qualname__): lambda: create_act_source(model)}
