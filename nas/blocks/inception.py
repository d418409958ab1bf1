"""GoogLeNet's Inception module (Szegedy et al. 2015, "Going Deeper with Convolutions").

Four parallel branches on the same input, concatenated along channels: a 1x1 conv; a 1x1 reduction
then a 3x3 conv; a 1x1 reduction then a 5x5 conv; a 3x3/1 max-pool then a 1x1 projection. Every
conv is followed by BatchNorm and ReLU (torchvision's ``BasicConv2d``; the paper predates BN).
Unlike torchvision's port of the TF-slim checkpoint, the "5x5" branch really uses a 5x5 kernel, as
in the paper's Table 1 and Figure 2(b).

The module only exists at stride 1 (``strides=(1,)``): GoogLeNet keeps every Inception module at
its input resolution and downsamples with separate 3x3/2 max-pools between module groups (Table 1).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct

_WIDTH_NAMES = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


def default_widths(out_chs: int) -> tuple:
    """Table 1's inception(3a) proportions: 1/4 1x1, 1/2 3x3 (reduced 3/4), 1/8 5x5 (reduced 1/2), rest pool."""
    ch1x1 = max(1, out_chs // 4)
    ch3x3 = max(1, out_chs // 2)
    ch5x5 = max(1, out_chs // 8)
    pool_proj = out_chs - ch1x1 - ch3x3 - ch5x5
    if pool_proj < 1:
        raise ValueError(f"Inception: out_chs={out_chs} is too small for four branches")
    return ch1x1, max(1, ch3x3 * 3 // 4), ch3x3, max(1, ch5x5 // 2), ch5x5, pool_proj


_EXAMPLES = [
    dict(in_chs=16, out_chs=32, stride=1),
    # inception(3a) of Table 1 at 1/8 width
    dict(in_chs=24, out_chs=32, stride=1, ch1x1=8, ch3x3red=12, ch3x3=16, ch5x5red=2, ch5x5=4, pool_proj=4),
    dict(in_chs=32, out_chs=32, stride=1, act="relu6"),
]


@BLOCKS.register("inception", examples=_EXAMPLES, strides=(1,))
class Inception(nn.Module):
    """``cat([branch1(x), branch2(x), branch3(x), branch4(x)])`` with ``out_chs`` the sum of the widths.

    The six widths are Table 1's columns ``#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj``
    (torchvision's names). Give all six (their sum must equal ``out_chs``) or none (the proportions
    of inception(3a) are used).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, ch1x1: Optional[int] = None,
                 ch3x3red: Optional[int] = None, ch3x3: Optional[int] = None, ch5x5red: Optional[int] = None,
                 ch5x5: Optional[int] = None, pool_proj: Optional[int] = None, act: str = "relu"):
        super().__init__()
        if stride != 1:
            raise ValueError(f"Inception: stride={stride}; the module has stride 1 only (GoogLeNet downsamples "
                             "with max-pools between modules)")
        given = (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        if all(w is None for w in given):
            widths = default_widths(out_chs)
        elif any(w is None for w in given):
            missing = [n for n, w in zip(_WIDTH_NAMES, given) if w is None]
            raise ValueError(f"Inception: give all six widths or none; missing {', '.join(missing)}")
        else:
            widths = tuple(int(w) for w in given)  # type: ignore[arg-type]
        if any(w < 1 for w in widths):
            raise ValueError(f"Inception: widths must be positive, got {dict(zip(_WIDTH_NAMES, widths))}")
        c1, c3r, c3, c5r, c5, cp = widths
        if c1 + c3 + c5 + cp != out_chs:
            raise ValueError(f"Inception: out_chs={out_chs} but ch1x1 + ch3x3 + ch5x5 + pool_proj = "
                             f"{c1} + {c3} + {c5} + {cp} = {c1 + c3 + c5 + cp}")
        self.widths = widths
        self.branch1 = ConvBnAct(in_chs, c1, 1, act=act)
        self.branch2 = nn.Sequential(ConvBnAct(in_chs, c3r, 1, act=act), ConvBnAct(c3r, c3, 3, act=act))
        self.branch3 = nn.Sequential(ConvBnAct(in_chs, c5r, 1, act=act), ConvBnAct(c5r, c5, 5, act=act))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), ConvBnAct(in_chs, cp, 1, act=act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)
