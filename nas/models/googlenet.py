"""GoogLeNet / Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions").

Table 1 without the two auxiliary classifiers: 7x7/2 conv (64), 3x3/2 max-pool, 1x1 conv (64),
3x3 conv (192), 3x3/2 max-pool, inception (3a, 3b), 3x3/2 max-pool, inception (4a-4e), 3x3/2
max-pool, inception (5a, 5b), global average pool, dropout 40%, linear 1024 -> 1000. The Inception
modules are ``nas.blocks.inception.Inception`` with Table 1's six widths, including the real 5x5
convs. What we changed, as torchvision's port does: BatchNorm after every conv (BN + ReLU, no bias)
and no local response normalisation; max-pools are Caffe-style (ceil mode, as in the BVLC
replication), which gives Table 1's 112-56-28-14-7 sizes.

Counts: Table 1's columns add up to 6.8M parameters (the linear layer's 1000K included) and
~1.5G multiply-adds, but they are not consistent with its own layer widths: conv1 (7x7/2, 3 -> 64,
112x112 output) is listed at 2.7K parameters / 34M ops where it has 9.4K / 118M, and the params
column of the Inception rows disagrees with their ops column (e.g. 4c: 100M ops at 14x14 means
510K weights, the table says 463K). Counting the widths of Table 1 gives 6.99M weights (+15K of
BN) and 1583M multiply-adds, which is what this model has and what we register (the ops total is
within 2.1% of the 1550M MobileNetV1's Table 8 quotes for GoogLeNet). torchvision's / TF-slim's
6.62M and 1.50G are for a layout whose "5x5" branch uses 3x3 convs, which we do not copy.

CIFAR form: a 3x3 stride-1 first conv and no first max-pool (as CIFAR ports of GoogLeNet start
without downsampling); the remaining three max-pools take 32x32 to 4x4 before 5a/5b.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.inception import Inception
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), Table 1
INCEPTION_WIDTHS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _inception(in_chs: int, name: str) -> Inception:
    c1, c3r, c3, c5r, c5, cp = INCEPTION_WIDTHS[name]
    return Inception(in_chs, c1 + c3 + c5 + cp, 1, ch1x1=c1, ch3x3red=c3r, ch3x3=c3, ch5x5red=c5r, ch5x5=c5,
                     pool_proj=cp)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(3, 2, ceil_mode=True)


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, variant: str = "imagenet", dropout: float = 0.4):
        super().__init__()
        cifar = is_cifar(variant)
        self.conv1 = ConvBnAct(3, 64, 3, 1) if cifar else ConvBnAct(3, 64, 7, 2)
        self.maxpool1 = nn.Identity() if cifar else _pool()
        self.conv2 = ConvBnAct(64, 64, 1)
        self.conv3 = ConvBnAct(64, 192, 3)
        self.maxpool2 = _pool()
        self.inception3a = _inception(192, "3a")
        self.inception3b = _inception(256, "3b")
        self.maxpool3 = _pool()
        self.inception4a = _inception(480, "4a")
        self.inception4b = _inception(512, "4b")
        self.inception4c = _inception(512, "4c")
        self.inception4d = _inception(512, "4d")
        self.inception4e = _inception(528, "4e")
        self.maxpool4 = _pool()
        self.inception5a = _inception(832, "5a")
        self.inception5b = _inception(832, "5b")
        self.num_features = 1024
        self.classifier = Classifier(self.num_features, num_classes, dropout)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4c(self.inception4b(self.inception4a(x)))
        x = self.maxpool4(self.inception4e(self.inception4d(x)))
        return self.inception5b(self.inception5a(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@register_model("googlenet", params=7.0, macs=1583, resolution=224,
                source="GoogLeNet Table 1 widths, counted (the table's own 6.8M / 1.5G totals are inconsistent "
                       "with its rows; see module docstring)")
def googlenet(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> GoogLeNet:
    return GoogLeNet(num_classes, variant, **kwargs)
