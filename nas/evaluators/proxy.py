"""``evaluator=proxy``: train each arch's child from scratch for a few epochs (MNASNet's way)."""

from __future__ import annotations

import time
from typing import Dict

import torch

from nas import distributed as dist
from nas.data import BatchLoader
from nas.evaluators.base import EVALUATORS, Evaluator
from nas.loops import evaluate, make_optimizer, to_device, train_epoch
from nas.space import Arch


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
