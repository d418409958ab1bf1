"""What a latency table is keyed on: an op config at an input shape.

The ops of an architecture are its stem, the ops its space says it runs (``space.op_instances``) and
its head. Each is an :class:`~nas.space.layerwise.OpUse`; its key is a readable string such as
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

from nas.space.base import build_block
from nas.space.factorized import FactorizedSpace, Residual
from nas.space.layerwise import OpUse

STEM, HEAD, SHORTCUT = "stem", "head", "shortcut"


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


def final_size(space) -> int:
    """Spatial size of the head's input."""
    if isinstance(space, FactorizedSpace):
        return space.block_input_size(len(space.blocks))
    last = space.layers[-1]
    return math.ceil(last.input_size / last.stride)


def stem_use(space) -> OpUse:
    s = space.stem
    cfg = {"block": STEM, "kernel_size": s.get("kernel_size", 3), "act": s.get("act", "relu")}
    return OpUse(STEM, STEM, cfg, 3, s["chs"], s["stride"], space.resolution)


def head_use(space, in_chs: int) -> OpUse:
    h = space.head
    cfg: Dict[str, Any] = {"block": HEAD}
    if h.get("chs"):
        cfg.update(chs=h["chs"], act=h.get("act", "relu"))
    return OpUse(HEAD, HEAD, cfg, in_chs, space.num_classes, 1, final_size(space))


def arch_uses(space, arch) -> List[OpUse]:
    """Every op ``arch`` runs: stem, the space's op instances, head."""
    body = space.op_instances(arch)
    return [stem_use(space)] + body + [head_use(space, body[-1].out_chs if body else space.stem["chs"])]


def space_uses(space) -> List[OpUse]:
    """Every op any architecture of ``space`` can run, deduplicated by key (first use kept)."""
    uses = [stem_use(space)] + space.all_op_instances()
    if isinstance(space, FactorizedSpace):  # the head's width follows the last block's width
        last = len(space.blocks) - 1
        widths = sorted({space.block_chs(last, m) for m in space.options["filter_mult"]})
        uses += [head_use(space, w) for w in widths]
    else:
        uses.append(head_use(space, space.out_chs))
    return list(unique(uses).values())


def unique(uses: Iterable[OpUse]) -> Dict[str, OpUse]:
    out: Dict[str, OpUse] = {}
    for u in uses:
        out.setdefault(op_key(u), u)
    return out


class ShortcutAdd(nn.Module):
    """``y + shortcut(x)``: a factorized-space layer's shortcut (identity, or avg-pool + 1x1 projection,
    as :class:`~nas.space.factorized.Residual` builds it), timed apart from the layer's body."""

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
