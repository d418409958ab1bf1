"""Controllers as independent workers on one shared Optuna study (``method.storage=``).

``python -m nas.search method=evolution method.storage=sqlite:///study.db seed=<k> out_dir=<dir k>``
started several times (on one machine or many, each with its own seed and run dir) runs ONE search:

- **The study is the shared state.** Every evaluated arch is a COMPLETE trial holding its figures;
  an arch being evaluated is a RUNNING trial. The budget (``method.budget``) counts the study's
  COMPLETE trials, whoever evaluated them. Storage: an RDB URL (``sqlite:///study.db``, PostgreSQL,
  MySQL) or an Optuna journal file (``journal:<path>``, or any path without ``://``), which needs
  nothing but a file system all workers see.
- **Strategies rebuild their state from the study's history** before each ask
  (:class:`SharedController`): the COMPLETE trials in completion order are told to a fresh copy of the
  strategy (incrementally while that order only grows). Evolution's population is then the last
  ``population_size`` complete trials (aging, as the asynchronous workers of Real et al. 2019) and its
  random start covers the first ``population_size`` trials of the study, RUNNING ones included; the
  mnasnet controller's policy is initialised from the study name (the same on every worker) and
  updated batch by batch with each trial's recorded sampling log-probability (``nas_info``), so every
  worker holds the same policy; random search has no state. Each worker draws its proposals with its
  own seed stream ``(seed, complete trials, attempt)``.
- **No arch is evaluated twice** (``OptunaSearch``'s claim, shared with TPE / NSGA-II workers): a
  proposal another worker is evaluating is withdrawn (a FAIL trial, ``nas_duplicate_of``) and the
  strategy asked again; a proposal already COMPLETE is a cached repeat (told the stored figures, not
  evaluated, ``nas_cached_from``; it counts toward the budget as a single worker's cached repeat does).
- **A killed worker loses only the arch it was evaluating** (its RUNNING trial); the others go on. Restarted
  with the same ``worker_id`` (default ``<host>-seed<seed>``) it fails that trial and evaluates its arch again.
- **Best and Pareto front** are read from the study's COMPLETE trials: the same whichever worker reads them.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from nas.strategies.base import Encoding, StrategyError, check_result, seed_stream
from nas.strategies.optuna_search import OptunaSearch
from nas.strategies.study import complete_params
from nas.strategies.controller import split_method
from nas.strategies.registry import STRATEGIES, create_strategy

SHARED_CONTROLLERS = ("evolution", "mnasnet", "random")  # strategies whose state is a function of the history
WORKER_OPTIONS = ("study_name", "worker_id", "claim_retries", "claim_wait_s")


def _sampler_class():
    import optuna

    class ControllerSampler(optuna.samplers.BaseSampler):
        """Proposes a whole arch (relative sampling) with the owner's strategy rebuilt from the study."""

        def __init__(self, owner: "SharedController", seed: int):
            self.owner, self.seed = owner, seed

        def infer_relative_search_space(self, study, trial):
            return dict(self.owner.distributions)

        def sample_relative(self, study, trial, search_space):
            if not search_space:
                return {}
            enc, info = self.owner.propose_from_study(study, trial.number, self.seed)
            self.owner._last_info = info
            return {d.label: spec[i] for d, spec, i in zip(self.owner.decisions, self.owner.specs, enc)}

        def sample_independent(self, study, trial, param_name, param_distribution):
            choices = param_distribution.choices  # not reached: every decision is sampled relatively
            return choices[random.Random(self.seed).randrange(len(choices))]

    return ControllerSampler


