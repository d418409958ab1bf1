"""What FBNet reads off a trained theta: the found arch (argmax, or the most probable arch near a
latency target), samples of the final distribution, the op-probability heat map; and its checkpoint, checked
whole before a resume."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from nas import distributed as dist
from nas.space import Arch
from nas.strategies.base import SearchError
from nas.supernet import build_supernet


def most_probable_within(ops: Dict[str, object], costs: Dict[str, torch.Tensor], const_ms: float,
                         target_ms: float, space, low: float = 0.95) -> Arch:
    """The most probable arch under the per-decision distributions ``ops[label].probs()`` whose latency
    ``const_ms + sum_l costs[l][choice_l]`` lies in [low, 1.0] x ``target_ms`` (else the most probable
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
    lo = int(np.ceil(low * target_ms / width))
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


def paired_gain(base: torch.Tensor, other: torch.Tensor) -> Tuple[float, float]:
    """How much lower ``other``'s per-image losses are than ``base``'s on the same images (this process's
    share; summed over processes): the mean difference and its standard error."""
    if base.shape != other.shape:
        raise ValueError(f"paired losses need the same images: {tuple(base.shape)} vs {tuple(other.shape)}")
    d = (base - other).double()
    total, squares, n = dist.all_sum(d.sum().item(), (d * d).sum().item(), d.numel())
    if n < 2:
        return (total / n if n else 0.0), math.inf
    mean = total / n
    var = max(0.0, (squares - n * mean * mean) / (n - 1))
    return mean, math.sqrt(var / n)


def choose_by_gain(gains: List[Tuple[float, float]], margin: float) -> int:
    """Index into ``[argmax, *samples]`` of the pick: of the samples whose gain over the argmax exceeds
    ``margin`` standard errors (and zero), the largest gain; 0 (the argmax) if none does."""
    best, best_gain = 0, 0.0
    for i, (gain, se) in enumerate(gains, 1):
        if gain > max(margin * se, 0.0) and gain > best_gain:
            best, best_gain = i, gain
    return best


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


STATE_KEYS = ("epoch", "supernet", "w_opt", "w_sched", "t_opt", "torch_rng", "python_rng", "history")


def read_checkpoint(path, space, epochs: int, build: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The checkpoint of an FBNet search on ``space`` with ``epochs`` epochs and supernet options ``build``
    (None: the checkpoint's own), checked whole (format, space, epochs, supernet options, the supernet's keys
    and shapes) without building anything; any problem is one SearchError."""
    what = "an fbnet search checkpoint"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, foreign or malicious (refused by weights_only): one line
        reason = (str(err).strip().splitlines() or [""])[0][:100]
        raise SearchError(str(path), "<file>", f"{what} that torch.load reads with weights_only=True",
                          f"an unreadable file ({type(err).__name__}{': ' + reason if reason else ''})") from None
    search = state.get("search") if isinstance(state, dict) else None
    if not isinstance(search, dict) or any(k not in search for k in STATE_KEYS):
        raise SearchError(str(path), "search", f"{what} (a dict with {', '.join(STATE_KEYS)})")
    if state.get("space") != space.name or state.get("epochs") != epochs:
        raise SearchError(str(path), "space / epochs", f"a search of space {space.name!r} with {epochs} epochs "
                          f"(this run's)", f"space {state.get('space')!r} with {state.get('epochs')} epochs")
    saved = state.get("supernet", {}) if isinstance(state.get("supernet", {}), dict) else {}
    if build is not None and saved and saved != build:
        raise SearchError(str(path), "supernet", f"a search with supernet {build} (this run's)", saved)
    with torch.device("meta"):
        expected = build_supernet(space, **(saved or build or {})).state_dict()
    theirs = search["supernet"]
    if not isinstance(theirs, dict) or set(theirs) != set(expected) or any(
            tuple(getattr(theirs[k], "shape", ())) != tuple(v.shape) for k, v in expected.items()):
        raise SearchError(str(path), "search.supernet", f"the supernet of space {space.name!r} as this run builds it "
                          f"(same width, resolution and classes)")
    return state
