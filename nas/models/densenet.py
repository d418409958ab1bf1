"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

DenseNet-BC for ImageNet (Table 1): 7x7/2 conv (2k channels) + BN-ReLU + 3x3/2 max-pool, four dense
blocks of bottleneck layers (growth rate k = 32, bottleneck width 4k) separated by transitions that
halve the channels (compression 0.5) and the resolution, a final BN-ReLU, global pooling and a
linear classifier. ``densenet121`` has blocks of (6, 12, 24, 16) layers: 7,978,856 parameters (the
authors' released model). The paper gives no multiply-add table (Fig. 3 only plots them); we
register torchvision's figure for its port, 2.83 GFLOPs (multiply-adds of convs and the classifier;
ours: 2.834G). Counters that add BN/ReLU/pooling ops report ~2.87G.

CIFAR form (as CIFAR ports of DenseNet-121 do): the stem is a single 3x3 stride-1 conv to 2k
channels without BN-ReLU or max-pool (as DenseNet's own CIFAR nets), the four blocks and three
transitions are kept: 32x32 -> 16 -> 8 -> 4 before the final BN-ReLU and pooling.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nas.blocks.dense import DenseBlock, DenseTransition
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model


class DenseNet(nn.Module):
    def __init__(self, block_config: Sequence[int] = (6, 12, 24, 16), growth_rate: int = 32,
                 num_classes: int = 1000, variant: str = "imagenet", bn_size: int = 4, compression: float = 0.5,
                 drop_rate: float = 0.0, stem_chs: int | None = None, dropout: float = 0.0):
        super().__init__()
        cifar = is_cifar(variant)
        chs = int(stem_chs) if stem_chs is not None else 2 * growth_rate
        if cifar:
            self.stem = nn.Sequential(nn.Conv2d(3, chs, 3, 1, 1, bias=False))
        else:
            self.stem = nn.Sequential(ConvBnAct(3, chs, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages = []
        for i, n in enumerate(block_config):
            out = chs + n * growth_rate
            stages.append(DenseBlock(chs, out, 1, num_layers=n, growth_rate=growth_rate, bn_size=bn_size,
                                     drop_rate=drop_rate))
            chs = out
            if i != len(block_config) - 1:
                out = int(chs * compression)
                stages.append(DenseTransition(chs, out, 2))
                chs = out
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(chs)
        self.act = nn.ReLU(inplace=True)
        self.num_features = chs
        self.classifier = Classifier(chs, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.act(self.norm(self.stages(self.stem(x)))))


@register_model("densenet121", params=7.978856, macs=2830,
                source="DenseNet paper Table 1 (DenseNet-121, k=32); released model 7,978,856 params; "
                       "torchvision weights table 2.83 GFLOPs (MACs)")
def densenet121(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> DenseNet:
    return DenseNet((6, 12, 24, 16), 32, num_classes, variant, **kwargs)
