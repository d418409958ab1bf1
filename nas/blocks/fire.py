"""Fire module (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size").

A 1x1 "squeeze" conv + ReLU narrows the channels, then two "expand" convs (1x1 and 3x3) read the
squeezed map and their outputs are concatenated: ``out_chs = e1x1 + e3x3``. The paper's
hyper-parameters are the squeeze ratio ``SR = s1x1 / (e1x1 + e3x3)`` (0.125 in SqueezeNet) and
``pct_3x3 = e3x3 / (e1x1 + e3x3)`` (0.5 in SqueezeNet).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, create_act

_EXAMPLES = [
    dict(in_chs=16, out_chs=32, stride=1),
    dict(in_chs=32, out_chs=32, stride=1, squeeze_ratio=0.25, pct_3x3=0.75),
    dict(in_chs=24, out_chs=48, stride=1, squeeze_chs=8, bn=True),
    dict(in_chs=16, out_chs=24, stride=1, pct_3x3=0.0),
]


@BLOCKS.register("fire", examples=_EXAMPLES, strides=(1,))
class Fire(nn.Module):
    """``squeeze`` (1x1, act) -> [``expand1x1`` (1x1) | ``expand3x3`` (3x3)] -> concat -> act.

    Stride 1 only: SqueezeNet never strides inside a Fire module; it downsamples with separate
    max-pool layers between Fire modules (Strategy 3 of the paper, "downsample late").

    ``squeeze_chs`` overrides ``max(1, round(out_chs * squeeze_ratio))``; ``e3x3 = round(out_chs *
    pct_3x3)`` and ``e1x1 = out_chs - e3x3`` (either may be 0, which drops that branch). The two
    expand convs carry no activation of their own: one in-place activation runs on the concatenated
    map, which equals applying it to each branch (an element-wise op commutes with the concat) and
    saves a kernel launch. ``bn`` adds BatchNorm after every conv (the paper has none; convs then
    carry a bias, as in the reference models).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, squeeze_ratio: float = 0.125,
                 squeeze_chs: int | None = None, pct_3x3: float = 0.5, act: str = "relu", bn: bool = False):
        super().__init__()
        if stride != 1:
            raise ValueError(f"Fire: stride must be 1 (SqueezeNet downsamples with max-pools), got {stride}")
        if not 0.0 <= pct_3x3 <= 1.0:
            raise ValueError(f"Fire: pct_3x3 must be in [0, 1], got {pct_3x3}")
        sq = int(squeeze_chs) if squeeze_chs is not None else max(1, int(round(out_chs * squeeze_ratio)))
        e3 = int(round(out_chs * pct_3x3))
        e1 = out_chs - e3
        self.squeeze_chs, self.e1x1, self.e3x3 = sq, e1, e3
        self.squeeze = ConvBnAct(in_chs, sq, 1, act=act, bn=bn)
        self.expand1x1 = ConvBnAct(sq, e1, 1, act=None, bn=bn) if e1 > 0 else nn.Identity()
        self.expand3x3 = ConvBnAct(sq, e3, 3, act=None, bn=bn) if e3 > 0 else nn.Identity()
        self.has_e1, self.has_e3 = e1 > 0, e3 > 0
        self.act = create_act(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        if self.has_e1 and self.has_e3:
            out = torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)
        elif self.has_e1:
            out = self.expand1x1(x)
        else:
            out = self.expand3x3(x)
        return self.act(out)
