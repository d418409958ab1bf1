"""Evaluator fidelity: how well an evaluator's scores rank architectures against a ground truth.

A ground truth is a dict ``arch key -> accuracy`` (:func:`arch_key`): archs of a space trained alone
with one recipe (:func:`train_truth`, kept in a resumable JSON file, :class:`TruthFile`), or any other
source, e.g. a tabular benchmark's accuracies (a truth file with ``"source": "external"``).
:func:`rank_fidelity` gives Kendall's tau-b and Spearman's rho with percentile bootstrap confidence
intervals over the archs (seeded). :class:`MacsTable` lets ``nas.latency.calibrate.spread_archs``
spread archs of a layer-wise space over its MACs range when no latency table is at hand.
``bench/evaluator_fidelity.py`` is the command line.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy import stats
from torch import nn

from nas.data import BatchLoader, SearchData
from nas.errors import NasError
from nas.io import atomic_torch_save, write_json
from nas.loops import NonFiniteLoss, Recipe, evaluate, make_optimizer, to_device, train_epoch
from nas.progress import progress as progress_bar

TRUTH_FORMAT = "nas.evaluator_fidelity.truth/1"


class FidelityError(NasError):
    """A truth or scores file that does not fit the run (another space, recipe or arch list)."""


def arch_key(space, arch) -> str:
    """An arch's key in truth and scores files: its integer encoding joined by dashes."""
    return "-".join(str(i) for i in space.encode(arch))


