"""Ghost module and Ghost bottleneck (Han et al. 2020, "GhostNet: More Features from Cheap Operations").

Ghost module: a primary conv makes ``ceil(out / ratio)`` intrinsic maps, a cheap depthwise op makes
``ratio - 1`` "ghost" maps from each, and the two are concatenated (and cut to ``out_chs``).

Ghost bottleneck (paper Fig. 3, authors' released code): expanding ghost module (with activation),
a depthwise KxK stride-2 conv + BN only when striding, optional squeeze-excite (hard-sigmoid gate,
reduced width rounded to a multiple of 4), a linear projecting ghost module, and a shortcut that is
the identity when the shape is kept, else depthwise KxK (stride) + BN + 1x1 conv + BN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, SqueezeExcite, make_divisible


@BLOCKS.register("ghost_module", examples=[
    dict(in_chs=16, out_chs=24, stride=1),
    dict(in_chs=16, out_chs=24, stride=2, act=None),
    dict(in_chs=16, out_chs=21, stride=1, ratio=3, dw_size=5),
    dict(in_chs=16, out_chs=15, stride=2, kernel_size=3),
])
class GhostModule(nn.Module):
    """``primary_conv`` (KxK, stride, BN, act) -> ``cheap_operation`` (depthwise ``dw_size``, BN, act).

    ``act=None`` gives the linear module used as the bottleneck's projection.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 1, ratio: int = 2,
                 dw_size: int = 3, act: str | None = "relu"):
        super().__init__()
        if ratio < 2:
            raise ValueError(f"GhostModule: ratio must be >= 2, got {ratio}")
        self.out_chs = out_chs
        init_chs = math.ceil(out_chs / ratio)
        new_chs = init_chs * (ratio - 1)
        self.primary_conv = ConvBnAct(in_chs, init_chs, kernel_size, stride, act=act)
        self.cheap_operation = ConvBnAct(init_chs, new_chs, dw_size, 1, groups=init_chs, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_conv(x)
        out = torch.cat([x1, self.cheap_operation(x1)], dim=1)
        return out[:, : self.out_chs]  # a view; a no-op when out_chs is a multiple of ratio


@BLOCKS.register("ghost_bottleneck", examples=[
    dict(in_chs=16, out_chs=16, stride=1, exp_ratio=3),
    dict(in_chs=16, out_chs=24, stride=2, mid_chs=48),
    dict(in_chs=16, out_chs=24, stride=1, exp_ratio=3, se_ratio=0.25, kernel_size=5),
    dict(in_chs=16, out_chs=32, stride=2, mid_chs=72, se_ratio=0.25, kernel_size=5),
])
class GhostBottleneck(nn.Module):
    """``ghost1 -> [conv_dw -> bn_dw] -> [se] -> ghost2`` plus ``shortcut``.

    The hidden width is ``mid_chs`` if given (GhostNet lists it per layer as "#exp"), else
    ``make_divisible(in_chs * exp_ratio, 4)``. As in GhostNet, ``kernel_size`` only matters when the
    block strides (the depthwise conv of the main path and of the shortcut exist only then, or the
    shortcut's when the channels change). SE reduces ``mid * se_ratio`` rounded to a multiple of 4
    and gates with a hard sigmoid (``relu6(x + 3) / 6``).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, exp_ratio: float = 3.0,
                 mid_chs: int | None = None, kernel_size: int = 3, se_ratio: float = 0.0, act: str = "relu"):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else make_divisible(in_chs * exp_ratio, 4)
        self.ghost1 = GhostModule(in_chs, mid, act=act)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid, mid, kernel_size, stride, ((stride - 1) + (kernel_size - 1)) // 2,
                                     groups=mid, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid)
        else:
            self.conv_dw = nn.Identity()
            self.bn_dw = nn.Identity()
        if se_ratio > 0:
            self.se = SqueezeExcite(mid, se_ratio=se_ratio, divisor=4, act="relu", gate="hsigmoid")
        else:
            self.se = nn.Identity()
        self.ghost2 = GhostModule(mid, out_chs, act=None)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                ConvBnAct(in_chs, in_chs, kernel_size, stride, groups=in_chs, act=None),
                ConvBnAct(in_chs, out_chs, 1, act=None),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ghost2(self.se(self.bn_dw(self.conv_dw(self.ghost1(x)))))
        return out + self.shortcut(x)
