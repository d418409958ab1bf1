"""``evaluator=zerocost``: score each arch's untrained child with a zero-cost proxy (:mod:`nas.zerocost`).

``evaluator.proxy`` is ``nwot`` (NASWOT, Mellor et al. 2021), ``synflow`` (Abdelfattah et al. 2021
after Tanaka et al. 2020), ``params`` or ``macs``; ``evaluator.batch_size`` images of the weight split
per batch (NASWOT's kernel is batch x batch; the reference uses 128), ``evaluator.repeats`` scores
averaged (each repeat: a fresh initialisation seeded ``seed + r`` and the ``r``-th batch; ``params``
and ``macs`` do not vary and are computed once).

The ``accuracy`` it returns is a score, not an accuracy: ``nas.zerocost.squash`` of the averaged raw
score, ``log(1 + m)`` of the proxy's magnitude (the geometric-mean eigenvalue of NASWOT's kernel, the
raw SynFlow, the counts), positive and rank-preserving, so MNASNet's reward ``ACC * (LAT/T)^w`` stays
positive and orders archs of equal latency as the proxy does. The raw score is returned too, as
``score``. Seconds per arch on CPU: ``eval_s``.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Tuple

import torch

from nas.data import BatchLoader
from nas.evaluators.base import EVALUATORS, Evaluator
from nas.profile import Profile, profile
from nas.space import Arch
from nas.loops import batch_to, to_device
from nas.zerocost import PROXIES, ZeroCostError, score, squash


@EVALUATORS.register("zerocost")
class ZeroCostEvaluator(Evaluator):
    """Callable ``arch -> {accuracy (squashed score), score (raw), latency_ms, params_m, macs_m, eval_s}``."""

    def __init__(self, *args: Any, proxy: str = "nwot", repeats: int = 1, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if proxy not in PROXIES:
            raise ZeroCostError("evaluator", "proxy", f"one of {', '.join(PROXIES)}", proxy)
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ZeroCostError("evaluator", "repeats", "an integer >= 1", repeats)
        batch = self.recipe.batch_size
        if proxy == "nwot" and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 2):
            raise ZeroCostError("evaluator", "batch_size", "an integer >= 2 (NASWOT compares the images of a "
                                "batch)", batch)
        self.proxy = proxy
        self.accuracy_kind = f"{proxy} zero-cost score (search; not an accuracy)"
        self.repeats = 1 if proxy in ("params", "macs") else repeats  # those two do not vary
        self.batches = self._batches() if PROXIES[proxy] == "batch" else []

    def _batches(self):
        """The first ``repeats`` batches of the weight split (seeded order, no augmentation, later epochs'
        orders when one epoch has too few), kept so that every arch is scored on the same images."""
        if len(self.data.weight) < self.recipe.batch_size:
            raise ZeroCostError("evaluator", "batch_size", f"at most the weight split's {len(self.data.weight)} "
                                f"images", self.recipe.batch_size)
        loader = BatchLoader(self.data.weight, self.recipe.batch_size, seed=self.seed, drop_last=True)
        out, epoch = [], 0
        while len(out) < self.repeats:
            loader.set_epoch(epoch)
            out += [x for _, (x, _y) in zip(range(self.repeats - len(out)), loader)]
            epoch += 1
        return out

    def raw_score(self, arch: Arch) -> Tuple[float, Profile]:
        """The proxy's raw score of ``arch`` averaged over the repeats, and the child's :class:`Profile`."""
        size = (1, 3, self.space.resolution, self.space.resolution)
        values, counts = [], None
        for r in range(self.repeats):
            torch.manual_seed(self.seed + r)
            child = to_device(self.space.build(arch), self.device)
            if counts is None:  # on the built child: cheaper than the base class's profile on meta
                counts = profile(child, size)
            if self.proxy in ("params", "macs"):
                values.append(float(getattr(counts, self.proxy)))
                continue
            x = batch_to(self.batches[r], self.device) if self.batches else torch.zeros(size, device=self.device)
            values.append(score(self.proxy, child, x))
        return sum(values) / len(values), counts

    def __call__(self, arch: Arch) -> Dict[str, float]:
        started = time.perf_counter()
        raw, counts = self.raw_score(arch)
        return {"accuracy": squash(self.proxy, raw, self.recipe.batch_size), "score": raw,
                "latency_ms": float(self.latency_ms(arch)), "params_m": counts.params / 1e6,
                "macs_m": counts.macs / 1e6, "eval_s": time.perf_counter() - started}
