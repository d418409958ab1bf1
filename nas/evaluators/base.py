"""The evaluator base class and registry (``evaluator=`` of ``nas.search``); the evaluators are the
other modules of this package."""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Dict, Optional

import torch

from nas.data import SearchData
from nas.profile import profile
from nas.registry import Registry
from nas.space import Arch
from nas.loops import Recipe

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
