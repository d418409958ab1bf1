"""MobileNet V1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications").

Table 1's body: a 3x3 stride-2 conv to 32 channels, then 13 depthwise-separable layers
(``dw_separable``: dw 3x3 + BN + ReLU, pw 1x1 + BN + ReLU), global average pool and a 1000-way FC.
The width multiplier alpha scales every layer (rounded to multiples of 8, which leaves the paper's
widths for alpha in {1, 0.75, 0.5, 0.25} unchanged); the resolution multiplier rho only changes the
input size, so the builders accept ``resolution`` (pixels) or ``rho`` (fraction of 224) and record it
as ``model.resolution``, the input size the model is meant for.

Registered figures are the paper's Table 6/7 (MACs / params: 1.0: 569M/4.2M, 0.75: 325M/2.6M,
0.5: 149M/1.3M, 0.25: 41M/0.5M) at 224 px, except two rounded parameter counts that the exact count
misses by more than 2%: 0.5 (paper 1.3M, exact 1.33M) and 0.25 (paper 0.5M, exact 0.47M). For
those we register the released TF-slim mobilenet_v1 table's figures, 1.34M and 0.47M.

CIFAR form (as in common CIFAR ports, e.g. kuangliu/pytorch-cifar): stem at stride 1, the four
stride-2 separable layers kept, so 32x32 -> 2x2 before pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.separable import DepthwiseSeparable
from nas.layers import ConvBnAct, make_divisible
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

# (out channels, stride) of the 13 depthwise-separable layers (Table 1).
LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, variant: str = "imagenet",
                 dropout: float = 0.0, resolution: int | None = None, rho: float | None = None):
        super().__init__()
        cifar = is_cifar(variant)
        native = 32 if cifar else 224
        if rho is not None:
            if resolution is not None:
                raise ValueError("MobileNetV1: give either resolution or rho, not both")
            if not 0 < rho <= 1:
                raise ValueError(f"MobileNetV1: rho must be in (0, 1], got {rho}")
            resolution = int(round(native * rho))
        self.resolution = int(resolution) if resolution is not None else native
        self.width_mult = width_mult
        in_chs = make_divisible(32 * width_mult)
        self.stem = ConvBnAct(3, in_chs, 3, 1 if cifar else 2, act="relu")
        blocks = []
        for c, s in LAYERS:
            out_chs = make_divisible(c * width_mult)
            blocks.append(DepthwiseSeparable(in_chs, out_chs, s, kernel_size=3, act="relu"))
            in_chs = out_chs
        self.blocks = nn.Sequential(*blocks)
        self.num_features = in_chs
        self.classifier = Classifier(in_chs, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)))


def _entry(width: float):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> MobileNetV1:
        return MobileNetV1(num_classes, kwargs.pop("width_mult", width), variant, **kwargs)
    return build


# (name, width, params M, MACs M): paper Table 6 (1.0) and Table 7 (alpha sweep) at 224 px.
for _name, _w, _p, _m, _src in [
    ("mobilenetv1_100", 1.0, 4.2, 569, "MobileNetV1 paper Table 6/7"),
    ("mobilenetv1_075", 0.75, 2.6, 325, "MobileNetV1 paper Table 7"),
    ("mobilenetv1_050", 0.5, 1.34, 149,
     "MobileNetV1 paper Table 7 (MACs); params 1.34M from the released TF-slim mobilenet_v1 table"),
    ("mobilenetv1_025", 0.25, 0.47, 41,
     "MobileNetV1 paper Table 7 (MACs); params 0.47M from the released TF-slim mobilenet_v1 table"),
]:
    register_model(_name, params=_p, macs=_m, resolution=224, source=_src)(_entry(_w))
