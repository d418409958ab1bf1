"""Activations used by the seed papers, looked up by name.

- ReLU; ReLU6 (MobileNetV2, Sandler et al. 2018);
- h-swish and h-sigmoid (MobileNetV3, Howard et al. 2019, "Searching for MobileNetV3");
- swish / SiLU (Ramachandran et al. 2017);
- C.ReLU: concat(x, -x) then ReLU (Shang et al. 2016, used by PVANet, Kim et al. 2016).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.registry import ACTIVATIONS


class CReLU(nn.Module):
    """Concatenated ReLU: ``relu(cat([x, -x], dim=1))``; doubles the channels."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace  # accepted for a uniform signature; the concat makes a new tensor anyway

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu_(torch.cat([x, -x], dim=1))


ACTIVATIONS.register("relu", nn.ReLU, channel_factor=1)
ACTIVATIONS.register("relu6", nn.ReLU6, channel_factor=1)
ACTIVATIONS.register("hswish", nn.Hardswish, channel_factor=1)
ACTIVATIONS.register("hsigmoid", nn.Hardsigmoid, channel_factor=1)
ACTIVATIONS.register("swish", nn.SiLU, channel_factor=1)
ACTIVATIONS.register("sigmoid", nn.Sigmoid, channel_factor=1, inplace=False)
ACTIVATIONS.register("crelu", CReLU, channel_factor=2)
ACTIVATIONS.register("identity", nn.Identity, channel_factor=1, inplace=False)

_ALIASES = {"h_swish": "hswish", "hard_swish": "hswish", "h_sigmoid": "hsigmoid",
            "hard_sigmoid": "hsigmoid", "silu": "swish", "none": "identity", "linear": "identity"}


def create_act(name: str | None, inplace: bool = True) -> nn.Module:
    """Build an activation module by name (``None`` or ``'identity'`` give ``nn.Identity``)."""
    key = "identity" if name is None else _ALIASES.get(str(name).lower(), str(name).lower())
    cls = ACTIVATIONS.get(key)
    if ACTIVATIONS.meta(key).get("inplace", True):
        return cls(inplace=inplace)
    return cls()
