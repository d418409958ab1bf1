"""What every search space has: decisions, sampling, size, encoding, and the child network shape."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from nas.blocks import BLOCKS
from nas.layers import ConvBnAct
from nas.models.common import Classifier, init_weights
from nas.space.arch import Arch
from nas.space.errors import SpaceError


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
    """Base class: subclasses set ``decisions`` and implement ``build`` / ``supernet``."""

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

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, variant={self.variant}, resolution={self.resolution}, "
                f"decisions={len(self.decisions)}, size=10^{self.log10_size():.1f})")
