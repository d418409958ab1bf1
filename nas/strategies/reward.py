"""MNASNet's latency-aware reward (Tan et al. 2019, "MnasNet", Sec. 3, eq. 2):

    reward(m) = ACC(m) * [LAT(m) / T] ** w,    w = alpha if LAT(m) <= T else beta

with ``T`` the target latency. Soft constraint (the paper's default): alpha = beta = -0.07, so a model
twice as slow must be about 5% more accurate to score the same (2 ** -0.07 = 0.9526). Hard constraint:
alpha = 0, beta = -inf: a feasible arch (LAT <= T) scores its accuracy, an infeasible one gets no
reward (0; ``(LAT / T) ** -inf`` is 0 above the target), so it ranks below every feasible arch. The
job also hands a hard constraint to the strategies (``Strategy.constrain``), which then propose
feasible archs only, judged by the latency source (MNASNet's own "hard" exponents, alpha = 0,
beta = -1, which only scale an infeasible arch down, are ``method.alpha=0 method.beta=-1``).
Unconstrained (reward = accuracy): alpha = beta = 0.

>>> reward = MnasReward(target_ms=20.0)            # soft
>>> reward(0.75, 40.0)                               # 0.75 * 2 ** -0.07
0.7144...
>>> MnasReward.hard(20.0).figures(0.75, 30.0)      # {'reward': 0.0, 'accuracy': 0.75, 'latency_ms': 30.0,
...                                                  #  'feasible': False}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from nas.strategies.base import StrategyError

CONSTRAINTS = {"soft": (-0.07, -0.07), "hard": (0.0, -math.inf)}


def mnas_reward(accuracy: float, latency_ms: float, target_ms: float, alpha: float = -0.07,
                beta: float = -0.07) -> float:
    """``accuracy * (latency_ms / target_ms) ** (alpha if latency_ms <= target_ms else beta)`` (a beta of
    -inf gives 0 above the target)."""
    ratio = latency_ms / target_ms
    return float(accuracy) * ratio ** (alpha if latency_ms <= target_ms else beta)


@dataclass(frozen=True)
class MnasReward:
    """The reward with a target ``T`` (ms) and exponents; ``__call__`` gives the number, ``figures`` the
    result dict a strategy is told."""

    target_ms: float
    alpha: float = -0.07
    beta: float = -0.07

    def __post_init__(self):
        if isinstance(self.target_ms, bool) or not isinstance(self.target_ms, (int, float)) \
                or not math.isfinite(self.target_ms) or self.target_ms <= 0:
            raise StrategyError("reward", "target_ms", "a positive latency target in ms", self.target_ms)
        for key in ("alpha", "beta"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
                    or value == math.inf or (key == "alpha" and math.isinf(value)):
                raise StrategyError("reward", key, "a finite exponent or, for beta, -inf (soft: -0.07; hard: "
                                    "alpha 0, beta -inf; unconstrained: 0)", value)

    @classmethod
    def soft(cls, target_ms: float) -> "MnasReward":
        return cls(target_ms, *CONSTRAINTS["soft"])

    @classmethod
    def hard(cls, target_ms: float) -> "MnasReward":
        return cls(target_ms, *CONSTRAINTS["hard"])

    def __call__(self, accuracy: float, latency_ms: float) -> float:
        if not (isinstance(latency_ms, (int, float)) and math.isfinite(latency_ms) and latency_ms > 0):
            raise StrategyError("reward", "latency_ms", "a positive finite latency", latency_ms)
        if not (isinstance(accuracy, (int, float)) and math.isfinite(accuracy)):
            raise StrategyError("reward", "accuracy", "a finite accuracy", accuracy)
        return mnas_reward(accuracy, latency_ms, self.target_ms, self.alpha, self.beta)

    @property
    def constrains(self) -> bool:
        """Whether the reward depends on the latency at all (not alpha = beta = 0: unconstrained)."""
        return bool(self.alpha or self.beta)

    def many(self, accuracy, latency_ms) -> np.ndarray:
        """The reward of arrays of accuracies and latencies (vectorised ``__call__``, unchecked)."""
        acc, lat = np.asarray(accuracy, dtype=float), np.asarray(latency_ms, dtype=float)
        ratio = lat / self.target_ms
        with np.errstate(over="ignore", divide="ignore"):
            scale = np.where(lat <= self.target_ms, ratio ** self.alpha, np.power(ratio, self.beta))
        return acc * scale

    def figures(self, accuracy: float, latency_ms: float, **extra: float) -> Dict[str, float]:
        """``{'reward', 'accuracy', 'latency_ms', 'feasible', **extra}``: what an evaluator returns to the
        driver (``feasible``: the latency meets the target)."""
        return {"reward": self(accuracy, latency_ms), "accuracy": float(accuracy), "latency_ms": float(latency_ms),
                "feasible": bool(latency_ms <= self.target_ms), **extra}


def make_reward(target_ms: float, constraint: str = "soft", alpha: Optional[float] = None,
                beta: Optional[float] = None) -> MnasReward:
    """The reward for a config: ``constraint`` soft|hard sets the exponents; ``alpha``/``beta`` override."""
    if constraint not in CONSTRAINTS:
        raise StrategyError("reward", "constraint", f"one of {', '.join(CONSTRAINTS)}", constraint)
    a, b = CONSTRAINTS[constraint]
    return MnasReward(target_ms, a if alpha is None else alpha, b if beta is None else beta)
