"""Evaluators that score a sampled architecture for the controllers (``evaluator=`` of ``nas.search``).

- ``oneshot``: train the space's supernet once (``nas.supernet.training``: superkernels, zero-init
  residual gammas, uniform / fair / sandwich path sampling, as the ``supernet`` config section says),
  cache it, then score each arch with the inherited weights after re-estimating BatchNorm
  statistics on a few batches. A later search on the same space, data and options reuses the cache
  (so does FBNet's hard-mode warm-up).
- ``proxy``: train each arch's child from scratch for a few epochs on the proxy data (MNASNet's way).
- ``zerocost``: score the untrained child with a zero-cost proxy (``nas.zerocost_eval``; its ``accuracy``
  is a squashed score, not an accuracy).
- ``benchmark``: look the accuracy up in a tabular benchmark (``nas.benchmark_eval``; test accuracy,
  optimistic).

``oneshot`` and ``proxy`` train on the weight split and score on the architecture split (held out from
that training); under torchrun both train data-parallel (``nas.distributed``) and every rank scores its
share. An evaluator may carry ``notes`` for the search's summary and offer
``summarize(records, reward) -> (figures, notes)`` (ground truth it knows; the controller job adds
them to the summary).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

import torch

from nas import distributed as dist
from nas.data import BatchLoader, SearchData
from nas.profile import profile
from nas.registry import Registry
from nas.space import Arch
from nas.loops import Recipe, evaluate, make_optimizer, to_device, train_epoch
from nas.supernet.training import SupernetOptions, SupernetTrainer, score_path

EVALUATORS = Registry("evaluator")


class Evaluator:
    """Callable ``arch -> {accuracy, latency_ms, params_m, macs_m, eval_s}``."""

    def __init__(self, space, data: SearchData, latency_ms: Callable[[Arch], float], recipe: Recipe, *,
                 device: str = "cpu", seed: int = 0):
        self.space, self.data, self.latency_ms, self.recipe = space, data, latency_ms, recipe
        self.device, self.seed = device, seed

    accuracy_kind = "evaluator score (search)"  # what the ``accuracy`` figure is (reports label it)

    @classmethod
    def from_config(cls, space, data: SearchData, latency_ms: Callable[[Arch], float], options: Dict[str, Any], *,
                    device: str = "cpu", seed: int = 0, augment: bool = False,
                    context: Optional[Dict[str, Any]] = None,
                    sections: Optional[Dict[str, Any]] = None) -> "Evaluator":
        """Built from the ``evaluator`` config section: the training recipe's fields make the
        :class:`~nas.loops.Recipe`; of the rest, those the evaluator's constructor takes are passed on.
        ``context`` (the data config and class count) keys caches of trained supernets. ``sections``
        are other sections of the search config (e.g. ``benchmark``): a keyword-only parameter of the
        constructor named like one receives it."""
        fields = set(Recipe.__dataclass_fields__)
        recipe = Recipe(**{k: v for k, v in options.items() if k in fields}, augment=augment)
        takes = inspect.signature(cls.__init__).parameters
        extra = {k: v for k, v in options.items() if k not in fields and k != "name" and k in takes}
        if "cache_key" in takes:
            extra["cache_key"] = context or {}
        for key, value in (sections or {}).items():
            if key in takes and takes[key].kind == inspect.Parameter.KEYWORD_ONLY and key not in extra:
                extra[key] = value
        return cls(space, data, latency_ms, recipe, device=device, seed=seed, **extra)

    def figures(self, arch: Arch, accuracy: float, started: float) -> Dict[str, float]:
        size = (1, 3, self.space.resolution, self.space.resolution)
        with torch.device("meta"):
            p = profile(self.space.build(arch), size)
        return {"accuracy": accuracy, "latency_ms": float(self.latency_ms(arch)), "params_m": p.params / 1e6,
                "macs_m": p.macs / 1e6, "eval_s": time.perf_counter() - started}


@EVALUATORS.register("proxy")
class ProxyEvaluator(Evaluator):
    """Train the child from scratch for ``recipe.epochs`` on the weight split, score on the arch split."""

    accuracy_kind = "proxy evaluator (search)"

    def __call__(self, arch: Arch) -> Dict[str, float]:
        started = time.perf_counter()
        torch.manual_seed(self.seed)
        child = to_device(self.space.build(arch), self.device)
        opt, sched = make_optimizer(child, self.recipe)
        loader = BatchLoader(self.data.weight, self.recipe.batch_size, augment=self.recipe.augment, seed=self.seed,
                             drop_last=True)
        train_net = dist.prepare(child, self.device)
        for epoch in range(self.recipe.epochs):
            train_epoch(train_net, loader, opt, self.recipe, epoch, self.device, progress=False)
            sched.step()
        return self.figures(arch, evaluate(child, self.data.arch, device=self.device)["val_acc"], started)


@EVALUATORS.register("oneshot")
class OneShotEvaluator(Evaluator):
    """Score archs with the space's trained supernet (``nas.supernet.training``: the ``supernet`` section's
    options, one cached artefact shared with FBNet's hard-mode warm-up) after BN re-estimation."""

    accuracy_kind = "shared weights (oneshot evaluator)"

    def __init__(self, *args: Any, supernet: Optional[Mapping[str, Any]] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.trainer = SupernetTrainer(self.space, self.data, SupernetOptions.of(supernet), seed=self.seed,
                                       device=self.device, augment=self.recipe.augment, amp=self.recipe.amp)
        self.bn_batches = self.trainer.opts.bn_batches
        self.supernet = self.trainer.build()
        self.reused = False
        self.prepared = False

    @property
    def cache_path(self) -> Path:
        return self.trainer.cache_path

    def prepare(self, progress: bool = True) -> Path:
        """Train the supernet, or load it from the cache when an identical one was trained before."""
        if not self.prepared:
            self.trainer.train(self.supernet, progress=progress)
            self.reused, self.prepared = self.trainer.reused, True
        return self.cache_path

    def __call__(self, arch: Arch) -> Dict[str, float]:
        started = time.perf_counter()
        self.prepare()
        acc = score_path(self.supernet, arch, self.data, self.bn_batches, self.trainer.opts.batch_size,
                         seed=self.seed, device=self.device)
        return self.figures(arch, acc, started)


from nas import zerocost_eval as _zerocost_eval  # noqa: E402,F401  (registers "zerocost")
from nas import benchmark_eval as _benchmark_eval  # noqa: E402,F401  (registers "benchmark")
