"""Convolution + BatchNorm + activation, and channel rounding (MobileNetV2's ``_make_divisible``)."""

from __future__ import annotations

from torch import nn

from nas.layers.activations import create_act


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` without going more than 10% below it."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return int(rounded)


class ConvBnAct(nn.Sequential):
    """``conv -> bn -> act`` with "same" padding; submodules are named ``conv``, ``bn``, ``act``.

    ``act=None`` gives a linear (no activation) layer, ``bn=False`` drops the norm and adds a bias.
    """

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1, *,
                 groups: int = 1, act: str | None = "relu", bn: bool = True, dilation: int = 1,
                 padding: int | None = None, bias: bool | None = None, inplace: bool = True):
        super().__init__()
        if padding is None:
            padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, dilation=dilation,
                              groups=groups, bias=(not bn) if bias is None else bias)
        self.bn = nn.BatchNorm2d(out_chs) if bn else nn.Identity()
        self.act = create_act(act, inplace=inplace)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
