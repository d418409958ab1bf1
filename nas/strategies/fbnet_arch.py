"""What FBNet reads off a trained theta: the found arch (argmax, or the most probable arch near a
latency target), samples of the final distribution, and the op-probability heat map."""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np
import torch

from nas.space import Arch


def most_probable_within(ops: Dict[str, object], costs: Dict[str, torch.Tensor], const_ms: float,
                         target_ms: float, space) -> Arch:
    """The most probable arch under the per-decision distributions ``ops[label].probs()`` whose latency
    ``const_ms + sum_l costs[l][choice_l]`` lies in [0.95, 1.0] x ``target_ms`` (else the most probable
    one below it), exactly, by dynamic programming over latency bins of target / 2000 (a
    multiple-choice knapsack). Falls back to the argmax when nothing is below the target."""
    width = target_ms / 2000
    labels = list(ops)
    n_bins = int(round(target_ms / width)) + 1
    best = np.full(n_bins, -np.inf)
    start = int(round(const_ms / width))
    if start < n_bins:
        best[start] = 0.0
    back = []
    for label in labels:
        logp = ops[label].probs().detach().double().log().cpu().numpy()
        cost = np.rint(costs[label].double().cpu().numpy() / width).astype(int)
        new, pick = np.full(n_bins, -np.inf), np.full(n_bins, -1)
        for c, (lp, cb) in enumerate(zip(logp, cost)):
            if cb >= n_bins:
                continue
            cand = np.full(n_bins, -np.inf)
            cand[cb:] = best[: n_bins - cb] + lp
            better = cand > new
            new[better], pick[better] = cand[better], c
        best = new
        back.append((pick, cost))
    lo = int(np.ceil(0.95 * target_ms / width))
    window = best[lo:]
    b = lo + int(window.argmax()) if np.isfinite(window).any() else int(best.argmax())
    if not np.isfinite(best[b]):
        return space.make_arch({l: ops[l].names[int(ops[l].theta.argmax())] for l in labels})
    choices = {}
    for label, (pick, cost) in zip(reversed(labels), reversed(back)):
        c = int(pick[b])
        choices[label] = ops[label].names[c]
        b -= int(cost[c])
    return space.make_arch({label: choices[label] for label in labels})  # in the space's decision order


def sample_archs(net, k: int, seed: int) -> List[Tuple[Arch, float]]:
    """Up to ``k`` distinct archs drawn from the supernet's distribution, most likely first, with log-probs."""
    probs = net.probabilities()
    ops = net.mixed_ops()
    g = torch.Generator().manual_seed(seed)
    seen: Dict[Tuple, Tuple[Arch, float]] = {}
    for _ in range(50 * k):
        choices, logp = {}, 0.0
        for label, p in probs.items():
            i = int(torch.multinomial(p, 1, generator=g))
            choices[label] = ops[label].names[i]
            logp += math.log(float(p[i]))
        key = tuple(choices.values())
        if key not in seen:
            seen[key] = (net.space.make_arch(choices), logp)
        if len(seen) >= k:
            break
    return sorted(seen.values(), key=lambda t: -t[1])


def probability_figure(net):
    """Heat map of op probabilities per decision (rows: decisions, columns: candidates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = net.probabilities()
    labels = list(probs)
    names = net.mixed_ops()[labels[0]].names
    width = max(len(p) for p in probs.values())
    grid = torch.zeros(len(labels), width)
    for i, p in enumerate(probs.values()):
        grid[i, : len(p)] = p
    fig, ax = plt.subplots(figsize=(1 + 0.45 * width, 1 + 0.25 * len(labels)))
    im = ax.imshow(grid.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig
