"""ShuffleNet V2 unit (Ma, Zhang, Zheng and Sun 2018, "ShuffleNet V2: Practical Guidelines for
Efficient CNN Architecture Design", ECCV 2018, Fig. 3(c)/(d)).

- stride 1: channel split in half; the left half is kept, the right half goes through
  ``conv_pw`` (1x1 + BN + act) -> ``conv_dw`` (depthwise KxK + BN) -> ``conv_pwl`` (1x1 + BN + act);
  concat, channel shuffle (2 groups).
- stride 2, or a change of width at stride 1 (which search spaces need at stage boundaries; the
  paper only changes width at stride 2): no split; left branch ``proj_dw`` (depthwise KxK stride 2 + BN) -> ``proj_pw``
  (1x1 + BN + act), right branch as above with the depthwise conv at stride 2; concat, shuffle.

Branch widths at stride 2 follow the authors' released code (megvii-model/ShuffleNet-Series): the left
branch keeps ``in_chs`` channels and the right branch makes ``out_chs - in_chs`` (bottleneck
``out_chs / 2``). The paper only fixes the case ``out_chs = 2 * in_chs``, where both give halves; the
released rule differs only in the first unit after the stem (24 -> 116 at 1x: 24 + 92 channels). We cap
the left branch at ``out_chs / 2`` so a unit that does not widen (possible in a search space) is
balanced instead of starving the right branch; every released configuration is unaffected.

The block's output is exactly ``channel_shuffle(cat([left, right]), 2)``. When both halves have the same
width (every unit but the first after the stem) it is formed in one copy as
``stack([left, right], dim=2).flatten(1, 2)``, which interleaves the channels the way the shuffle
does, instead of a concat followed by a shuffle copy. (The authors' code fuses the shuffle into the
next unit's split instead; both are the same network up to a fixed channel permutation.)

Options: ``kernel_size`` of both depthwise convs (3/5/7 in search spaces built on this unit, e.g.
Single Path One-Shot, Guo et al. 2020) and ``act``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, channel_shuffle

_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1),
    dict(in_chs=16, out_chs=32, stride=2),
    dict(in_chs=8, out_chs=30, stride=2, kernel_size=5),
    dict(in_chs=24, out_chs=24, stride=1, kernel_size=7, act="hswish"),
    dict(in_chs=32, out_chs=24, stride=2, kernel_size=7),
    dict(in_chs=16, out_chs=24, stride=1),
]


@BLOCKS.register("shufflenet_v2_unit", examples=_EXAMPLES)
class ShuffleNetV2Unit(nn.Module):
    """ShuffleNet V2 basic unit (stride 1) and down-sampling unit (stride 2)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, act: str = "relu"):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleNetV2Unit: stride must be 1 or 2, got {stride}")
        if out_chs % 2:
            raise ValueError(f"ShuffleNetV2Unit: out_chs ({out_chs}) must be even (concat of two branches "
                             f"shuffled in 2 groups)")
        self.split_input = stride == 1 and in_chs == out_chs
        if self.split_input:
            left_chs = in_chs // 2
            branch_in = in_chs - left_chs
        else:
            left_chs = min(in_chs, out_chs // 2)
            branch_in = in_chs
        right_chs = out_chs - left_chs
        mid = out_chs // 2
        self.stride = stride
        self.split = left_chs
        self.interleave = left_chs == right_chs
        if not self.split_input:
            self.proj_dw = ConvBnAct(in_chs, in_chs, kernel_size, stride, groups=in_chs, act=None)
            self.proj_pw = ConvBnAct(in_chs, left_chs, 1, act=act)
        else:
            self.proj_dw = nn.Identity()
            self.proj_pw = nn.Identity()
        self.conv_pw = ConvBnAct(branch_in, mid, 1, act=act)
        self.conv_dw = ConvBnAct(mid, mid, kernel_size, stride, groups=mid, act=None)
        self.conv_pwl = ConvBnAct(mid, right_chs, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split_input:
            left = x[:, : self.split]
            right = x[:, self.split:]
        else:
            left = self.proj_pw(self.proj_dw(x))
            right = x
        right = self.conv_pwl(self.conv_dw(self.conv_pw(right)))
        if self.interleave:
            # cat + 2-group shuffle in one copy: output channel 2i is left[i], 2i + 1 is right[i]
            return torch.stack([left, right], 2).flatten(1, 2)
        return channel_shuffle(torch.cat([left, right], 1), 2)
