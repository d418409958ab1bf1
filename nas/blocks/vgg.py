"""VGG stage (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition").

A stack of ``num_layers`` 3x3 convs (padding 1, stride 1) each followed by ReLU, with optional
BatchNorm before the ReLU (the ``_bn`` variants of later ports), then a 2x2 max-pool with stride 2
when the stage downsamples.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct


@BLOCKS.register("vgg_stage", examples=[
    dict(in_chs=8, out_chs=16, stride=2),
    dict(in_chs=8, out_chs=16, stride=1, num_layers=3, bn=True),
    dict(in_chs=16, out_chs=16, stride=2, num_layers=1, bn=True, kernel_size=1),
])
class VGGStage(nn.Module):
    """``convs`` (``num_layers`` x conv-[bn]-act, first maps ``in_chs -> out_chs``) then ``pool``.

    ``stride=2`` adds the 2x2/2 max-pool (``ceil_mode`` so odd sizes give ``ceil(H / 2)``; the same
    as VGG's on even sizes); ``stride=1`` has none. ``kernel_size`` applies to every conv of the
    stage. Without ``bn`` the convs carry a bias, as in the paper.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, num_layers: int = 2, kernel_size: int = 3,
                 act: str = "relu", bn: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"VGGStage: stride must be 1 or 2, got {stride}")
        if num_layers < 1:
            raise ValueError(f"VGGStage: num_layers must be >= 1, got {num_layers}")
        self.convs = nn.Sequential(*[ConvBnAct(in_chs if i == 0 else out_chs, out_chs, kernel_size, act=act, bn=bn)
                                     for i in range(num_layers)])
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.convs(x))
