"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search", Algorithm 1).

The first ``population_size`` archs are drawn uniformly. Then each step samples ``sample_size``
members of the population (with replacement, as in the paper), takes the one with the highest reward
as parent, and proposes the parent with ONE decision changed to a different choice. Each told child
joins the population and the oldest member leaves (aging), whatever its reward.

Two additions, both on by default, that spend the budget on archs worth evaluating (off: the paper's
algorithm): ``feasible_only`` (with a hard latency constraint handed over by the job, see
``Strategy.constrain``: initial archs and children are drawn again until feasible, so the latency
model, not the evaluation budget, weeds out the infeasible), and ``fresh`` (a child that was
evaluated before is drawn again, tournament and mutation, up to ``MAX_TRIES`` times: the driver
would count a repeat against the budget without learning anything).
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Dict, Mapping, Tuple

from nas.strategies.base import MAX_TRIES, Encoding, StrategyError, rng_state, set_rng_state
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES


@STRATEGIES.register("evolution")
class RegularizedEvolution(Controller):
    """Options: ``population_size`` (P, paper 100 for 20k evaluations; default 20 suits budgets of a
    few hundred), ``sample_size`` (S, the tournament size; default 10, tuned on NAS-Bench-201 settings the
    benchmark script does not report: 5 was worse), ``feasible_only`` and ``fresh``
    (see the module docstring)."""

    name = "evolution"

    def __init__(self, space: Any, seed: int = 0, population_size: int = 20, sample_size: int = 10,
                 feasible_only: bool = True, fresh: bool = True):
        super().__init__(space, seed)
        for key, value, lo in (("population_size", population_size, 2), ("sample_size", sample_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise StrategyError("strategy 'evolution'", key, f"an integer >= {lo}", value)
        if sample_size > population_size:
            raise StrategyError("strategy 'evolution'", "sample_size", f"<= population_size ({population_size})",
                                sample_size)
        for key, value in (("feasible_only", feasible_only), ("fresh", fresh)):
            if not isinstance(value, bool):
                raise StrategyError("strategy 'evolution'", key, "true or false", value)
        self.population_size, self.sample_size = population_size, sample_size
        self.fresh = fresh
        self.options = {"population_size": population_size, "sample_size": sample_size,
                        "feasible_only": feasible_only, "fresh": fresh}
        self.rng = random.Random(self.seed)
        self.population: deque = deque()  # history steps, oldest first
        self.mutable = [i for i, n in enumerate(self.sizes) if n > 1]

    def _propose(self) -> Tuple[Encoding, Any]:
        if len(self.history) + len(self._pending) < self.population_size or not self.population:
            return self._draw(lambda: ([self.rng.randrange(n) for n in self.sizes], None))
        members = list(self.population)

        def child():
            sample = [members[self.rng.randrange(len(members))] for _ in range(self.sample_size)]
            parent = max(sample, key=lambda step: (self.history[step].reward, -step))
            return self.mutate(self.space.encode(self.history[parent].arch)), parent

        return self._draw(child)

    def _draw(self, draw) -> Tuple[Encoding, Any]:
        """``draw() -> (encoding, parent)`` again while the encoding is infeasible (``feasible_only``) or
        known (``fresh``), at most MAX_TRIES times."""
        for _ in range(MAX_TRIES):
            enc, parent = draw()
            if (not self.constrained or self.feasible(enc)) and not (self.fresh and tuple(enc) in self._known):
                break
        return enc, parent

    def mutate(self, enc: Encoding) -> Encoding:
        """``enc`` with one decision (drawn uniformly among those with 2+ choices) set to another choice."""
        child = list(enc)
        if not self.mutable:
            return child
        i = self.mutable[self.rng.randrange(len(self.mutable))]
        other = self.rng.randrange(self.sizes[i] - 1)
        child[i] = other if other < child[i] else other + 1
        return child

    def _observe(self, enc: Encoding, record, info: Any) -> None:
        self.population.append(record.step)
        while len(self.population) > self.population_size:
            self.population.popleft()

    def _state(self) -> Dict[str, Any]:
        return {"rng": rng_state(self.rng), "population": list(self.population)}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.population = deque(int(s) for s in state["population"])
