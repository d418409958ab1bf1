"""Extra checks for the IGC, Inception and PVANet blocks and models."""

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.utils.flop_counter import FlopCounterMode

from nas.blocks.igc import IGCV3Block, InterleavedGroupConv
from nas.blocks.inception import Inception
from nas.blocks.pvanet import ConvCReLU, PvaInception
from nas.models import create_model


def _channel_jacobian(module, chs):
    module.eval()
    x = torch.randn(1, chs, 1, 1)
    return jacobian(lambda t: module(t), x).reshape(-1, chs)


@pytest.mark.parametrize("chs,groups", [(12, 3), (16, 4), (24, 12)])
def test_igcv1_unit_is_dense(chs, groups):
    """Primary (L groups) + permutation + secondary (M groups) connects every input to every output."""
    unit = InterleavedGroupConv(chs, chs, kernel_size=1, groups=groups, act=None)
    assert (_channel_jacobian(unit, chs).abs() > 0).all()


def test_igcv1_permutations_are_inverse_and_gather_partitions():
    chs, L = 12, 3
    M = chs // L
    unit = InterleavedGroupConv(chs, chs, kernel_size=1, groups=L, act=None).eval()
    with torch.no_grad():
        unit.conv_primary.weight.copy_(_block_eye(chs, L))
        unit.conv_secondary.weight.copy_(_block_eye(chs, M))
    unit.bn.running_var.fill_(1 - unit.bn.eps)
    x = torch.randn(2, chs, 1, 1)
    torch.testing.assert_close(unit(x), x)  # identity convs: the two permutations cancel
    # Secondary partition m must hold channel m of every primary partition: with a secondary conv that
    # sums its partition, output l*M+m is sum over l' of input l'*M+m.
    with torch.no_grad():
        unit.conv_secondary.weight.fill_(1.0)
    y = unit(x).view(2, L, M)
    torch.testing.assert_close(y, x.view(2, L, M).sum(1, keepdim=True).expand(2, L, M))


def _block_eye(chs, groups):
    """Weight of a grouped 1x1 conv (chs -> chs, ``groups``) that is the identity."""
    per = chs // groups
    return torch.eye(per).repeat(groups, 1).view(chs, per, 1, 1)


def test_igcv3_block_mixes_both_groups():
    block = IGCV3Block(8, 8, 1, exp_ratio=2, groups=2)
    block.conv_pwl.bn.weight.data.fill_(1.0)
    jac = _channel_jacobian(block, 8) - torch.eye(8)  # drop the identity shortcut
    assert (jac.abs() > 0).all()


def test_inception_widths_are_validated():
    with pytest.raises(ValueError, match="out_chs=33"):
        Inception(16, 33, ch1x1=8, ch3x3red=12, ch3x3=16, ch5x5red=2, ch5x5=4, pool_proj=4)
    with pytest.raises(ValueError, match="missing"):
        Inception(16, 32, ch1x1=8)
    with pytest.raises(ValueError, match="stride"):
        Inception(16, 32, 2)
    assert sum(Inception(16, 40).widths[i] for i in (0, 2, 4, 5)) == 40
    with pytest.raises(ValueError, match="missing"):
        PvaInception(16, 32, ch1x1=8)


@pytest.mark.parametrize("scale_shift", [True, False])
def test_crelu_unit_formula(scale_shift):
    unit = ConvCReLU(4, 6, 3, scale_shift=scale_shift).eval()
    if scale_shift:
        with torch.no_grad():
            unit.scale.normal_()
            unit.shift.normal_()
    x = torch.randn(2, 4, 5, 5)
    z = unit.bn(unit.conv(x))
    z = torch.cat([z, -z], 1)
    if scale_shift:
        z = z * unit.scale + unit.shift
    torch.testing.assert_close(unit(x), torch.relu(z))
    assert unit(x).shape == (2, 12, 5, 5)


def _macs(module, x):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    return counter.get_total_flops() / 2e6, y


def test_pvanet_matches_released_prototxt_header():
    """Per-layer MMAC of the header of pva9.1_preAct_test.prototxt at 224x224, and 4.17 GMAC at 640x640."""
    header = [34.72, 30.71, 30.71, 34.72, 30.71, 30.71, 30.71, 48.44, 40.22, 40.22, 40.22, 28.10, 20.47, 20.47, 20.47]
    with torch.device("meta"):
        model = create_model("pvanet").eval()
        x = torch.zeros(1, 3, 224, 224)
        conv1, y = _macs(model.conv1, x)
        assert round(conv1, 2) == 29.50
        y = model.pool1(y)
        got = []
        for stage in model.stages:
            for block in stage:
                m, y = _macs(block, y)
                got.append(round(m, 2))
        assert got == header and tuple(y.shape) == (1, 384, 7, 7)
        fc, _ = _macs(model.pre_logits, model.norm(y))
        assert round(fc, 2) == round(77.07 + 16.78, 2)
        body = torch.nn.Sequential(model.conv1, model.pool1, model.stages)
        total640, _ = _macs(body, torch.zeros(1, 3, 640, 640))
        assert round(total640 / 1000, 2) == 4.17


def test_googlenet_table1_sizes():
    with torch.device("meta"):
        model = create_model("googlenet").eval()
        x = torch.zeros(1, 3, 224, 224)
        sizes = [model.maxpool1(model.conv1(x)).shape[-1]]
        y = model.maxpool2(model.conv3(model.conv2(model.maxpool1(model.conv1(x)))))
        sizes.append(y.shape[-1])
        y = model.maxpool3(model.inception3b(model.inception3a(y)))
        sizes.append(y.shape[-1])
        assert model.forward_features(x).shape == (1, 1024, 7, 7)
    assert sizes == [56, 28, 14]
