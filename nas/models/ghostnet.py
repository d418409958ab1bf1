"""GhostNet (Han et al. 2020, "GhostNet: More Features from Cheap Operations").

Table 1 of the paper: a 3x3/2 stem conv to 16 channels, 16 Ghost bottlenecks (``ghost_bottleneck``,
hidden widths "#exp" as listed, SE ratio 0.25 where marked, depthwise conv only at stride 2), a
1x1 conv + BN + ReLU to 960, global average pooling, a 1x1 conv to 1280 with bias and ReLU (no BN),
dropout 0.2 and the FC. The width multiplier scales stem, block and hidden widths (rounded to
multiples of 4, as the released code does); the 1280-wide head is kept.

Paper Table 7: 5.2M params, 141M FLOPs (multiply-adds) for GhostNet 1.0x at 224 px.

CIFAR form (as CIFAR ports of ImageNet mobile nets do): stem and the first stride-2 bottleneck at
stride 1, so 32x32 -> 4x4 before pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.ghost import GhostBottleneck
from nas.layers import ConvBnAct, make_divisible
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# Stages of (kernel, hidden "#exp", out channels, SE ratio, stride), paper Table 1.
STAGES = [
    [(3, 16, 16, 0.0, 1)],
    [(3, 48, 24, 0.0, 2)],
    [(3, 72, 24, 0.0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0.0, 2)],
    [(3, 200, 80, 0.0, 1), (3, 184, 80, 0.0, 1), (3, 184, 80, 0.0, 1),
     (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)],
    [(5, 672, 160, 0.25, 2)],
    [(5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1)],
]


class GhostNet(nn.Module):
    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, variant: str = "imagenet",
                 dropout: float = 0.2):
        super().__init__()
        cifar = is_cifar(variant)
        in_chs = make_divisible(16 * width_mult, 4)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2, act="relu")
        stages = []
        first_stride2 = True
        for stage in STAGES:
            layers = []
            for k, exp, c, se, s in stage:
                if cifar and s == 2 and first_stride2:
                    s, first_stride2 = 1, False
                out_chs = make_divisible(c * width_mult, 4)
                mid_chs = make_divisible(exp * width_mult, 4)
                layers.append(GhostBottleneck(in_chs, out_chs, s, mid_chs=mid_chs, kernel_size=k, se_ratio=se))
                in_chs = out_chs
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        head_chs = make_divisible(960 * width_mult, 4)
        self.head = ConvBnAct(in_chs, head_chs, 1, act="relu")
        self.num_features = 1280
        self.conv_head = nn.Conv2d(head_chs, self.num_features, 1, bias=True)
        self.act_head = nn.ReLU(inplace=True)
        self.classifier = Classifier(self.num_features, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        x = self.act_head(self.conv_head(x.mean((2, 3), keepdim=True)))
        return self.classifier(x)


def _entry(width: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> GhostNet:
        return GhostNet(num_classes, kwargs.pop("width_mult", width), variant, **kwargs)
    return build


register_model("ghostnet_100", params=5.2, macs=141, resolution=224,
               source="GhostNet paper Table 7 (GhostNet 1.0x)")(_entry(1.0))
register_model("ghostnet_050", params=2.6, macs=42, resolution=224,
               source="GhostNet paper Table 7 (GhostNet 0.5x)")(_entry(0.5))
