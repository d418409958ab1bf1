"""Superkernels: one weight tensor per conv role for all MBConv candidates of a layer (Once-for-All's
elastic kernel and width, Cai et al. 2020; Single-Path NAS, Stamoulis et al. 2019).

Each candidate stays the plain block its config builds (its BatchNorms, activations, shuffle and
forward are the block's own), but the weights of its convolutions come from the layer's
:class:`SuperKernels`. For each conv *role* of the block (``conv_pw.conv``, ``conv_dw.conv``,
``se.conv_reduce``, ``se.conv_expand``, ``conv_pwl.conv``) one tensor of the largest shape any
candidate needs is kept, and a candidate's conv uses

- the **centre** ``k x k`` of the largest kernel (k3 = centre of k5 = centre of k7);
- the **leading channels** on both sides (e3's expansion = the first ``3 * in`` of e6's; e1, which has
  no expansion conv, runs the depthwise's first ``in`` channels on its input);
- for a grouped conv the **block-diagonal** part of the dense weight (FBNet's g2: group ``j`` uses rows
  ``j*out/g ..`` and columns ``j*in/g ..``); a depthwise role is kept as ``(C, 1, K, K)``.

BatchNorms stay per candidate: the same shared conv feeds candidates whose output statistics differ
(kernel, width, activation), each candidate's BN normalises its own, so their outputs have one scale
for the layers after them; running statistics are re-estimated per path before scoring anyway.
:func:`materialize` copies a candidate into the plain block ``space.build_op`` makes (same state_dict
keys) with the sliced weights: the child computes exactly what the supernet's path computes.

Candidates of other block types (ShuffleNet units, Ghost, sandglass, skip) keep their own weights.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.ghost import GhostBottleneck
from nas.blocks.mbconv import MBConv
from nas.blocks.skip import Skip
from nas.layers import ChannelShuffle

ROLES = ("conv_pw.conv", "conv_dw.conv", "se.conv_reduce", "se.conv_expand", "conv_pwl.conv")


def _key(role: str) -> str:
    return role.replace(".", "__")


def _depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels


def shuffle_order(chs: int, groups: int) -> torch.Tensor:
    """``order[k]``: the channel before :func:`~nas.layers.channel_shuffle` that lands at ``k`` after it."""
    k = torch.arange(chs)
    return (k % groups) * (chs // groups) + k // groups


def slice_weight(weight: torch.Tensor, out_chs: int, in_chs: int, kernel: Tuple[int, int], groups: int,
                 depthwise: bool, in_order: Optional[torch.Tensor] = None,
                 out_order: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The weight of a conv ``in_chs -> out_chs`` (``kernel``, ``groups``) cut from a superkernel: the
    centre of the kernel, the leading channels (or the channels ``in_order`` / ``out_order`` pick, for
    convs after a channel shuffle), then for a grouped conv the block diagonal."""
    kh, kw = kernel
    oh, ow = (weight.shape[2] - kh) // 2, (weight.shape[3] - kw) // 2
    w = weight[:, :, oh:oh + kh, ow:ow + kw]
    w = w[:out_chs] if out_order is None else w[out_order.to(w.device)]
    if depthwise:
        return w
    w = w[:, :in_chs] if in_order is None else w[:, in_order.to(w.device)]
    if groups == 1:
        return w
    og, ig = out_chs // groups, in_chs // groups
    return torch.cat([w[j * og:(j + 1) * og, j * ig:(j + 1) * ig] for j in range(groups)], 0)


class SharedConv(nn.Module):
    """A conv of one candidate whose weight is a slice of its layer's superkernel (it owns no tensors)."""

    def __init__(self, bank: "SuperKernels", role: str, conv: nn.Conv2d, in_order: Optional[torch.Tensor] = None,
                 out_order: Optional[torch.Tensor] = None):
        super().__init__()
        self._bank = [bank]  # a plain reference: the bank is registered once, on the layer
        self.in_order, self.out_order = in_order, out_order  # plain tensors: not in the state_dict
        self.key = _key(role)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups
        self.has_bias, self.depthwise = conv.bias is not None, _depthwise(conv)

    def weight(self) -> torch.Tensor:
        return slice_weight(self._bank[0].weights[self.key], self.out_channels, self.in_channels, self.kernel_size,
                            self.groups, self.depthwise, self.in_order, self.out_order)

    def bias(self) -> Optional[torch.Tensor]:
        if not self.has_bias:
            return None
        b = self._bank[0].biases[self.key]
        return b[:self.out_channels] if self.out_order is None else b[self.out_order.to(b.device)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias(), self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"groups={self.groups}, shared={self.key}")


def _role_convs(ops: Dict[str, nn.Module], role: str) -> List[Tuple[str, nn.Conv2d]]:
    out = []
    for name, op in ops.items():
        try:
            m = op.get_submodule(role)
        except AttributeError:
            continue
        if isinstance(m, nn.Conv2d):
            out.append((name, m))
    return out


def _orders(op: MBConv) -> Dict[str, Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]]:
    """Per role, the (input, output) channel orders of a candidate whose expansion is followed by a channel
    shuffle: the convs after it index the superkernel by the channel *before* the shuffle, so a g2
    candidate's depthwise filters and projection columns are the dense candidates' for the same channels."""
    if not isinstance(op.shuffle, ChannelShuffle) or op.shuffle.groups == 1:
        return {}
    order = shuffle_order(op.conv_dw.conv.in_channels, op.shuffle.groups)
    return {"conv_dw.conv": (None, order), "se.conv_reduce": (order, None), "se.conv_expand": (None, order),
            "conv_pwl.conv": (order, None)}


