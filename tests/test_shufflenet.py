"""ShuffleNet v1/v2 units and models: paper semantics of the fast paths, errors, released widths."""

import pytest
import torch

from nas.blocks import create_block
from nas.layers import channel_shuffle
from nas.models import create_model
from nas.profile import profile


def _v2_reference(unit, x):
    """Plain concat + 2-group channel shuffle, as the paper draws it."""
    if unit.split_input:
        left, right = x[:, : unit.split], x[:, unit.split:]
    else:
        left, right = unit.proj_pw(unit.proj_dw(x)), x
    right = unit.conv_pwl(unit.conv_dw(unit.conv_pw(right)))
    return channel_shuffle(torch.cat([left, right], 1), 2)


@pytest.mark.parametrize("in_chs,out_chs,stride", [(16, 16, 1), (16, 32, 2), (24, 116, 2), (32, 24, 2), (16, 24, 1)])
def test_v2_unit_is_concat_then_shuffle(in_chs, out_chs, stride):
    unit = create_block("shufflenet_v2_unit", in_chs, out_chs, stride).eval()
    x = torch.randn(2, in_chs, 9, 9)
    torch.testing.assert_close(unit(x), _v2_reference(unit, x))


def test_v2_unit_released_branch_widths():
    unit = create_block("shufflenet_v2_unit", 24, 116, 2)
    assert unit.proj_pw.out_chs == 24 and unit.conv_pwl.out_chs == 92 and unit.conv_pw.out_chs == 58


def test_v2_unit_widening_at_stride1_uses_two_branches():
    unit = create_block("shufflenet_v2_unit", 16, 32, 1)
    assert not unit.split_input and unit.proj_dw.stride == 1
    assert create_block("shufflenet_v2_unit", 16, 16, 1).split_input


def test_v1_unit_errors():
    with pytest.raises(ValueError, match="exceed"):
        create_block("shufflenet_v1_unit", 48, 24, 1)
    with pytest.raises(ValueError, match="exceed"):
        create_block("shufflenet_v1_unit", 48, 48, 2)
    with pytest.raises(ValueError, match="divisible"):
        create_block("shufflenet_v1_unit", 24, 240, 2, groups=3, group_first=True, mid_chs=61)


def test_v1_stride2_relu_on_concat():
    unit = create_block("shufflenet_v1_unit", 24, 48, 2).eval()
    y = unit(torch.randn(2, 24, 9, 9) - 3.0)  # mostly negative input: the pooled half is ReLU'd too
    assert (y >= 0).all()


@pytest.mark.parametrize("name,width,params,macs", [
    ("shufflenetv1_g3", 0.5, 0.7, 38), ("shufflenetv1_g3", 1.5, 3.4, 292), ("shufflenetv1_g3", 2.0, 5.4, 524),
    ("shufflenetv1_g8", 0.5, 1.0, 40), ("shufflenetv1_g8", 1.5, 4.3, 290), ("shufflenetv1_g8", 2.0, 6.5, 522)])
def test_v1_width_mult_matches_released(name, width, params, macs):
    """The released README's figures for the other scale factors (params there have 2 significant digits)."""
    with torch.device("meta"):
        model = create_model(name, width_mult=width)
    p = profile(model, (1, 3, 224, 224))
    assert p.params / 1e6 == pytest.approx(params, rel=0.05)
    assert p.macs / 1e6 == pytest.approx(macs, rel=0.02)


@pytest.mark.parametrize("name", ["shufflenetv1_g3", "shufflenetv2_x1_0"])
def test_cifar_ends_at_4x4(name):
    model = create_model(name, num_classes=10, variant="cifar")
    assert model.stages(model.maxpool(model.stem(torch.zeros(1, 3, 32, 32)))).shape[-2:] == (4, 4)
