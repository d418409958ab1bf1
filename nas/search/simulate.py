"""A controller's search on a tabular benchmark as a simulation: what ``python -m nas.search
space=nb201 evaluator=benchmark latency.table=benchmark ...`` runs, without the app's files (no log,
checkpoint, plots), so that many seeded searches fit in CPU minutes (``bench/nb201_strategies.py``,
the tests).

It builds the same objects the app builds (the space, the :class:`~nas.benchmarks.source.
BenchmarkLatency` source, the registered ``benchmark`` evaluator through ``Evaluator.from_config``,
the strategy through ``Controller.from_config``) and sets the search up with the controllers' own
:func:`~nas.strategies.controller.controller_objective`: the same reward, target and constraint.

>>> setting = Setting("cifar100", "gold_6226", 8.0)            # hard constraint at 8 ms
>>> records = simulate("evolution", {}, setting, seed=0, budget=100)
>>> best_feasible(records, setting)                             # best test accuracy (%) within 8 ms
>>> truth(setting).optimum                                      # the best feasible arch's, from the file
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from nas.benchmarks.nb201 import load_bench
from nas.benchmarks.source import BenchmarkLatency
from nas.benchmarks.truth import hypervolume_ratio, optimum
from nas.evaluators import EVALUATORS
from nas.space import load_space
from nas.strategies import STRATEGIES, LatencySettings, SearchJob, run_strategy
from nas.strategies.base import Record
from nas.strategies.controller import controller_objective

UNCONSTRAINED_DEVICE = "gold_6226"  # an unconstrained search still has a latency source; its reward ignores it


@dataclass(frozen=True)
class Setting:
    """A search problem on the benchmark: a dataset's accuracy, and a hard latency constraint on a device
    (``target_ms`` None: unconstrained, reward = accuracy; ``device`` then only fills the latencies)."""

    dataset: str
    device: Optional[str] = None
    target_ms: Optional[float] = None

    @property
    def label(self) -> str:
        if self.target_ms is None:
            return f"{self.dataset}, unconstrained"
        return f"{self.dataset}, {self.device} <= {self.target_ms:g} ms"

    @property
    def latency_device(self) -> str:
        return self.device or UNCONSTRAINED_DEVICE


@dataclass
class Truth:
    """The file's answer for a setting: the best (feasible) test accuracy (%), the feasible share, and
    every arch's accuracy (%) and latency (ms) by code number (for hypervolumes)."""

    optimum: float
    feasible_share: float
    accuracy: np.ndarray
    latency: np.ndarray


def truth(setting: Setting, path: Optional[str] = None) -> Truth:
    bench = load_bench(path)
    acc = bench.by_code(bench.accuracy(setting.dataset))
    lat = bench.by_code(bench.latency(setting.latency_device))
    feasible = np.ones(len(acc), bool) if setting.target_ms is None else lat <= setting.target_ms
    return Truth(optimum(acc, feasible)[1], float(feasible.mean()), acc, lat)


_SPACES: Dict[str, Any] = {}


def nb201_space(variant: str = "cifar10"):
    if variant not in _SPACES:
        _SPACES[variant] = load_space("nb201", variant=variant)
    return _SPACES[variant]


def simulate(method: str, options: Mapping[str, Any], setting: Setting, seed: int, budget: int,
             path: Optional[str] = None) -> List[Record]:
    """The records of ``method`` (a registered controller with ``options``) searching ``setting`` for
    ``budget`` queries with ``seed``, as the app's controller job runs it (hard constraint when the
    setting has a target; alpha = beta = 0, reward = accuracy, when it has none)."""
    space = nb201_space()
    source = BenchmarkLatency(setting.latency_device, path)
    settings = LatencySettings(target_ms=setting.target_ms, constraint="soft" if setting.target_ms is None else "hard",
                               measure=False)
    sections = {"benchmark": {"path": path, "dataset": setting.dataset}}

    def make_evaluator(latency_ms):
        return EVALUATORS.get("benchmark").from_config(space, None, latency_ms, {"name": "benchmark"}, seed=seed,
                                                       sections=sections)

    job = SearchJob(space, None, source, None, settings, seed=seed, make_evaluator=make_evaluator,
                    evaluator_name="benchmark")
    strategy = STRATEGIES.get(method).from_config(space, seed, {"options": dict(options), "budget": budget})
    zero = 0.0 if setting.target_ms is None else None
    objective = controller_objective(strategy, job, alpha=zero, beta=zero)
    return run_strategy(strategy, objective.evaluate, budget, progress=False).records


def best_feasible(records: Sequence[Record], setting: Setting) -> float:
    """The best test accuracy (%) among the records that meet the setting's target (NaN: none does)."""
    accs = [r.result["accuracy"] * 100 for r in records
            if setting.target_ms is None or r.result["latency_ms"] <= setting.target_ms]
    return max(accs) if accs else math.nan


def best_curve(records: Sequence[Record], setting: Setting) -> np.ndarray:
    """The best feasible test accuracy (%) after each query (NaN before the first feasible one)."""
    acc = np.array([r.result["accuracy"] * 100 for r in records])
    ok = np.array([setting.target_ms is None or r.result["latency_ms"] <= setting.target_ms for r in records])
    return np.fmax.accumulate(np.where(ok, acc, np.nan)) if len(acc) else acc


def front_ratio(records: Sequence[Record], t: Truth) -> float:
    """Hypervolume of the evaluated archs' accuracy-latency front over the true front's."""
    points = [(r.result["latency_ms"], r.result["accuracy"] * 100) for r in records]
    return hypervolume_ratio(points, t.latency, t.accuracy)["hypervolume_ratio"]
