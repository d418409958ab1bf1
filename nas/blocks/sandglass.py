"""Sandglass block of MobileNeXt (Zhou et al. 2020, "Rethinking Bottleneck Structure for Efficient
Mobile Network Design", ECCV 2020).

Paper Table 1 / Fig. 3(b): ``dw KxK + BN + ReLU6 -> 1x1 reduce + BN (linear) -> 1x1 expand + BN + ReLU6
-> dw KxK + BN (linear, carries the stride)``, with the identity shortcut between the wide ends when
the shape is kept. Where the paper and the authors' released code (``SGBlock`` in
yitu-opensource/MobileNeXt, mirrored in zhoudaquan/rethinking_bottleneck_design) differ, we follow
the code:

- reduced width: ``in_chs // exp_ratio``, but at least ``ceil(out_chs / 6)`` rounded to a multiple of
  16 (the released rule);
- blocks that change the channel count are thinned unless told to keep both depthwise convs
  (the code's ``keep_3x3``; here ``keep_dw``): the leading depthwise conv is dropped, and the trailing
  one too when the block does not stride. ``keep_dw=True`` (default) is the paper's full block;
  blocks with ``in_chs == out_chs`` are always full;
- the full identity tensor is added (the code's ``identity_div = 1``, i.e. tensor multiplier 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, make_divisible


def sandglass_mid_chs(in_chs: int, out_chs: int, exp_ratio: float) -> int:
    """Reduced width of the released code: ``in // t``, at least ``ceil(out / 6)`` rounded to 16."""
    mid = int(in_chs // exp_ratio)
    if mid < out_chs / 6.0:
        mid = make_divisible(math.ceil(out_chs / 6.0), 16)
    return max(1, mid)


@BLOCKS.register("sandglass", examples=[
    dict(in_chs=32, out_chs=32, stride=1, exp_ratio=6),
    dict(in_chs=16, out_chs=32, stride=2, exp_ratio=2),
    dict(in_chs=16, out_chs=24, stride=1, exp_ratio=4, keep_dw=False),
    dict(in_chs=16, out_chs=24, stride=2, exp_ratio=4, keep_dw=False),
    dict(in_chs=24, out_chs=24, stride=1, exp_ratio=6, kernel_size=5, act="relu"),
])
class Sandglass(nn.Module):
    """``conv_dw -> conv_pwl (reduce, linear) -> conv_pw (expand) -> conv_dwl (linear, stride)`` (+ x).

    ``exp_ratio`` is the reduction ratio ``t`` of the paper (hidden = in / t); ``mid_chs`` overrides the
    released rounding rule.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, exp_ratio: float = 6.0,
                 kernel_size: int = 3, act: str = "relu6", mid_chs: int | None = None, keep_dw: bool = True):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else sandglass_mid_chs(in_chs, out_chs, exp_ratio)
        full = keep_dw or in_chs == out_chs
        self.has_skip = stride == 1 and in_chs == out_chs
        if full:
            self.conv_dw = ConvBnAct(in_chs, in_chs, kernel_size, 1, groups=in_chs, act=act)
        else:
            self.conv_dw = nn.Identity()
        self.conv_pwl = ConvBnAct(in_chs, mid, 1, act=None)
        self.conv_pw = ConvBnAct(mid, out_chs, 1, act=act)
        if full or stride != 1:
            self.conv_dwl = ConvBnAct(out_chs, out_chs, kernel_size, stride, groups=out_chs, act=None)
        else:
            self.conv_dwl = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_dwl(self.conv_pw(self.conv_pwl(self.conv_dw(x))))
        if self.has_skip:
            out = out + x
        return out
