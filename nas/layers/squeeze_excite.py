"""Squeeze-and-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks").

Global average pool, a reducing 1x1 conv, an activation, an expanding 1x1 conv and a gate
(sigmoid as in SENet/MNASNet, hard-sigmoid as in MobileNetV3) that rescales the channels.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.activations import create_act
from nas.layers.conv import make_divisible
from nas.layers.registry import LAYERS


@LAYERS.register("se", examples=[dict(chs=16), dict(chs=24, se_ratio=0.5, gate="hsigmoid", divisor=8)])
class SqueezeExcite(nn.Module):
    """SE on ``chs`` channels.

    The bottleneck width is ``rd_chs`` if given, else ``make_divisible(rd_base * se_ratio, divisor)``
    where ``rd_base`` defaults to ``chs`` (MobileNetV3 rounds to 8; MNASNet/EfficientNet reduce from
    the block's input channels, which callers pass as ``rd_base``). ``divisor=1`` means plain
    truncation, as in SENet.
    """

    def __init__(self, chs: int, rd_chs: int | None = None, *, se_ratio: float = 0.25, rd_base: int | None = None,
                 divisor: int = 1, act: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        if rd_chs is None:
            base = (rd_base or chs) * se_ratio
            rd_chs = max(1, int(base)) if divisor == 1 else make_divisible(base, divisor)
        self.conv_reduce = nn.Conv2d(chs, rd_chs, 1, bias=True)
        self.act = create_act(act, inplace=True)
        self.conv_expand = nn.Conv2d(rd_chs, chs, 1, bias=True)
        self.gate = create_act(gate, inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * self.gate(s)