def rank_fidelity(truth: Mapping[str, float], scores: Mapping[str, float], n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> Dict[str, Any]:
    """Kendall's tau-b and Spearman's rho of ``scores`` against ``truth`` over their common keys, each
    with a ``level`` percentile bootstrap interval (``n_boot`` resamples of the archs with
    replacement, seeded); ``None`` where it is undefined (fewer than 3 archs, a constant column)."""
    keys = sorted(set(truth) & set(scores))
    y = np.array([truth[k] for k in keys], dtype=float)
    s = np.array([scores[k] for k in keys], dtype=float)
    out: Dict[str, Any] = {"n": len(keys)}

    def both(idx: np.ndarray) -> Tuple[float, float]:
        a, b = y[idx], s[idx]
        if len(idx) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan, math.nan
        return float(stats.kendalltau(a, b).statistic), float(stats.spearmanr(a, b).statistic)

    tau, rho = both(np.arange(len(keys)))
    rng = np.random.default_rng(seed)
    boots = np.array([both(rng.integers(0, len(keys), len(keys))) for _ in range(n_boot)]) if len(keys) >= 3 \
        else np.full((1, 2), math.nan)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    for j, (name, value) in enumerate((("kendall_tau", tau), ("spearman_rho", rho))):
        col = boots[:, j][~np.isnan(boots[:, j])]
        ci = [float(np.percentile(col, lo)), float(np.percentile(col, hi))] if len(col) and not math.isnan(value) \
            else None
        out[name] = None if math.isnan(value) else value
        out[f"{name}_ci"] = ci
    return out


@torch.no_grad()
def conv_linear_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the ``nn.Conv2d`` and ``nn.Linear`` layers of one forward pass (eval mode) on
    one-image batch ``x``, counted by hooks: :func:`nas.profile.count_macs`'s figure for nets whose
    multiply-adds are all in such layers (the fbnet space's), some 50x faster on small blocks."""
    total = 0

    def hook(m: nn.Module, inputs, out: torch.Tensor) -> None:
        nonlocal total
        per_out = m.in_features if isinstance(m, nn.Linear) else m.in_channels // m.groups * math.prod(m.kernel_size)
        total += out.numel() * per_out

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        module.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return total


class MacsTable:
    """A stand-in for a latency table on a layer-wise space: an arch's "latency" is its MACs (millions),
    the sum of its layers' MACs plus stem and head (exact: each layer's input shape is fixed).
    Has the two methods :func:`nas.latency.calibrate.spread_archs` uses."""

    def __init__(self, space):
        if not hasattr(space, "layers") or not hasattr(space, "build_op"):
            raise FidelityError(f"space '{space.name}'", "type", "a layer-wise space to spread archs by MACs "
                                "(give a latency table instead)", type(space).__name__)
        self.costs: Dict[str, Dict[str, float]] = {}
        seen: Dict[tuple, float] = {}  # layers of a stage after its first share their shapes
        for layer in space.layers:
            x = torch.zeros(1, layer.in_chs, layer.input_size, layer.input_size)
            for c in layer.candidates:
                key = (c, layer.in_chs, layer.out_chs, layer.stride, layer.input_size)
                if key not in seen:
                    seen[key] = conv_linear_macs(space.build_op(c, layer), x) / 1e6
            self.costs[layer.label] = {c: seen[(c, layer.in_chs, layer.out_chs, layer.stride, layer.input_size)]
                                       for c in layer.candidates}
        anyarch = space.sample(0)
        net = conv_linear_macs(space.build(anyarch), torch.zeros(1, 3, space.resolution, space.resolution)) / 1e6
        self.const = net - self._body(space, anyarch)

    def _body(self, space, arch) -> float:
        return sum(self.costs[l.label][space.op_of(arch, l)] for l in space.layers)

    def predict(self, space, arch, calibrated: bool = False) -> float:
        return self.const + self._body(space, arch)

    def bounds(self, space, calibrated: bool = False) -> Tuple[float, float]:
        return (self.const + sum(min(c.values()) for c in self.costs.values()),
                self.const + sum(max(c.values()) for c in self.costs.values()))


class TruthFile:
    """A ground-truth JSON file: ``{format, space, source, recipe, archs: [{key, choices, accuracy?, ...}]}``.

    ``source`` is ``trained`` (by :func:`train_truth` with ``recipe``; archs without ``accuracy`` are
    still to train) or ``external`` (accuracies from elsewhere, e.g. a benchmark; nothing is trained)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: Dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        if self.data and self.data.get("format") != TRUTH_FORMAT:
            raise FidelityError(str(self.path), "format", repr(TRUTH_FORMAT), self.data.get("format"))

    @property
    def partial_path(self) -> Path:
        """The epoch checkpoint of the arch in training (``<file>.partial.pt``; gone when it is done)."""
        return self.path.with_name(self.path.name + ".partial.pt")

    @property
    def exists(self) -> bool:
        return bool(self.data)

    def start(self, space_desc: Dict[str, Any], recipe: Dict[str, Any], entries: List[Dict[str, Any]]) -> None:
        """Begin a trained truth, or check that the file's space, recipe and arch list are these."""
        if not self.data:
            self.data = {"format": TRUTH_FORMAT, "space": space_desc, "source": "trained", "recipe": recipe,
                         "archs": entries}
            self.save()
            return
        for key, want in (("space", space_desc), ("recipe", recipe)):
            if self.data.get("source") == "trained" and self.data.get(key) != want:
                raise FidelityError(str(self.path), key, f"{json.dumps(want, sort_keys=True)} (this run's; use "
                                    f"another truth file for another {key})", self.data.get(key))
        have = [e["key"] for e in self.data["archs"]]
        if self.data.get("source") == "trained" and have != [e["key"] for e in entries]:
            raise FidelityError(str(self.path), "archs", f"the {len(entries)} archs this run plans (the file plans "
                                f"{len(have)}: pass the same --archs and --seed, or another truth file)")

    def accuracies(self) -> Dict[str, float]:
        return {e["key"]: float(e["accuracy"]) for e in self.data.get("archs", []) if e.get("accuracy") is not None}

    def save(self) -> None:
        write_json(self.path, self.data)


def _resume_partial(path: Path, key: str, net: nn.Module, opt, sched) -> Tuple[int, float]:
    """Load the epoch checkpoint of arch ``key`` if ``path`` holds one: (next epoch, seconds spent)."""
    if not path.is_file():
        return 0, 0.0
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("key") != key:
        return 0, 0.0
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["rng"])
    return int(state["epoch"]), float(state["seconds"])


def train_truth(space, truth: TruthFile, data: SearchData, recipe: Recipe, seed: int = 0,
                on_arch: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, float]:
    """Train every arch of ``truth`` that has no accuracy yet from scratch with ``recipe`` on
    ``data.weight`` (seeded), test it on ``data.val``, and save the file after each arch (so an
    interrupted run continues where it stopped; within an arch, after its last whole epoch, from
    ``truth.partial_path``). An arch whose loss diverges gets chance accuracy and
    a ``diverged`` note. Returns ``key -> test accuracy``."""
    from nas.space import Arch

    # interleaved over the spread (0, 16, 8, 24, 4, ... of 30), so the archs done so far span the range
    todo = [e for e in spread_order(truth.data["archs"]) if e.get("accuracy") is None]
    partial = truth.partial_path
    for entry in progress_bar(todo, desc="ground truth (archs trained alone)", unit="arch"):
        started = time.perf_counter()
        torch.manual_seed(seed)
        net = to_device(space.build(Arch(space.name, dict(entry["choices"]), dict(space.args))))
        opt, sched = make_optimizer(net, recipe)
        loader = BatchLoader(data.weight, recipe.batch_size, augment=recipe.augment, seed=seed, drop_last=True)
        train: Dict[str, float] = {}
        first, before = _resume_partial(partial, entry["key"], net, opt, sched)
        started -= before  # train_s counts the epochs of an interrupted run too
        try:
            for epoch in range(first, recipe.epochs):
                train = train_epoch(net, loader, opt, recipe, epoch, progress=False)
                sched.step()
                if epoch + 1 < recipe.epochs:  # an interrupted run resumes after the last whole epoch
                    atomic_torch_save({"key": entry["key"], "epoch": epoch + 1, "net": net.state_dict(),
                                       "opt": opt.state_dict(), "sched": sched.state_dict(),
                                       "rng": torch.get_rng_state(),
                                       "seconds": time.perf_counter() - started}, partial)
        except NonFiniteLoss as err:  # this recipe fails on this arch: it ranks at chance
            entry.update(accuracy=1.0 / data.num_classes, diverged=str(err), train_s=round(time.perf_counter()
                                                                                           - started, 2))
            truth.save()
            partial.unlink(missing_ok=True)
            continue
        trained = time.perf_counter()
        entry["accuracy"] = evaluate(net, data.val)["val_acc"]
        entry.update(train_acc=train.get("train_acc"), train_s=round(trained - started, 2),
                     test_s=round(time.perf_counter() - trained, 2))
        truth.save()
        partial.unlink(missing_ok=True)
        if on_arch is not None:
            on_arch(entry)
    return truth.accuracies()


def spread_order(items: Sequence) -> List:
    """``items`` in bit-reversed index order (0, 16, 8, 24, 4, ... for 30): every prefix spans the list."""
    bits = max(1, (len(items) - 1).bit_length())
    return [items[i] for i in sorted(range(len(items)), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))]


def spread_keys(space, archs: Sequence) -> List[Dict[str, Any]]:
    """Truth-file entries (key, choices) of ``archs``."""
    return [{"key": arch_key(space, a), "choices": dict(a.choices)} for a in archs]