class SharedController(OptunaSearch):
    """``controller`` (evolution, mnasnet, random) as a worker on the shared study in ``storage`` (see the
    module docstring); ``options`` are the controller's own. Built by ``method.storage=`` of those methods."""

    def __init__(self, space: Any, seed: int = 0, controller: str = "evolution",
                 options: Optional[Mapping[str, Any]] = None, storage: Any = None, study_name: Optional[str] = None,
                 worker_id: Optional[str] = None, claim_retries: int = 10, claim_wait_s: float = 300.0,
                 quiet: bool = True):
        if controller not in SHARED_CONTROLLERS:
            raise StrategyError(f"method={controller}", "storage", f"one of {', '.join(SHARED_CONTROLLERS)}, optuna "
                                "(methods that can share a study)", controller)
        if storage is None:
            raise StrategyError(f"method={controller}", "storage", "a database URL or a journal file shared by "
                                "the workers")
        self.controller, self.controller_options = controller, dict(options or {})
        create_strategy(controller, space, 0, **self.controller_options)  # bad options fail here
        self._inner: Any = None
        self._consumed: List[int] = []  # trial numbers told to _inner, in order
        self._last_info: Any = None
        study_name = study_name or f"nas-{space.name}-{controller}"
        self.study_seed = seed_stream("study", study_name)  # the strategy's own init (mnasnet's policy): shared
        super().__init__(space, seed, sampler="random", objectives=("reward",), storage=storage,
                         study_name=study_name, worker_id=worker_id, claim_retries=claim_retries,
                         claim_wait_s=claim_wait_s, quiet=quiet)
        self.name = controller
        self.sampler_name = controller
        self.options = {"controller": controller, **{k: repr(v) for k, v in sorted(self.controller_options.items())},
                        "persistent": True}

    # --- OptunaSearch hooks ------------------------------------------------------------------------
    def _make_sampler(self, n_complete: int, attempt: int = 0, n_rejected: int = 0):
        parts = (n_complete,) if attempt == 0 else (n_complete, attempt)
        return _sampler_class()(self, seed_stream("shared", self.controller, self.seed, *parts))

    def _signature(self) -> Dict[str, Any]:
        return {**super()._signature(), "nas_controller": self.controller,
                "nas_controller_options": {k: repr(v) for k, v in sorted(self.controller_options.items())}}

    @property
    def rejects(self) -> bool:
        """Never: the controller itself gets the hard constraint (:meth:`constrain`) and proposes as it does
        alone (evolution, mnasnet: feasible archs only; random: plain unless its ``feasible_only``)."""
        return False

    def constrain(self, feasible) -> None:
        super().constrain(feasible)
        if self._inner is not None:
            self._inner.constrain(feasible)

    def _asked(self, trial: Any) -> None:
        info = trial.user_attrs["nas_info"] if "requeued_from" in trial.user_attrs and "nas_info" in \
            trial.user_attrs else self._last_info
        self._last_info = None
        if info is not None:
            trial.set_user_attr("nas_info", info)

    # --- the strategy rebuilt from the study --------------------------------------------------------
    def trial_encoding(self, trial: Any) -> Encoding:
        from nas.strategies.optuna_search import spec_index

        return [spec_index(s, trial.params[d.label]) for d, s in zip(self.decisions, self.specs)]

    def _rebuild(self, complete: List[Any]) -> Any:
        numbers = [t.number for t in complete]
        if self._inner is None or numbers[:len(self._consumed)] != self._consumed:
            self._inner = create_strategy(self.controller, self.space, self.study_seed, **self.controller_options)
            self._inner.constrain(self._constraint)  # the job's hard constraint, if any
            self._consumed = []
        inner = self._inner
        for t in complete[len(self._consumed):]:
            enc = self.trial_encoding(t)
            result = check_result(t.user_attrs.get("result") or {"reward": t.values[0]}, f"trial {t.number}")
            info = t.user_attrs.get("nas_info")
            if info is None and hasattr(inner, "policy"):  # a trial without its sampling log-prob: on-policy
                with torch.no_grad():
                    info = float(inner.policy.run(torch.tensor([enc]))[1][0])
            record = inner._add_record(enc, result)
            inner._observe(enc, record, info)
            self._consumed.append(t.number)
        return inner

    def propose_from_study(self, study: Any, number: int, seed: int) -> Tuple[Encoding, Any]:
        """The strategy's next proposal given the study's COMPLETE trials (told in completion order) and
        its RUNNING ones (pending), drawn with ``seed``."""
        import optuna

        labels = [d.label for d in self.decisions]
        trials = study.get_trials(deepcopy=False)
        done = optuna.trial.TrialState.COMPLETE
        complete = sorted((t for t in trials if t.state == done and not t.user_attrs.get("rejected")),
                          key=lambda t: (t.datetime_complete.timestamp() if t.datetime_complete else 0.0, t.number))
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and t.number != number
                   and complete_params(t, labels)]
        inner = self._rebuild(complete)
        if isinstance(getattr(inner, "rng", None), random.Random):
            inner.rng.seed(seed)
        if isinstance(getattr(inner, "generator", None), torch.Generator):
            inner.generator.manual_seed(seed & 0x7FFFFFFFFFFFFFFF)
        inner._pending = [(self.trial_encoding(t), None) for t in running]
        if isinstance(getattr(inner, "queue", None), list):  # mnasnet's archs sampled ahead: drawn anew here
            inner.queue = []
        try:
            enc, info = inner._propose()
        finally:
            inner._pending = []
            if isinstance(getattr(inner, "queue", None), list):
                inner.queue = []
        return [int(i) for i in enc], info


def shared_controller(name: str, space: Any, seed: int, storage: Any, options: Mapping[str, Any]) -> SharedController:
    """``method.storage=`` of a controller: its options split into the worker's (``study_name``,
    ``worker_id``, ``claim_retries``, ``claim_wait_s``) and the strategy's own."""
    worker = {k: options[k] for k in WORKER_OPTIONS if k in options}
    own = {k: v for k, v in options.items() if k not in WORKER_OPTIONS}
    return SharedController(space, seed, controller=name, options=own, storage=storage, **worker)


def shared_from_config(name: str, space: Any, seed: int, method: Mapping[str, Any]) -> SharedController:
    """A worker of strategy ``name`` on the shared study its ``method.storage`` names."""
    options, storage, run = split_method(name, method)
    worker = shared_controller(name, space, seed, storage, options)
    worker.run_settings = run
    return worker


def build_strategy(name: str, space: Any, seed: int, method: Mapping[str, Any]):
    """The search method ``name`` built from its ``method`` config section: the registered class's
    ``from_config``, or, for a controller whose state is a function of the history given a
    ``method.storage``, a worker on that shared study."""
    if method.get("storage") is not None and name in SHARED_CONTROLLERS:
        return shared_from_config(name, space, seed, method)
    return STRATEGIES.get(name).from_config(space, seed, method)
