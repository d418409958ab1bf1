"""DenseNet blocks (Huang et al. 2017, "Densely Connected Convolutional Networks").

- dense layer (DenseNet-BC's bottleneck layer): ``BN-ReLU-1x1 conv (bn_size * k) - BN-ReLU-3x3 conv (k)``,
  whose ``k`` new feature maps are concatenated to its input: ``out_chs = in_chs + k``;
- dense block: ``n`` dense layers, ``out_chs = in_chs + n * k``;
- transition layer: ``BN-ReLU-1x1 conv - 2x2 average pool (stride 2)`` between dense blocks.

Concatenation: every layer concatenates once (its input with its new features), so layer ``i`` of a
block reads the single tensor holding all earlier features; this is the same one copy per layer the
reference implementations make (torchvision concatenates the list of earlier features once per
layer), without the final concat of the whole list.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import create_act


class _BnActConv(nn.Sequential):
    """Pre-activation ``norm -> act -> conv`` (DenseNet's composite function H)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, act: str):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_chs)
        self.act = create_act(act, inplace=True)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, bias=False)


@BLOCKS.register("dense_layer", strides=(1,), examples=[
    dict(in_chs=16, out_chs=24, stride=1),
    dict(in_chs=16, out_chs=28, stride=1, bn_size=2, drop_rate=0.1),
    dict(in_chs=12, out_chs=20, stride=1, bn_size=0),
])
class DenseLayer(nn.Module):
    """``norm1-act1-conv1 (1x1, bn_size*k) - norm2-act2-conv2 (3x3, k)``, output ``cat([x, new])``.

    The growth rate is ``k = out_chs - in_chs``. ``bn_size=0`` drops the bottleneck (plain DenseNet
    layer ``BN-ReLU-3x3 conv``). ``drop_rate`` is dropout on the new features (DenseNet's CIFAR runs
    without augmentation). Stride 1 only: the output concatenates the input, so it keeps its size;
    DenseNet downsamples in transition layers.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, bn_size: int = 4, act: str = "relu",
                 drop_rate: float = 0.0):
        super().__init__()
        growth = out_chs - in_chs
        if stride != 1:
            raise ValueError(f"DenseLayer: stride must be 1 (transitions downsample), got {stride}")
        if growth <= 0:
            raise ValueError(f"DenseLayer: out_chs={out_chs} must exceed in_chs={in_chs} (out = in + growth)")
        self.growth_rate = growth
        if bn_size > 0:
            mid = bn_size * growth
            self.norm1 = nn.BatchNorm2d(in_chs)
            self.act1 = create_act(act, inplace=True)
            self.conv1 = nn.Conv2d(in_chs, mid, 1, bias=False)
        else:
            mid = in_chs
            self.norm1, self.act1, self.conv1 = nn.Identity(), nn.Identity(), nn.Identity()
        self.norm2 = nn.BatchNorm2d(mid)
        self.act2 = create_act(act, inplace=True)
        self.conv2 = nn.Conv2d(mid, growth, 3, padding=1, bias=False)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()

    def new_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.act1(self.norm1(x)))
        return self.drop(self.conv2(self.act2(self.norm2(out))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.new_features(x)], 1)


@BLOCKS.register("dense_block", strides=(1,), examples=[
    dict(in_chs=16, out_chs=40, stride=1, num_layers=3),
    dict(in_chs=16, out_chs=32, stride=1, num_layers=2, growth_rate=8, bn_size=2),
])
class DenseBlock(nn.Sequential):
    """``num_layers`` dense layers (``layer1``, ``layer2``, ...) growing ``in_chs`` to ``out_chs``.

    ``out_chs`` must equal ``in_chs + num_layers * growth_rate``; ``growth_rate`` is derived from the
    channels when omitted. Stride 1 only (the transition between blocks downsamples).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, num_layers: int = 4,
                 growth_rate: int | None = None, bn_size: int = 4, act: str = "relu", drop_rate: float = 0.0):
        super().__init__()
        if stride != 1:
            raise ValueError(f"DenseBlock: stride must be 1 (transitions downsample), got {stride}")
        if num_layers < 1:
            raise ValueError(f"DenseBlock: num_layers must be >= 1, got {num_layers}")
        added = out_chs - in_chs
        if growth_rate is None:
            if added <= 0 or added % num_layers:
                raise ValueError(f"DenseBlock: out_chs - in_chs = {added} is not a positive multiple of "
                                 f"num_layers={num_layers}")
            growth_rate = added // num_layers
        elif added != num_layers * growth_rate:
            raise ValueError(f"DenseBlock: out_chs={out_chs} != in_chs + num_layers * growth_rate = "
                             f"{in_chs} + {num_layers} * {growth_rate}")
        self.growth_rate = growth_rate
        for i in range(num_layers):
            chs = in_chs + i * growth_rate
            self.add_module(f"layer{i + 1}", DenseLayer(chs, chs + growth_rate, 1, bn_size=bn_size, act=act,
                                                        drop_rate=drop_rate))


@BLOCKS.register("dense_transition", examples=[
    dict(in_chs=32, out_chs=16, stride=2),
    dict(in_chs=32, out_chs=16, stride=2, pool_first=True),
    dict(in_chs=32, out_chs=24, stride=1),
])
class DenseTransition(nn.Module):
    """``norm - act - conv (1x1) - pool (2x2 average, stride 2)``; DenseNet-BC halves the channels here.

    ``stride=1`` leaves the pool out (a channel-compressing ``BN-ReLU-1x1 conv``). The pool uses
    ``ceil_mode`` so odd sizes give ``ceil(H / 2)`` (identical to the reference on even sizes).
    ``pool_first`` pools before the conv: a bias-free 1x1 conv and an average pool are both linear
    and commute, so the output is the same while the conv runs on a quarter of the positions; off by
    default so multiply-add counts match the paper's ordering.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, act: str = "relu", pool_first: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"DenseTransition: stride must be 1 or 2, got {stride}")
        self.norm = nn.BatchNorm2d(in_chs)
        self.act = create_act(act, inplace=True)
        self.conv = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.pool_first = bool(pool_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm(x))
        if self.pool_first:
            return self.conv(self.pool(x))
        return self.pool(self.conv(x))
