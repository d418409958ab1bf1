"""PVANet's ImageNet classification network (Kim, Hong, Roh, Cheon & Park 2016, "PVANET: Deep but
Lightweight Neural Networks for Real-time Object Detection"; Hong et al. 2016, "PVANet: Lightweight
Deep Neural Networks for Real-time Object Detection").

The feature extractor of the paper's Table 1, in the form of the authors' ImageNet-pretrained model
(sanghoon/pva-faster-rcnn, ``models/pvanet/imagenet/pva9.1_preAct_test.prototxt``, "PVA9.1
ImageNet", pre-activation, 70.0% top-1 at 192x192; README: 27.66% top-1 error at 224x224):

- conv1_1: 7x7/2 C.ReLU, 16 (x2 = 32) channels; pool1: 3x3/2 max-pool;
- conv2_1..2_3: C.ReLU blocks 24-24(x2)-64; conv3_1..3_4: 48-48(x2)-128, conv3_1 at stride 2;
- conv4_1..4_4: Inception blocks to 256 (branches 64 | 48-128 | 24-48-48 | pool-128 at stride 2,
  64 | 64-128 | 24-48-48 after); conv5_1..5_4: to 384 (64 | 96-192 | 32-64-64 | pool-128);
  conv4_1 and conv5_1 at stride 2;
- last BN-ReLU, then the classifier of the released model: fc6 (4096, on the whole 384x7x7 map at
  224x224) and fc7 (4096), each with BN, ReLU and dropout 0.5, and fc8.

Blocks are ``nas.blocks.pvanet`` (see there for the pre-activation details). fc6/fc7 are built as a
7x7 and a 1x1 conv (``pre_logits.fc6``/``fc7``) on the 7x7 map, which equal the FC layers on the
flattened map; other input sizes are average-pooled to 7x7 first. Conv biases in front of BN and
the extra BN of conv5_4's output conv are left out (a few thousand parameters).

Counts. The papers give no parameter or multiply-add figure for this classification network: their
costs are those of the detection network (e.g. 7.9 GMAC for feature extraction at 1056x640, with
the hyper-feature layers and without fc6-fc8). The only published cost figures for it are the ones
in the header of the released prototxt (read from a fork of the repository, twmht/PVANet-FACE):
4.17 GMAC for the conv layers at 640x640 and 604.94 MMAC at 224x224 for the conv layers + fc6 + fc7
(its table stops before fc8). We register 604.94M multiply-adds at 224x224
from that header (this model: 609.0M, fc8's 4.1M included; its conv part is 511.1M at 224x224 and
4.17G at 640x640, layer by layer as in the header). No parameter count is published; the value we
register, 100.87M, is our count of the learnable blobs the released prototxt defines at 224x224
(fc6 alone is 77.1M; at the 192x192 training crop fc6 would be 56.6M), not a published figure;
this model has 100.87M (the dropped pre-BN biases make it 9K smaller).

CIFAR form: conv1_1 as a 3x3 stride-1 C.ReLU and no pool1 (32x32 -> 4x4 after conv5), and a small
classifier as CIFAR ports of VGG-style heads use: fc6/fc7 512 wide on the globally pooled features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.pvanet import ConvCReLU, PvaCReLUBlock, PvaInception
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# C.ReLU stages: (blocks, 1x1/3x3 width, out, first stride)
CRELU_STAGES = [(3, 24, 64, 1), (4, 48, 128, 2)]
# Inception stages: (blocks, out, widths of the stride-2 first block, widths of the others)
INCEPTION_STAGES = [
    (4, 256, (64, 48, 128, 24, 48, 128), (64, 64, 128, 24, 48, 0)),
    (4, 384, (64, 96, 192, 32, 64, 128), (64, 96, 192, 32, 64, 0)),
]


class PreLogits(nn.Module):
    """Average-pool to ``pool_size``, ``fc6`` (conv covering the map, BN, ReLU), dropout, ``fc7`` (1x1, BN, ReLU)."""

    def __init__(self, in_chs: int, width: int, pool_size: int, dropout: float = 0.5):
        super().__init__()
        self.pool_size = pool_size
        self.fc6 = ConvBnAct(in_chs, width, pool_size, padding=0)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc7 = ConvBnAct(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, self.pool_size)
        return self.fc7(self.drop(self.fc6(x)))


class PVANet(nn.Module):
    def __init__(self, num_classes: int = 1000, variant: str = "imagenet", dropout: float = 0.5):
        super().__init__()
        cifar = is_cifar(variant)
        self.conv1 = ConvCReLU(3, 16, 3, 1) if cifar else ConvCReLU(3, 16, 7, 2)
        self.pool1 = nn.Identity() if cifar else nn.MaxPool2d(3, 2, ceil_mode=True)
        in_chs = self.conv1.out_chs
        stages = []
        for i, (n, mid, out, s) in enumerate(CRELU_STAGES):
            blocks = []
            for j in range(n):
                blocks.append(PvaCReLUBlock(in_chs, out, s if j == 0 else 1, mid_chs=mid,
                                            preact=not (i == 0 and j == 0)))
                in_chs = out
            stages.append(nn.Sequential(*blocks))
        for n, out, first, rest in INCEPTION_STAGES:
            blocks = []
            for j in range(n):
                c1, c3r, c3, c5r, c5, cp = first if j == 0 else rest
                blocks.append(PvaInception(in_chs, out, 2 if j == 0 else 1, ch1x1=c1, ch3x3red=c3r, ch3x3=c3,
                                           ch5x5red=c5r, ch5x5=c5, pool_proj=cp))
                in_chs = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.norm = nn.Sequential(nn.BatchNorm2d(in_chs), nn.ReLU(inplace=True))  # conv5_4/last_bn, last_relu
        width, pool_size = (512, 1) if cifar else (4096, 7)
        self.pre_logits = PreLogits(in_chs, width, pool_size, dropout)
        self.num_features = width
        self.classifier = Classifier(width, num_classes, dropout)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.stages(self.pool1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pre_logits(self.forward_features(x)))


@register_model("pvanet", params=100.87, macs=604.94, resolution=224,
                source="no published figures for the classification net: MACs from the header of the released "
                       "pva9.1_preAct_test.prototxt (224x224, conv + fc6 + fc7); params counted from that "
                       "prototxt's layers (see module docstring)")
def pvanet(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> PVANet:
    return PVANet(num_classes, variant, **kwargs)
