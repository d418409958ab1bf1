"""Inverted residual with linear bottleneck (MBConv).

- MobileNetV2 (Sandler et al. 2018): 1x1 expansion, depthwise KxK, linear 1x1 projection,
  residual when stride 1 and channels kept;
- MobileNetV3 (Howard et al. 2019): optional squeeze-excite after the depthwise conv with a
  hard-sigmoid gate, h-swish activations;
- MNASNet (Tan et al. 2019): SE reduced from the block's input channels;
- FBNet (Wu et al. 2019): kernel 3/5, expansion 1/3/6 and group-2 pointwise convs with a channel
  shuffle after the expansion (the ``g2`` candidates).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ChannelShuffle, ConvBnAct, SqueezeExcite

_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1, kernel_size=3, exp_ratio=6),
    dict(in_chs=16, out_chs=24, stride=2, kernel_size=5, exp_ratio=3, act="relu6"),
    dict(in_chs=16, out_chs=16, stride=1, kernel_size=3, exp_ratio=1, groups=2),
    dict(in_chs=16, out_chs=24, stride=2, kernel_size=5, exp_ratio=1, groups=2),
    dict(in_chs=16, out_chs=24, stride=2, kernel_size=7, exp_ratio=4, se_ratio=0.25, act="hswish",
         se_gate="hsigmoid", se_divisor=8),
    dict(in_chs=16, out_chs=16, stride=1, kernel_size=3, exp_ratio=6, se_ratio=0.25, se_from_input=True),
]


@BLOCKS.register("mbconv", examples=_EXAMPLES)
class MBConv(nn.Module):
    """``conv_pw -> [shuffle] -> conv_dw -> [se] -> conv_pwl (+ shortcut)``.

    ``mid_chs`` overrides ``round(in_chs * exp_ratio)`` (MobileNetV3 lists expansion widths).
    The expansion conv is left out when ``mid_chs == in_chs`` unless ``pw_always`` is set.
    ``groups`` applies to both pointwise convs (FBNet ``g2``); a channel shuffle follows the first.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3,
                 exp_ratio: float = 6.0, se_ratio: float = 0.0, act: str = "relu", groups: int = 1,
                 mid_chs: int | None = None, pw_always: bool = False, se_from_input: bool = False,
                 se_divisor: int = 1, se_act: str = "relu", se_gate: str = "sigmoid",
                 residual: bool = True, dilation: int = 1):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else int(round(in_chs * exp_ratio))
        for name, chs in (("in_chs", in_chs), ("out_chs", out_chs), ("expanded channels", mid)):
            if chs % groups:
                raise ValueError(f"MBConv: {name}={chs} is not divisible by groups={groups}")
        self.has_skip = bool(residual and stride == 1 and in_chs == out_chs)
        if mid != in_chs or pw_always:
            self.conv_pw = ConvBnAct(in_chs, mid, 1, groups=groups, act=act)
        else:
            self.conv_pw = nn.Identity()
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.conv_dw = ConvBnAct(mid, mid, kernel_size, stride, groups=mid, act=act, dilation=dilation)
        if se_ratio > 0:
            self.se = SqueezeExcite(mid, se_ratio=se_ratio, rd_base=in_chs if se_from_input else mid,
                                    divisor=se_divisor, act=se_act, gate=se_gate)
        else:
            self.se = nn.Identity()
        self.conv_pwl = ConvBnAct(mid, out_chs, 1, groups=groups, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pwl(self.se(self.conv_dw(self.shuffle(self.conv_pw(x)))))
        if self.has_skip:
            out = out + x
        return out
