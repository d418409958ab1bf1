"""Channel shuffle and channel split (ShuffleNet, Zhang et al. 2018; ShuffleNet V2, Ma et al. 2018).

Shuffle is a view + transpose + one reshape copy, as in the reference implementations.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from nas.layers.registry import LAYERS


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: (g, c/g) -> (c/g, g)."""
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(b, c, h, w)


@LAYERS.register("channel_shuffle", examples=[dict(groups=2), dict(groups=4)])
class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups) if self.groups > 1 else x

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


@LAYERS.register("channel_split", examples=[dict(split=8), dict(split=4)])
class ChannelSplit(nn.Module):
    """Split channels into ``x[:, :split]`` and ``x[:, split:]`` (views, no copy)."""

    def __init__(self, split: int):
        super().__init__()
        self.split = split

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x[:, : self.split], x[:, self.split:]

    def extra_repr(self) -> str:
        return f"split={self.split}"
