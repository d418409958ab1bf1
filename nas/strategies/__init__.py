"""Search methods over a space's decisions, all registered in ``STRATEGIES`` with one life cycle:
``STRATEGIES.get(name).from_config(space, seed, method_cfg)`` builds one, ``search(job)`` runs it on a
:class:`~nas.strategies.job.SearchJob` and returns the :class:`~nas.results.SearchSummary`.

- controllers (ask/tell over the decisions, scored by an evaluator): random, regularized evolution,
  MNASNet's RL, Optuna (TPE / NSGA-II), ``bo`` (a GP predictor proposing mutations of the best
  archs); the loop that drives them is ``run_strategy`` (log, checkpoint, resume); a hard latency
  constraint reaches them through ``Strategy.constrain``;
- ``fbnet``: FBNet's differentiable search, which trains the space's supernet instead.

>>> space = load_space("mnasnet", variant="cifar")
>>> strategy = create_strategy("evolution", space, seed=0, population_size=20)
>>> reward = MnasReward.soft(target_ms=20.0)
>>> result = run_strategy(strategy, lambda arch: reward.figures(acc(arch), lat(arch)), budget=100,
...                       log_path="archs.jsonl", checkpoint_path="search.pt")
"""

from nas.strategies.base import Record, SearchError, Strategy, StrategyError, check_result, pareto_front
from nas.strategies.driver import SearchResult, load_checkpoint, read_log, run_strategy, save_checkpoint
from nas.strategies.job import LatencySettings, SearchJob
from nas.strategies.registry import STRATEGIES, create_strategy, strategy_options
from nas.strategies.shared_study import build_strategy
from nas.strategies.reward import CONSTRAINTS, MnasReward, make_reward, mnas_reward
from nas.strategies import bo as _bo  # noqa: F401  (registers the strategies)
from nas.strategies import evolution as _evolution  # noqa: F401
from nas.strategies import fbnet as _fbnet  # noqa: F401
from nas.strategies import optuna_search as _optuna_search  # noqa: F401
from nas.strategies import random_search as _random_search  # noqa: F401
from nas.strategies import rl as _rl  # noqa: F401

__all__ = ["CONSTRAINTS", "LatencySettings", "MnasReward", "Record", "STRATEGIES", "SearchError", "SearchJob",
           "SearchResult", "Strategy", "StrategyError", "build_strategy", "check_result", "create_strategy", "load_checkpoint",
           "make_reward", "mnas_reward", "pareto_front", "read_log", "run_strategy", "save_checkpoint",
           "strategy_options"]
