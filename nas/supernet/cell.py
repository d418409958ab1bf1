"""Weight-sharing supernet of a cell space (NAS-Bench-201's, as DARTS, Liu et al. 2019, and GDAS, Dong &
Yang 2019, search it).

Every cell holds, per edge, every candidate op with its own weights (:class:`MixedEdge`); the
architecture logits are per edge *decision* and shared by all cells: ``theta`` of ``1<-0`` (one
:class:`EdgeChoice`) weighs edge ``1<-0`` of each of the 15 cells. ``mixed_ops()`` returns the
choices, one per decision label, so a latency model with one cost vector per label (FBNet's expected
latency) applies as it is. Each forward pass draws once per decision and every cell uses that draw
(GDAS's network draws once per forward). Modes (``set_mode``):

- ``soft``: Gumbel-softmax weights at temperature ``tau`` mix every candidate (a zero op adds nothing);
- ``hard``: GDAS: the Gumbel-max candidate runs alone; the one-hot vector ``h`` it defines carries the
  soft weights' gradient (straight through), the edge outputs ``h[k] * op_k(x) + sum_{i != k} h[i]``
  (the other terms are 0 in value: GDAS's way of giving every logit a gradient);
- ``fixed``: run a given architecture (zero-op edges are skipped, as in the child).

``extract(arch)`` returns the plain child (``space.build``'s structure) with the shared weights; in
eval mode its outputs equal the supernet's fixed path.
"""

from __future__ import annotations

import copy
from typing import Dict, Iterator, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.nb201 import Cell
from nas.layers import init_weights
from nas.space.arch import Arch
from nas.space.base import build_block
from nas.space.cell import CellSpace
from nas.supernet.registry import SUPERNETS

MODES = ("soft", "hard", "fixed")


class EdgeChoice(nn.Module):
    """The decision of one edge, shared by every cell: ``theta`` over the op names and this pass's draw."""

    def __init__(self, names: List[str], zero: List[bool]):
        super().__init__()
        self.names = list(names)
        self.zero = list(zero)
        self.theta = nn.Parameter(torch.zeros(len(self.names)))
        self.mode, self.tau, self.choice = "fixed", 1.0, 0
        self.weights: Optional[torch.Tensor] = None  # the soft weights of the last draw (FBNet's E[latency])
        self.hard: Optional[torch.Tensor] = None  # the straight-through one-hot of the last hard draw
        self.sampled = 0  # the op the last hard/fixed draw chose

    def probs(self) -> torch.Tensor:
        return F.softmax(self.theta, dim=-1)

    def draw(self) -> None:
        """This forward pass's weights (every cell uses them)."""
        if self.mode == "fixed":
            self.sampled = self.choice
            return
        while True:  # GDAS redraws the (vanishingly rare) infinite Gumbel noise
            gumbels = -torch.empty_like(self.theta).exponential_().log()
            soft = F.softmax((self.theta + gumbels) / self.tau, dim=-1)
            if torch.isfinite(soft).all():
                break
        self.weights = soft
        if self.mode == "hard":
            self.sampled = int(soft.argmax())
            one_hot = torch.zeros_like(soft)
            one_hot[self.sampled] = 1.0
            self.hard = (soft - soft.detach()) + one_hot  # exactly one-hot, gradient of soft


