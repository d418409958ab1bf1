"""The ops and the cell of NAS-Bench-201 (Dong & Yang 2020, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR), as the benchmark's networks were trained with them.

- ``nb201_conv``: ``nor_conv_kxk``, ReLU - KxK conv (no bias) - BN (affine);
- ``nb201_avg_pool``: ``avg_pool_3x3``, 3x3 average pool, padding 1, ``count_include_pad=False``
  (a ReLU-1x1 conv-BN first where the channels change);
- ``nb201_skip``: ``skip_connect``, identity (a factorized reduction where the shape changes);
- ``nb201_zero``: ``none``, zeros (a cell does not run it: the edge adds nothing);
- ``nb201_resblock``: the residual reduction block between stages (ResNet basic block in
  pre-activation order: ReLU-conv3x3-BN twice; shortcut 2x2 average pool + 1x1 conv, no BN);
- ``nb201_cell``: the cell DAG: node ``i`` sums ``edge(i<-j)(node j)`` over ``j < i``; its output is
  the last node.

ReLUs are never in place: a node's tensor feeds several edges and the sum.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.registry import BLOCKS


@BLOCKS.register("nb201_conv", examples=[dict(in_chs=8, out_chs=8, stride=1), dict(in_chs=8, out_chs=16, stride=2),
                                         dict(in_chs=8, out_chs=8, stride=1, kernel_size=1, affine=False)])
class ReLUConvBN(nn.Sequential):
    """``act -> conv (KxK, "same" padding, no bias) -> bn``: NB201's ``nor_conv_kxk``."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, affine: bool = True):
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, affine=affine)


@BLOCKS.register("nb201_avg_pool", examples=[dict(in_chs=8, out_chs=8, stride=1), dict(in_chs=8, out_chs=8, stride=2),
                                             dict(in_chs=8, out_chs=16, stride=1)])
