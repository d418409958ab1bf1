"""Skip / identity op (the ``skip`` candidate of FBNet, Wu et al. 2019, and of MNASNet's space).

Identity when shape is kept; otherwise a 1x1 conv + BN (+ ReLU, as in FBNet's reference
``Identity`` op) projecting to ``out_chs`` at ``stride``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct


@BLOCKS.register("skip", examples=[dict(in_chs=16, out_chs=16, stride=1), dict(in_chs=16, out_chs=24, stride=2),
                                   dict(in_chs=16, out_chs=24, stride=1, act=None)])
class Skip(nn.Module):
    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, act: str | None = "relu"):
        super().__init__()
        if stride == 1 and in_chs == out_chs:
            self.conv = nn.Identity()
        else:
            self.conv = ConvBnAct(in_chs, out_chs, 1, stride, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
