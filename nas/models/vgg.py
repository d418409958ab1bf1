"""VGG (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition").

``vgg16`` is configuration D of Table 1: five stages of (2, 2, 3, 3, 3) 3x3 convs with (64, 128,
256, 512, 512) channels, each ending in a 2x2/2 max-pool, then FC-4096, FC-4096, FC-1000 with ReLU
and dropout 0.5 after the first two. Table 2 gives 138M parameters (138,357,544 exactly); at
224x224 it needs 15.47G multiply-adds (15.35G convs + 0.12G FC), the figure of torchvision's port.
``bn=True`` adds BatchNorm after every conv (torchvision's ``vgg16_bn``).

The two 4096-wide FC layers (``pre_logits.fc1``, ``pre_logits.fc2``) act on the flattened 7x7 map
(inputs of other sizes are average-pooled to 7x7 first, as torchvision does); ``classifier.fc`` gives the
logits. They are linear layers, not the equivalent 7x7 / 1x1 convolutions: on this CPU at batch 1 the
7x7-conv form made the whole net 1.75x slower than torchvision's (bench/compare_reference.py).

CIFAR form (as common CIFAR ports of VGG do): the same 13 convs and five pools (32x32 -> 1x1), and a
small classifier: two 512-wide FC layers (ReLU, dropout 0.5) and the output layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.vgg import VGGStage
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# (convs per stage, channels) of Table 1's configurations
CONFIGS = {"vgg16": [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]}


class VGGMlp(nn.Module):
    """Average-pool to ``pool_size``, flatten, ``fc1`` -> act -> drop -> ``fc2`` -> act."""

    def __init__(self, in_chs: int, width: int, pool_size: int, dropout: float = 0.5):
        super().__init__()
        self.pool_size = pool_size
        self.fc1 = nn.Linear(in_chs * pool_size * pool_size, width)
        self.act1 = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc2 = nn.Linear(width, width)
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(F.adaptive_avg_pool2d(x, self.pool_size), 1)
        return self.act2(self.fc2(self.drop(self.act1(self.fc1(x)))))


class VGG(nn.Module):
    def __init__(self, config: str = "vgg16", num_classes: int = 1000, variant: str = "imagenet", bn: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        cifar = is_cifar(variant)
        in_chs = 3
        stages = []
        for n, chs in CONFIGS[config]:
            stages.append(VGGStage(in_chs, chs, 2, num_layers=n, bn=bn))
            in_chs = chs
        self.stages = nn.Sequential(*stages)
        width, pool_size = (512, 1) if cifar else (4096, 7)
        self.pre_logits = VGGMlp(in_chs, width, pool_size, dropout)
        self.num_features = width
        self.classifier = Classifier(width, num_classes, dropout)
        init_weights(self)
        for fc in (self.pre_logits.fc1, self.pre_logits.fc2):  # the reference inits FC layers N(0, 0.01)
            nn.init.normal_(fc.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pre_logits(self.stages(x)))


@register_model("vgg16", params=138.357544, macs=15470,
                source="VGG paper Table 2 (138M, configuration D); MACs: torchvision weights table (15.47 GFLOPs)")
def vgg16(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> VGG:
    return VGG("vgg16", num_classes, variant, **kwargs)
