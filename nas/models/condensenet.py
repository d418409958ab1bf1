"""CondenseNet (Huang, Liu, van der Maaten & Weinberger 2018, "CondenseNet: An Efficient DenseNet
using Learned Group Convolutions").

The ImageNet CondenseNet-74 of the paper's Table 5, as in the authors' code (ShichenLiu/CondenseNet,
``--stages 4-6-8-10-8 --growth 8-16-32-64-128``): a 3x3/2 conv to 16 channels, five dense blocks
of CondenseNet layers (learned group 1x1 conv to 4k, BN-ReLU-3x3 group conv to k; fully dense
connectivity, growth rate doubling per block) separated by 2x2 average pools (no transition convs),
a final BN-ReLU, global pooling and the classifier.

- ``condensenet74_c4_g4``: G = C = 4 (group convs of 4 groups, condensation factor 4);
- ``condensenet74_c8_g8``: G = C = 8.

Built by default in the CONDENSED (inference) form the paper's figures describe: every learned
group conv is an ``index_select`` + grouped 1x1 conv + channel shuffle, and the classifier reads the
half of the features kept at conversion (the authors' ``CondenseLinear(..., 0.5)``).
``condensed=False`` builds the TRAINING form (dense masked 1x1 convs, full linear classifier) with
:meth:`CondenseNet.lasso_loss`, :meth:`CondenseNet.update_condensation` (call with the training
progress in [0, 1], e.g. every iteration) and :meth:`CondenseNet.condense` (converts in place).

Figures (authors' README / Table 5): 529M FLOPs and 4.8M params (C=G=4); 274M FLOPs and 2.9M
params (C=G=8). The authors' counter (``utils.measure_model``) adds to the conv and linear
multiply-adds one op per ReLU input element, per pooled input element and per linear bias: 12.7M
for both nets at 224x224. Our counter, as for every model, counts multiply-adds only, so we register
the Table 5 figures minus those 12.7M: 516.6M and 261.5M (measured: 516.6M and 261.5M; with the
authors' extra ops added back, 529.3M and 274.2M, which checks the architecture against both
figures). Parameters: 4.77M and 2.93M (Table 5 rounds to 4.8M and 2.9M).

CIFAR form: the stem conv has stride 1 (as in the authors' CIFAR nets) and the four pools are kept:
32x32 -> 16 -> 8 -> 4 -> 2 before the final BN-ReLU and pooling.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nas.blocks.condense import CondensedLinear, CondenseLayer, LearnedGroupConv, learned_group_convs
from nas.layers.classifier import Classifier, init_weights
from nas.models.common import is_cifar
from nas.models.registry import register_model


class CondenseNet(nn.Module):
    def __init__(self, stages: Sequence[int] = (4, 6, 8, 10, 8), growth: Sequence[int] = (8, 16, 32, 64, 128),
                 num_classes: int = 1000, variant: str = "imagenet", groups: int = 4,
                 condense_factor: int | None = None, bn_size: int = 4, condensed: bool = True,
                 drop_rate: float = 0.0, fc_keep: float = 0.5, dropout: float = 0.0):
        super().__init__()
        if len(stages) != len(growth):
            raise ValueError(f"CondenseNet: {len(stages)} stages but {len(growth)} growth rates")
        cifar = is_cifar(variant)
        chs = 2 * growth[0]
        self.stem = nn.Conv2d(3, chs, 3, 1 if cifar else 2, 1, bias=False)
        blocks = []
        for i, (n, k) in enumerate(zip(stages, growth)):
            layers = [nn.AvgPool2d(2, 2, ceil_mode=True)] if i > 0 else []
            for _ in range(n):
                layers.append(CondenseLayer(chs, chs + k, 1, bn_size=bn_size, groups=groups,
                                            condense_factor=condense_factor, condensed=condensed, drop_rate=drop_rate))
                chs += k
            blocks.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*blocks)
        self.norm = nn.BatchNorm2d(chs)
        self.act = nn.ReLU(inplace=True)
        self.num_features = chs
        self.fc_keep = fc_keep
        self.classifier = Classifier(chs, num_classes, dropout)
        if condensed:
            self.classifier.fc = CondensedLinear(chs, num_classes, fc_keep)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.act(self.norm(self.stages(self.stem(x)))))

    # training-form helpers (no-ops once condensed)

    @torch.jit.unused
    def lasso_loss(self) -> torch.Tensor:
        """Sum of the group-lasso penalties of every learned group conv (scale by lambda in the loss)."""
        losses = [m.lasso_loss() for m in learned_group_convs(self)]
        return torch.stack(losses).sum() if losses else self.norm.weight.new_zeros(())

    @torch.jit.unused
    def update_condensation(self, progress: float) -> None:
        """Advance every learned group conv's condensing schedule to training ``progress`` in [0, 1]."""
        for m in learned_group_convs(self):
            m.update_condensation(progress)

    @torch.jit.unused
    def condense(self) -> "CondenseNet":
        """Convert to the inference form in place: condensed group convs, half-width classifier input."""
        for m in self.modules():
            if isinstance(m, CondenseLayer):
                m.condense()
        if isinstance(self.classifier.fc, nn.Linear):
            self.classifier.fc = CondensedLinear.from_linear(self.classifier.fc, self.fc_keep)
        return self


def _entry(groups: int):
    def build(num_classes: int = 1000, variant: str = "imagenet", **kwargs) -> CondenseNet:
        return CondenseNet((4, 6, 8, 10, 8), (8, 16, 32, 64, 128), num_classes, variant, groups=groups,
                           condense_factor=groups, **kwargs)
    return build


register_model("condensenet74_c4_g4", params=4.8, macs=516.6,
               source="CondenseNet paper Table 5 / authors' README (CondenseNet-74, C=G=4: 4.8M params, 529M FLOPs "
                      "= 516.6M multiply-adds + 12.7M ReLU/pool/bias ops of the authors' counter)")(
    _entry(4))
register_model("condensenet74_c8_g8", params=2.9, macs=261.5,
               source="CondenseNet paper Table 5 / authors' README (CondenseNet-74, C=G=8: 2.9M params, 274M FLOPs "
                      "= 261.5M multiply-adds + 12.7M ReLU/pool/bias ops of the authors' counter)")(
    _entry(8))

__all__ = ["CondenseNet", "LearnedGroupConv"]