class MixedEdge(nn.Module):
    """One edge of one cell: every candidate op (own weights), run as its :class:`EdgeChoice` says."""

    def __init__(self, ops: Dict[str, nn.Module], choice: EdgeChoice):
        super().__init__()
        self.ops = nn.ModuleDict(ops)
        self._choice = [choice]  # a plain reference: the choice is registered once, on the supernet

    @property
    def choice(self) -> EdgeChoice:
        return self._choice[0]

    def forward(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        c = self.choice
        if c.mode == "fixed":
            return None if c.zero[c.choice] else self.ops[c.names[c.choice]](x)
        if c.mode == "soft":
            out: Optional[torch.Tensor] = None
            for i, name in enumerate(c.names):
                if not c.zero[i]:
                    y = c.weights[i] * self.ops[name](x)
                    out = y if out is None else out + y
            return out
        k, h = c.sampled, c.hard
        return self.ops[c.names[k]](x) * h[k] + (h.sum() - h[k])


class SuperCell(nn.Module):
    """A cell of mixed edges: node ``i`` sums the edges into it (:class:`~nas.blocks.nb201.Cell`'s rule)."""

    def __init__(self, chs: int, edges: List[MixedEdge], pairs: List[tuple]):
        super().__init__()
        self.chs = chs
        self.edges = nn.ModuleList(edges)
        self.pairs = list(pairs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        total: Optional[torch.Tensor] = None
        for (i, j), edge in zip(self.pairs, self.edges):
            y = edge(nodes[j])
            if y is not None:
                total = y if total is None else total + y
            if j == i - 1:
                nodes.append(torch.zeros_like(x) if total is None else total)
                total = None
        return nodes[-1]


@SUPERNETS.register("cell", modes=MODES)
class CellSupernet(nn.Module):
    """The supernet of a :class:`~nas.space.cell.CellSpace` (``build_supernet(space)``)."""

    def __init__(self, space: CellSpace):
        super().__init__()
        self.space = space
        names = list(space.ops)
        self.choices = nn.ModuleDict({d.label: EdgeChoice(names, [n in space.zero_ops for n in names])
                                      for d in space.decisions})
        self.stem = space.build_stem()
        stages = []
        for st in space.stages:
            layers: List[nn.Module] = [space.build_reduction(st)] if st.reduces else []
            for _ in range(st.cells):
                edges = [MixedEdge({n: build_block(space.ops[n], st.chs, st.chs, 1) for n in names},
                                   self.choices[d.label]) for d in space.decisions]
                layers.append(SuperCell(st.chs, edges, space.edges))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head, self.classifier = space.build_head(space.out_chs)
        init_weights(self)

    # --- parameters ------------------------------------------------------------------------------
    def mixed_ops(self) -> Dict[str, EdgeChoice]:
        """One entry per decision label (its theta, names, last weights), shared by every cell."""
        return dict(self.choices.items())

    def arch_parameters(self) -> List[nn.Parameter]:
        return [c.theta for c in self.choices.values()]

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        thetas = {id(t) for t in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in thetas)

    # --- modes -----------------------------------------------------------------------------------
    def set_mode(self, mode: str, tau: float = 1.0) -> "CellSupernet":
        if mode not in MODES:
            raise ValueError(f"unknown supernet mode {mode!r}; expected one of {', '.join(MODES)}")
        for c in self.choices.values():
            c.mode, c.tau = mode, float(tau)
        return self

    def set_arch(self, arch: Arch) -> "CellSupernet":
        """Fixed-path mode on ``arch``."""
        self.space.check(arch)
        for label, c in self.choices.items():
            c.choice = c.names.index(arch.choices[label])
        return self.set_mode("fixed")

    def sampled_arch(self) -> Arch:
        """The path the last hard/fixed forward ran."""
        return self.space.make_arch({l: c.names[c.sampled] for l, c in self.choices.items()})

    def derive(self) -> Arch:
        """The most likely architecture under theta (argmax per edge)."""
        return self.space.make_arch({l: c.names[int(c.theta.argmax())] for l, c in self.choices.items()})

    def probabilities(self) -> Dict[str, torch.Tensor]:
        return {l: c.probs().detach() for l, c in self.choices.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.choices.values():
            c.draw()
        return self.classifier(self.head(self.stages(self.stem(x))))

    # --- children --------------------------------------------------------------------------------
    def extract(self, arch: Arch) -> nn.Module:
        """The plain child of ``arch`` with this supernet's weights (and BN statistics) copied in."""
        self.space.check(arch)
        stages = []
        for stage in self.stages:
            layers = []
            for mod in stage:
                if isinstance(mod, SuperCell):
                    ops = [copy.deepcopy(e.ops[arch.choices[d.label]]) for d, e in zip(self.space.decisions, mod.edges)]
                    mod = Cell(mod.chs, mod.chs, 1, edges=ops)
                else:
                    mod = copy.deepcopy(mod)
                layers.append(mod)
            stages.append(layers)
        child = self.space.assemble(copy.deepcopy(self.stem), stages, copy.deepcopy(self.head),
                                    copy.deepcopy(self.classifier), init=False)
        return child.train(self.training)

