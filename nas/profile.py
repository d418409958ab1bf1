"""Parameter and multiply-add counts, built on ``torch.utils.flop_counter``.

The papers' "FLOPs" are multiply-adds: ``FlopCounterMode`` counts 2 FLOPs per multiply-add of
convolutions and matrix products, so MACs are its total halved. Element-wise ops (BN, activations,
residual adds, pooling) are not counted, as in the papers' tables. Models can be profiled on the
``meta`` device, which runs no arithmetic and allocates no memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Profile:
    params: int
    macs: int

    def __str__(self) -> str:
        return f"{self.params / 1e6:.3f}M params, {self.macs / 1e6:.1f}M MACs"


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _device_of(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def count_macs(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> int:
    """Multiply-adds of one forward pass in eval mode on a zero input of ``input_size``."""
    was_training = model.training
    model.eval()
    x = torch.zeros(tuple(input_size), device=_device_of(model))
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def profile(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> Profile:
    return Profile(count_params(model), count_macs(model, input_size))
