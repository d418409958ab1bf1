"""MobileNetV3 Large and Small (Howard et al. 2019, "Searching for MobileNetV3"), Tables 1 and 2.

MBConv rows ``(kernel, expansion width, out, SE, activation, stride)``; SE squeezes to
``make_divisible(exp / 4, 8)`` with a hard-sigmoid gate; the head is a 1x1 conv with BN, global pool,
then a 1x1 "conv" (a linear layer, no BN) with h-swish and the classifier, as the paper's tables show.
Paper: Large 219M MAdds / 5.4M params, Small 56M / 2.5M. CIFAR form: stem stride 1 and the first
stride-2 block at stride 1 (32x32 -> 2x2 for Large). ``width_mult`` scales every layer by
rounding to multiples of 8; only the 1.0 models are registered, since the paper's 0.75 figures come
from a released variant that keeps some layers unscaled, which this builder does not reproduce.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.mbconv import MBConv
from nas.layers import ConvBnAct, create_act, make_divisible
from nas.layers.classifier import init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

LARGE = [
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2), (3, 200, 80, False, "hswish", 1), (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1), (3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1),
]
SMALL = [
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1), (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1),
]
CONFIGS = {"large": (LARGE, 960, 1280), "small": (SMALL, 576, 1024)}


class MobileNetV3(nn.Module):
    def __init__(self, mode: str = "large", num_classes: int = 1000, width_mult: float = 1.0,
                 variant: str = "imagenet", dropout: float = 0.2):
        super().__init__()
        cifar = is_cifar(variant)
        rows, last_conv, last_fc = CONFIGS[mode]
        in_chs = make_divisible(16 * width_mult)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2, act="hswish")
        blocks, reduced = [], False
        for k, exp, out, se, act, s in rows:
            if cifar and s == 2 and not reduced:
                s, reduced = 1, True
            out_chs = make_divisible(out * width_mult)
            blocks.append(MBConv(in_chs, out_chs, s, kernel_size=k, mid_chs=make_divisible(exp * width_mult),
                                 se_ratio=0.25 if se else 0.0, act=act, se_gate="hsigmoid", se_divisor=8))
            in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBnAct(in_chs, make_divisible(last_conv * width_mult), 1, act="hswish")
        self.fc_head = nn.Linear(self.head.out_chs, last_fc)
        self.act = create_act("hswish")
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_fc, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x))).mean((2, 3))
        return self.classifier(self.dropout(self.act(self.fc_head(x))))


def _entry(mode: str, width: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> MobileNetV3:
        return MobileNetV3(mode, num_classes, width, variant, **kwargs)
    return build


for _name, _mode, _w, _p, _m, _src in [
    ("mobilenetv3_large_100", "large", 1.0, 5.4, 219, "MobileNetV3 paper Table 3"),
    ("mobilenetv3_small_100", "small", 1.0, 2.5, 56, "MobileNetV3 paper Table 4 (released code: 2.54M)"),
]:
    register_model(_name, params=_p, macs=_m, source=_src)(_entry(_mode, _w))
