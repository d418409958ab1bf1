"""ShuffleNet unit (Zhang, Zhou, Lin and Sun 2018, "ShuffleNet: An Extremely Efficient Convolutional
Neural Network for Mobile Devices", CVPR 2018, Fig. 2(b)/(c)).

``conv_pw`` (group 1x1 + BN + act) -> ``conv_dw`` (depthwise KxK + BN, carries the stride) ->
``shuffle`` -> ``conv_pwl`` (group 1x1 + BN), then

- stride 1: ``act(branch + x)`` (identity shortcut; needs ``in_chs == out_chs``);
- stride 2: ``act(cat([avgpool3x3_s2(x), branch]))``; the branch makes ``out_chs - in_chs`` channels
  so the concat has ``out_chs``. A widening unit at stride 1 (search spaces need one at some stage
  boundaries; the paper widens only at stride 2) takes the same concat form with a stride-1 pool.

The paper draws the shuffle between the first group conv and the depthwise conv; the authors'
released code (megvii-model/ShuffleNet-Series) shuffles after the depthwise conv. The two are the same
function (a depthwise conv commutes with a channel permutation), and shuffling after the strided
depthwise conv moves 4x fewer elements in stride-2 units, so we follow the released code.

Options: ``groups`` (g of the group 1x1 convs), ``exp_ratio`` (bottleneck width as a fraction of
``out_chs``: the paper's 1/4), ``mid_chs`` (explicit bottleneck width), ``group_first`` (False for the
paper's first unit of stage 2, whose 1x1 conv on the 24-channel stem output is not grouped; no shuffle
is needed then, as that conv already mixes every channel), ``kernel_size`` and ``act``. The 3x3
average-pool shortcut has padding 1 so both paths give ``ceil(H / 2)`` at stride 2.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ChannelShuffle, ConvBnAct, create_act, make_divisible

_EXAMPLES = [
    dict(in_chs=24, out_chs=24, stride=1, groups=3),
    dict(in_chs=24, out_chs=48, stride=2, groups=3),
    dict(in_chs=12, out_chs=48, stride=2, groups=4, group_first=False),
    dict(in_chs=16, out_chs=16, stride=1, groups=2, kernel_size=5, act="hswish"),
    dict(in_chs=16, out_chs=32, stride=2, groups=1, exp_ratio=0.5, kernel_size=7),
    dict(in_chs=32, out_chs=32, stride=1, groups=8, mid_chs=16),
    dict(in_chs=16, out_chs=24, stride=1, groups=2),
]


@BLOCKS.register("shufflenet_v1_unit", examples=_EXAMPLES)
class ShuffleNetV1Unit(nn.Module):
    """ShuffleNet (v1) unit; bottleneck ``mid_chs`` defaults to ``out_chs * exp_ratio`` rounded to a
    multiple of ``groups``."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, groups: int = 3, exp_ratio: float = 0.25,
                 mid_chs: int | None = None, group_first: bool = True, kernel_size: int = 3, act: str = "relu"):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleNetV1Unit: stride must be 1 or 2, got {stride}")
        self.residual = stride == 1 and in_chs == out_chs
        branch_chs = out_chs if self.residual else out_chs - in_chs
        if branch_chs <= 0:
            raise ValueError(f"ShuffleNetV1Unit: a unit that changes shape concatenates its input, so out_chs "
                             f"({out_chs}) must exceed in_chs ({in_chs})")
        mid = int(mid_chs) if mid_chs is not None else make_divisible(out_chs * exp_ratio, groups)
        first_groups = groups if group_first else 1
        for name, chs, g in (("in_chs", in_chs, first_groups), ("bottleneck channels", mid, groups),
                             ("branch output channels", branch_chs, groups)):
            if chs % g:
                raise ValueError(f"ShuffleNetV1Unit: {name}={chs} is not divisible by groups={g}")
        self.stride = stride
        self.conv_pw = ConvBnAct(in_chs, mid, 1, groups=first_groups, act=act)
        self.conv_dw = ConvBnAct(mid, mid, kernel_size, stride, groups=mid, act=None)
        self.shuffle = ChannelShuffle(groups) if groups > 1 and group_first else nn.Identity()
        self.conv_pwl = ConvBnAct(mid, branch_chs, 1, groups=groups, act=None)
        self.shortcut = nn.Identity() if self.residual else nn.AvgPool2d(3, stride, 1)
        self.act = create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pwl(self.shuffle(self.conv_dw(self.conv_pw(x))))
        if self.residual:
            return self.act(y + x)
        return self.act(torch.cat([self.shortcut(x), y], 1))
