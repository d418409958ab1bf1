"""MNASNet's latency-aware reward (Tan et al. 2019, "MnasNet", Sec. 3, eq. 2):

    reward(m) = ACC(m) * [LAT(m) / T] ** w,    w = alpha if LAT(m) <= T else beta

with ``T`` the target latency. Soft constraint (the paper's default): alpha = beta = -0.07, so a model
twice as slow must be about 5% more accurate to score the same (2 ** -0.07 = 0.9526). Hard constraint:
alpha = 0, beta = -1 (no gain for being faster than T, a sharp penalty above it).

>>> reward = MnasReward(target_ms=20.0)            # soft
>>> reward(0.75, 40.0)                               # 0.75 * 2 ** -0.07
0.7144...
>>> MnasReward.hard(20.0).figures(0.75, 10.0)      # {'reward': 0.75, 'accuracy': 0.75, 'latency_ms': 10.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

from nas.strategies.base import StrategyError

CONSTRAINTS = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}


def mnas_reward(accuracy: float, latency_ms: float, target_ms: float, alpha: float = -0.07,
                beta: float = -0.07) -> float:
    """``accuracy * (latency_ms / target_ms) ** (alpha if latency_ms <= target_ms else beta)``."""
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
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise StrategyError("reward", key, "a finite exponent (soft: -0.07, hard: alpha 0, beta -1)", value)

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

    def figures(self, accuracy: float, latency_ms: float, **extra: float) -> Dict[str, float]:
        """``{'reward', 'accuracy', 'latency_ms', **extra}``: what an evaluator returns to the driver."""
        return {"reward": self(accuracy, latency_ms), "accuracy": float(accuracy), "latency_ms": float(latency_ms),
                **extra}


def make_reward(target_ms: float, constraint: str = "soft", alpha: Optional[float] = None,
                beta: Optional[float] = None) -> MnasReward:
    """The reward for a config: ``constraint`` soft|hard sets the exponents; ``alpha``/``beta`` override."""
    if constraint not in CONSTRAINTS:
        raise StrategyError("reward", "constraint", f"one of {', '.join(CONSTRAINTS)}", constraint)
    a, b = CONSTRAINTS[constraint]
    return MnasReward(target_ms, a if alpha is None else alpha, b if beta is None else beta)
