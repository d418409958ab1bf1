"""Optuna-driven search: an Optuna sampler proposes archs through ``trial.suggest_categorical`` per
decision, using Optuna's ask/tell study API and storage.

- ``sampler='tpe'`` (Bergstra et al. 2011) for the single ``reward``; ``'nsga2'`` (Deb et al. 2002) for
  several objectives, e.g. ``objectives=('accuracy', 'latency_ms')``, whose non-dominated trials are the
  Pareto front (:meth:`OptunaSearch.front`); ``'random'``; ``'auto'`` picks tpe / nsga2.
- ``storage='sqlite:///search.db'`` (or any RDB URL, ``journal:<file>`` / a path for an Optuna journal
  file, or an Optuna storage object) plus ``study_name``: several workers share one study (give each
  its own ``seed``), and a killed search continues where it stopped (``load_if_exists``). A trial the
  killed worker left RUNNING is marked FAIL and its arch is enqueued again, so it is evaluated once
  more. The budget counts COMPLETE trials of the whole study. No arch is evaluated twice: a proposal
  another worker is evaluating (RUNNING) is withdrawn (FAIL, ``nas_duplicate_of``) and the sampler asked
  again (up to ``claim_retries`` times, then it waits up to ``claim_wait_s`` for that trial); a proposal
  the study holds COMPLETE is told its figures again without evaluating (``nas_cached_from``, it counts
  toward the budget like a single worker's cached repeat). ``nas.strategies.shared_study`` runs
  evolution, mnasnet and random search the same way.
- Reproducible: before each ask the sampler is re-seeded from ``(seed, number of complete trials)``, so
  the same seed and the same history give the same archs, also after a resume.
- ``feasible_only`` (default on; single-objective studies): with a hard latency constraint handed over
  by the job (``Strategy.constrain``), an asked arch that is infeasible is not evaluated: it is told
  at once as a rejected trial (user attribute ``rejected``) with the worst value (0, or a worse one
  told before), so TPE learns the infeasible region from the latency model at no evaluation, and is
  asked again. Rejected trials count neither toward the budget nor toward ``n_startup_trials``, and
  are left out of ``records``, ``best`` and ``front``. NSGA-II's fronts span the whole latency range:
  multi-objective studies ignore the constraint.
- ``fresh`` (default off): an asked arch this search evaluated before is failed at once (a rejected
  trial that the sampler ignores) and the sampler asked again, re-seeded, up to ``FRESH_TRIES`` times
  (the driver counts a repeat against the budget without learning anything, and TPE proposes many
  near its end; but each extra ask costs a full TPE step, which made a 300-query search several
  times slower on NAS-Bench-201).
- Choices that are None/bool/int/float/str and unambiguous are suggested as themselves (Optuna stores
  the choice index, so floats and ints come back exactly); others (or ``1`` beside ``1.0``/``True``) are
  suggested by their ``repr``. Either way the arch holds the space's own choice objects.
"""

from __future__ import annotations

import math
import socket
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from nas.strategies.base import (MAX_TRIES, OBJECTIVE_SENSES, Encoding, Record, Strategy, StrategyError,
                                 check_result, seed_stream)
from nas.strategies.controller import Controller
from nas.strategies.registry import STRATEGIES
from nas.strategies.study import open_storage, running_clash, wait_while_running

SAMPLERS = ("auto", "tpe", "nsga2", "random")
FRESH_TRIES = 10  # asks (re-seeded) to get an arch not evaluated before; then the repeat is proposed


def choice_specs(choices: Sequence[Any]) -> Tuple[Any, ...]:
    """What is passed to ``suggest_categorical`` for these choices (see the module docstring)."""
    plain = all(c is None or type(c) in (bool, int, float, str) for c in choices)
    nan = any(isinstance(c, float) and math.isnan(c) for c in choices)
    clash = any(choices[i] == choices[j] for i in range(len(choices)) for j in range(i + 1, len(choices)))
    if plain and not nan and not clash:
        return tuple(choices)
    return tuple(repr(c) for c in choices)


def spec_index(spec: Sequence[Any], value: Any) -> int:
    for i, s in enumerate(spec):
        if type(s) is type(value) and s == value:
            return i
    raise StrategyError("optuna trial", "param", f"one of {list(spec)}", value)


