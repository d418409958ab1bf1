"""MNASNet-A1 and MNASNet-B1 (Tan et al. 2019, "MnasNet: Platform-Aware Neural Architecture Search
for Mobile"), Fig. 7 (A1) and the released B1 definition.

Rows ``(block, expansion, kernel, SE, out, repeats, stride)``; ``sep`` is the separable-conv first
layer (dw 3x3, linear 1x1, no residual), which MBConv with expansion 1 is. SE (ratio 0.25) reduces
from the block's input channels with ReLU and a sigmoid gate, as in the authors' TF code. Paper
Table 1: A1 312M multiply-adds / 3.9M params; B1 315M / 4.4M (released code: 4.38M, 315M).
CIFAR form: stem stride 1 and the first stride-2 stage at stride 1.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.mbconv import MBConv
from nas.layers import ConvBnAct, make_divisible
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

A1 = [(1, 3, False, 16, 1, 1), (6, 3, False, 24, 2, 2), (3, 5, True, 40, 3, 2), (6, 3, False, 80, 4, 2),
      (6, 3, True, 112, 2, 1), (6, 5, True, 160, 3, 2), (6, 3, False, 320, 1, 1)]
B1 = [(1, 3, False, 16, 1, 1), (3, 3, False, 24, 3, 2), (3, 5, False, 40, 3, 2), (6, 5, False, 80, 3, 2),
      (6, 3, False, 96, 2, 1), (6, 5, False, 192, 4, 2), (6, 3, False, 320, 1, 1)]


class MNASNet(nn.Module):
    def __init__(self, rows, num_classes: int = 1000, width_mult: float = 1.0, variant: str = "imagenet",
                 dropout: float = 0.2):
        super().__init__()
        cifar = is_cifar(variant)
        in_chs = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2)
        stages = []
        for i, (e, k, se, c, n, s) in enumerate(rows):
            if cifar and i == 1:
                s = 1
            out_chs = make_divisible(c * width_mult)
            layers = []
            for j in range(n):
                layers.append(MBConv(in_chs, out_chs, s if j == 0 else 1, kernel_size=k, exp_ratio=e,
                                     se_ratio=0.25 if se else 0.0, se_from_input=True, residual=i > 0))
                in_chs = out_chs
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head = ConvBnAct(in_chs, 1280, 1)
        self.classifier = Classifier(1280, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))


def _entry(rows, width: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> MNASNet:
        return MNASNet(rows, num_classes, width, variant, **kwargs)
    return build


register_model("mnasnet_a1", params=3.9, macs=312, source="MnasNet paper Table 1")(_entry(A1, 1.0))
register_model("mnasnet_b1", params=4.4, macs=315, source="MnasNet paper Table 1")(_entry(B1, 1.0))
register_model("mnasnet_b1_050", params=2.218512, macs=104.455968,
               source="torchvision's mnasnet0_5 (MNASNet-B1 at depth multiplier 0.5): 2,218,512 params, "
                      "0.104 GMACs")(_entry(B1, 0.5))
