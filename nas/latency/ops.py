"""What a latency table is keyed on: an op config at an input shape.

The ops of an architecture are its stem, the ops its space says it runs (``space.op_instances``) and
its head (``space.network_ops``). Each is an :class:`~nas.space.base.OpUse`; its key is a readable string such as
``mbconv(exp_ratio=6,kernel_size=3) 16x32x32>24/s1`` (block and options, input channels x height x
width, output channels, stride). Batch size, dtype and device are not in the key: they are in the
table's fingerprint. See ``docs/latency_tables.md``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Tuple

import torch
from torch import nn

from nas.space.base import HEAD, SHORTCUT, STEM, OpUse, Residual, build_block


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@lru_cache(maxsize=65536)
def _key(items: Tuple[Tuple[str, Any], ...], in_chs: int, size: int, out_chs: int, stride: int) -> str:
    cfg = dict(items)
    opts = ",".join(f"{k}={_fmt(v)}" for k, v in sorted(cfg.items()) if k != "block")
    return f"{cfg['block']}({opts}) {in_chs}x{size}x{size}>{out_chs}/s{stride}"


def op_key(use: OpUse) -> str:
    """The table key of ``use``: ``block(opt=value,...) CxHxW>out/s<stride>``, options sorted by name."""
    return _key(tuple(sorted(use.config.items())), use.in_chs, use.input_size, use.out_chs, use.stride)


def describe(use: OpUse) -> str:
    """For error messages: the op, its shape and where it sits."""
    return (f"op {use.config.get('block')} {dict((k, v) for k, v in use.config.items() if k != 'block')} at input "
            f"{use.in_chs}x{use.input_size}x{use.input_size} -> {use.out_chs} channels, stride {use.stride} "
            f"(site {use.site}, choice {use.choice}; key '{op_key(use)}')")


def arch_uses(space, arch) -> List[OpUse]:
    """Every op ``arch`` runs: stem, the space's op instances, head (``space.network_ops``)."""
    return space.network_ops(arch)


def space_uses(space) -> List[OpUse]:
    """Every op any architecture of ``space`` can run, deduplicated by key (first use kept)."""
    return list(unique(space.all_network_ops()).values())


def unique(uses: Iterable[OpUse]) -> Dict[str, OpUse]:
    out: Dict[str, OpUse] = {}
    for u in uses:
        out.setdefault(op_key(u), u)
    return out


class ShortcutAdd(nn.Module):
    """``y + shortcut(x)``: a factorized-space layer's shortcut (identity, or avg-pool + 1x1 projection,
    as :class:`~nas.space.base.Residual` builds it), timed apart from the layer's body."""

    def __init__(self, in_chs: int, out_chs: int, stride: int):
        super().__init__()
        self.shortcut = Residual(nn.Identity(), in_chs, out_chs, stride, "pool").shortcut

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y + self.shortcut(x)


def build_use(space, use: OpUse) -> Tuple[nn.Module, List[Tuple[int, ...]]]:
    """The module ``use`` runs and the (per-sample) shapes of its inputs."""
    x = (use.in_chs, use.input_size, use.input_size)
    block = use.config["block"]
    if block == STEM:
        return space.build_stem(), [x]
    if block == HEAD:
        conv, classifier = space.build_head(use.in_chs)
        return nn.Sequential(conv, classifier), [x]
    if block == SHORTCUT:
        out_size = math.ceil(use.input_size / use.stride)
        return ShortcutAdd(use.in_chs, use.out_chs, use.stride), [x, (use.out_chs, out_size, out_size)]
    return build_block(use.config, use.in_chs, use.out_chs, use.stride), [x]


def use_stats(module: nn.Module, use: OpUse, batch_size: int) -> Dict[str, int]:
    """Weights and boundary activations of an op (the calibration's memory-traffic features)."""
    out_size = math.ceil(use.input_size / use.stride)
    act = batch_size * (use.in_chs * use.input_size ** 2 + use.out_chs * (out_size ** 2 if use.config["block"] != HEAD
                                                                          else 1))
    return {"params": int(sum(p.numel() for p in module.parameters())), "act": int(act)}
