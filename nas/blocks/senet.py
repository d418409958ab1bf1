"""SE-ResNet bottleneck (Hu et al. 2018, "Squeeze-and-Excitation Networks").

A ResNet bottleneck (He et al. 2016) ``1x1 -> 3x3 -> 1x1`` whose residual branch is rescaled by a
squeeze-and-excitation unit (reduction ratio 16, sigmoid gate) before it is added to the identity
(the SE-ResNet module of the paper's Fig. 3), then the final ReLU.

Stride placement: the authors' released SE-ResNet models (Caffe prototxts, and the PyTorch port of
those weights in Cadene's ``pretrainedmodels``) stride the FIRST 1x1 conv, as the original MSRA
ResNet did; this is what gives the paper's 3.87 GFLOPs for SE-ResNet-50 (striding the 3x3, the
torchvision "ResNet v1.5" placement, costs ~4.1G). ``stride_in_1x1=False`` moves it to the 3x3.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, SqueezeExcite, create_act


@BLOCKS.register("se_bottleneck", examples=[
    dict(in_chs=32, out_chs=32, stride=1),
    dict(in_chs=32, out_chs=64, stride=2),
    dict(in_chs=32, out_chs=64, stride=2, stride_in_1x1=False, groups=4, mid_chs=32),
    dict(in_chs=16, out_chs=64, stride=1, se_ratio=0.125),
])
class SEBottleneck(nn.Module):
    """``conv1 (1x1) -> conv2 (3x3) -> conv3 (1x1, no act) -> se``, ``+ downsample(x)``, ``act``.

    ``mid_chs`` defaults to ``out_chs // 4`` (ResNet's expansion 4). ``groups`` groups the 3x3 conv
    (SE-ResNeXt). The shortcut is the identity when the shape is kept, else a projection
    (1x1 conv at ``stride`` + BN, as in the released models). SE width: ``int(out_chs * se_ratio)``.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, mid_chs: int | None = None,
                 se_ratio: float = 1.0 / 16, groups: int = 1, act: str = "relu", stride_in_1x1: bool = True):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else out_chs // 4
        if mid % groups:
            raise ValueError(f"SEBottleneck: mid_chs={mid} is not divisible by groups={groups}")
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = ConvBnAct(in_chs, mid, 1, s1, act=act)
        self.conv2 = ConvBnAct(mid, mid, 3, s3, groups=groups, act=act)
        self.conv3 = ConvBnAct(mid, out_chs, 1, act=None)
        self.se = SqueezeExcite(out_chs, se_ratio=se_ratio, act="relu", gate="sigmoid") if se_ratio > 0 else nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.downsample = ConvBnAct(in_chs, out_chs, 1, stride, act=None)
        else:
            self.downsample = nn.Identity()
        self.act = create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv3(self.conv2(self.conv1(x))))
        return self.act(out + self.downsample(x))
