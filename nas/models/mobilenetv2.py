"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks").

Table 2's body of MBConv rows ``[t, c, n, s]``; width multiplier rounds channels to multiples of 8
and keeps the 1280-wide last conv for multipliers below 1. The paper's Table 4 gives 3.4M params;
the authors' released TF-slim checkpoints list 3.47M and 300M multiply-adds, which we follow.
CIFAR form: stem and first stride-2 stage at stride 1 (as common CIFAR ports do), 32x32 -> 4x4.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.mbconv import MBConv
from nas.layers import ConvBnAct, make_divisible
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# t (expansion), c (channels), n (repeats), s (first stride)
ROWS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, variant: str = "imagenet",
                 dropout: float = 0.2):
        super().__init__()
        cifar = is_cifar(variant)
        in_chs = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2, act="relu6")
        stages = []
        for i, (t, c, n, s) in enumerate(ROWS):
            if cifar and i == 1:
                s = 1
            out_chs = make_divisible(c * width_mult)
            layers = []
            for j in range(n):
                layers.append(MBConv(in_chs, out_chs, s if j == 0 else 1, kernel_size=3, exp_ratio=t, act="relu6"))
                in_chs = out_chs
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = make_divisible(1280 * max(1.0, width_mult))
        self.head = ConvBnAct(in_chs, self.num_features, 1, act="relu6")
        self.classifier = Classifier(self.num_features, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))


def _entry(width: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> MobileNetV2:
        return MobileNetV2(num_classes, width, variant, **kwargs)
    return build


# (name, width, params M, MACs M): the released checkpoints' table (TF-slim mobilenet_v2 README).
for _name, _w, _p, _m in [("mobilenetv2_140", 1.4, 6.06, 582), ("mobilenetv2_100", 1.0, 3.47, 300),
                          ("mobilenetv2_075", 0.75, 2.61, 209), ("mobilenetv2_050", 0.5, 1.95, 97),
                          ("mobilenetv2_035", 0.35, 1.66, 59)]:
    register_model(_name, params=_p, macs=_m, source="MobileNetV2 released TF-slim checkpoints table")(_entry(_w))
