"""Registries of the layer room: activations and small layers (SE, shuffle, split)."""

from nas.registry import Registry

ACTIVATIONS = Registry("activation")
LAYERS = Registry("layer")
