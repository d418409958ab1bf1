"""Hand-designed baseline networks of the seed papers, built from the block library.

``create_model(name, num_classes=1000, variant='imagenet' | 'cifar', **kwargs)``; the CIFAR form takes
32x32 inputs with the early strides reduced the way CIFAR versions of these nets do.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from typing import List

from torch import nn

from nas.models.registry import MODELS, register_model

VARIANTS = ("imagenet", "cifar")

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name not in ("registry", "__main__", "table"):
        importlib.import_module(f"{__name__}.{_info.name}")


def list_models(pattern: str = "*") -> List[str]:
    return [n for n in MODELS.names() if fnmatch.fnmatch(n, pattern)]


def model_resolution(name: str, variant: str = "imagenet") -> int:
    """Native input resolution of a model's variant (32 for every CIFAR form)."""
    return 32 if variant == "cifar" else MODELS.meta(name)["resolution"]


def create_model(name: str, num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> nn.Module:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} for model {name!r}; expected one of {', '.join(VARIANTS)}")
    builder = MODELS.get(name)
    return builder(num_classes=num_classes, variant=variant, **kwargs)


__all__ = ["MODELS", "VARIANTS", "create_model", "list_models", "model_resolution", "register_model"]
