"""The strategy registry: ``STRATEGIES.get(name)(space, seed=..., **opts)`` builds a search controller.

``create_strategy`` checks the options against the class signature first, so a misspelled option in a
config ends in one message listing the options the strategy takes.
"""

from __future__ import annotations

import inspect
from typing import Any

from nas.registry import Registry
from nas.strategies.base import StrategyError

STRATEGIES = Registry("strategy")


def strategy_options(name: str) -> list[str]:
    """The keyword options strategy ``name`` takes besides ``space`` and ``seed``."""
    cls = STRATEGIES.get(name)
    if hasattr(cls, "OPTIONS"):  # a strategy that takes a dataclass of options (fbnet)
        return list(cls.OPTIONS)
    params = inspect.signature(cls.__init__).parameters
    return [p for p, v in params.items() if p not in ("self", "space", "seed")
            and v.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def create_strategy(name: str, space: Any, seed: int = 0, **opts: Any):
    """Build the registered strategy ``name`` on ``space``; unknown options raise StrategyError."""

    known = strategy_options(name)
    for key in opts:
        if key not in known:
            raise StrategyError(f"strategy '{name}'", key, f"one of its options ({', '.join(known)})")
    return STRATEGIES.get(name)(space, seed=seed, **opts)
