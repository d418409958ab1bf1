"""Extra checks for the separable / ghost / sandglass blocks and MobileNetV1, Xception, GhostNet, MobileNeXt."""

import pytest
import torch
from torch import nn

from nas.blocks import create_block
from nas.blocks.sandglass import Sandglass, sandglass_mid_chs
from nas.models import create_model
from nas.profile import count_params


@pytest.mark.parametrize("name,kwargs", [
    ("dw_separable", {}),
    ("xception_sepconv", dict(preact=True)),
    ("xception_block", dict(reps=3)),
    ("xception_block", dict(reps=2, start_with_relu=False)),
    ("ghost_module", {}),
    ("ghost_bottleneck", dict(se_ratio=0.25)),
    ("sandglass", {}),
])
def test_blocks_leave_input_untouched(name, kwargs):
    """In-place activations must never overwrite the block input (shortcuts read it)."""
    block = create_block(name, 16, 16, 1, **kwargs)
    x = torch.randn(2, 16, 8, 8)
    ref = x.clone()
    block(x)
    assert torch.equal(x, ref)


def test_xception_block_structure():
    first = create_block("xception_block", 64, 128, 2, reps=2, start_with_relu=False)
    assert isinstance(first.rep[0].pre_act, nn.Identity) and isinstance(first.rep[0].act, nn.Identity)
    assert isinstance(first.rep[1].pre_act, nn.ReLU) and first.rep[1].pre_act.inplace
    assert isinstance(first.pool, nn.MaxPool2d) and first.shortcut.conv.stride == (2, 2)
    middle = create_block("xception_block", 728, 728, 1, reps=3)
    assert isinstance(middle.shortcut, nn.Identity) and not middle.rep[0].pre_act.inplace
    exit_ = create_block("xception_block", 728, 1024, 2, reps=2, grow_first=False)
    assert [u.conv_pw.out_channels for u in exit_.rep] == [728, 1024]
    sep = create_block("xception_sepconv", 16, 32, 1)
    assert sep.conv_dw.groups == 16 and sep.conv_pw.kernel_size == (1, 1)


def test_ghost_module_widths():
    gm = create_block("ghost_module", 16, 15, 1)
    assert gm.primary_conv.out_chs == 8 and gm.cheap_operation.conv.groups == 8
    assert gm(torch.randn(1, 16, 5, 5)).shape[1] == 15
    gb = create_block("ghost_bottleneck", 16, 24, 1, mid_chs=72, se_ratio=0.25)
    assert gb.se.conv_reduce.out_channels == 20  # make_divisible(72 * 0.25, 4)
    assert isinstance(gb.conv_dw, nn.Identity)  # depthwise only when striding


def test_sandglass_released_rules():
    assert sandglass_mid_chs(96, 144, 6) == 32  # 96 // 6 = 16 < 144 / 6 -> ceil(24) rounded to 16
    assert sandglass_mid_chs(960, 960, 6) == 160
    thin = Sandglass(288, 384, 1, exp_ratio=6, keep_dw=False)
    assert isinstance(thin.conv_dw, nn.Identity) and isinstance(thin.conv_dwl, nn.Identity)
    thin2 = Sandglass(144, 192, 2, exp_ratio=6, keep_dw=False)
    assert isinstance(thin2.conv_dw, nn.Identity) and thin2.conv_dwl.conv.stride == (2, 2)
    full = Sandglass(192, 192, 1, exp_ratio=6, keep_dw=False)  # same width: always full, with skip
    assert not isinstance(full.conv_dw, nn.Identity) and full.has_skip


def test_exact_param_counts():
    assert count_params(create_model("xception")) == 22_855_952  # Xception paper Table 3
    assert count_params(create_model("mobilenetv1_100")) == 4_231_976


def test_mobilenetv1_resolution_multiplier():
    assert create_model("mobilenetv1_100").resolution == 224
    assert create_model("mobilenetv1_100", resolution=192).resolution == 192
    assert create_model("mobilenetv1_050", rho=128 / 224).resolution == 128
    with pytest.raises(ValueError):
        create_model("mobilenetv1_100", resolution=192, rho=0.5)


@pytest.mark.parametrize("name", ["mobilenetv1_100", "ghostnet_100", "mobilenext_100"])
def test_width_multiplier_kwarg(name):
    assert count_params(create_model(name, width_mult=0.5)) < count_params(create_model(name))


@pytest.mark.parametrize("name,body,side", [
    ("xception", "exit_flow", 2), ("mobilenetv1_100", "blocks", 2),
    ("ghostnet_100", "head", 4), ("mobilenext_100", "stages", 4),
])
def test_cifar_final_feature_size(name, body, side):
    model = create_model(name, num_classes=10, variant="cifar")
    shapes = []
    getattr(model, body).register_forward_hook(lambda mod, inp, out: shapes.append(out.shape))
    model(torch.randn(1, 3, 32, 32))
    assert shapes[0][-2:] == (side, side)
