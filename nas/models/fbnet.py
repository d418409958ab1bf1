"""FBNet-A, -B, -C (Wu et al. 2019, "FBNet: Hardware-Aware Efficient ConvNet Design via
Differentiable Neural Architecture Search"), the architectures the paper's search found (Fig. 4).

Each net is the stem, 22 layers of the FBNet space (one op of ``k{3,5}_e{1,3,6}[_g2]`` or ``skip``
per layer) and a 1x1 head. We follow the authors' released definitions (mobile-vision's
``fbnet_modeldef``): an ``e1`` block has no expansion conv, FBNet-A's head is 1504 wide (B and C: 1984).
The paper's Table 1 lists FBNet-B at 4.5M params; the released definition has 4.80M (and 291M
multiply-adds against the paper's 295M), which we register. CIFAR form: the FBNet space's CIFAR
variant used by HW-NAS-Bench: stem stride 1, stage strides 1, 1, 2, 2, 1, 2, 1, head 1504.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nas.blocks.mbconv import MBConv
from nas.blocks.skip import Skip
from nas.layers import ConvBnAct
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model

OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
CHANNELS = (16, 24, 32, 64, 112, 184, 352)
LAYERS = (1, 4, 4, 4, 4, 4, 1)
STRIDES = {"imagenet": (1, 2, 2, 2, 1, 2, 1), "cifar": (1, 1, 2, 2, 1, 2, 1)}

# The 22-integer encoding (index into OPS), as HW-NAS-Bench writes FBNet-space archs.
ARCHS = {
    "fbnet_a": (8, 2, 0, 8, 8, 7, 2, 4, 2, 7, 6, 5, 7, 3, 5, 6, 1, 7, 7, 6, 7, 7),
    "fbnet_b": (0, 3, 4, 0, 0, 7, 6, 3, 7, 7, 7, 8, 6, 7, 0, 4, 6, 7, 4, 7, 7, 3),
    "fbnet_c": (0, 3, 8, 0, 0, 7, 6, 7, 3, 7, 6, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 3),
}


def fbnet_op(op: str, in_chs: int, out_chs: int, stride: int) -> nn.Module:
    """One candidate of the FBNet space by name (``k5_e1_g2``: kernel 5, expansion 1, group-2 1x1s)."""
    if op == "skip":
        return Skip(in_chs, out_chs, stride)
    parts = op.split("_")
    return MBConv(in_chs, out_chs, stride, kernel_size=int(parts[0][1:]), exp_ratio=int(parts[1][1:]),
                  groups=2 if len(parts) > 2 else 1)


class FBNet(nn.Module):
    def __init__(self, arch: Sequence[int], num_classes: int = 1000, variant: str = "imagenet",
                 head_chs: int = 1984, dropout: float = 0.2):
        super().__init__()
        cifar = is_cifar(variant)
        if len(arch) != sum(LAYERS):
            raise ValueError(f"an FBNet arch has {sum(LAYERS)} entries, got {len(arch)}")
        self.stem = ConvBnAct(3, 16, 3, 1 if cifar else 2)
        in_chs, i, stages = 16, 0, []
        for chs, n, s in zip(CHANNELS, LAYERS, STRIDES[variant]):
            layers = []
            for j in range(n):
                layers.append(fbnet_op(OPS[arch[i]], in_chs, chs, s if j == 0 else 1))
                in_chs, i = chs, i + 1
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head = ConvBnAct(in_chs, 1504 if cifar else head_chs, 1)
        self.classifier = Classifier(self.head.out_chs, num_classes, dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))


def _entry(name: str, head_chs: int):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> FBNet:
        return FBNet(ARCHS[name], num_classes, variant, **{"head_chs": head_chs, **kwargs})
    return build


register_model("fbnet_a", params=4.3, macs=249, source="FBNet paper Table 1")(_entry("fbnet_a", 1504))
register_model("fbnet_b", params=4.8, macs=295, source="mobile-vision released FBNet-B (paper Table 1: 4.5M, 295M)")(
    _entry("fbnet_b", 1984))
register_model("fbnet_c", params=5.5, macs=375, source="FBNet paper Table 1")(_entry("fbnet_c", 1984))
