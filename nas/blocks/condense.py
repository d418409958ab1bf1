"""Learned group convolution (Huang, Liu, van der Maaten & Weinberger 2018, "CondenseNet: An
Efficient DenseNet using Learned Group Convolutions").

Two forms of the same pre-activation 1x1 layer ``BN - ReLU - conv``, following the authors' code
(ShichenLiu/CondenseNet, ``layers.py``):

- TRAINING form, :class:`LearnedGroupConv`: a dense 1x1 conv multiplied by a binary ``mask`` buffer.
  Output channel ``o`` belongs to group ``o % groups``. Training runs ``condense_factor - 1``
  condensing stages spread over the first half of training; entering each one, every group drops
  the ``in_chs / condense_factor`` still-connected input channels of smallest L1 weight magnitude
  (summed over the group's outputs), so each group ends up reading ``in_chs / condense_factor``
  channels. A group-lasso penalty (:meth:`LearnedGroupConv.lasso_loss`) pushes whole
  input-channel/group columns toward zero beforehand. The caller drives the schedule with
  :meth:`LearnedGroupConv.update_condensation` (the authors read a class-global "progress" inside
  ``forward``; an explicit call keeps ``forward`` pure and scriptable).
- CONDENSED (inference) form, :class:`CondensedGroupConv`: ``index_select`` of the kept input
  channels (grouped by group; a channel kept by several groups is selected several times), BN and
  ReLU on them, a grouped 1x1 conv, and a channel shuffle that puts the outputs back in the
  training form's interleaved order. :meth:`LearnedGroupConv.condense` converts one into the other.

Also the CondenseNet dense layer (:class:`CondenseLayer`: learned group 1x1 conv to ``bn_size * k``
then BN-ReLU-3x3 group conv to ``k``, concatenated to the input) and :class:`CondensedLinear`, the
classifier whose input features are pruned to the half with the largest weights at conversion.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.registry import BLOCKS
from nas.layers import channel_shuffle, create_act


def condense_stage(progress: float, condense_factor: int) -> int:
    """The authors' schedule: ``condense_factor - 1`` condensing stages in the first half of training
    (stage ``i`` while ``2 * progress < (i + 1) / (C - 1)``), then the optimization stage ``C - 1``."""
    for i in range(condense_factor - 1):
        if progress * 2 < (i + 1) / (condense_factor - 1):
            return i
    return condense_factor - 1


def _check_condense_args(name: str, in_chs: int, out_chs: int, groups: int, condense_factor: int) -> None:
    if groups < 1 or condense_factor < 1:
        raise ValueError(f"{name}: groups={groups} and condense_factor={condense_factor} must be >= 1")
    if in_chs % condense_factor:
        raise ValueError(f"{name}: in_chs={in_chs} is not divisible by condense_factor={condense_factor}")
    if out_chs % groups:
        raise ValueError(f"{name}: out_chs={out_chs} is not divisible by groups={groups}")


_LGC_EXAMPLES = [
    dict(in_chs=16, out_chs=32, stride=1),
    dict(in_chs=16, out_chs=32, stride=2, groups=2, condense_factor=4, drop_rate=0.1),
    dict(in_chs=24, out_chs=16, stride=1, groups=8, condense_factor=8),
]


@BLOCKS.register("learned_group_conv", examples=_LGC_EXAMPLES)
class LearnedGroupConv(nn.Module):
    """Training form: ``norm - act - [drop] - conv (1x1, weight * mask)``.

    ``condense_factor`` (C) defaults to ``groups`` (G). ``stride`` strides the 1x1 conv, as the
    authors' layer allows. Buffers: ``mask`` (same shape as the conv weight, 1 = connected) and
    ``stage`` (condensing stage reached so far).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, groups: int = 4,
                 condense_factor: int | None = None, act: str = "relu", drop_rate: float = 0.0):
        super().__init__()
        cf = int(condense_factor) if condense_factor is not None else int(groups)
        _check_condense_args("LearnedGroupConv", in_chs, out_chs, groups, cf)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
        self.groups, self.condense_factor, self.act_name = int(groups), cf, act
        self.norm = nn.BatchNorm2d(in_chs)
        self.act = create_act(act, inplace=True)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.conv = nn.Conv2d(in_chs, out_chs, 1, stride, bias=False)
        self.register_buffer("mask", torch.ones(out_chs, in_chs, 1, 1))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.norm(x)))
        return F.conv2d(x, self.conv.weight * self.mask, None, self.stride)

    # ----------------------------------------------------------------------------------------
    # condensation machinery (plain Python; not part of forward, so not compiled by TorchScript)

    def group_mask(self) -> torch.Tensor:
        """``(groups, in_chs)`` bool: which inputs each group still reads (rows ``g`` = outputs ``g::G``)."""
        return self.mask[: self.groups, :, 0, 0] > 0

    @torch.jit.unused
    def lasso_loss(self) -> torch.Tensor:
        """Group-lasso penalty: sum over (group, input channel) of the L2 norm of the connecting weights.

        Zero once the optimization stage is reached (nothing is dropped after that).
        """
        if int(self.stage) >= self.condense_factor - 1:
            return self.conv.weight.new_zeros(())
        w = (self.conv.weight * self.mask).pow(2).sum((2, 3))
        w = w.view(self.out_chs // self.groups, self.groups, self.in_chs).sum(0)
        return w.clamp(min=1e-6).sqrt().sum()

    @torch.jit.unused
    @torch.no_grad()
    def update_condensation(self, progress: float) -> int:
        """Advance the schedule to training ``progress`` in [0, 1]; returns the channels each group dropped."""
        target = condense_stage(float(progress), self.condense_factor)
        current = int(self.stage)
        if target <= current:
            return 0
        dropped = self.drop_channels((target - current) * (self.in_chs // self.condense_factor))
        self.stage.fill_(target)
        return dropped

    @torch.jit.unused
    @torch.no_grad()
    def drop_channels(self, delta: int) -> int:
        """Disconnect, in every group, the ``delta`` live inputs of smallest summed |weight|."""
        alive = self.group_mask()
        keep_min = self.in_chs // self.condense_factor
        delta = min(int(delta), int(alive.sum(1).min()) - keep_min)
        if delta <= 0:
            return 0
        d_out = self.out_chs // self.groups
        w = (self.conv.weight * self.mask).abs().sum((2, 3))  # (out, in)
        importance = w.view(d_out, self.groups, self.in_chs).sum(0)  # (G, in); output o = k * G + g
        importance = importance.masked_fill(~alive, float("inf"))
        drop = importance.argsort(dim=1, stable=True)[:, :delta]
        alive = alive.scatter(1, drop, False)
        self.set_group_mask(alive)
        return delta

    @torch.jit.unused
    @torch.no_grad()
    def set_group_mask(self, group_mask: torch.Tensor) -> None:
        """Set ``mask`` from a ``(groups, in_chs)`` bool map (output ``o`` takes row ``o % groups``)."""
        gm = group_mask.to(device=self.mask.device, dtype=torch.bool)
        if gm.shape != (self.groups, self.in_chs):
            raise ValueError(f"group mask must have shape {(self.groups, self.in_chs)}, got {tuple(gm.shape)}")
        rows = gm.repeat(self.out_chs // self.groups, 1)
        self.mask.copy_(rows.to(self.mask.dtype)[:, :, None, None])

    @torch.jit.unused
    @torch.no_grad()
    def condense(self) -> "CondensedGroupConv":
        """The equivalent inference form (same output in eval mode).

        Every group must read the same number of inputs and the mask must be constant within a
        group (both hold for masks made by :meth:`update_condensation`).
        """
        gm = self.group_mask()
        if not torch.equal(self.mask[:, :, 0, 0] > 0, gm.repeat(self.out_chs // self.groups, 1)):
            raise ValueError("LearnedGroupConv.condense: mask differs between outputs of the same group")
        counts = gm.sum(1)
        keep = int(counts[0])
        if keep == 0 or not bool((counts == keep).all()):
            raise ValueError(f"LearnedGroupConv.condense: groups keep unequal or zero inputs: {counts.tolist()}")
        index = gm.nonzero()[:, 1]  # group-major, ascending channel within a group
        new = CondensedGroupConv(self.in_chs, self.out_chs, self.stride, groups=self.groups,
                                 keep_chs=keep * self.groups, act=self.act_name)
        new = new.to(device=self.conv.weight.device, dtype=self.conv.weight.dtype)
        d_out = self.out_chs // self.groups
        w = (self.conv.weight * self.mask)[:, :, 0, 0]
        w = w.view(d_out, self.groups, self.in_chs).transpose(0, 1)  # (G, d_out, in): [g, k] = output k*G+g
        sel = index.view(self.groups, 1, keep).expand(self.groups, d_out, keep)
        new.conv.weight.copy_(torch.gather(w, 2, sel).reshape(self.out_chs, keep, 1, 1))
        new.index.copy_(index)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new.norm, name).copy_(getattr(self.norm, name)[index])
        new.norm.num_batches_tracked.copy_(self.norm.num_batches_tracked)
        return new.train(self.training)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, condense_factor={self.condense_factor}"


_CGC_EXAMPLES = [
    dict(in_chs=16, out_chs=32, stride=1),
    dict(in_chs=16, out_chs=32, stride=2, groups=2, condense_factor=4),
    dict(in_chs=24, out_chs=16, stride=1, groups=8, condense_factor=8),
]


@BLOCKS.register("condensed_group_conv", examples=_CGC_EXAMPLES)
class CondensedGroupConv(nn.Module):
    """Inference form: ``index_select -> norm -> act -> conv (1x1, groups) -> channel shuffle``.

    Selects ``keep_chs`` channels (default ``in_chs * groups / condense_factor``: each group reads
    ``in_chs / condense_factor``); the ``index`` buffer holds them group after group. A freshly
    built layer selects ``arange(keep_chs) % in_chs``; :meth:`LearnedGroupConv.condense` or a
    converted checkpoint sets the learned selection.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, groups: int = 4,
                 condense_factor: int | None = None, keep_chs: int | None = None, act: str = "relu"):
        super().__init__()
        cf = int(condense_factor) if condense_factor is not None else int(groups)
        if keep_chs is None:
            _check_condense_args("CondensedGroupConv", in_chs, out_chs, groups, cf)
            keep_chs = in_chs * groups // cf
        if keep_chs < groups or keep_chs % groups or out_chs % groups:
            raise ValueError(f"CondensedGroupConv: keep_chs={keep_chs} and out_chs={out_chs} must be "
                             f"positive multiples of groups={groups}")
        self.in_chs, self.out_chs, self.keep_chs, self.groups = in_chs, out_chs, int(keep_chs), int(groups)
        self.register_buffer("index", torch.arange(self.keep_chs) % in_chs)
        self.norm = nn.BatchNorm2d(self.keep_chs)
        self.act = create_act(act, inplace=True)
        self.conv = nn.Conv2d(self.keep_chs, out_chs, 1, stride, groups=self.groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.act(self.norm(torch.index_select(x, 1, self.index))))
        if self.groups > 1:
            x = channel_shuffle(x, self.groups)
        return x

    def extra_repr(self) -> str:
        return f"keep_chs={self.keep_chs}, groups={self.groups}"


class _BnActConv(nn.Sequential):
    """Pre-activation ``norm -> act -> conv`` (the authors' ``Conv``)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, groups: int, act: str):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_chs)
        self.act = create_act(act, inplace=True)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, padding=kernel_size // 2, groups=groups, bias=False)


_LAYER_EXAMPLES = [
    dict(in_chs=16, out_chs=24, stride=1),
    dict(in_chs=16, out_chs=24, stride=1, condensed=False, drop_rate=0.1),
    dict(in_chs=32, out_chs=48, stride=1, groups=8, condense_factor=8, bn_size=2),
]


@BLOCKS.register("condense_dense_layer", examples=_LAYER_EXAMPLES, strides=(1,))
class CondenseLayer(nn.Module):
    """CondenseNet layer: ``conv1`` (learned group 1x1, ``in -> bn_size * k``) then ``conv2``
    (BN-ReLU-3x3 conv with ``groups`` groups, ``-> k``); output ``cat([x, new])``, ``k = out - in``.

    ``condensed=True`` (default) builds the inference form of ``conv1``, ``False`` the training form
    (call :meth:`condense` after training). Stride 1 only: the output concatenates the input
    (CondenseNet downsamples with average pools between blocks).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, bn_size: int = 4, groups: int = 4,
                 condense_factor: int | None = None, condensed: bool = True, act: str = "relu",
                 drop_rate: float = 0.0):
        super().__init__()
        growth = out_chs - in_chs
        if stride != 1:
            raise ValueError(f"CondenseLayer: stride must be 1 (pools between blocks downsample), got {stride}")
        if growth <= 0:
            raise ValueError(f"CondenseLayer: out_chs={out_chs} must exceed in_chs={in_chs} (out = in + growth)")
        mid = bn_size * growth
        if condensed:
            self.conv1: nn.Module = CondensedGroupConv(in_chs, mid, 1, groups=groups,
                                                       condense_factor=condense_factor, act=act)
        else:
            self.conv1 = LearnedGroupConv(in_chs, mid, 1, groups=groups, condense_factor=condense_factor,
                                          act=act, drop_rate=drop_rate)
        self.conv2 = _BnActConv(mid, growth, 3, groups, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv2(self.conv1(x))], 1)

    @torch.jit.unused
    def condense(self) -> "CondenseLayer":
        """Replace a training-form ``conv1`` by its inference form (in place)."""
        if isinstance(self.conv1, LearnedGroupConv):
            self.conv1 = self.conv1.condense()
        return self


class CondensedLinear(nn.Module):
    """``index_select`` of ``int(in_features * keep)`` input features, then ``linear``.

    :meth:`from_linear` keeps the features with the largest summed |weight| over the outputs, as the
    authors' conversion does for the classifier (``keep = 0.5``).
    """

    def __init__(self, in_features: int, out_features: int, keep: float = 0.5):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        kept = int(in_features * keep)
        if not 0 < kept <= in_features:
            raise ValueError(f"CondensedLinear: keep={keep} keeps {kept} of {in_features} features")
        self.linear = nn.Linear(kept, out_features)
        self.register_buffer("index", torch.arange(kept))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.index_select(x, 1, self.index))

    @classmethod
    @torch.no_grad()
    def from_linear(cls, linear: nn.Linear, keep: float = 0.5) -> "CondensedLinear":
        new = cls(linear.in_features, linear.out_features, keep).to(device=linear.weight.device,
                                                                     dtype=linear.weight.dtype)
        kept = new.index.numel()
        order = linear.weight.abs().sum(0).argsort(descending=True, stable=True)
        index = order[:kept].sort().values
        new.index.copy_(index)
        new.linear.weight.copy_(linear.weight[:, index])
        if linear.bias is not None:
            new.linear.bias.copy_(linear.bias)
        else:
            new.linear.bias.zero_()
        return new.train(linear.training)


def learned_group_convs(module: nn.Module) -> List[LearnedGroupConv]:
    """Every training-form learned group conv inside ``module``."""
    return [m for m in module.modules() if isinstance(m, LearnedGroupConv)]
