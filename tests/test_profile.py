"""The counter reproduces the seed formulas for standard, depthwise and separable convs."""

import pytest
import torch
from torch import nn

from nas.profile import count_macs, count_params, profile


@pytest.mark.parametrize("dk,m,n,df,stride", [(3, 32, 64, 56, 1), (5, 16, 24, 28, 1), (3, 8, 16, 14, 2)])
def test_conv_macs_match_mobilenet_formulas(dk, m, n, df, stride):
    out = df // stride
    std = nn.Conv2d(m, n, dk, stride, dk // 2, bias=False)
    dw = nn.Conv2d(m, m, dk, stride, dk // 2, groups=m, bias=False)
    pw = nn.Conv2d(m, n, 1, bias=False)
    size = (1, m, df, df)
    assert count_macs(std, size) == dk * dk * m * n * out * out
    assert count_macs(dw, size) == dk * dk * m * out * out
    assert count_macs(nn.Sequential(dw, pw), size) == dk * dk * m * out * out + m * n * out * out
    # the separable conv's reduction is 1/N + 1/DK^2 (MobileNet, eq. 5)
    ratio = count_macs(nn.Sequential(dw, pw), size) / count_macs(std, size)
    assert ratio == pytest.approx(1 / n + 1 / dk**2)


def test_linear_and_grouped_counts():
    assert count_macs(nn.Linear(100, 10), (3, 100)) == 3 * 1000
    g = nn.Conv2d(16, 32, 1, groups=4, bias=False)
    assert count_macs(g, (1, 16, 7, 7)) == 16 * 32 // 4 * 49
    assert count_params(g) == 16 * 32 // 4


def test_profile_on_meta_device_restores_mode():
    with torch.device("meta"):
        m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
    m.train()
    p = profile(m, (1, 3, 10, 10))
    assert p.params == 3 * 8 * 9 + 8 + 16 and p.macs == 3 * 8 * 9 * 64
    assert m.training
