"""PVANet building blocks (Kim, Hong, Roh, Cheon & Park 2016, "PVANET: Deep but Lightweight Neural
Networks for Real-time Object Detection"; Hong et al. 2016, "PVANet: Lightweight Deep Neural
Networks for Real-time Object Detection").

- C.ReLU unit (paper Fig. 2): ``conv -> BN -> concat(x, -x) -> scale/shift -> ReLU``. The negated
  copy doubles the channels for free; unlike plain C.ReLU (Shang et al. 2016, ``crelu`` in
  ``nas.layers``) the per-channel scale and shift after the concatenation let the two halves have
  their own slope and threshold. ``scale_shift=False`` gives plain C.ReLU (BN with affine, then
  ``crelu``).
- ``pvanet_crelu_block``: the residual C.ReLU block of conv2_x/conv3_x (paper Table 1: "1x1 - 3x3
  C.ReLU - 1x1", e.g. 24-24(x2)-64): 1x1 conv, 3x3 C.ReLU unit (output doubled), 1x1 conv, plus the
  input or a 1x1 projection when the shape changes.
- ``pvanet_inception``: the residual Inception block of conv4_x/conv5_x: a 1x1 branch, a 1x1-3x3
  branch, a 1x1-3x3-3x3 branch (the 5x5 of GoogLeNet as two 3x3) and, at stride 2, a 3x3 max-pool
  - 1x1 branch; concatenated, a 1x1 ``conv_out``, plus the input or a 1x1 projection.

Both follow the authors' released ImageNet model (sanghoon/pva-faster-rcnn,
``models/pvanet/imagenet/pva9.1_preAct_test.prototxt``, "PVA9.1 ImageNet"), which is
pre-activation: each block starts with BN-ReLU of its input (``preact``; the first block after the
stem, whose input is already activated, skips it), convs inside a branch are conv-BN-act, and the
block output is a plain sum (the network ends with a last BN-ReLU). As in that prototxt, a stride-2
block strides its first 1x1 convs (not the 3x3), the C.ReLU block's projection reads the
pre-activated input and the Inception block's projection the raw input. Caffe's ``pad 0`` ceil-mode
3x3/2 max-pool of the Inception block is a ``padding=1`` floor-mode pool here (same output size on
even inputs, and ``ceil(H/2)`` on odd ones).
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import ConvBnAct, create_act, make_divisible


class ConvCReLU(nn.Module):
    """``conv`` -> ``bn`` -> C.ReLU with per-channel ``scale``/``shift``: ``2 * half_chs`` outputs.

    With ``scale_shift`` the BN has no affine of its own (the scale/shift after the concatenation
    takes its place, as in the prototxt); without it the BN is affine and ``act`` is ``crelu``.
    """

    def __init__(self, in_chs: int, half_chs: int, kernel_size: int = 3, stride: int = 1, *,
                 scale_shift: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, half_chs, kernel_size, stride, ((stride - 1) + (kernel_size - 1)) // 2,
                              bias=False)
        self.bn = nn.BatchNorm2d(half_chs, affine=not scale_shift)
        self.scale_shift = scale_shift
        if scale_shift:
            self.scale = nn.Parameter(torch.ones(1, 2 * half_chs, 1, 1))
            self.shift = nn.Parameter(torch.zeros(1, 2 * half_chs, 1, 1))
            self.act = nn.Identity()
        else:
            self.register_parameter("scale", None)
            self.register_parameter("shift", None)
            self.act = create_act("crelu")
        self.out_chs = 2 * half_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        scale, shift = self.scale, self.shift
        if scale is not None and shift is not None:
            return torch.relu_(torch.addcmul(shift, torch.cat([x, -x], 1), scale))
        return self.act(x)


def _preact(chs: int, enabled: bool) -> nn.Module:
    return nn.Sequential(nn.BatchNorm2d(chs), nn.ReLU(inplace=True)) if enabled else nn.Identity()


_CRELU_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1),
    dict(in_chs=16, out_chs=32, stride=2, mid_chs=12),
    dict(in_chs=8, out_chs=16, stride=1, mid_chs=6, preact=False),       # conv2_1: projection, no pre-act
    dict(in_chs=16, out_chs=16, stride=1, kernel_size=5, scale_shift=False),
    dict(in_chs=16, out_chs=24, stride=2, scale_shift=False),
]


@BLOCKS.register("pvanet_crelu_block", examples=_CRELU_EXAMPLES)
class PvaCReLUBlock(nn.Module):
    """``preact -> conv1 (1x1, stride) -> conv2 (KxK C.ReLU, 2 * mid) -> conv3 (1x1) (+ shortcut)``.

    ``mid_chs`` defaults to ``3/8 * out_chs`` (PVANet's 24/64 and 48/128). ``downsample`` is a 1x1
    projection (with bias, as in the prototxt) when stride or channels change.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3,
                 mid_chs: Optional[int] = None, preact: bool = True, scale_shift: bool = True):
        super().__init__()
        mid = int(mid_chs) if mid_chs is not None else make_divisible(out_chs * 3 / 8, 4)
        self.preact = _preact(in_chs, preact)
        self.conv1 = ConvBnAct(in_chs, mid, 1, stride, act="relu")
        self.conv2 = ConvCReLU(mid, mid, kernel_size, scale_shift=scale_shift)
        self.conv3 = nn.Conv2d(2 * mid, out_chs, 1, bias=True)
        self.has_proj = stride != 1 or in_chs != out_chs
        self.downsample = nn.Conv2d(in_chs, out_chs, 1, stride, bias=True) if self.has_proj else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = self.preact(x)
        out = self.conv3(self.conv2(self.conv1(xp)))
        return out + (self.downsample(xp) if self.has_proj else x)


