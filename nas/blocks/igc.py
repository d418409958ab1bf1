"""Interleaved group convolutions.

- IGCV1 (Zhang, Qi, Xiao & Wang 2017, "Interleaved Group Convolutions for Deep Neural Networks"):
  a primary KxK group conv with ``L`` partitions of ``M`` channels, a permutation that gathers the
  m-th channel of every primary partition into secondary partition m, a secondary 1x1 group conv
  with ``M`` partitions of ``L`` channels, and the permutation back. Two of them (BN after each,
  ReLU after the first) with a shortcut make the residual building block of the paper's IGC
  networks; as in the authors' released MXNet code (hellozting/InterleavedGroupConvolutions,
  ``resnet_igc.py``) the shortcut of a reshaping block is a 1x1 group conv (``L`` groups) + BN and a
  ReLU follows the sum.
- IGCV3 (Sun, Li, Liu & Wang 2018, "IGCV3: Interleaved Low-Rank Group Convolutions for Efficient
  Deep Neural Networks"): MobileNetV2's inverted bottleneck whose two 1x1 convs are low-rank group
  convs (``G1 = G2 = 2`` in IGCV3-D), with a permutation (channel shuffle) after the expanding group
  conv so the reducing group conv sees channels of both expansion groups. Following the released
  code and pretrained model (homles11/IGCV3, ``symbols/igcv3.py`` and ``models/igcv3-symbol.json``)
  the expanding group conv is linear (BN, no activation); ReLU6 follows only the depthwise conv and
  the bottleneck is linear; the released model has no permutation after the reducing conv.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ChannelShuffle, ConvBnAct, channel_shuffle, create_act


def _check_divisible(block: str, groups: int, **chs: int) -> None:
    for name, value in chs.items():
        if value % groups:
            raise ValueError(f"{block}: {name}={value} is not divisible by groups={groups}")


class InterleavedGroupConv(nn.Module):
    """One IGCV1 unit: ``conv_primary`` (KxK, ``L`` groups) -> permute -> ``conv_secondary`` (1x1,
    ``M = out_chs / L`` groups) -> permute back -> ``bn`` -> ``act``.

    Channel ``l * M + m`` belongs to primary partition ``l``; the permutation puts it at ``m * L + l``
    so secondary partition ``m`` holds one channel of every primary partition.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, groups: int = 4,
                 act: str | None = "relu"):
        super().__init__()
        _check_divisible("InterleavedGroupConv", groups, in_chs=in_chs, out_chs=out_chs)
        self.primary_groups = groups
        self.secondary_groups = out_chs // groups
        self.conv_primary = nn.Conv2d(in_chs, out_chs, kernel_size, stride, ((stride - 1) + (kernel_size - 1)) // 2,
                                      groups=groups, bias=False)
        self.conv_secondary = nn.Conv2d(out_chs, out_chs, 1, groups=self.secondary_groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = create_act(act, inplace=True)
        # A permutation with one group (or one channel per group) is the identity.
        self.permute = groups > 1 and self.secondary_groups > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_primary(x)
        if self.permute:
            x = channel_shuffle(x, self.primary_groups)
        x = self.conv_secondary(x)
        if self.permute:
            x = channel_shuffle(x, self.secondary_groups)
        return self.act(self.bn(x))


_IGCV1_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1, groups=4),
    dict(in_chs=16, out_chs=32, stride=2, groups=8),
    dict(in_chs=24, out_chs=24, stride=1, groups=12),                  # M = 2 (IGC-L24M2 style)
    dict(in_chs=16, out_chs=16, stride=1, groups=16, kernel_size=5),   # M = 1: depthwise primary
    dict(in_chs=8, out_chs=16, stride=2, groups=2, act="relu6"),
]


@BLOCKS.register("igcv1_block", examples=_IGCV1_EXAMPLES)
class IGCV1Block(nn.Module):
    """Residual block of two interleaved group convs: ``act(conv2(conv1(x)) + shortcut(x))``.

    ``groups`` is the number ``L`` of primary partitions; ``M = out_chs / L``. ``conv1`` carries the
    stride and an activation, ``conv2`` is linear; ``downsample`` (1x1 conv with ``L`` groups + BN)
    replaces the identity when the shape changes, as in the released code.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, groups: int = 4,
                 act: str = "relu"):
        super().__init__()
        _check_divisible("IGCV1Block", groups, in_chs=in_chs, out_chs=out_chs)
        self.conv1 = InterleavedGroupConv(in_chs, out_chs, stride, kernel_size=kernel_size, groups=groups, act=act)
        self.conv2 = InterleavedGroupConv(out_chs, out_chs, 1, kernel_size=kernel_size, groups=groups, act=None)
        if stride == 1 and in_chs == out_chs:
            self.downsample = nn.Identity()
        else:
            self.downsample = ConvBnAct(in_chs, out_chs, 1, stride, groups=groups, act=None)
        self.act = create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.downsample(x))


_IGCV3_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1),
    dict(in_chs=16, out_chs=24, stride=2),
    dict(in_chs=32, out_chs=16, stride=1, exp_ratio=1),                # IGCV3-D's first block
    dict(in_chs=16, out_chs=32, stride=2, kernel_size=5, exp_ratio=3, groups=4),
    dict(in_chs=24, out_chs=24, stride=1, mid_chs=72, act="relu"),
]


@BLOCKS.register("igcv3_block", examples=_IGCV3_EXAMPLES)
class IGCV3Block(nn.Module):
    """``conv_pw`` (1x1, ``groups``, linear) -> ``shuffle`` -> ``conv_dw`` (KxK, act) -> ``conv_pwl``
    (1x1, ``groups``, linear) (+ identity when stride 1 and channels kept).

    ``mid_chs`` overrides ``round(in_chs * exp_ratio)``. Unlike MBConv the expansion conv is kept at
    ``exp_ratio=1`` (IGCV3-D's first block has it) and has no activation.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, exp_ratio: float = 6.0,
                 act: str = "relu6", groups: int = 2, mid_chs: int | None = None):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else int(round(in_chs * exp_ratio))
        _check_divisible("IGCV3Block", groups, in_chs=in_chs, out_chs=out_chs, mid_chs=mid)
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_pw = ConvBnAct(in_chs, mid, 1, groups=groups, act=None)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.conv_dw = ConvBnAct(mid, mid, kernel_size, stride, groups=mid, act=act)
        self.conv_pwl = ConvBnAct(mid, out_chs, 1, groups=groups, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pwl(self.conv_dw(self.shuffle(self.conv_pw(x))))
        if self.has_skip:
            out = out + x
        return out
