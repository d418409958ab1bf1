"""``evaluator=benchmark``: score each arch with a tabular benchmark's accuracy (NAS-Bench-201's
``nb201_hw.npz``, :mod:`nas.benchmarks`), so a search is a simulation: a query costs microseconds.

``benchmark.dataset`` (``cifar10``, ``cifar100``, ``imagenet16_120``; default: the space's variant)
picks the accuracy; ``benchmark.path`` the file (default: ``$NAS_NB201_DIR`` or the ``../shared``
copy; a missing file is one error naming where it was looked for and how to obtain it).

The file holds the *test* accuracy after the benchmark's 200-epoch training (no validation split), and
the search selects on it: its figures are optimistic against the paper's protocol (select on
validation, report test). ``accuracy_kind`` and the summary's notes say so.

:meth:`BenchmarkEvaluator.summarize` adds the ground truth to a search's summary: the best reward any
arch of the space gets (the best feasible arch under a hard constraint), the found arch's regret
to it, and the hypervolume of the evaluated archs' front against the true front.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from nas.benchmarks.nb201 import code_numbers, load_bench
from nas.benchmarks.truth import all_codes, hypervolume_ratio, optimum
from nas.evaluators.base import EVALUATORS, Evaluator
from nas.space import Arch

CAVEAT = ("accuracies are the benchmark's test accuracies (200 epochs, no validation split) and the search "
          "selected on them: optimistic against the paper's protocol (select on validation, report test)")


@EVALUATORS.register("benchmark")
class BenchmarkEvaluator(Evaluator):
    """Callable ``arch -> {accuracy (fraction), latency_ms, eval_s}`` from the benchmark file."""

    def __init__(self, *args: Any, benchmark: Optional[Mapping[str, Any]] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cfg = dict(benchmark or {})
        self.bench = load_bench(cfg.get("path"))
        self.bench.check_space(self.space)
        self.dataset = cfg.get("dataset") or self.space.variant
        self.accuracies = self.bench.by_code(self.bench.accuracy(self.dataset)) / 100.0  # by code number
        self.accuracy_kind = (f"benchmark test accuracy ({self.dataset}, 200 epochs; optimistic: test split, "
                              f"no validation split)")
        self.notes = [f"{CAVEAT}; file {self.bench.path}"]

    def accuracy(self, arch: Arch) -> float:
        return float(self.accuracies[code_numbers(np.asarray(self.space.encode(arch), dtype=np.int64))])

    def __call__(self, arch: Arch) -> Dict[str, float]:
        started = time.perf_counter()
        acc = self.accuracy(arch)
        return {"accuracy": acc, "latency_ms": float(self.latency_ms(arch)), "eval_s": time.perf_counter() - started}

    # --- ground truth for the summary ------------------------------------------------------------
    def space_latencies(self) -> np.ndarray:
        """The search's latency (``latency_ms``: the latency source's) of every arch, by code number."""
        codes = all_codes([len(d.choices) for d in self.space.decisions])
        return np.array([self.latency_ms(self.space.decode(c.tolist())) for c in codes], dtype=float)

    def summarize(self, records: Sequence[Any], reward: Any,
                  lat: Optional[np.ndarray] = None) -> Tuple[Dict[str, float], List[str]]:
        """Figures of a search against the ground truth and the notes its summary carries.

        ``reward`` is the search's (``MnasReward``): the optimum is the arch of the space with the
        highest reward (a hard constraint: the best feasible arch; alpha = beta = 0: the best arch),
        ``regret`` the optimum's reward minus the best evaluated one (as a fraction, like ``accuracy``).
        The hypervolume compares the front of the evaluated archs with the space's (reference:
        :func:`nas.benchmarks.truth.reference_point`)."""
        lat = self.space_latencies() if lat is None else lat
        acc = self.accuracies
        i, best = optimum(reward.many(acc, lat))
        found = max((r.reward for r in records), default=float("nan"))
        figures = {"true_best_reward": best, "true_best_accuracy": float(acc[i]), "true_best_latency_ms": float(lat[i]),
                   "regret": best - found}
        if reward.constrains:
            feasible = lat <= reward.target_ms
            figures["feasible_share"] = float(feasible.mean())
            figures["found_feasible"] = sum(1 for r in records if r.result.get("latency_ms", np.inf)
                                            <= reward.target_ms)
        points = [(r.result["latency_ms"], r.result["accuracy"]) for r in records]
        figures.update(hypervolume_ratio(points, lat, acc))
        notes = [f"ground truth from the file: best reward {best:.4f} (accuracy {acc[i]:.4f} at {lat[i]:.3f} ms), "
                 f"regret of the found arch {best - found:.4f}; hypervolume of the evaluated archs' front "
                 f"{figures['hypervolume_ratio']:.3f} of the true front's"]
        return figures, self.notes + notes
