"""Variant checks shared by the baselines (their classifier and weight init live in ``nas.layers.classifier``)."""

from __future__ import annotations

def is_cifar(variant: str) -> bool:
    if variant not in ("imagenet", "cifar"):
        raise ValueError(f"unknown variant {variant!r}; expected 'imagenet' or 'cifar'")
    return variant == "cifar"
