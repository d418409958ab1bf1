"""ShuffleNet V2 (Ma, Zhang, Zheng and Sun 2018, "ShuffleNet V2: Practical Guidelines for Efficient
CNN Architecture Design", ECCV 2018).

Table 5: 3x3 stem conv (24, stride 2), 3x3 max-pool, stages 2-4 of 4/8/4 ShuffleNet V2 units (the first
of each at stride 2), 1x1 conv (1024; 2048 for 2x), global pool, fc. Stage output channels at
0.5/1/1.5/2x: 48/96/192, 116/232/464, 176/352/704, 244/488/976.

Figures registered (paper Table 5 = the authors' released README, megvii-model/ShuffleNet-Series):
41M/1.4M, 146M/2.3M, 299M/3.5M, 591M/7.4M multiply-adds/params. The 0.5x's "1.4M" is rounded: the
released network code counts 1.37M params (1.366M with its bias-free fc), 2.4% below 1.4M, so for it we
register the released code's count, 1.37M. Our counts: 40.5/145.8/299.0/590.8M multiply-adds and
1.37/2.28/3.51/7.40M params.

Block details follow the released code: the left branch of a stride-2 unit keeps its input width and
the right branch makes the rest (see ``nas.blocks.shufflenet_v2``); the 2x has dropout 0.2 before the
classifier. Deviation: the released classifier is a bias-free linear layer; we use the shared
``Classifier`` (with bias, +1000 params).

CIFAR form (as the common CIFAR ports, e.g. kuangliu/pytorch-cifar, do): stem conv at stride 1 and no
max-pool; the three stages keep their stride 2, so 32x32 -> 16 -> 8 -> 4x4 before the last 1x1 conv.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nas.blocks.shufflenet_v2 import ShuffleNetV2Unit
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

REPEATS = (4, 8, 4)


class ShuffleNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, stage_chs: Sequence[int] = (116, 232, 464), head_chs: int = 1024,
                 variant: str = "imagenet", dropout: float = 0.0, stem_chs: int = 24, kernel_size: int = 3,
                 act: str = "relu"):
        super().__init__()
        cifar = is_cifar(variant)
        self.stem = ConvBnAct(3, stem_chs, 3, 1 if cifar else 2, act=act)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        in_chs = stem_chs
        stages = []
        for out_chs, n in zip(stage_chs, REPEATS):
            units = []
            for j in range(n):
                units.append(ShuffleNetV2Unit(in_chs, out_chs, 2 if j == 0 else 1, kernel_size=kernel_size, act=act))
                in_chs = out_chs
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.num_features = head_chs
        self.head = ConvBnAct(in_chs, head_chs, 1, act=act)
        self.classifier = Classifier(head_chs, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.maxpool(self.stem(x)))))


def _entry(stage_chs: Sequence[int], head_chs: int, dropout: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> ShuffleNetV2:
        kwargs.setdefault("dropout", dropout)
        return ShuffleNetV2(num_classes, stage_chs, head_chs, variant=variant, **kwargs)
    return build


_SRC = "ShuffleNet V2 paper Table 5 / megvii-model/ShuffleNet-Series ShuffleNetV2 README"
# (name, stage channels, head channels, dropout, params M, MACs M)
for _name, _chs, _head, _drop, _p, _m, _src in [
        ("shufflenetv2_x0_5", (48, 96, 192), 1024, 0.0, 1.37, 41, _SRC + " (params: released code's count)"),
        ("shufflenetv2_x1_0", (116, 232, 464), 1024, 0.0, 2.3, 146, _SRC),
        ("shufflenetv2_x1_5", (176, 352, 704), 1024, 0.0, 3.5, 299, _SRC),
        ("shufflenetv2_x2_0", (244, 488, 976), 2048, 0.2, 7.4, 591, _SRC)]:
    register_model(_name, params=_p, macs=_m, resolution=224, source=_src)(_entry(_chs, _head, _drop))
