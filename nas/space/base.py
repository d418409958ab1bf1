"""What every search space has: decisions, sampling, size, encoding, and the child network shape."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from nas.blocks import BLOCKS
from nas.layers import Classifier, ConvBnAct, init_weights
from nas.space.arch import Arch
from nas.space.errors import SpaceError


STEM, HEAD, SHORTCUT = "stem", "head", "shortcut"  # pseudo-block names of the ops around the searched body


@dataclass(frozen=True)
class Decision:
    """One choice the search makes: a label and its options, in a fixed order."""

    label: str
    choices: Tuple[Any, ...]


@dataclass(frozen=True)
class Layer:
    """A layer of the resolved network: where it sits, its shapes and the ops it may take."""

    label: str
    stage: int
    index: int
    in_chs: int
    out_chs: int
    stride: int
    input_size: int
    candidates: Tuple[str, ...]


class OpUse(NamedTuple):
    """One op at one input shape, where an architecture uses it (what latency tables are keyed on).

    ``config`` is the op's block config as ``build_block`` takes it (a ``block`` name and options);
    ``site`` says where it sits (a layer label such as ``s2.1``; ``b2.0`` / ``b2.0.skip`` in a
    factorized space) and ``choice`` which choice put it there. The op's input is
    ``in_chs x input_size x input_size``; it gives ``out_chs`` channels at ``stride``.
    """

    site: str
    choice: Any
    config: Dict[str, Any]
    in_chs: int
    out_chs: int
    stride: int
    input_size: int


class Residual(nn.Module):
    """``body(x) + shortcut(x)``; the shortcut is identity, or avg-pool + 1x1 conv-BN projection."""

    def __init__(self, body: nn.Module, in_chs: int, out_chs: int, stride: int, skip_op: str):
        super().__init__()
        self.body = body
        same = stride == 1 and in_chs == out_chs
        self.add = adds_shortcut(in_chs, out_chs, stride, skip_op)
        pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()
        proj = ConvBnAct(in_chs, out_chs, 1, act=None) if in_chs != out_chs else nn.Identity()
        self.shortcut = nn.Sequential(pool, proj) if self.add and not same else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.add:
            out = out + self.shortcut(x)
        return out


def adds_shortcut(in_chs: int, out_chs: int, stride: int, skip_op: str) -> bool:
    """Whether a :class:`Residual` layer with these shapes and ``skip_op`` adds a shortcut."""
    return skip_op != "none" and ((stride == 1 and in_chs == out_chs) or skip_op == "pool")


def build_block(cfg: Dict[str, Any], in_chs: int, out_chs: int, stride: int) -> nn.Module:
    opts = dict(cfg)
    return BLOCKS.get(opts.pop("block"))(in_chs, out_chs, stride, **opts)


class ChildNet(nn.Module):
    """A plain network: ``stem -> stages[i][j] -> head -> classifier`` (what ``space.build`` returns)."""

    def __init__(self, stem: nn.Module, stages: Sequence[Sequence[nn.Module]], head: nn.Module,
                 classifier: nn.Module):
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*[nn.Sequential(*layers) for layers in stages])
        self.head = head
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))


def make_rng(rng: Any) -> random.Random:
    """Accept a seed, ``random.Random`` or a numpy ``Generator``."""
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, np.random.Generator):
        return random.Random(int(rng.integers(2**63 - 1)))
    return random.Random(rng)


class SearchSpace:
    """Base class: subclasses set ``kind`` (their space type) and ``decisions``, and implement ``build``."""

    kind: str

    name: str
    source: str
    variant: str
    resolution: int
    num_classes: int
    args: Dict[str, Any]
    decisions: List[Decision]

    # --- architectures -------------------------------------------------------------------------
    def size(self) -> int:
        """How many architectures the space holds."""
        return math.prod(len(d.choices) for d in self.decisions)

    def log10_size(self) -> float:
        return sum(math.log10(len(d.choices)) for d in self.decisions)

    def sample(self, rng: Any = None) -> Arch:
        """A uniformly drawn architecture."""
        r = make_rng(rng)
        return self.make_arch({d.label: d.choices[r.randrange(len(d.choices))] for d in self.decisions})

    def make_arch(self, choices: Dict[str, Any]) -> Arch:
        arch = Arch(self.name, dict(choices), dict(self.args))
        self.check(arch)
        return arch

    def check(self, arch: Arch) -> None:
        """Raise SpaceError unless ``arch`` has exactly one valid choice per decision of this space."""
        src = f"arch for space '{self.name}'"
        labels = [d.label for d in self.decisions]
        for label in arch.choices:
            if label not in labels:
                raise SpaceError(src, f"choices.{label}", f"a decision of this space ({labels[0]} ... {labels[-1]})")
        for d in self.decisions:
            if d.label not in arch.choices:
                raise SpaceError(src, f"choices.{d.label}", "a choice for every decision (it is missing)")
            if arch.choices[d.label] not in d.choices:
                raise SpaceError(src, f"choices.{d.label}", f"one of {list(d.choices)}", arch.choices[d.label])

    def encode(self, arch: Arch) -> List[int]:
        """The integer encoding: per decision, the index of the choice."""
        self.check(arch)
        return [d.choices.index(arch.choices[d.label]) for d in self.decisions]

    def decode(self, indices: Sequence[int]) -> Arch:
        if len(indices) != len(self.decisions):
            raise SpaceError(f"encoding for space '{self.name}'", "length", f"{len(self.decisions)} integers",
                             len(indices))
        choices = {}
        for d, i in zip(self.decisions, indices):
            if not 0 <= int(i) < len(d.choices):
                raise SpaceError(f"encoding for space '{self.name}'", d.label, f"0 <= index < {len(d.choices)}", i)
            choices[d.label] = d.choices[int(i)]
        return self.make_arch(choices)

    # --- network pieces shared by children and supernets ----------------------------------------
    def build_stem(self) -> nn.Module:
        s = self.stem
        return ConvBnAct(3, s["chs"], s.get("kernel_size", 3), s["stride"], act=s.get("act", "relu"))

    def build_head(self, in_chs: int) -> Tuple[nn.Module, nn.Module]:
        h = self.head
        if h.get("chs"):
            conv = ConvBnAct(in_chs, h["chs"], 1, act=h.get("act", "relu"))
            in_chs = h["chs"]
        else:
            conv = nn.Identity()
        return conv, Classifier(in_chs, self.num_classes, h.get("dropout", 0.0))

    def assemble(self, stem: nn.Module, stages: Sequence[Sequence[nn.Module]], head, classifier,
                 init: bool = True) -> ChildNet:
        net = ChildNet(stem, stages, head, classifier)
        return init_weights(net) if init else net

    # --- the ops a network runs (what latency tables are keyed on) --------------------------------
    def op_instances(self, arch: Arch) -> List[OpUse]:
        """The ops ``arch`` runs between stem and head, in order."""
        raise NotImplementedError

    def all_op_instances(self) -> List[OpUse]:
        """Every op between stem and head that some architecture runs (not deduplicated)."""
        raise NotImplementedError

    def head_widths(self) -> List[int]:
        """Every channel count the head's input can have."""
        raise NotImplementedError

    def final_size(self) -> int:
        """Spatial size of the head's input."""
        raise NotImplementedError

    def stem_op(self) -> OpUse:
        s = self.stem
        cfg = {"block": STEM, "kernel_size": s.get("kernel_size", 3), "act": s.get("act", "relu")}
        return OpUse(STEM, STEM, cfg, 3, s["chs"], s["stride"], self.resolution)

    def head_op(self, in_chs: int) -> OpUse:
        cfg: Dict[str, Any] = {"block": HEAD}
        if self.head.get("chs"):
            cfg.update(chs=self.head["chs"], act=self.head.get("act", "relu"))
        return OpUse(HEAD, HEAD, cfg, in_chs, self.num_classes, 1, self.final_size())

    def network_ops(self, arch: Arch) -> List[OpUse]:
        """Every op ``arch``'s network runs: stem, body, head."""
        body = self.op_instances(arch)
        return [self.stem_op(), *body, self.head_op(body[-1].out_chs if body else self.stem["chs"])]

    def all_network_ops(self) -> List[OpUse]:
        """Every op some architecture's network runs (stem, body, each head width; not deduplicated)."""
        return [self.stem_op(), *self.all_op_instances(), *(self.head_op(w) for w in self.head_widths())]

    def additive_ops(self) -> Optional[Tuple[List[OpUse], Dict[str, List[List[OpUse]]]]]:
        """``(fixed ops, {decision label: per choice, the ops that choice adds})`` when every network is
        the fixed ops plus, per decision, the ops of its choice (so latency is a sum over decisions, as
        FBNet's expected latency needs); ``None`` where choices interact (shapes depend on several)."""
        return None

    def latency_bounds(self, cost: Callable[[OpUse], float]) -> Tuple[float, float]:
        """Exact ``(min, max)`` over the space's architectures of the sum of ``cost`` over their
        :meth:`network_ops`."""
        additive = self.additive_ops()
        if additive is None:
            raise NotImplementedError(f"{type(self).__name__} must implement latency_bounds")
        fixed, per_choice = additive
        const = sum(cost(u) for u in fixed)
        sums = [[sum(cost(u) for u in ops) for ops in choices] for choices in per_choice.values()]
        return const + sum(min(s) for s in sums), const + sum(max(s) for s in sums)

    def module_comments(self, arch: Arch, model: nn.Module) -> Dict[int, str]:
        """Comments for exported code: ``{id(submodule of model): text}`` (model = ``self.build(arch)``)."""
        return {}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, variant={self.variant}, resolution={self.resolution}, "
                f"decisions={len(self.decisions)}, size=10^{self.log10_size():.1f})")
