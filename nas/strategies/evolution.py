"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search", Algorithm 1).

The first ``population_size`` archs are drawn uniformly. Then each step samples ``sample_size``
members of the population (with replacement, as in the paper), takes the one with the highest reward
as parent, and proposes the parent with ONE decision changed to a different choice. Each told child
joins the population and the oldest member leaves (aging), whatever its reward.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Dict, Mapping, Tuple

from nas.strategies.base import Encoding, StrategyError, rng_state, set_rng_state
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES


@STRATEGIES.register("evolution")
class RegularizedEvolution(Controller):
    """Options: ``population_size`` (P, paper 100 for 20k evaluations; default 20 suits budgets of a
    few hundred), ``sample_size`` (S, the tournament size; default 5)."""

    name = "evolution"

    def __init__(self, space: Any, seed: int = 0, population_size: int = 20, sample_size: int = 5):
        super().__init__(space, seed)
        for key, value, lo in (("population_size", population_size, 2), ("sample_size", sample_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise StrategyError("strategy 'evolution'", key, f"an integer >= {lo}", value)
        if sample_size > population_size:
            raise StrategyError("strategy 'evolution'", "sample_size", f"<= population_size ({population_size})",
                                sample_size)
        self.population_size, self.sample_size = population_size, sample_size
        self.options = {"population_size": population_size, "sample_size": sample_size}
        self.rng = random.Random(self.seed)
        self.population: deque = deque()  # history steps, oldest first
        self.mutable = [i for i, n in enumerate(self.sizes) if n > 1]

    def _propose(self) -> Tuple[Encoding, Any]:
        if len(self.history) + len(self._pending) < self.population_size or not self.population:
            return [self.rng.randrange(n) for n in self.sizes], None
        members = list(self.population)
        sample = [members[self.rng.randrange(len(members))] for _ in range(self.sample_size)]
        parent = max(sample, key=lambda step: (self.history[step].reward, -step))
        return self.mutate(self.space.encode(self.history[parent].arch)), parent

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
