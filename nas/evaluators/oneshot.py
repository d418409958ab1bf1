"""``evaluator=oneshot``: score archs with the space's trained, cached supernet after BN re-estimation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from nas.evaluators.base import EVALUATORS, Evaluator
from nas.space import Arch
from nas.supernet.training import SupernetOptions, SupernetTrainer, score_path


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