@STRATEGIES.register("optuna")
class OptunaSearch(Controller):
    """Options: ``sampler`` auto|tpe|nsga2|random; ``objectives`` (result keys; reward, accuracy up,
    latency_ms, params, macs down, others need ``directions``); ``storage`` (None: in memory);
    ``study_name`` (default ``nas-<space>-<objectives>``); ``n_startup_trials`` (TPE's random trials;
    default 5) and ``population_size`` (NSGA-II; default 10): tuned for budgets of 100-300 on
    NAS-Bench-201 settings the benchmark script does not report (Optuna's own 10 and 50 did worse);
    ``sampler_options`` (more sampler keyword arguments);
    ``worker_id`` (default ``<host>-seed<seed>``: whose RUNNING trials a resume reclaims); ``claim_retries``
    and ``claim_wait_s`` (shared studies); ``quiet``; ``feasible_only``, ``fresh`` (see the module docstring)."""

    name = "optuna"

    def __init__(self, space: Any, seed: int = 0, sampler: str = "auto", objectives: Sequence[str] | str = ("reward",),
                 directions: Optional[Sequence[str]] = None, storage: Any = None, study_name: Optional[str] = None,
                 n_startup_trials: int = 5, population_size: int = 10,
                 sampler_options: Optional[Mapping[str, Any]] = None, worker_id: Optional[str] = None,
                 claim_retries: int = 10, claim_wait_s: float = 300.0, quiet: bool = True,
                 feasible_only: bool = True, fresh: bool = False):
        super().__init__(space, seed)
        import optuna

        spec, storage = storage, open_storage(storage)
        self.claim_retries, self.claim_wait_s = int(claim_retries), float(claim_wait_s)

        self.optuna = optuna
        if quiet:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        src = "strategy 'optuna'"
        self.objectives = [objectives] if isinstance(objectives, str) else list(objectives)
        if not self.objectives:
            raise StrategyError(src, "objectives", "at least one result key, e.g. reward")
        if directions is None:
            unknown = [o for o in self.objectives if o not in OBJECTIVE_SENSES]
            if unknown:
                raise StrategyError(src, "directions", f"a direction for objective {unknown[0]!r} "
                                    f"(known: {', '.join(OBJECTIVE_SENSES)})")
            directions = ["maximize" if OBJECTIVE_SENSES[o] == "max" else "minimize" for o in self.objectives]
        self.directions = list(directions)
        if len(self.directions) != len(self.objectives) or \
                any(d not in ("maximize", "minimize") for d in self.directions):
            raise StrategyError(src, "directions", f"maximize|minimize for each of {self.objectives}", directions)
        if sampler not in SAMPLERS:
            raise StrategyError(src, "sampler", f"one of {', '.join(SAMPLERS)}", sampler)
        self.sampler_name = ("tpe" if len(self.objectives) == 1 else "nsga2") if sampler == "auto" else sampler
        self.n_startup_trials, self.population_size = int(n_startup_trials), int(population_size)
        self.sampler_options = dict(sampler_options or {})
        for key, value in (("feasible_only", feasible_only), ("fresh", fresh)):
            if not isinstance(value, bool):
                raise StrategyError(src, key, "true or false", value)
        self.fresh = fresh
        self._make_sampler(0)  # fail early on bad sampler options
        self.options = {"sampler": self.sampler_name, "objectives": list(self.objectives),
                        "directions": list(self.directions), "n_startup_trials": self.n_startup_trials,
                        "population_size": self.population_size,
                        "sampler_options": repr(sorted(self.sampler_options.items())),
                        "persistent": storage is not None, "feasible_only": feasible_only, "fresh": fresh}
        self.specs = [choice_specs(d.choices) for d in self.decisions]
        self.distributions = {d.label: optuna.distributions.CategoricalDistribution(s)
                              for d, s in zip(self.decisions, self.specs)}
        self.worker_id = worker_id or f"{socket.gethostname()}-seed{self.seed}"
        self.persistent = storage is not None
        self.replays_log = not self.persistent
        self.study_name = study_name or f"nas-{space.name}-{'-'.join(self.objectives)}"
        self.storage_name = spec if isinstance(spec, str) else type(spec).__name__
        self.study = self._open_study(storage)
        self._trials: Dict[int, Any] = {}  # asked trials by number

    # --- study and sampler -------------------------------------------------------------------------
    def _make_sampler(self, n_complete: int, attempt: int = 0, n_rejected: int = 0):
        """The sampler for the next ask: seeded from ``(seed, complete trials, attempt)`` (attempt: a
        retry after a withdrawn or repeated proposal); TPE's startup grows by the rejected trials."""
        samplers = self.optuna.samplers
        parts = (n_complete,) if attempt == 0 else (n_complete, attempt)
        seed = seed_stream("optuna", self.sampler_name, self.seed, *parts) & 0xFFFFFFFF
        try:
            if self.sampler_name == "tpe":
                return samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials + n_rejected,
                                           **self.sampler_options)
            if self.sampler_name == "nsga2":
                return samplers.NSGAIISampler(seed=seed, population_size=self.population_size, **self.sampler_options)
            return samplers.RandomSampler(seed=seed, **self.sampler_options)
        except (TypeError, ValueError) as err:
            raise StrategyError("strategy 'optuna'", "sampler_options", f"options of the {self.sampler_name} "
                                f"sampler ({err})") from None

    def _reuse_cache(self, sampler):
        """Speed only: a sampler made anew for each ask (re-seeded, see the module docstring) takes over
        its predecessor's cache of the study's search space, which TPE otherwise rebuilds from every
        trial on each ask (Optuna's private ``_search_space``; without it, asks are slower, not different)."""
        old = getattr(self, "study", None) and self.study.sampler
        cache = getattr(old, "_search_space", None)
        if cache is not None and type(old) is type(sampler) and hasattr(sampler, "_search_space") \
                and getattr(old, "_cache_study", None) is self.study:
            sampler._search_space = cache
        sampler._cache_study = self.study
        return sampler

    def _signature(self) -> Dict[str, Any]:
        return {"nas_space": self.space.name, "nas_objectives": list(self.objectives),
                "nas_decisions": [[d.label, [repr(c) for c in d.choices]] for d in self.decisions]}

    def _open_study(self, storage: Any):
        optuna = self.optuna
        where = f"study '{self.study_name}' in {self.storage_name}"
        try:
            for attempt in range(6 if self.persistent else 1):
                try:
                    study = optuna.create_study(storage=storage, study_name=self.study_name,
                                                directions=self.directions, load_if_exists=self.persistent,
                                                sampler=self._make_sampler(0))
                    break
                except Exception as err:  # noqa: BLE001 - workers creating one new database race (its schema)
                    race = any(w in type(err).__name__ + str(err) for w in ("IntegrityError", "locked"))
                    if attempt == 5 or not race:
                        raise
                    time.sleep(0.2 * (attempt + 1))
        except Exception as err:  # bad URL, missing driver, unreachable database: one clear message
            raise StrategyError(f"optuna storage {self.storage_name}", "storage", "a reachable RDB URL such as "
                                f"sqlite:///search.db ({type(err).__name__}: {err})") from None
        mine = self._signature()
        if [d.name.lower() for d in study.directions] != self.directions:
            raise StrategyError(where, "directions", f"{self.directions} (this search)",
                                [d.name.lower() for d in study.directions])
        for key, value in mine.items():
            stored = study.user_attrs.get(key)
            if stored is None:
                study.set_user_attr(key, value)
            elif stored != value:
                raise StrategyError(where, key, f"{value if key != 'nas_decisions' else 'the decisions of this space'} "
                                    "(the study belongs to another search)",
                                    stored if key != "nas_decisions" else ...)
        if self.persistent:  # this worker's trials left RUNNING by a kill: fail them and evaluate them again
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            for t in running:
                if t.user_attrs.get("worker") == self.worker_id:
                    study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                    keep = {k: t.user_attrs[k] for k in ("nas_info",) if k in t.user_attrs}
                    study.enqueue_trial(dict(t.params), user_attrs={"requeued_from": t.number, **keep})
        return study

    def _complete(self, rejected: bool = False) -> List[Any]:
        """The study's COMPLETE trials (with the rejected ones, see the module docstring, if ``rejected``)."""
        trials = self.study.get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,))
        return trials if rejected else [t for t in trials if not t.user_attrs.get("rejected")]

    @property
    def rejects(self) -> bool:
        """Whether infeasible asks are told as rejected trials (a constraint, feasible_only, one objective)."""
        return self.constrained and len(self.objectives) == 1

    # --- ask / tell hooks --------------------------------------------------------------------------
    def _propose(self) -> Tuple[Encoding, Any]:
        """Ask the sampler; an infeasible ask (``rejects``) is told the worst value and a repeat (``fresh``)
        is failed, then the sampler is asked again; a shared study's proposal that another worker is
        evaluating is withdrawn and asked again (``claim_retries``, then it waits for that trial)."""
        repeats = withdrawn = 0
        for tries in range(1, MAX_TRIES + 1):
            every = self._complete(rejected=True)
            n_rejected = sum(1 for t in every if t.user_attrs.get("rejected")) if self.rejects else 0
            sampler = self._make_sampler(len(every), repeats + withdrawn, n_rejected=n_rejected)
            self.study.sampler = self._reuse_cache(sampler)
            trial = self.study.ask()
            trial.set_user_attr("worker", self.worker_id)
            enc = [spec_index(s, trial.suggest_categorical(d.label, s)) for d, s in zip(self.decisions, self.specs)]
            self._asked(trial)
            infeasible = self.rejects and not self.feasible(enc)
            known = self.fresh and repeats < FRESH_TRIES and tuple(enc) in self._known
            if tries < MAX_TRIES and (infeasible or known):
                trial.set_user_attr("rejected", True)
                if infeasible:  # the worst value so far: what the hard constraint makes of it (TPE learns it)
                    values = [v for t in every for v in t.values]
                    worst = min([0.0] + values) if self.directions[0] == "maximize" else max([0.0] + values)
                    self.study.tell(trial, [worst])
                else:  # a repeat: failed (the study learns nothing new, nor grows), asked again re-seeded
                    repeats += 1
                    self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
                continue
            clash = running_clash(self.study, trial) if self.persistent else None
            if clash is None:
                break
            if withdrawn < self.claim_retries:  # another worker evaluates this arch: withdraw, ask again
                withdrawn += 1
                trial.set_user_attr("nas_duplicate_of", clash)
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
                continue
            if clash < trial.number:  # the earlier claim goes on; this one waits for its figures
                wait_while_running(self.study, clash, self.claim_wait_s)
            break
        self._trials[trial.number] = trial
        return enc, trial.number

    def _asked(self, trial: Any) -> None:
        """Hook: a trial was just asked and its params suggested (the sampler ran)."""

    def _values(self, result: Mapping[str, Any], step: int) -> List[float]:
        values = []
        for o in self.objectives:
            v = result.get(o)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise StrategyError(f"result of step {step}", o, f"a finite number (objective of the optuna "
                                    f"{self.sampler_name} search)", v)
            values.append(float(v))
        return values

    def _observe(self, enc: Encoding, record: Record, info: Any) -> None:
        values = self._values(record.result, record.step)
        trial = self._trials.pop(info)
        trial.set_user_attr("result", dict(record.result))
        self.study.tell(trial, values)

    def tell(self, arch, result):
        enc = self.space.encode(arch)
        for pending, number in self._pending:  # check objectives before the base class records anything
            if pending == enc:
                self._values(check_result(result, f"result of step {len(self.history)}"), len(self.history))
                break
        return super().tell(arch, result)

    # --- results -----------------------------------------------------------------------------------
    def num_done(self) -> int:
        return len(self._complete()) if self.persistent else len(self.history)

    def lookup(self, arch):
        """A shared study: the first COMPLETE trial of ``arch`` (any worker's), marking the pending trial of
        ``arch`` as its cached repeat; else this worker's history."""
        if not self.persistent:
            return super().lookup(arch)
        enc = self.space.encode(arch)
        for t in self._complete():
            if self.trial_record(t).arch.choices == arch.choices:
                for pending, number in self._pending:
                    if pending == enc:
                        self._trials[number].set_user_attr("nas_cached_from", t.number)
                        break
                return self.trial_record(t)
        return None

    def trial_record(self, trial: Any) -> Record:
        enc = [spec_index(s, trial.params[d.label]) for d, s in zip(self.decisions, self.specs)]
        return Record(trial.number, self.space.decode(enc), dict(trial.user_attrs.get("result", {})))

    def records(self) -> List[Record]:
        """Every COMPLETE trial of the study (all workers) as a record (``step`` = trial number)."""
        return [self.trial_record(t) for t in self._complete()]

    def best(self) -> Optional[Record]:
        """The highest-reward complete trial of the study (all workers when the storage is shared)."""
        if not self.persistent:
            return super().best()
        best = None
        for r in self.records():
            if "reward" in r.result and (best is None or r.reward > best.reward):
                best = r
        return best

    def front(self) -> List[Record]:
        """The study's non-dominated trials (Optuna's ``best_trials``), by trial number."""
        return [self.trial_record(t) for t in sorted(self.study.best_trials, key=lambda t: t.number)
                if not t.user_attrs.get("rejected")]

    # --- checkpoint / resume -----------------------------------------------------------------------
    def _state(self) -> Dict[str, Any]:
        return {"study_name": self.study_name}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        if state.get("study_name") != self.study_name:
            raise StrategyError("checkpoint", "study_name", repr(self.study_name), state.get("study_name"))
        self._pending = []  # checkpoints are written between evaluations; nothing is in flight
        if self.persistent:  # the storage holds the trials
            return
        # in memory: rebuild the study by asking and telling the history again; the sampler is re-seeded
        # per ask, so it proposes the same archs and leaves the same sampler state (e.g. NSGA-II's)
        told, self.history, self._known, self._best = self.history, [], {}, None
        self.study = self.optuna.create_study(study_name=self.study_name, directions=self.directions,
                                              sampler=self._make_sampler(0))
        for key, value in self._signature().items():
            self.study.set_user_attr(key, value)
        Strategy.restore(self, None, told, source="checkpoint")

    def restore(self, state: Optional[Mapping[str, Any]], records: Sequence[Record], source: str = "log",
                state_source: str = "checkpoint") -> None:
        if not self.persistent:
            return super().restore(state, records, source, state_source)
        if state is not None:
            self.load_state_dict(state, state_source)
        for r in records:  # already told to the storage before they were logged
            self._add_record(self.space.encode(r.arch), dict(r.result))
