"""Weight-sharing supernet of a factorized (MNASNet) space, whose blocks vary in width and depth.

Every layer slot holds each ``(conv_op, kernel, se)`` candidate once, built at the block's widest
width; a narrower architecture uses the leading channels of those weights (as Once-for-All, Cai et
al. 2020, shares widths). Channels beyond the active width are zeroed at every BatchNorm output (and
at the SE reduction), so the masked wide op computes exactly what the narrow op with sliced weights
computes, and ``extract`` slices the weights into a plain child. Slots beyond a block's chosen depth
are bypassed. Only the ``fixed`` mode exists here (uniform single-path training as in SPOS, and
scoring archs with inherited weights): width and depth have no per-layer mixture to relax.
"""

from __future__ import annotations

import itertools
from typing import Dict, Iterator, List, Tuple

import torch
from torch import nn

from nas.layers import ConvBnAct, init_weights
from nas.space.arch import Arch
from nas.space.base import Residual, adds_shortcut, build_block
from nas.space.factorized import FactorizedSpace
from nas.supernet.registry import SUPERNETS


def _mask_hook(module: nn.Module, inputs, out: torch.Tensor) -> torch.Tensor:
    active = module.nas_active
    if active >= out.shape[1]:
        return out
    mask = torch.zeros(1, out.shape[1], 1, 1, dtype=out.dtype, device=out.device)
    mask[:, :active] = 1
    return out * mask


def _maskable(op: nn.Module) -> List[Tuple[str, nn.Module]]:
    """Modules whose outputs get masked: BatchNorms, and convs with a bias (SE) not followed by BN."""
    out = []
    for name, m in op.named_modules():
        if isinstance(m, nn.BatchNorm2d) or (isinstance(m, nn.Conv2d) and m.bias is not None):
            m.nas_active = m.num_features if isinstance(m, nn.BatchNorm2d) else m.out_channels
            m.register_forward_hook(_mask_hook)
            out.append((name, m))
    return out


def _width(m: nn.Module) -> int:
    return m.num_features if isinstance(m, nn.BatchNorm2d) else m.out_channels


def _fit(x: torch.Tensor, chs: int) -> torch.Tensor:
    if x.shape[1] == chs:
        return x
    if x.shape[1] > chs:
        return x[:, :chs]
    return torch.cat([x, x.new_zeros(x.shape[0], chs - x.shape[1], *x.shape[2:])], 1)


def _copy_sliced(dst: nn.Module, src: nn.Module) -> None:
    """Copy ``src``'s tensors into the (narrower, same-structured) ``dst`` by leading slices."""
    src_state = src.state_dict()
    with torch.no_grad():
        for name, t in dst.state_dict().items():
            s = src_state[name]
            t.copy_(s[tuple(slice(0, n) for n in t.shape)] if t.dim() else s)


