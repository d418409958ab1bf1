"""ShuffleNet (v1) (Zhang, Zhou, Lin and Sun 2018, "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices", CVPR 2018).

Table 1: 3x3 stem conv (24, stride 2), 3x3 max-pool, stages 2-4 of 4/8/4 ShuffleNet units (the first of
each at stride 2), global pool, fc. Output channels of stages 2-4 at 1x for g = 1/2/3/4/8:
144/288/576, 200/400/800, 240/480/960, 272/544/1088, 384/768/1536; bottleneck = 1/4 of the unit's
output channels; the first unit of stage 2 has an ungrouped first 1x1 conv (its input is only 24
channels).

Figures registered:
- multiply-adds: Table 2's 1x complexities, 143/140/137/133/137 MFLOPs for g = 1/2/3/4/8, except g = 3
  and g = 8, whose models the authors released (megvii-model/ShuffleNet-Series, ShuffleNetV1 README)
  with 138M each; we follow the released figures there;
- params: the paper gives none per g. The released README gives 1.9M (g = 3) and 2.4M (g = 8) at 1x;
  for g = 1/2/4 (never released) we register the count of the released network code (network.py /
  blocks.py) built with Table 1's channels: 1.53M, 1.73M, 1.97M (bias-free fc, as released). Our counts at 1x:
  g = 1/2/3/4/8: 1.53/1.73/1.87/1.97/2.43M params, 143.1/140.8/137.5/134.3/138.4M multiply-adds
  (within 1% of Table 2 for every g; the released 1.9M and 2.4M are rounded).

``width_mult`` is the paper's scale factor s ("ShuffleNet s x"): stage widths are scaled and rounded to
a multiple of 4g (so the bottleneck divides into g groups); the stem follows the released code
(12/24/24/48 channels at 0.5/1/1.5/2x, rounded to a multiple of g: 16 for g = 8 at 0.5x). At 0.5/1/1.5/2x
with g = 3 or 8 this reproduces the released models exactly.

Deviation: the released classifier is a bias-free linear layer; we use the shared ``Classifier``
(with bias, +1000 params) so every model has the same head.

CIFAR form (as the common CIFAR ports, e.g. kuangliu/pytorch-cifar, do): stem conv at stride 1 and no
max-pool; the three stages keep their stride 2, so 32x32 -> 16 -> 8 -> 4x4 before global pooling.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from nas.blocks.shufflenet_v1 import ShuffleNetV1Unit
from nas.layers import ConvBnAct, make_divisible
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# Table 1: output channels of stages 2, 3, 4 at 1x for each number of groups g.
STAGE_CHS: Dict[int, Tuple[int, int, int]] = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960),
                                              4: (272, 544, 1088), 8: (384, 768, 1536)}
REPEATS = (4, 8, 4)
# Stem widths of the released models per scale factor (the 1.5x keeps 24).
_STEM = {0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}


class ShuffleNetV1(nn.Module):
    def __init__(self, num_classes: int = 1000, groups: int = 3, width_mult: float = 1.0,
                 variant: str = "imagenet", dropout: float = 0.0):
        super().__init__()
        if groups not in STAGE_CHS:
            raise ValueError(f"ShuffleNetV1: groups must be one of {sorted(STAGE_CHS)}, got {groups}")
        cifar = is_cifar(variant)
        in_chs = make_divisible(_STEM.get(float(width_mult), 24 * width_mult), groups)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        stages = []
        for i, (c, n) in enumerate(zip(STAGE_CHS[groups], REPEATS)):
            out_chs = make_divisible(c * width_mult, 4 * groups)
            units = []
            for j in range(n):
                units.append(ShuffleNetV1Unit(in_chs, out_chs, 2 if j == 0 else 1, groups=groups,
                                              exp_ratio=0.25, group_first=not (i == 0 and j == 0)))
                in_chs = out_chs
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.num_features = in_chs
        self.classifier = Classifier(self.num_features, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.stages(self.maxpool(self.stem(x))))


def _entry(groups: int):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> ShuffleNetV1:
        return ShuffleNetV1(num_classes, groups, variant=variant, **kwargs)
    return build


# (groups, params M, MACs M, source)
_TABLE2 = "ShuffleNet paper Table 2 (1x MFLOPs); params from the authors' released network code"
_RELEASED = "megvii-model/ShuffleNet-Series ShuffleNetV1 README (released 1.0x models)"
for _g, _p, _m, _src in [(1, 1.53, 143, _TABLE2), (2, 1.73, 140, _TABLE2), (3, 1.9, 138, _RELEASED),
                         (4, 1.97, 133, _TABLE2), (8, 2.4, 138, _RELEASED)]:
    register_model(f"shufflenetv1_g{_g}", params=_p, macs=_m, resolution=224, source=_src)(_entry(_g))