_WIDTH_NAMES = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")

_INCEPTION_EXAMPLES = [
    dict(in_chs=16, out_chs=16, stride=1),
    dict(in_chs=16, out_chs=32, stride=2),
    # conv4_1 / conv4_2 of PVANet at 1/8 width
    dict(in_chs=16, out_chs=32, stride=2, ch1x1=8, ch3x3red=6, ch3x3=16, ch5x5red=3, ch5x5=6, pool_proj=16),
    dict(in_chs=32, out_chs=32, stride=1, ch1x1=8, ch3x3red=8, ch3x3=16, ch5x5red=3, ch5x5=6, preact=False),
]


def default_inception_widths(out_chs: int, stride: int) -> tuple:
    """conv4_x's widths (64, 48|64, 128, 24, 48, 128|0 for 256 outputs) scaled to ``out_chs``."""

    def w(c: float) -> int:
        return max(1, int(round(c * out_chs / 256)))

    if stride == 1:
        return w(64), w(64), w(128), w(24), w(48), 0
    return w(64), w(48), w(128), w(24), w(48), w(128)


@BLOCKS.register("pvanet_inception", examples=_INCEPTION_EXAMPLES)
class PvaInception(nn.Module):
    """``preact -> cat(branches) -> conv_out (1x1)`` (+ shortcut).

    Widths as in GoogLeNet's Inception (``ch5x5red``/``ch5x5`` size the 3x3-3x3 branch, whose two
    3x3 convs are ``ch5x5`` wide); ``pool_proj`` > 0 adds the max-pool branch (PVANet has it only in
    the stride-2 blocks). Give all six widths or none (conv4_x's, scaled to ``out_chs``).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, ch1x1: Optional[int] = None,
                 ch3x3red: Optional[int] = None, ch3x3: Optional[int] = None, ch5x5red: Optional[int] = None,
                 ch5x5: Optional[int] = None, pool_proj: Optional[int] = None, preact: bool = True):
        super().__init__()
        given = (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        if all(v is None for v in given):
            widths = default_inception_widths(out_chs, stride)
        elif pool_proj is None and all(v is not None for v in given[:5]):
            widths = tuple(int(v) for v in given[:5]) + (0,)  # type: ignore[arg-type]
        elif any(v is None for v in given):
            missing = [n for n, v in zip(_WIDTH_NAMES, given) if v is None]
            raise ValueError(f"PvaInception: give the widths (pool_proj may be left out) or none; missing "
                             f"{', '.join(missing)}")
        else:
            widths = tuple(int(v) for v in given)  # type: ignore[arg-type]
        c1, c3r, c3, c5r, c5, cp = widths
        if min(c1, c3r, c3, c5r, c5) < 1 or cp < 0:
            raise ValueError(f"PvaInception: bad widths {dict(zip(_WIDTH_NAMES, widths))}")
        self.widths = widths
        self.preact = _preact(in_chs, preact)
        self.branch1 = ConvBnAct(in_chs, c1, 1, stride)
        self.branch2 = nn.Sequential(ConvBnAct(in_chs, c3r, 1, stride), ConvBnAct(c3r, c3, 3))
        self.branch3 = nn.Sequential(ConvBnAct(in_chs, c5r, 1, stride), ConvBnAct(c5r, c5, 3), ConvBnAct(c5, c5, 3))
        self.has_pool = cp > 0
        if self.has_pool:
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride, 1), ConvBnAct(in_chs, cp, 1))
        else:
            self.branch4 = nn.Identity()
        self.conv_out = nn.Conv2d(c1 + c3 + c5 + cp, out_chs, 1, bias=True)
        self.has_proj = stride != 1 or in_chs != out_chs
        self.downsample = nn.Conv2d(in_chs, out_chs, 1, stride, bias=True) if self.has_proj else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = self.preact(x)
        outs: List[torch.Tensor] = [self.branch1(xp), self.branch2(xp), self.branch3(xp)]
        if self.has_pool:
            outs.append(self.branch4(xp))
        out = self.conv_out(torch.cat(outs, 1))
        return out + (self.downsample(x) if self.has_proj else x)