class ElasticSlot(nn.Module):
    """One layer position of a block: every op candidate at max width, plus a shortcut projection."""

    def __init__(self, space: FactorizedSpace, in_max: int, out_max: int, stride: int):
        super().__init__()
        self.space, self.stride = space, stride
        self.keys: Dict[Tuple[str, int, float], str] = {}
        ops = {}
        for conv_op, k, se in itertools.product(*(space.options[n] for n in ("conv_op", "kernel_size", "se_ratio"))):
            key = f"{conv_op}_k{k}_se{se:g}".replace(".", "p")
            self.keys[(conv_op, k, se)] = key
            ops[key] = build_block(space.op_config(conv_op, k, se), in_max, out_max, stride)
        self.ops = nn.ModuleDict(ops)
        self.proj = ConvBnAct(in_max, out_max, 1, act=None)
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()
        self.masked = {key: _maskable(op) for key, op in ops.items()}
        self.masked_proj = _maskable(self.proj)
        self.enabled, self.key, self.in_chs, self.out_chs, self.skip_op = True, next(iter(ops)), in_max, out_max, "none"
        self._widths: Dict[Tuple[str, int, int], List[int]] = {}

    def configure(self, enabled: bool, op_key: Tuple[str, int, float], in_chs: int, out_chs: int, skip_op: str):
        self.enabled, self.key = enabled, self.keys[op_key]
        self.in_chs, self.out_chs, self.skip_op = in_chs, out_chs, skip_op
        if not enabled:
            return
        cache = (self.key, in_chs, out_chs)
        if cache not in self._widths:
            with torch.device("meta"):
                child = build_block(self.space.op_config(*op_key), in_chs, out_chs, self.stride)
            mods = dict(child.named_modules())
            self._widths[cache] = [_width(mods[name]) for name, _ in self.masked[self.key]]
        for (_, m), w in zip(self.masked[self.key], self._widths[cache]):
            m.nas_active = w
        for _, m in self.masked_proj:
            m.nas_active = out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        out = self.ops[self.key](x)
        if not adds_shortcut(self.in_chs, self.out_chs, self.stride, self.skip_op):
            return out
        if self.stride == 1 and self.in_chs == self.out_chs:
            return out + _fit(x, out.shape[1])
        short = self.pool(x)
        return out + (self.proj(short) if self.in_chs != self.out_chs else _fit(short, out.shape[1]))

    def extract(self) -> nn.Module:
        conv_op = next(k for k, v in self.keys.items() if v == self.key)
        body = build_block(self.space.op_config(*conv_op), self.in_chs, self.out_chs, self.stride)
        _copy_sliced(body, self.ops[self.key])
        child = Residual(body, self.in_chs, self.out_chs, self.stride, self.skip_op)
        if isinstance(child.shortcut, nn.Sequential) and isinstance(child.shortcut[1], ConvBnAct):
            _copy_sliced(child.shortcut[1], self.proj)
        return child.train(self.training)


@SUPERNETS.register("factorized", modes=("fixed",))
class ElasticSupernet(nn.Module):
    """The supernet of a :class:`FactorizedSpace` (``build_supernet(space)``); fixed-path mode only."""

    def __init__(self, space: FactorizedSpace):
        super().__init__()
        self.space = space
        self.stem = space.build_stem()
        widest = max(space.options["filter_mult"])
        deepest = max(space.options["layers_delta"])
        in_max, stages = space.stem["chs"], []
        for i, (_, layers, stride) in enumerate(space.blocks):
            out_max = space.block_chs(i, widest)
            slots = [ElasticSlot(space, in_max if j == 0 else out_max, out_max, stride if j == 0 else 1)
                     for j in range(max(1, layers + deepest))]
            stages.append(nn.Sequential(*slots))
            in_max = out_max
        self.stages = nn.Sequential(*stages)
        self.head, self.classifier = space.build_head(in_max)
        init_weights(self)
        self.arch: Arch | None = None
        self.set_arch(space.sample(0))

    def arch_parameters(self) -> List[nn.Parameter]:
        return []

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        return self.parameters()

    def set_mode(self, mode: str, tau: float = 1.0) -> "ElasticSupernet":
        if mode != "fixed":
            raise ValueError(f"the supernet of factorized space '{self.space.name}' runs fixed paths only "
                             f"(mode {mode!r} needs one candidate set per layer: use a layer-wise space)")
        return self

    def set_arch(self, arch: Arch) -> "ElasticSupernet":
        self.space.check(arch)
        self.arch = arch
        for b, stage in zip(self.space.plan(arch.choices), self.stages):
            op_key = (arch.choices[f"b{b.index + 1}.conv_op"], arch.choices[f"b{b.index + 1}.kernel_size"],
                      arch.choices[f"b{b.index + 1}.se_ratio"])
            for j, slot in enumerate(stage):
                slot.configure(j < b.layers, op_key, b.in_chs if j == 0 else b.out_chs, b.out_chs, b.skip_op)
        return self

    def sampled_arch(self) -> Arch:
        return self.arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))

    def extract(self, arch: Arch) -> nn.Module:
        import copy
        self.set_arch(arch)
        stages = [[slot.extract() for slot in stage if slot.enabled] for stage in self.stages]
        head, classifier = self.space.build_head(self.space.plan(arch.choices)[-1].out_chs)
        _copy_sliced(head, self.head)
        classifier.load_state_dict(self.classifier.state_dict())
        child = self.space.assemble(copy.deepcopy(self.stem), stages, head, classifier, init=False)
        return child.train(self.training)
