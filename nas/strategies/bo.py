"""Bayesian optimisation over the decisions with a Gaussian-process accuracy predictor and local
candidates (BANANAS-style acquisition by mutation, White et al. 2021; local search's neighbourhoods,
White et al. 2021 "Local search is state of the art for NAS benchmarks"; a categorical GP as in
COMBO / BOSS).

- **Model**: a GP on the rewards seen so far (standardised), kernel ``exp(-theta * d(x, y) / L)``
  with ``d`` the number of decisions two archs differ in (Hamming distance of the encodings) and ``L``
  the number of decisions, plus ``noise`` on the diagonal. It sees only encodings: no block, no
  feature of the space.
- **Candidates** (every ``batch`` proposals): every one-decision mutation of the ``top_k`` best archs,
  every two-decision mutation of the best one, and ``random_candidates`` uniform draws; at most
  ``max_candidates`` of them (a uniform subsample), none evaluated or pending before and, with a hard
  latency constraint handed over by the job (``Strategy.constrain``, ``feasible_only``), feasible
  ones only: the latency model prunes the candidates at no evaluation.
- **Acquisition**: the upper confidence bound ``mean + kappa * std``; the ``batch`` best candidates
  are proposed in order before the GP is refitted.
- The first ``initial`` archs are uniform draws (feasible ones under a constraint), all different.

Defaults were tuned on NAS-Bench-201 settings that the benchmark script does not report
(docs/benchmarks.md, "How the defaults were tuned").
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Set, Tuple

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

from nas.strategies.base import MAX_TRIES, Encoding, StrategyError, rng_state, set_rng_state
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES


@STRATEGIES.register("bo")
class GPBayesOpt(Controller):
    """Options: ``initial`` (uniform archs before the GP proposes), ``kappa`` (UCB's exploration weight),
    ``theta`` (the kernel's inverse length scale per share of differing decisions), ``noise`` (GP noise,
    in units of the rewards' variance), ``top_k``, ``random_candidates``, ``max_candidates``,
    ``batch`` (proposals per refit), ``feasible_only`` (see the module docstring)."""

    name = "bo"

    def __init__(self, space: Any, seed: int = 0, initial: int = 10, kappa: float = 3.0, theta: float = 3.0,
                 noise: float = 0.1, top_k: int = 10, random_candidates: int = 200, max_candidates: int = 2000,
                 batch: int = 4, feasible_only: bool = True):
        super().__init__(space, seed)
        src = "strategy 'bo'"
        for key, value, lo in (("initial", initial, 2), ("top_k", top_k, 1), ("random_candidates", random_candidates, 0),
                               ("max_candidates", max_candidates, 1), ("batch", batch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise StrategyError(src, key, f"an integer >= {lo}", value)
        for key, value in (("kappa", kappa), ("theta", theta), ("noise", noise)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                    or (key != "kappa" and not value > 0):
                raise StrategyError(src, key, "a number > 0" if key != "kappa" else "a number >= 0", value)
        if not isinstance(feasible_only, bool):
            raise StrategyError(src, "feasible_only", "true or false", feasible_only)
        self.initial, self.kappa, self.theta, self.noise = initial, float(kappa), float(theta), float(noise)
        self.top_k, self.random_candidates, self.max_candidates, self.batch = top_k, random_candidates, \
            max_candidates, batch
        self.options = {"initial": initial, "kappa": self.kappa, "theta": self.theta, "noise": self.noise,
                        "top_k": top_k, "random_candidates": random_candidates, "max_candidates": max_candidates,
                        "batch": batch, "feasible_only": feasible_only}
        self.rng = random.Random(self.seed)
        self.queue: List[Encoding] = []  # the rest of the last refit's batch
        self.offsets = np.cumsum([0] + self.sizes[:-1])
        self.width = int(sum(self.sizes))

    # --- proposals -------------------------------------------------------------------------------
    def _taken(self) -> Set[Tuple[int, ...]]:
        return set(self._known) | {tuple(e) for e, _ in self._pending}

    def _propose(self) -> Tuple[Encoding, Any]:
        taken = self._taken()
        if len(self.history) + len(self._pending) < self.initial:
            return self._uniform(taken), None
        self.queue = [e for e in self.queue if tuple(e) not in taken]
        if not self.queue:
            self.queue = self._refit(taken)
        if not self.queue:  # nothing left to propose near the best: explore
            return self._uniform(taken), None
        return self.queue.pop(0), "gp"

    def _uniform(self, taken: Set[Tuple[int, ...]]) -> Encoding:
        for _ in range(MAX_TRIES):
            enc = [self.rng.randrange(n) for n in self.sizes]
            if tuple(enc) not in taken and (not self.constrained or self.feasible(enc)):
                break
        return enc

    def neighbours(self, enc: Encoding) -> List[Tuple[int, ...]]:
        """Every encoding one decision away from ``enc``."""
        out = []
        for i, n in enumerate(self.sizes):
            for c in range(n):
                if c != enc[i]:
                    out.append(tuple(enc[:i]) + (c,) + tuple(enc[i + 1:]))
        return out

    def candidates(self, ranked: List[Encoding], taken: Set[Tuple[int, ...]]) -> List[Tuple[int, ...]]:
        """Mutations of the best archs and uniform draws, new and (under a constraint) feasible."""
        pool: Dict[Tuple[int, ...], None] = {}
        for enc in ranked[:self.top_k]:
            pool.update(dict.fromkeys(self.neighbours(enc)))
        for near in self.neighbours(ranked[0]):
            pool.update(dict.fromkeys(self.neighbours(list(near))))
        for _ in range(self.random_candidates):
            pool[tuple(self.rng.randrange(n) for n in self.sizes)] = None
        cands = [c for c in pool if c not in taken]
        if len(cands) > self.max_candidates:
            cands = self.rng.sample(cands, self.max_candidates)
        if self.constrained:
            cands = [c for c in cands if self.feasible(c)]
        return cands

    def onehot(self, encs: np.ndarray) -> np.ndarray:
        x = np.zeros((len(encs), self.width))
        rows = np.arange(len(encs))[:, None]
        x[rows, encs + self.offsets] = 1.0
        return x

    def _refit(self, taken: Set[Tuple[int, ...]]) -> List[Encoding]:
        encs = np.array([self.space.encode(r.arch) for r in self.history], dtype=np.int64)
        y = np.array([r.reward for r in self.history])
        ranked = [encs[i].tolist() for i in np.argsort(-y, kind="stable")]
        cands = self.candidates(ranked, taken)
        if not cands:
            return []
        scores = self.acquisition(encs, y, np.array(cands, dtype=np.int64))
        best = np.argsort(-scores, kind="stable")[:self.batch]
        return [[int(c) for c in cands[i]] for i in best]

    def acquisition(self, encs: np.ndarray, y: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """UCB of the GP fitted to ``(encs, y)`` at ``cands`` (standardised rewards)."""
        std = y.std()
        yn = (y - y.mean()) / (std if std > 0 else 1.0)
        x, xc = self.onehot(encs), self.onehot(cands)
        scale = self.theta / len(self.sizes)
        k = np.exp(-scale * (len(self.sizes) - x @ x.T)) + self.noise * np.eye(len(x))
        chol = cho_factor(k, lower=True)
        ks = np.exp(-scale * (len(self.sizes) - xc @ x.T))
        mean = ks @ cho_solve(chol, yn)
        v = solve_triangular(chol[0], ks.T, lower=True)
        var = np.maximum(1.0 + self.noise - (v * v).sum(0), 1e-12)
        return mean + self.kappa * np.sqrt(var)

    # --- checkpoint ------------------------------------------------------------------------------
    def _state(self) -> Dict[str, Any]:
        return {"rng": rng_state(self.rng), "queue": [list(e) for e in self.queue]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.queue = [[int(i) for i in e] for e in state["queue"]]
