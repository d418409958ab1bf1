"""Depthwise-separable convolutions.

- MobileNet V1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
  Vision Applications"), Fig. 3: depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU
  (``dw_separable``).
- Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions"):
  depthwise then pointwise with *no* activation in between, BN after the pointwise conv
  (``xception_sepconv``), and the residual module of the paper's Fig. 5 (``xception_block``):
  ``reps`` x (ReLU -> SeparableConv -> BN), a 3x3 stride-2 max-pool when striding, and a strided
  1x1 conv + BN shortcut whenever the shape changes (identity otherwise).

Width multipliers belong to the models; these blocks take explicit channel counts.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, create_act


@BLOCKS.register("dw_separable", examples=[
    dict(in_chs=16, out_chs=24, stride=1),
    dict(in_chs=16, out_chs=32, stride=2),
    dict(in_chs=16, out_chs=16, stride=2, kernel_size=5, act="relu6"),
])
class DepthwiseSeparable(nn.Module):
    """MobileNet V1 layer: ``conv_dw`` (KxK depthwise, stride, BN, act) -> ``conv_pw`` (1x1, BN, act).

    No residual, as in the paper.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3,
                 act: str = "relu"):
        super().__init__()
        self.conv_dw = ConvBnAct(in_chs, in_chs, kernel_size, stride, groups=in_chs, act=act)
        self.conv_pw = ConvBnAct(in_chs, out_chs, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pw(self.conv_dw(x))


@BLOCKS.register("xception_sepconv", examples=[
    dict(in_chs=16, out_chs=24, stride=1),
    dict(in_chs=16, out_chs=24, stride=2, preact=True),
    dict(in_chs=16, out_chs=16, stride=1, preact=True, kernel_size=5),
    dict(in_chs=16, out_chs=32, stride=2, act=None),
])
class XceptionSepConv(nn.Module):
    """Xception's SeparableConv + BN: ``conv_dw`` (KxK depthwise) -> ``conv_pw`` (1x1) -> ``bn``.

    There is no norm or activation between the depthwise and the pointwise conv (the paper finds
    an intermediate non-linearity hurts). The activation comes after ``bn`` (``preact=False``,
    exit-flow style ``SepConv -> BN -> ReLU``) or before ``conv_dw`` (``preact=True``, the
    ``ReLU -> SepConv -> BN`` order of the residual modules). ``act=None`` makes it linear.
    A stride, if any, is taken by the depthwise conv (Xception itself strides with max-pooling).

    ``preact_inplace`` lets the pre-activation overwrite its input; only safe when the caller does
    not reuse that tensor (``xception_block`` sets it on every unit but the first).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3,
                 act: str | None = "relu", preact: bool = False, preact_inplace: bool = False,
                 dilation: int = 1):
        super().__init__()
        self.pre_act = create_act(act, inplace=preact_inplace) if preact else nn.Identity()
        padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        self.conv_dw = nn.Conv2d(in_chs, in_chs, kernel_size, stride, padding, dilation=dilation,
                                 groups=in_chs, bias=False)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = nn.Identity() if preact else create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv_pw(self.conv_dw(self.pre_act(x)))))


@BLOCKS.register("xception_block", examples=[
    dict(in_chs=16, out_chs=16, stride=1, reps=3),
    dict(in_chs=16, out_chs=32, stride=2, reps=2, start_with_relu=False),
    dict(in_chs=16, out_chs=24, stride=1, reps=2),
    dict(in_chs=24, out_chs=32, stride=2, reps=2, grow_first=False),
])
class XceptionBlock(nn.Module):
    """Xception residual module (Fig. 5): ``rep`` = reps x (ReLU -> SepConv -> BN) [-> max-pool].

    - ``grow_first``: the first SepConv maps ``in_chs -> out_chs`` (entry/middle flow); otherwise the
      last one does (the exit-flow module 728 -> 728 -> 1024).
    - ``start_with_relu=False`` drops the leading ReLU (the first entry-flow module, whose input
      already went through the stem's ReLU).
    - ``stride`` 2 ends ``rep`` with a 3x3 stride-2 max-pool (padding 1, i.e. "same"), and the
      ``shortcut`` is then a strided 1x1 conv + BN; it is also used when the channels change.

    The first ReLU is not in-place because the shortcut reads the block input.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, reps: int = 2, kernel_size: int = 3,
                 act: str = "relu", start_with_relu: bool = True, grow_first: bool = True):
        super().__init__()
        if reps < 1:
            raise ValueError(f"XceptionBlock: reps must be >= 1, got {reps}")
        widths = []
        chs = in_chs
        for i in range(reps):
            grow = (i == 0) if grow_first else (i == reps - 1)
            nxt = out_chs if grow else chs
            widths.append((chs, nxt))
            chs = nxt
        units = []
        for i, (ci, co) in enumerate(widths):
            unit_act = act if (start_with_relu or i > 0) else None
            units.append(XceptionSepConv(ci, co, 1, kernel_size=kernel_size, act=unit_act, preact=True,
                                         preact_inplace=i > 0))
        self.rep = nn.Sequential(*units)
        self.pool = nn.MaxPool2d(3, stride, 1) if stride != 1 else nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.shortcut = ConvBnAct(in_chs, out_chs, 1, stride, act=None)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.rep(x)) + self.shortcut(x)
