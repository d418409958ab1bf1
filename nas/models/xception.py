"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions").

Fig. 5 of the paper, as in the author's released Keras model (``keras.applications.Xception``):

- entry flow: 3x3/2 conv 32 and 3x3 conv 64 (both unpadded, BN + ReLU), then three residual modules
  (``xception_block``) to 128, 256 and 728 channels, each with two separable convs, a 3x3/2 max-pool
  and a strided 1x1 conv shortcut (the first without the leading ReLU);
- middle flow: eight modules of three ReLU-SepConv-BN at 728 channels with identity shortcuts;
- exit flow: a module 728 -> 728 -> 1024 with max-pool, then SepConv 1536 and SepConv 2048 each
  followed by BN + ReLU, global average pooling and a 1000-way FC (no dropout).

Paper Table 3 gives 22,855,952 parameters (22.855M, reproduced exactly: conv weights, BN scale and
shift, FC). The paper gives no multiply-add count; we register 8.4G at 299 px, the figure of timm's
model table for the same network (``legacy_xception``, a port of the Keras weights); our exact
conv + FC count is 8.357G (0.5% below).

CIFAR form (as CIFAR ports of Xception do, e.g. weiaicunzai/pytorch-cifar100): the two stem convs
are padded and at stride 1, the rest unchanged, so 32x32 -> 16 -> 8 -> 4 (entry) -> 2 (exit).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.separable import XceptionBlock, XceptionSepConv
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model


class Xception(nn.Module):
    def __init__(self, num_classes: int = 1000, variant: str = "imagenet", dropout: float = 0.0):
        super().__init__()
        cifar = is_cifar(variant)
        pad = 1 if cifar else 0
        self.stem = nn.Sequential(
            ConvBnAct(3, 32, 3, 1 if cifar else 2, padding=pad),
            ConvBnAct(32, 64, 3, 1, padding=pad),
        )
        self.entry_flow = nn.Sequential(
            XceptionBlock(64, 128, 2, reps=2, start_with_relu=False),
            XceptionBlock(128, 256, 2, reps=2),
            XceptionBlock(256, 728, 2, reps=2),
        )
        self.middle_flow = nn.Sequential(*[XceptionBlock(728, 728, 1, reps=3) for _ in range(8)])
        self.exit_flow = nn.Sequential(
            XceptionBlock(728, 1024, 2, reps=2, grow_first=False),
            XceptionSepConv(1024, 1536, 1),
            XceptionSepConv(1536, 2048, 1),
        )
        self.num_features = 2048
        self.classifier = Classifier(2048, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry_flow(self.stem(x))
        return self.classifier(self.exit_flow(self.middle_flow(x)))


@register_model("xception", params=22.855952, macs=8400, resolution=299,
                source="Xception paper Table 3 (params); MACs from timm's legacy_xception model table")
def xception(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> Xception:
    return Xception(num_classes, variant, **kwargs)
