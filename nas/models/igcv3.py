"""IGCV3-D (Sun, Li, Liu & Wang 2018, "IGCV3: Interleaved Low-Rank Group Convolutions for Efficient
Deep Neural Networks").

MobileNetV2's layout (Table 2 of MobileNetV2: 32-wide stem, ``[t, c, n, s]`` rows, 1280-wide last
conv) with every inverted bottleneck replaced by an IGCV3 block (group-2 1x1 convs, channel shuffle,
depthwise 3x3, linear bottleneck; ``nas.blocks.igc.IGCV3Block``) and the depth doubled: IGCV3-D
repeats the rows (1, 4, 6, 8, 6, 6, 1) times instead of (1, 2, 3, 4, 3, 3, 1). This follows the
released code and pretrained model (homles11/IGCV3, ``symbols/igcv3.py``, ``models/igcv3-symbol.json``):
the first block keeps its expansion conv at ``t = 1``, the expansion convs are linear, ReLU6 after
the stem, the depthwise convs and the last conv, no dropout before the classifier.

Counts: the paper's ImageNet comparison with MobileNetV2 and the released README give 3.5M
parameters for IGCV3-D 1.0x (vs 3.4M for MobileNetV2); the paper gives 318M multiply-adds at 224x224.
This model has 3.49M parameters and 313M multiply-adds (1.6% below 318M; the released symbol has
nothing we leave out, so the gap is the paper's own rounding or counting).

CIFAR form: stem at stride 1 and the first stride-2 row (c = 24) at stride 1, as CIFAR ports of
MobileNetV2 do, so 32x32 inputs end at 4x4.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.igc import IGCV3Block
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# t (expansion), c (channels), n (repeats), s (first stride); IGCV3-D doubles MobileNetV2's n
ROWS_D = [(1, 16, 1, 1), (6, 24, 4, 2), (6, 32, 6, 2), (6, 64, 8, 2), (6, 96, 6, 1), (6, 160, 6, 2), (6, 320, 1, 1)]


class IGCV3(nn.Module):
    def __init__(self, num_classes: int = 1000, variant: str = "imagenet", groups: int = 2, dropout: float = 0.0,
                 rows=ROWS_D, stem_chs: int = 32, num_features: int = 1280):
        super().__init__()
        cifar = is_cifar(variant)
        self.stem = ConvBnAct(3, stem_chs, 3, 1 if cifar else 2, act="relu6")
        in_chs = stem_chs
        stages = []
        for i, (t, c, n, s) in enumerate(rows):
            if cifar and i == 1:
                s = 1
            layers = []
            for j in range(n):
                layers.append(IGCV3Block(in_chs, c, s if j == 0 else 1, kernel_size=3, exp_ratio=t, act="relu6",
                                         groups=groups))
                in_chs = c
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = num_features
        self.head = ConvBnAct(in_chs, num_features, 1, act="relu6")
        self.classifier = Classifier(num_features, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))


@register_model("igcv3_d", params=3.5, macs=318, resolution=224,
                source="IGCV3 paper, ImageNet comparison (IGCV3-D 1.0x: 3.5M params, 318M MAdds); README: 3.5M")
def igcv3_d(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> IGCV3:
    return IGCV3(num_classes, variant, **kwargs)