class SuperKernels(nn.Module):
    """The shared conv weights of one layer's MBConv candidates (see the module docstring).

    ``SuperKernels(candidates)`` replaces, in place, every MBConv candidate's convolutions with
    :class:`SharedConv` views of its tensors; ``names`` are the candidates that share. A ``skip`` whose
    1x1 projection changes the shape (a transition layer's) shares the projection's leading columns.
    ``aligned`` initialises the tensors so that every candidate starts as nearly one function (as Net2Net's
    function-preserving widening): the leading ``in`` expansion rows are the identity, the projection's
    columns beyond the narrowest candidate's width and the kernel ring beyond the smallest kernel are
    zero; training grows them (they get gradients), as zero-init residual gammas grow."""

    def __init__(self, candidates: Dict[str, nn.Module], aligned: bool = True):
        super().__init__()
        ops = {n: op for n, op in candidates.items() if isinstance(op, MBConv)}
        skips = {n: op for n, op in candidates.items() if isinstance(op, Skip) and isinstance(op.conv, nn.Sequential)}
        orders = {n: _orders(op) for n, op in ops.items()}
        self.names = list(ops)
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        for role in ROLES:
            convs = _role_convs(ops, role)
            if role == "conv_pwl.conv" and convs:
                convs += [(n, op.conv.conv) for n, op in skips.items()]
            if not convs:
                continue
            dw = [_depthwise(c) for _, c in convs]
            odd = all(k % 2 == 1 for _, c in convs for k in c.kernel_size)
            if (any(dw) and not all(dw)) or not odd or len({c.dilation for _, c in convs}) > 1:
                continue  # candidates that cannot be centred or sliced alike keep their own weights
            shape = (max(c.out_channels for _, c in convs), 1 if all(dw) else max(c.in_channels for _, c in convs),
                     max(c.kernel_size[0] for _, c in convs), max(c.kernel_size[1] for _, c in convs))
            weight = torch.empty(shape)
            nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")  # as nas.layers.init_weights
            if aligned:
                self._align(role, weight, convs)
            self.weights[_key(role)] = nn.Parameter(weight)
            if any(c.bias is not None for _, c in convs):
                self.biases[_key(role)] = nn.Parameter(torch.zeros(shape[0]))
            for name, conv in convs:
                op = ops.get(name) or skips[name]
                parent, _, leaf = (role if name in ops else "conv.conv").rpartition(".")
                in_order, out_order = orders.get(name, {}).get(role, (None, None))
                setattr(op.get_submodule(parent), leaf, SharedConv(self, role, conv, in_order, out_order))
                if name not in self.names:
                    self.names.append(name)

    @staticmethod
    @torch.no_grad()
    def _align(role: str, weight: torch.Tensor, convs: List[Tuple[str, nn.Conv2d]]) -> None:
        if role == "conv_pw.conv":
            n = min(weight.shape[0], weight.shape[1])
            weight[:n].zero_()
            weight[:n, :n, weight.shape[2] // 2, weight.shape[3] // 2] = torch.eye(n)
        elif role == "conv_pwl.conv":
            weight[:, min(c.in_channels for _, c in convs):].zero_()
        elif role == "conv_dw.conv":
            k = min(c.kernel_size[0] for _, c in convs)
            o = (weight.shape[2] - k) // 2
            ring = torch.ones(weight.shape[2:], dtype=torch.bool)
            ring[o:o + k, o:o + k] = False
            weight[:, :, ring] = 0.0

    def extra_repr(self) -> str:
        return f"shared by {', '.join(self.names)}"


def materialize(candidate: nn.Module, child: nn.Module) -> nn.Module:
    """Load ``candidate`` (a block whose convs may be :class:`SharedConv`) into ``child``, the plain block
    of the same config (its state_dict keys), with the superkernel slices as its conv weights."""
    state = candidate.state_dict()
    for name, m in candidate.named_modules():
        if isinstance(m, SharedConv):
            state[f"{name}.weight"] = m.weight().detach()
            if m.has_bias:
                state[f"{name}.bias"] = m.bias().detach()
    with torch.no_grad():
        child.load_state_dict(state)
    return child


def residual_last_norms(op: nn.Module) -> List[nn.BatchNorm2d]:
    """The BatchNorms that end a block's residual branch (an identity shortcut is added after them):
    MBConv and sandglass with ``has_skip``: the last BN; a Ghost bottleneck with an identity shortcut:
    both BNs of its projecting ghost module. Other blocks: none."""
    if isinstance(op, GhostBottleneck):
        return [m for m in op.ghost2.modules() if isinstance(m, nn.BatchNorm2d)] \
            if isinstance(op.shortcut, nn.Identity) else []
    if getattr(op, "has_skip", False):
        norms = [m for m in op.modules() if isinstance(m, nn.BatchNorm2d)]
        return norms[-1:]
    return []


@torch.no_grad()
def zero_residual_gammas(model: nn.Module) -> int:
    """Zero the scale of every BN that ends a residual branch (Goyal et al. 2017): such blocks start as
    the identity. Returns how many BNs were zeroed."""
    n = 0
    for m in model.modules():
        for bn in residual_last_norms(m):
            if bn.weight is not None:
                bn.weight.zero_()
                n += 1
    return n
