"""SqueezeNet (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size").

- ``squeezenet1_0``: the paper's Table 1 (conv1 7x7/2 96, Fire2-Fire9 with max-pools after conv1,
  Fire4 and Fire8, conv10 1x1 to the classes, global average pool): 1,248,424 parameters.
- ``squeezenet1_1``: the authors' released v1.1 (DeepScale/SqueezeNet, ``SqueezeNet_v1.1``):
  conv1 3x3/2 64 and the pools moved earlier (after conv1, Fire3, Fire5), "2.4x less computation
  than v1.0"; 1,235,496 parameters.

Multiply-adds: neither the paper nor the authors' repository gives absolute figures (only v1.1's
"2.4x less computation"). We register the figures of torchvision's ports at 224x224 (weights
table: 0.82 and 0.35 GFLOPs, i.e. multiply-adds), which our count reproduces: 819M and 349M
(ratio 2.35, the README's 2.4x). Convs count in full, incl. conv10 at 13x13. The released Caffe
models take 227x227 crops (Table 1's 111x111 conv1 output); there the same nets need 833M and 388M.
Pools use Caffe's ceil rounding (as torchvision's ports do).

The classifier is the paper's: dropout 0.5, conv10 (1x1, with bias) + ReLU at full resolution, then
global average pooling; it is kept instead of the shared ``Classifier`` (pool then linear) because
the ReLU before the pool makes them different functions, and conv10 accounts for ~86M of v1.0's
multiply-adds. No BatchNorm (``bn=True`` adds it after every conv, as CIFAR ports often do).

CIFAR form: conv1 becomes 3x3 stride 1 (padding 1) for both versions, the three max-pools are kept:
32x32 -> 16 -> 8 -> 4 before conv10.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.fire import Fire
from nas.layers import ConvBnAct
from nas.layers.classifier import init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# Fire output widths (e1x1 + e3x3; squeeze = out / 8, e3x3 = out / 2); "M" = 3x3/2 max-pool.
LAYOUTS = {
    "1_0": (96, 7, [128, 128, 256, "M", 256, 384, 384, 512, "M", 512]),
    "1_1": (64, 3, [128, 128, "M", 256, 256, "M", 384, 384, 512, 512]),
}


class ConvClassifier(nn.Module):
    """``dropout -> conv (1x1, named fc) -> act -> global average pool``: SqueezeNet's conv10 head."""

    def __init__(self, in_chs: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Conv2d(in_chs, num_classes, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.act(self.fc(self.dropout(x))).mean((2, 3)), 1)


class SqueezeNet(nn.Module):
    def __init__(self, version: str = "1_0", num_classes: int = 1000, variant: str = "imagenet",
                 dropout: float = 0.5, bn: bool = False):
        super().__init__()
        cifar = is_cifar(variant)
        stem_chs, stem_k, layout = LAYOUTS[version]
        if cifar:
            self.stem = ConvBnAct(3, stem_chs, 3, 1, bn=bn)
        else:
            self.stem = ConvBnAct(3, stem_chs, stem_k, 2, padding=0, bn=bn)
        layers = [nn.MaxPool2d(3, 2, ceil_mode=True)]
        in_chs = stem_chs
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            else:
                layers.append(Fire(in_chs, int(item), 1, squeeze_ratio=0.125, pct_3x3=0.5, bn=bn))
                in_chs = int(item)
        self.features = nn.Sequential(*layers)
        self.num_features = in_chs
        self.classifier = ConvClassifier(in_chs, num_classes, dropout)
        init_weights(self)
        nn.init.normal_(self.classifier.fc.weight, 0.0, 0.01)  # reference init of conv10

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.stem(x)))


def _entry(version: str):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> SqueezeNet:
        return SqueezeNet(version, num_classes, variant, **kwargs)
    return build


register_model("squeezenet1_0", params=1.248424, macs=820, resolution=224,
               source="SqueezeNet paper Table 1 (params); torchvision weights table, 0.82 GFLOPs (MACs)")(
    _entry("1_0"))
register_model("squeezenet1_1", params=1.235496, macs=350, resolution=224,
               source="released SqueezeNet v1.1 (DeepScale/SqueezeNet, 1,235,496 params); torchvision weights "
                      "table, 0.35 GFLOPs (MACs)")(_entry("1_1"))
