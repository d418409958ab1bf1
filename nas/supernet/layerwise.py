"""Weight-sharing supernet over a layer-wise search space.

One :class:`MixedOp` per searchable layer holds every candidate; weights are shared by all
architectures. Three modes (``Supernet.set_mode``):

- ``soft``: FBNet (Wu et al. 2019): every candidate runs; outputs are mixed by Gumbel-softmax
  weights of the layer's ``theta`` at temperature ``tau``;
- ``hard``: single-path Gumbel with a straight-through estimator (as ProxylessNAS, Cai et al. 2019,
  and GDAS): one candidate is sampled per layer and only it runs forward and backward; the one-hot
  weight it is multiplied by carries the gradient to ``theta``;
- ``fixed``: run a given architecture (uniform single-path training as in SPOS, Guo et al. 2020, or
  scoring an architecture with inherited weights).

``theta`` (one vector per searchable layer) lives apart from the weights:
``arch_parameters()`` / ``weight_parameters()``. ``extract(arch)`` returns the plain child with the
shared weights copied in; in eval mode its outputs equal the supernet's fixed-path outputs.

Options (``build_supernet(space, superkernel=..., zero_gamma=...)``; both on by default, what makes a
supernet of this kind learn at CPU scale, see docs/supernets.md):

- ``superkernel``: the MBConv candidates of a layer share one weight tensor per conv
  (:mod:`nas.supernet.superkernel`: kernel centre, leading channels, groups as the block diagonal);
  off: every candidate has its own weights;
- ``zero_gamma``: the last BN of every residual branch starts at zero scale, so residual blocks start
  as the identity (applies to fixed layers too).
"""

from __future__ import annotations

import copy
from typing import Dict, Iterator, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nas.layers import init_weights
from nas.space.arch import Arch
from nas.space.layerwise import LayerwiseSpace
from nas.supernet.registry import SUPERNETS
from nas.supernet.superkernel import SuperKernels, materialize, zero_residual_gammas

MODES = ("soft", "hard", "fixed")


class MixedOp(nn.Module):
    """All candidates of one layer plus its architecture logits ``theta``."""

    def __init__(self, candidates: Dict[str, nn.Module], superkernel: bool = False, aligned: bool = True):
        super().__init__()
        self.names: List[str] = list(candidates)
        self.ops = nn.ModuleDict(candidates)
        self.shared = SuperKernels(candidates, aligned) if superkernel else None
        self.theta = nn.Parameter(torch.zeros(len(self.names)))
        self.mode = "fixed"
        self.tau = 1.0
        self.choice = 0
        self.weights: Optional[torch.Tensor] = None  # soft probabilities of the last forward (for E[latency])
        self.sampled: int = 0  # the candidate the last hard/fixed forward ran

    def probs(self) -> torch.Tensor:
        return F.softmax(self.theta, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "fixed":
            self.sampled = self.choice
            return self.ops[self.names[self.choice]](x)
        logits = self.theta
        gumbels = -torch.empty_like(logits).exponential_().log()
        soft = F.softmax((logits + gumbels) / self.tau, dim=-1)
        self.weights = soft
        if self.mode == "soft":
            out = None
            for i, name in enumerate(self.names):
                y = soft[i] * self.ops[name](x)
                out = y if out is None else out + y
            return out
        index = int(soft.argmax())
        self.sampled = index
        hard = soft[index] - soft[index].detach() + 1.0  # value 1, gradient of the soft weight
        return self.ops[self.names[index]](x) * hard


@SUPERNETS.register("layerwise", modes=MODES)
class Supernet(nn.Module):
    """The supernet of a :class:`LayerwiseSpace` (``build_supernet(space)``)."""

    def __init__(self, space: LayerwiseSpace, superkernel: bool = True, zero_gamma: bool = True, aligned: bool = True):
        super().__init__()
        self.space = space
        self.options = {"superkernel": bool(superkernel), "zero_gamma": bool(zero_gamma), "aligned": bool(aligned)}
        self.stem = space.build_stem()
        stages = []
        for st in space.stage_layers():
            layers = []
            for layer in st:
                if layer.label in space.fixed:
                    layers.append(space.build_op(space.fixed[layer.label], layer))
                else:
                    layers.append(MixedOp({n: space.build_op(n, layer) for n in layer.candidates}, superkernel,
                                          aligned))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head, self.classifier = space.build_head(space.out_chs)
        init_weights(self)
        if zero_gamma:
            zero_residual_gammas(self.stages)
        self.labels = [layer.label for layer in space.layers if layer.label not in space.fixed]
        self._mixed: Dict[str, MixedOp] = {}
        for st_mod, st in zip(self.stages, space.stage_layers()):
            for mod, layer in zip(st_mod, st):
                if isinstance(mod, MixedOp):
                    self._mixed[layer.label] = mod

    # --- parameters ------------------------------------------------------------------------------
    def mixed_ops(self) -> Dict[str, MixedOp]:
        return dict(self._mixed)

    def arch_parameters(self) -> List[nn.Parameter]:
        return [m.theta for m in self._mixed.values()]

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        thetas = {id(t) for t in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in thetas)

    # --- modes ------------------------------------------------------------------------------------
    def set_mode(self, mode: str, tau: float = 1.0) -> "Supernet":
        if mode not in MODES:
            raise ValueError(f"unknown supernet mode {mode!r}; expected one of {', '.join(MODES)}")
        for m in self._mixed.values():
            m.mode, m.tau = mode, float(tau)
        return self

    def set_arch(self, arch: Arch) -> "Supernet":
        """Fixed-path mode on ``arch``."""
        self.space.check(arch)
        for label, m in self._mixed.items():
            m.choice = m.names.index(arch.choices[label])
        return self.set_mode("fixed")

    def sampled_arch(self) -> Arch:
        """The path the last hard/fixed forward ran."""
        return self.space.make_arch({l: m.names[m.sampled] for l, m in self._mixed.items()})

    def derive(self) -> Arch:
        """The most likely architecture under theta (argmax per layer)."""
        return self.space.make_arch({l: m.names[int(m.theta.argmax())] for l, m in self._mixed.items()})

    def probabilities(self) -> Dict[str, torch.Tensor]:
        return {l: m.probs().detach() for l, m in self._mixed.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.stages(self.stem(x))))

    # --- children ---------------------------------------------------------------------------------
    def extract(self, arch: Arch) -> nn.Module:
        """The plain child of ``arch`` with this supernet's weights (and BN statistics) copied in."""
        self.space.check(arch)
        stages = []
        for st_mod, st in zip(self.stages, self.space.stage_layers()):
            layers = []
            for mod, layer in zip(st_mod, st):
                if not isinstance(mod, MixedOp):
                    layers.append(copy.deepcopy(mod))
                    continue
                name = arch.choices[layer.label]
                if mod.shared is not None and name in mod.shared.names:
                    layers.append(materialize(mod.ops[name], self.space.build_op(name, layer)))
                else:
                    layers.append(copy.deepcopy(mod.ops[name]))
            stages.append(layers)
        child = self.space.assemble(copy.deepcopy(self.stem), stages, copy.deepcopy(self.head),
                                    copy.deepcopy(self.classifier), init=False)
        return child.train(self.training)
