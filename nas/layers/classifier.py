"""The classifier every network here ends with, and the weight initialisation they share."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """Global average pool (of a 4-D map; 2-D features pass as they are), optional dropout, ``fc``."""

    def __init__(self, in_chs: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_chs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.mean((2, 3))
        return self.fc(self.dropout(x))


def init_weights(model: nn.Module) -> nn.Module:
    """He init for convs (fan-out), unit BN, small normal for linears; as the reference codes do."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model
