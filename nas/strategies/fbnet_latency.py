"""FBNet's latency term: the per-decision costs of the latency source (``LatencyModel``: expected under the
Gumbel-softmax weights, differentiable in theta; of one arch; under theta's distribution) and the loss
that weighs a cross-entropy with a latency (``fbnet_loss``: FBNet's eq. 2, or a target's penalty)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from nas.space import Arch
from nas.strategies.base import SearchError


@dataclass
class LatencyModel:
    """Per-decision candidate costs (ms) in the supernet's candidate order plus a constant."""

    const_ms: float
    costs: Dict[str, torch.Tensor]
    target_ms: Optional[float] = None
    penalty: float = 2.0

    def expected(self, supernet) -> torch.Tensor:
        total = torch.tensor(self.const_ms)
        for label, mixed in supernet.mixed_ops().items():
            if mixed.weights is None:
                raise SearchError("expected latency needs a soft or hard forward pass first")
            total = total + (mixed.weights * self.costs[label].to(mixed.weights.device)).sum().cpu()
        return total

    def of_arch(self, supernet, arch: Arch) -> float:
        """The table latency of one arch (its choices' costs plus the constant)."""
        return self.const_ms + sum(float(self.costs[l][m.names.index(arch.choices[l])])
                                   for l, m in supernet.mixed_ops().items())

    @functools.cached_property  # the costs are fixed; read on every training step
    def unit_ms(self) -> float:
        """The unit FBNet's ``log(LAT)`` reads latency in: the space's cheapest arch over e, so that arch has
        log = 1 on every machine. In raw ms the term depended on the machine's speed: where the cheapest
        archs run under 1 ms, log(LAT) <= 0 and the search collapsed onto them (all layers ``skip``)."""
        floor = self.const_ms + sum(float(c.min()) for c in self.costs.values())
        return max(floor, 1e-6) / math.e

    def of_probs(self, supernet) -> float:
        """Latency expected under the current (noise-free) distribution."""
        return self.const_ms + sum(float((m.probs().detach().cpu() * self.costs[l]).sum())
                                   for l, m in supernet.mixed_ops().items())


def fbnet_loss(ce: torch.Tensor, lat: torch.Tensor, opts, latency: LatencyModel) -> torch.Tensor:
    """FBNet's loss of a cross-entropy and a latency (``opts``: alpha and beta of FBNetOptions)."""
    if latency.target_ms:
        return ce + latency.penalty * F.relu(lat / latency.target_ms - 1.0)
    # LAT in units of the cheapest arch / e (``LatencyModel.unit_ms``): log(LAT) >= 1, whatever the
    # machine's speed (the clamp only guards a calibration whose costs undercut that floor)
    return ce * opts.alpha * torch.log((lat / latency.unit_ms).clamp_min(math.e)) ** opts.beta
