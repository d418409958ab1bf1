"""SE-ResNet (Hu et al. 2018, "Squeeze-and-Excitation Networks").

``seresnet50``: ResNet-50 (7x7/2 conv 64 + BN-ReLU + 3x3/2 max-pool, stages of (3, 4, 6, 3)
bottlenecks with (256, 512, 1024, 2048) outputs) with an SE unit (reduction 16) on every residual
branch, global pooling and a linear classifier. The paper's Table 2 gives 28.1M parameters and
3.87 GFLOPs (multiply-adds) at 224x224. As in the authors' released models, each stage's first
bottleneck strides its first 1x1 conv (see ``nas/blocks/senet.py``); our count: 28.09M, 3.86G
(convs, SE FCs and the classifier; the remainder is the SE pooling/gating the paper also counts).
``stride_in_1x1=False`` gives the torchvision-style placement (stride on the 3x3, ~4.1G).

CIFAR form (as CIFAR ports of ResNet do): the stem is a 3x3 stride-1 conv (64) + BN-ReLU without
max-pool, the first stage keeps stride 1: 32x32 -> 32 -> 16 -> 8 -> 4 before pooling.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nas.blocks.senet import SEBottleneck
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model


class SEResNet(nn.Module):
    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), num_classes: int = 1000, variant: str = "imagenet",
                 se_ratio: float = 1.0 / 16, stride_in_1x1: bool = True, groups: int = 1, base_width: int = 64,
                 dropout: float = 0.0):
        super().__init__()
        cifar = is_cifar(variant)
        if cifar:
            self.stem = nn.Sequential(ConvBnAct(3, 64, 3, 1))
        else:
            self.stem = nn.Sequential(ConvBnAct(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        in_chs = 64
        stages = []
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            out_chs = planes * 4
            mid = planes * base_width // 64 * groups
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(SEBottleneck(in_chs, out_chs, stride, mid_chs=mid, se_ratio=se_ratio, groups=groups,
                                           stride_in_1x1=stride_in_1x1))
                in_chs = out_chs
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = in_chs
        self.classifier = Classifier(in_chs, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.stages(self.stem(x)))


@register_model("seresnet50", params=28.1, macs=3870, source="SENet paper Table 2 (SE-ResNet-50: 28.1M, 3.87 GFLOPs)")
def seresnet50(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> SEResNet:
    return SEResNet((3, 4, 6, 3), num_classes, variant, **kwargs)
