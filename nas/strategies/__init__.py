"""Search controllers over a space's decisions (random, regularized evolution, MNASNet's RL, Optuna)
and the loop that drives them (``run_search``: log, checkpoint, resume).

>>> space = load_space("mnasnet", variant="cifar")
>>> strategy = create_strategy("evolution", space, seed=0, population_size=20)
>>> reward = MnasReward.soft(target_ms=20.0)
>>> result = run_search(strategy, lambda arch: reward.figures(acc(arch), lat(arch)), budget=100,
...                     log_path="archs.jsonl", checkpoint_path="search.pt")

FBNet's differentiable search (``nas.strategies.fbnet``) trains a supernet instead and is not
registered here.
"""

from nas.strategies.base import Record, Strategy, StrategyError, check_result, pareto_front
from nas.strategies.driver import SearchResult, load_checkpoint, read_log, run_search, save_checkpoint
from nas.strategies.registry import STRATEGIES, create_strategy, strategy_options
from nas.strategies.reward import CONSTRAINTS, MnasReward, make_reward, mnas_reward
from nas.strategies import evolution as _evolution  # noqa: F401  (registers the strategies)
from nas.strategies import optuna_search as _optuna_search  # noqa: F401
from nas.strategies import random_search as _random_search  # noqa: F401
from nas.strategies import rl as _rl  # noqa: F401

__all__ = ["CONSTRAINTS", "MnasReward", "Record", "STRATEGIES", "SearchResult", "Strategy", "StrategyError",
           "check_result", "create_strategy", "load_checkpoint", "make_reward", "mnas_reward", "pareto_front",
           "read_log", "run_search", "save_checkpoint", "strategy_options"]
