"""Training a supernet: one trainer, one cached artefact per (space, data, options), shared by the
``oneshot`` evaluator and FBNet's hard-mode weight warm-up.

:class:`SupernetOptions` (the ``supernet`` config section) says how the supernet is built
(``superkernel``, ``zero_gamma``; see :mod:`nas.supernet.layerwise`), which paths each step trains and
with which recipe:

- ``sampling=uniform``: one uniformly drawn path per step (SPOS, Guo et al. 2020);
- ``sampling=fair``: FairNAS's strict fairness (Chu et al. 2021): per step ``n`` paths (``n`` = the most
  candidates any decision has) that together run every candidate of every decision once (a random
  permutation per decision; decisions with fewer candidates repeat random ones), gradients accumulated,
  one update; a step costs ``n`` paths;
- ``sandwich=true``: the sandwich rule (BigNAS, Yu et al. 2020; OFA): per step the largest path, the
  smallest and ``sandwich_random`` uniformly drawn ones (by multiply-adds per decision), gradients
  accumulated; with ``distill=true`` (in-place distillation) every path but the largest learns the
  largest's predicted distribution (soft cross-entropy) instead of the labels.

:meth:`SupernetTrainer.train` trains with the toolkit's one loop (:func:`nas.loops.train_epoch`, whose
``step_fn`` runs the step's paths) or loads the cached artefact ``<cache_dir>/<space>-<hash>.pt`` whose
key is the space (name and overrides), a fingerprint of the weight split (images and labels), the
augmentation, the seed and every option here but ``cache_dir`` and ``bn_batches``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

from nas import distributed as dist
from nas.data import BatchLoader, ImageData, SearchData
from nas.errors import NasError
from nas.io import atomic_torch_save
from nas.progress import progress as progress_bar
from nas.loops import NonFiniteLoss, Recipe, make_optimizer, recalibrate_bn, to_device, train_epoch
from nas.space import Arch
from nas.supernet import build_supernet

SAMPLING = ("uniform", "fair")
FORMAT = "nas-supernet/1"


class SupernetError(NasError):
    """A supernet option out of range, or a cached supernet that does not fit."""


@dataclass
class SupernetOptions:
    """How the supernet is built and trained (the ``supernet`` config section)."""

    superkernel: bool = True  # MBConv candidates of a layer share one weight tensor per conv
    zero_gamma: bool = True  # residual branches' last BN starts at zero scale
    aligned: bool = True  # superkernels start every candidate of a layer as nearly one function
    sampling: str = "uniform"  # uniform (SPOS) | fair (FairNAS strict fairness: every candidate once per step)
    sandwich: bool = False  # largest + smallest + sandwich_random paths per step (BigNAS)
    sandwich_random: int = 2
    distill: bool = False  # with sandwich: in-place distillation from the largest path
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-5
    label_smoothing: float = 0.0
    warmup_epochs: float = 0.0
    max_steps_per_epoch: Optional[int] = None
    bn_batches: int = 8  # batches of the weight split that re-estimate BN statistics before a path is scored
    cache_dir: str = "outputs/supernets"

    @classmethod
    def of(cls, options: Optional[Mapping[str, Any]]) -> "SupernetOptions":
        """From a mapping (a config section); an unknown key is a :class:`SupernetError`."""
        options = dict(options or {})
        names = [f.name for f in fields(cls)]
        for key in options:
            if key not in names:
                raise SupernetError("supernet", key, f"an option of the supernet ({', '.join(names)})")
        opts = cls(**options)
        opts.check()
        return opts

    def check(self) -> None:
        if self.sampling not in SAMPLING:
            raise SupernetError("supernet", "sampling", f"one of {', '.join(SAMPLING)}", self.sampling)
        if self.sandwich and self.sampling == "fair":
            raise SupernetError("supernet", "sandwich", "sampling=uniform with the sandwich rule (fair sampling "
                                "already trains every candidate each step)", self.sandwich)
        if self.distill and not self.sandwich:
            raise SupernetError("supernet", "distill", "sandwich=true (in-place distillation learns from the "
                                "sandwich's largest path)", self.distill)
        for key in ("epochs", "batch_size", "bn_batches"):
            if getattr(self, key) < 1:
                raise SupernetError("supernet", key, "an integer >= 1", getattr(self, key))

    def recipe(self, augment: bool, amp: str = "auto") -> Recipe:
        return Recipe(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                      weight_decay=self.weight_decay, label_smoothing=self.label_smoothing,
                      warmup_epochs=self.warmup_epochs, augment=augment,
                      max_steps_per_epoch=self.max_steps_per_epoch, amp=amp)

    def build(self) -> Dict[str, Any]:
        """The options that shape the supernet (``build_supernet``'s keywords)."""
        return {"superkernel": self.superkernel, "zero_gamma": self.zero_gamma, "aligned": self.aligned}


def data_fingerprint(data: ImageData) -> str:
    h = hashlib.sha1()
    h.update(str(tuple(data.images.shape)).encode())
    h.update(data.images.contiguous().numpy().tobytes())
    h.update(data.labels.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def conv_macs(module: torch.nn.Module, input_size: Tuple[int, ...]) -> int:
    """Multiply-adds of ``module``'s convolutions on one input of ``input_size``, counted by hooks in one
    forward pass (the MBConv-family candidates have all their multiply-adds in convs)."""
    total = 0

    def hook(m, inputs, out):
        nonlocal total
        total += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(input_size))
    finally:
        for h in handles:
            h.remove()
    return total


def candidate_macs(space) -> Dict[str, List[float]]:
    """Per decision of a layer-wise space, the multiply-adds of each candidate at its layer."""
    layers = {layer.label: layer for layer in getattr(space, "layers", [])}
    out: Dict[str, List[float]] = {}
    for d in space.decisions:
        if d.label not in layers:
            raise SupernetError(f"space '{space.name}'", "supernet.sandwich", "a layer-wise space (the sandwich "
                                "rule orders candidates by their multiply-adds per layer)")
        layer = layers[d.label]
        size = (1, layer.in_chs, layer.input_size, layer.input_size)
        out[d.label] = [float(conv_macs(space.build_op(c, layer), size)) for c in d.choices]
    return out


class PathSampler:
    """The paths one training step runs (see the module docstring), drawn from a seeded ``random.Random``."""

    def __init__(self, space, opts: SupernetOptions, seed: int):
        self.space, self.opts, self.rng = space, opts, random.Random(seed)
        self.largest = self.smallest = None
        if opts.sandwich:
            macs = candidate_macs(space)
            pick = {label: sorted(range(len(m)), key=m.__getitem__) for label, m in macs.items()}
            self.smallest = space.make_arch({d.label: d.choices[pick[d.label][0]] for d in space.decisions})
            self.largest = space.make_arch({d.label: d.choices[pick[d.label][-1]] for d in space.decisions})

    def __call__(self) -> List[Arch]:
        if self.opts.sampling == "fair":
            n = max(len(d.choices) for d in self.space.decisions)
            cols = {}
            for d in self.space.decisions:
                order = list(d.choices)
                self.rng.shuffle(order)
                cols[d.label] = order + [self.rng.choice(d.choices) for _ in range(n - len(order))]
            return [self.space.make_arch({label: c[i] for label, c in cols.items()}) for i in range(n)]
        if self.opts.sandwich:
            return [self.largest, self.smallest] + [self.space.sample(self.rng) for _ in
                                                    range(self.opts.sandwich_random)]
        return [self.space.sample(self.rng)]


def soft_cross_entropy(out: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    return -(target_probs * F.log_softmax(out, dim=1)).sum(1).mean()


class SupernetTrainer:
    """Trains (or loads from its cache) the supernet of ``space`` on ``data.weight`` as ``options`` say."""

    def __init__(self, space, data: SearchData, options: SupernetOptions | Mapping[str, Any] | None = None, *,
                 seed: int = 0, device: str = "cpu", augment: bool = False, amp: str = "auto"):
        self.space, self.data, self.seed, self.device, self.augment = space, data, seed, device, augment
        self.amp = amp  # the loop's autocast (nas.loops.Recipe.amp); not in the cache key, as the device is not
        self.opts = options if isinstance(options, SupernetOptions) else SupernetOptions.of(options)
        self.opts.check()
        self.reused = False
        self.seconds = 0.0
        self.history: List[Dict[str, float]] = []  # per epoch: train loss and accuracy (of each step's last path)

    def build(self):
        return to_device(build_supernet(self.space, **self.opts.build()), self.device)

    def key(self) -> Dict[str, Any]:
        opts = {k: v for k, v in asdict(self.opts).items() if k not in ("cache_dir", "bn_batches")}
        return {"format": FORMAT, "space": self.space.name, "args": self.space.args, "options": opts,
                "seed": self.seed, "augment": self.augment, "data": data_fingerprint(self.data.weight)}

    @property
    def cache_path(self) -> Path:
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return Path(self.opts.cache_dir) / f"{self.space.name}-{hashlib.sha1(text.encode()).hexdigest()[:12]}.pt"

    def train(self, supernet=None, progress: bool = True):
        """The trained supernet (``supernet``, or a fresh one, trained in place or loaded from the cache)."""
        net = self.build() if supernet is None else supernet
        path = self.cache_path
        if path.is_file():
            try:
                state = torch.load(path, weights_only=True, map_location=self.device)
            except Exception as err:  # noqa: BLE001 - a truncated or foreign cache file: one line, no traceback
                raise SupernetError(str(path), "<file>", "a supernet cached by the supernet trainer (delete the file "
                                    "to train it again)", type(err).__name__) from None
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise SupernetError(str(path), "format", repr(FORMAT),
                                    state.get("format") if isinstance(state, dict) else type(state).__name__)
            net.load_state_dict(state["supernet"])
            self.reused, self.seconds = True, float(state.get("seconds", 0.0))
            self.history = list(state.get("history", []))
            return net
        with torch.random.fork_rng(devices=[]):  # the caller's random state is the same, trained or cached
            self._train(net, path, progress)
        return net

    def _train(self, net, path: Path, progress: bool) -> None:
        started = time.perf_counter()
        torch.manual_seed(self.seed)
        recipe = self.opts.recipe(self.augment, self.amp)
        dist.check_divisible(recipe.batch_size, "supernet.batch_size")
        opt, sched = make_optimizer(net, recipe)
        loader = BatchLoader(self.data.weight, recipe.batch_size, augment=recipe.augment, seed=self.seed,
                             drop_last=True)
        # under torchrun: data-parallel (one path per pass: unused parameters); every rank draws the same paths
        train_net = dist.prepare(net, self.device, find_unused_parameters=True)
        progress = progress and dist.is_main()
        step_fn = self.step_fn(net, PathSampler(self.space, self.opts, self.seed), train_net)
        history = self.history = []
        bar = progress_bar(range(recipe.epochs), desc="supernet training", unit="epoch", enabled=progress)
        for epoch in bar:
            try:
                m = train_epoch(train_net, loader, opt, recipe, epoch, self.device, step_fn=step_fn,
                                progress=progress)
            except NonFiniteLoss as err:
                raise SupernetError(f"supernet training: {err}: stopping (lower supernet.lr, or check the "
                                    f"data)") from None
            sched.step()
            history.append(m)
            bar.set_postfix(loss=f"{m['train_loss']:.3f}", acc=f"{m['train_acc']:.3f}")
        self.seconds = time.perf_counter() - started
        if dist.is_main():
            atomic_torch_save({"format": FORMAT, "supernet": net.state_dict(), "key": self.key(), "history": history,
                               "seconds": self.seconds}, path)

    def step_fn(self, net, sampler: PathSampler, train_net=None):
        """One step's passes: every path but the last is run and backpropagated here, the last is returned
        to the loop (which backpropagates it and counts its accuracy). Paths are set on ``net``, passes run
        through ``train_net`` (its data-parallel wrapper; ``net`` itself by default)."""
        train_net = net if train_net is None else train_net
        smoothing = self.opts.label_smoothing

        def step(x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            paths = sampler()
            teacher = None
            for i, arch in enumerate(paths):
                net.set_arch(arch)
                out = train_net(x)
                if teacher is not None:
                    loss = soft_cross_entropy(out, teacher)
                else:
                    loss = F.cross_entropy(out, y, label_smoothing=smoothing)
                if i == 0 and self.opts.distill:
                    teacher = F.softmax(out.detach(), dim=1)
                if i == len(paths) - 1:
                    return out, loss
                if not torch.isfinite(loss):
                    return out, loss  # the loop reports it
                loss.backward()
            raise AssertionError("no path")

        return step


@torch.no_grad()
def score_path(net, arch: Arch, data: SearchData, bn_batches: int, batch_size: int = 64, seed: int = 0,
               device: str = "cpu", split: str = "arch") -> float:
    """Accuracy of ``arch``'s path with the shared weights on ``data.<split>``, after re-estimating its
    BatchNorm statistics on ``bn_batches`` batches of the weight split."""
    from nas.loops import evaluate

    net.set_arch(arch)
    loader = BatchLoader(data.weight, batch_size, seed=seed)
    recalibrate_bn(net, [b for _, b in zip(range(bn_batches), loader)], device)
    return evaluate(net, getattr(data, split), device=device)["val_acc"]
