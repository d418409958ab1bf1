"""Plain convolution block: KxK conv + BN + activation.

The "regular conv" op of MNASNet's factorized space (Tan et al. 2019, "MnasNet: Platform-Aware
Neural Architecture Search for Mobile"), and the stem/head convs of most networks.
"""

from __future__ import annotations

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct


@BLOCKS.register("conv", examples=[dict(in_chs=8, out_chs=16, stride=1), dict(in_chs=8, out_chs=16, stride=2,
                                                                                kernel_size=5, act="hswish"),
                                   dict(in_chs=8, out_chs=16, stride=1, kernel_size=1, groups=2, act=None)])
class Conv(ConvBnAct):
    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3,
                 act: str | None = "relu", groups: int = 1):
        super().__init__(in_chs, out_chs, kernel_size, stride, groups=groups, act=act)
