"""Activations, squeeze-excite, channel shuffle and split."""

import pytest
import torch
from torch import nn

from nas.layers import ACTIVATIONS, LAYERS, ChannelShuffle, ChannelSplit, SqueezeExcite, create_act, make_divisible


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_shape_grad_script(name):
    act = create_act(name, inplace=False)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    y = act(x)
    assert y.shape[1] == 4 * ACTIVATIONS.meta(name)["channel_factor"]
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(torch.jit.script(act)(x), y)


def test_activation_formulas():
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(create_act("hswish", False)(x), x * torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(create_act("hsigmoid", False)(x), torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(create_act("swish", False)(x), x * torch.sigmoid(x))
    torch.testing.assert_close(create_act("relu6", False)(x), torch.clamp(x, 0, 6))
    x4 = torch.randn(1, 3, 2, 2)
    torch.testing.assert_close(create_act("crelu")(x4), torch.relu(torch.cat([x4, -x4], 1)))


def test_unknown_activation_lists_known():
    with pytest.raises(KeyError, match="known activations: .*hswish"):
        create_act("gelu2")


@pytest.mark.parametrize("name", LAYERS.names())
def test_layer_examples_script(name):
    for example in LAYERS.meta(name)["examples"]:
        layer = LAYERS.get(name)(**example)
        x = torch.randn(2, 16 if "chs" not in example else example["chs"], 4, 4)
        out = layer(x)
        ref = torch.jit.script(layer)(x)
        for a, b in zip(out if isinstance(out, tuple) else (out,), ref if isinstance(ref, tuple) else (ref,)):
            torch.testing.assert_close(a, b)


def test_channel_shuffle_is_the_papers_permutation():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # groups=2: channels (0 1 2 | 3 4 5) -> 0 3 1 4 2 5
    assert ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert ChannelShuffle(3)(x).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_channel_split_views():
    x = torch.randn(1, 8, 3, 3)
    a, b = ChannelSplit(3)(x)
    assert a.shape[1] == 3 and b.shape[1] == 5
    assert a.data_ptr() == x.data_ptr()  # a view, no copy


def test_squeeze_excite_widths_and_gate():
    se = SqueezeExcite(96, se_ratio=0.25, divisor=8, gate="hsigmoid")  # MobileNetV3: make_divisible(96/4, 8)
    assert se.conv_reduce.out_channels == 24
    se = SqueezeExcite(144, se_ratio=0.25, rd_base=24)  # MNASNet: from the block's input channels
    assert se.conv_reduce.out_channels == 6
    assert isinstance(SqueezeExcite(8, gate="hsigmoid").gate, nn.Hardsigmoid)
    x = torch.randn(2, 8, 4, 4)
    se = SqueezeExcite(8)
    gate = torch.sigmoid(se.conv_expand(torch.relu(se.conv_reduce(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(se(x), x * gate)


def test_make_divisible():
    assert make_divisible(32 * 0.75) == 24
    assert make_divisible(16 * 0.35) == 8
    assert make_divisible(1280 * 1.4) == 1792
    assert make_divisible(20, 8) == 24  # never more than 10% below
