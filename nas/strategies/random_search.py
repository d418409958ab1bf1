"""Random search: every architecture drawn uniformly (the baseline every controller must beat;
Li & Talwalkar 2019, "Random Search and Reproducibility for NAS").

``feasible_only`` (off by default: the baseline stays plain): with a hard latency constraint handed
over by the job, draw again until the arch is feasible (uniform over the feasible archs)."""

from __future__ import annotations

import random
from typing import Any, Dict, Mapping, Tuple

from nas.strategies.base import Encoding, StrategyError, rng_state, set_rng_state
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES


@STRATEGIES.register("random")
class RandomSearch(Controller):
    """Uniform sampling, one index per decision from a seeded ``random.Random``."""

    name = "random"

    def __init__(self, space: Any, seed: int = 0, feasible_only: bool = False):
        super().__init__(space, seed)
        if not isinstance(feasible_only, bool):
            raise StrategyError("strategy 'random'", "feasible_only", "true or false", feasible_only)
        if feasible_only:  # recorded only when on: checkpoints of plain random search stay as they were
            self.options = {"feasible_only": True}
        self.rng = random.Random(self.seed)

    def _propose(self) -> Tuple[Encoding, Any]:
        return self.draw_feasible(lambda: [self.rng.randrange(n) for n in self.sizes]), None

    def _state(self) -> Dict[str, Any]:
        return {"rng": rng_state(self.rng)}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