class AvgPool(nn.Module):
    """3x3 average pool (padding 1, borders averaged over the pixels inside); NB201's ``avg_pool_3x3``.
    Where the channels change, a ReLU-1x1 conv-BN first (as the benchmark's ``POOLING``)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, affine: bool = True):
        super().__init__()
        self.pre = ReLUConvBN(in_chs, out_chs, 1, kernel_size=1, affine=affine) if in_chs != out_chs else nn.Identity()
        self.pool = nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.pre(x))


@BLOCKS.register("nb201_zero", examples=[dict(in_chs=8, out_chs=8, stride=1), dict(in_chs=8, out_chs=8, stride=2),
                                         dict(in_chs=8, out_chs=16, stride=2)])
class Zero(nn.Module):
    """Zeros of the output's shape; NB201's ``none``. A :class:`Cell` skips it (``is_zero``): the edge
    adds nothing to its node and costs nothing. The output keeps a (zero) gradient path to the input."""

    is_zero = True

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__()
        self.out_chs, self.stride, self.same_chs = out_chs, stride, in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride].mul(0.0)
        if self.same_chs:
            return x
        return x[:, :1].expand(-1, self.out_chs, -1, -1)


class FactorizedReduce(nn.Module):
    """Stride 2 without losing half the pixels: ReLU, two 1x1 convs at stride 2 (the second on the
    input shifted by one pixel), their outputs concatenated, BN."""

    def __init__(self, in_chs: int, out_chs: int, affine: bool = True):
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(in_chs, out_chs // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(in_chs, out_chs - out_chs // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], 1))


@BLOCKS.register("nb201_skip", examples=[dict(in_chs=8, out_chs=8, stride=1), dict(in_chs=8, out_chs=16, stride=2),
                                         dict(in_chs=8, out_chs=16, stride=1)])
class Skip(nn.Module):
    """Identity; NB201's ``skip_connect``. Where the shape changes (never inside NB201's cells): a
    factorized reduction at stride 2, a 1x1 conv-BN at stride 1."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, affine: bool = True):
        super().__init__()
        if stride == 1 and in_chs == out_chs:
            self.op: nn.Module = nn.Identity()
        elif stride == 1:
            self.op = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, bias=False), nn.BatchNorm2d(out_chs, affine=affine))
        else:
            self.op = FactorizedReduce(in_chs, out_chs, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


@BLOCKS.register("nb201_resblock", examples=[dict(in_chs=8, out_chs=16, stride=2), dict(in_chs=8, out_chs=8, stride=1),
                                             dict(in_chs=8, out_chs=16, stride=1, affine=False)])
class ResBlock(nn.Module):
    """NB201's reduction block (its ``ResNetBasicblock``): ``conv_b(conv_a(x)) + shortcut(x)`` with
    ReLU-conv3x3-BN ops (``conv_a`` carries the stride); the shortcut is a 2x2 average pool and a 1x1
    conv (no BN) at stride 2, a ReLU-1x1 conv-BN where only the channels change, else identity.
    The pool rounds up (``ceil_mode``): the same as the benchmark's on even sizes, ``ceil(H / 2)`` on odd."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 2, *, affine: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(in_chs, out_chs, stride, kernel_size=3, affine=affine)
        self.conv_b = ReLUConvBN(out_chs, out_chs, 1, kernel_size=3, affine=affine)
        if stride > 1:
            self.shortcut: nn.Module = nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True),
                                                     nn.Conv2d(in_chs, out_chs, 1, bias=False))
        elif in_chs != out_chs:
            self.shortcut = ReLUConvBN(in_chs, out_chs, 1, kernel_size=1, affine=affine)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def cell_nodes(num_edges: int) -> int:
    """The nodes of a cell with ``num_edges`` edges (every ``i <- j``, ``j < i``): ``n (n - 1) / 2 = edges``."""
    n = 2
    while n * (n - 1) // 2 < num_edges:
        n += 1
    if n * (n - 1) // 2 != num_edges:
        raise ValueError(f"Cell: {num_edges} edges is not n (n - 1) / 2 for any number of nodes n >= 2")
    return n


def _example_edges(chs: int) -> List[nn.Module]:
    return [ReLUConvBN(chs, chs, 1), Zero(chs, chs, 1), AvgPool(chs, chs, 1)]


@BLOCKS.register("nb201_cell", strides=(1,), examples=[
    dict(in_chs=8, out_chs=8, stride=1, edges=_example_edges(8)),
    dict(in_chs=8, out_chs=8, stride=1, edges=[ReLUConvBN(8, 8, 1, kernel_size=1), Skip(8, 8, 1)] + [
        ReLUConvBN(8, 8, 1), Zero(8, 8, 1), Zero(8, 8, 1), ReLUConvBN(8, 8, 1)]),
])
class Cell(nn.Module):
    """A cell DAG: ``node 0 = x``, ``node i = sum over j < i of edges[(i, j)](node j)``, output the last node.

    ``edges``: one op module per edge, ordered by target node then source (``1<-0, 2<-0, 2<-1, 3<-0,
    ...``, the order of NB201's arch string), each mapping ``out_chs`` channels to ``out_chs`` at
    stride 1. Edges whose op ``is_zero`` are not run; a node without other inputs is zeros. Stride 1
    and ``in_chs == out_chs`` only: NB201 changes shape between cells (:class:`ResBlock`).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, edges: Sequence[nn.Module]):
        super().__init__()
        if stride != 1 or in_chs != out_chs:
            raise ValueError(f"Cell: keeps its input's shape (stride 1, in_chs == out_chs), got {in_chs}->{out_chs} "
                             f"at stride {stride}")
        nodes = cell_nodes(len(edges))
        self.edges = nn.ModuleList(edges)
        pairs = [(i, j) for i in range(1, nodes) for j in range(i)]
        self.sources: List[int] = [j for _, j in pairs]
        self.closes: List[bool] = [j == i - 1 for i, j in pairs]  # the last edge into its node
        self.live: List[bool] = [not getattr(e, "is_zero", False) for e in edges]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: List[torch.Tensor] = [x]
        total: Optional[torch.Tensor] = None
        for i, edge in enumerate(self.edges):
            if self.live[i]:
                y = edge(nodes[self.sources[i]])
                if total is None:
                    total = y
                else:
                    total = total + y
            if self.closes[i]:
                if total is None:
                    nodes.append(torch.zeros_like(x))
                else:
                    nodes.append(total)
                total = None
        return nodes[-1]
