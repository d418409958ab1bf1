"""CondenseNet's learned group convolution: training form -> condensed inference form is exact."""

import pytest
import torch
from torch import nn

from nas.blocks.condense import (CondensedGroupConv, CondensedLinear, CondenseLayer, LearnedGroupConv,
                                 condense_stage)
from nas.models import create_model


def _randomize_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize("groups,cf,stride", [(4, 4, 1), (2, 4, 2), (4, 2, 1), (1, 4, 1)])
def test_condense_with_set_mask_matches_training_form(groups, cf, stride):
    in_chs, out_chs = 16, 24
    lgc = LearnedGroupConv(in_chs, out_chs, stride, groups=groups, condense_factor=cf)
    _randomize_bn(lgc)
    keep = in_chs // cf
    gm = torch.zeros(groups, in_chs, dtype=torch.bool)
    for g in range(groups):  # each group keeps its own random channels (overlaps between groups allowed)
        gm[g, torch.randperm(in_chs)[:keep]] = True
    lgc.set_group_mask(gm)
    lgc.eval()
    x = torch.randn(2, in_chs, 9, 9)
    ref = lgc(x)
    cgc = lgc.condense()
    assert isinstance(cgc, CondensedGroupConv) and not cgc.training
    assert cgc.keep_chs == keep * groups and cgc.conv.groups == groups
    torch.testing.assert_close(cgc(x), ref, rtol=1e-5, atol=1e-5)
    # the condensed conv has exactly the unmasked weights
    assert cgc.conv.weight.numel() == int(lgc.mask.sum())


def test_condense_rejects_masks_that_are_not_group_structured():
    lgc = LearnedGroupConv(8, 8, 1, groups=2)
    lgc.mask[0, 0] = 0  # output 0 (group 0) differs from output 2 (group 0)
    with pytest.raises(ValueError, match="same group"):
        lgc.condense()
    lgc = LearnedGroupConv(8, 8, 1, groups=2)
    gm = torch.ones(2, 8, dtype=torch.bool)
    gm[0, :3] = False
    lgc.set_group_mask(gm)
    with pytest.raises(ValueError, match="unequal"):
        lgc.condense()


def test_schedule_drops_to_one_over_c_and_condenses_exactly():
    cf = 4
    lgc = LearnedGroupConv(32, 16, 1, groups=4, condense_factor=cf)
    _randomize_bn(lgc)
    assert [condense_stage(p, cf) for p in (0.0, 0.1, 0.2, 0.34, 0.5, 0.9)] == [0, 0, 1, 2, 3, 3]
    loss0 = lgc.lasso_loss()
    assert loss0 > 0 and loss0.requires_grad
    kept = []
    for progress in torch.linspace(0, 1, 21).tolist():
        lgc.update_condensation(progress)
        kept.append(lgc.group_mask().sum(1).tolist())
    assert kept[0] == [32] * 4 and kept[-1] == [8] * 4
    assert int(lgc.stage) == cf - 1 and float(lgc.lasso_loss()) == 0.0
    # the weakest inputs of each group went first
    lgc2 = LearnedGroupConv(8, 4, 1, groups=2, condense_factor=2)
    with torch.no_grad():
        lgc2.conv.weight.copy_(torch.arange(1.0, 9.0).repeat(4, 1)[:, :, None, None])
    lgc2.update_condensation(1.0)
    assert lgc2.group_mask().tolist() == [[False] * 4 + [True] * 4] * 2
    lgc.eval()
    x = torch.randn(3, 32, 6, 6)
    torch.testing.assert_close(lgc.condense()(x), lgc(x), rtol=1e-5, atol=1e-5)


def test_condense_layer_conversion():
    layer = CondenseLayer(16, 24, 1, condensed=False, groups=4, condense_factor=4)
    _randomize_bn(layer)
    layer.conv1.update_condensation(1.0)
    layer.eval()
    x = torch.randn(2, 16, 7, 7)
    ref = layer(x)
    layer.condense()
    assert isinstance(layer.conv1, CondensedGroupConv)
    torch.testing.assert_close(layer(x), ref, rtol=1e-5, atol=1e-5)
    built = CondenseLayer(16, 24, 1, groups=4, condense_factor=4)
    assert built.state_dict().keys() == layer.state_dict().keys()
    built.load_state_dict(layer.state_dict())
    torch.testing.assert_close(built.eval()(x), ref, rtol=1e-5, atol=1e-5)


def test_condensed_linear_from_linear():
    lin = nn.Linear(10, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([1.0, 9, 2, 8, 3, 7, 4, 6, 5, 0]).repeat(3, 1))
    cl = CondensedLinear.from_linear(lin, 0.5)
    assert cl.index.tolist() == [1, 3, 5, 7, 8]
    x = torch.randn(4, 10)
    mask = torch.zeros(10)
    mask[cl.index] = 1
    torch.testing.assert_close(cl(x), lin(x * mask))


@pytest.mark.parametrize("name", ["condensenet74_c4_g4", "condensenet74_c8_g8"])
def test_model_training_form_condenses_to_the_inference_form(name):
    train_form = create_model(name, num_classes=10, variant="cifar", condensed=False, fc_keep=1.0)
    _randomize_bn(train_form)
    y = train_form(torch.randn(2, 3, 32, 32))
    (y.sum() + 1e-3 * train_form.lasso_loss()).backward()
    train_form.update_condensation(1.0)
    train_form.eval()
    x = torch.randn(2, 3, 32, 32)
    ref = train_form(x)
    train_form.condense()
    torch.testing.assert_close(train_form(x), ref, rtol=1e-4, atol=1e-4)
    # same structure (and checkpoint keys) as the model built directly in the condensed form
    direct = create_model(name, num_classes=10, variant="cifar", fc_keep=1.0)
    assert train_form.state_dict().keys() == direct.state_dict().keys()
    assert sum(p.numel() for p in train_form.parameters()) == sum(p.numel() for p in direct.parameters())
    scripted = torch.jit.script(train_form)
    torch.testing.assert_close(scripted(x), ref, rtol=1e-4, atol=1e-4)
