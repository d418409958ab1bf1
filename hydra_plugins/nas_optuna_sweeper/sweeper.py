"""A Hydra sweeper driven by the installed Optuna (4.x/5.x): ask a batch of trials, launch them, tell results.

Each trial is one Hydra job (``<sweep dir>/<hydra.sweep.subdir>``, the trial number in nas.search) whose task function returns the
objective: a number, or a sequence of numbers when ``direction`` is a list (multi-objective; the
result is the Pareto set). A job returning NaN is a failed trial and the study goes on (how an app
reports a point it cannot score); a job that raises fails its trial and stops the sweep, as Optuna's
``optimize`` does.
With ``storage`` (e.g. ``sqlite:///study.db``) the study outlives the sweep: running the same command
again adds ``n_trials`` to the same ``study_name``; trials a killed sweep left running are marked failed.
Hydra's own ``hydra-optuna-sweeper`` pins ``optuna<3``, hence this plugin (see docs/sweeps.md).
"""


import logging
import math
import os
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, configure_log
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf

from nas.io import atomic_write_text

from .search_space import SweeperError, parse_search_space

log = logging.getLogger(__name__)
OWNER_ATTR = "nas_optuna_sweeper.owner"  # host:pid of the sweep that asked for the trial
RESULTS_FILE = "optimization_results.yaml"


def make_sampler(name: str, seed: Optional[int], options: Dict[str, Any]):
    import optuna

    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
                "nsga2": optuna.samplers.NSGAIISampler}
    if name not in samplers:
        raise SweeperError(f"hydra.sweeper.sampler={name}: expected one of {', '.join(samplers)}")
    try:
        return samplers[name](seed=seed, **options)
    except TypeError as err:
        raise SweeperError(f"hydra.sweeper.sampler_options={options}: {err}") from err


def job_values(value: Any, n: int) -> List[float]:
    """A job's return value as ``n`` floats (SweeperError when it is not a number / ``n`` numbers)."""
    what = "a number" if n == 1 else f"a sequence of {n} numbers (one per direction)"
    many = isinstance(value, (list, tuple, ListConfig))
    try:
        values = [float(v) for v in value] if many else [float(value)]
    except (TypeError, ValueError):
        values = []
    if len(values) != n or (n > 1 and not many):
        raise SweeperError(f"the task function returned {value!r}; the nas_optuna sweeper expects {what} "
                           f"(its main() must return the objective)")
    return values


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's worker: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OSError):
        return True
    return True


def _write_yaml(path: Path, data: Dict[str, Any]) -> None:
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


class NasOptunaSweeper(Sweeper):
    """``hydra/sweeper=nas_optuna``: Optuna TPE / random / NSGA-II over Hydra overrides."""

    def __init__(self, direction: Any = "maximize", sampler: str = "tpe", seed: Optional[int] = 0,
                 sampler_options: Optional[Dict[str, Any]] = None, n_trials: int = 20, n_jobs: int = 1,
                 storage: Optional[str] = None, study_name: Optional[str] = None,
                 params: Optional[Dict[str, str]] = None, objective: Any = None) -> None:
        direction = _plain(direction)
        self.directions = [str(d) for d in direction] if isinstance(direction, list) else [str(direction)]
        self.sampler_name, self.seed = sampler, seed
        self.sampler_options = _plain(sampler_options) or {}
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.storage, self.study_name = storage, study_name
        self.params = {str(k): str(v) for k, v in (_plain(params) or {}).items()}
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def _direction_text(self) -> str:
        return self.directions[0] if len(self.directions) == 1 else "[" + ",".join(self.directions) + "]"

    def _check(self) -> None:
        bad = [d for d in self.directions if d not in ("minimize", "maximize")]
        if bad or not self.directions:
            raise SweeperError(f"hydra.sweeper.direction={self._direction_text()}: expected minimize, maximize "
                               f"or a list of them")
        if self.n_trials < 1 or self.n_jobs < 1:
            raise SweeperError(f"hydra.sweeper.n_trials={self.n_trials}, n_jobs={self.n_jobs}: expected both >= 1")
        if self.storage and not self.study_name:
            raise SweeperError(f"hydra.sweeper.storage={self.storage}: also set hydra.sweeper.study_name (the "
                               f"study a rerun of the same command resumes)")

    def _open_study(self):
        import optuna

        study = optuna.create_study(storage=self.storage, study_name=self.study_name, directions=self.directions,
                                    sampler=optuna.samplers.RandomSampler(), load_if_exists=True)
        stored = [d.name.lower() for d in study.directions]
        if stored != self.directions:
            raise SweeperError(f"hydra.sweeper.direction={self._direction_text()}: study '{study.study_name}' in "
                               f"{self.storage} was created with {stored}")
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            owner = t.user_attrs.get(OWNER_ATTR)
            if owner and not _alive(owner):
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                log.info(f"trial {t.number} was left running by a killed sweep ({owner}): marked failed")
        seed = None if self.seed is None else self.seed + len(study.trials)  # a resumed sweep draws anew
        study.sampler = make_sampler(self.sampler_name, seed, self.sampler_options)
        return study

    def sweep(self, arguments: List[str]) -> List[Sequence[JobReturn]]:
        import optuna

        assert self.config is not None and self.launcher is not None
        self._check()
        space = parse_search_space([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        if not space.distributions:
            raise SweeperError("nothing to optimise: give parameters as choice(...), range(...) or "
                               "interval(...) on the command line or in hydra.sweeper.params")
        study = self._open_study()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info(f"study {study.study_name} ({self.storage or 'in memory'}, {len(study.trials)} trials before), "
                 f"sampler {self.sampler_name}, directions {self.directions}, {self.n_trials} trials")
        owner = f"{socket.gethostname()}:{os.getpid()}"
        returns, failed, left = [], 0, self.n_trials
        while left > 0:
            trials = [study.ask(space.distributions) for _ in range(min(self.n_jobs, left))]
            try:
                for t in trials:
                    t.set_user_attr(OWNER_ATTR, owner)
                batch = [space.overrides(t.params) for t in trials]
                self.validate_batch_is_legal(batch)
                results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)  # jobs set their own
                crashes = [self._tell(study, t, ret) for t, ret in zip(trials, results)]
            except BaseException:  # Ctrl-C, a config error, a bad return value: no trial is left running
                for t in trials:
                    study.tell(t, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
                raise
            failed += sum(c is not None for c in crashes)
            returns.append(results)
            crash = next((c for c in crashes if isinstance(c, BaseException)), None)
            if crash is not None:  # a job raised: a bug or a crash, not a data point (as Optuna's optimize)
                raise crash
            left -= len(trials)
        if failed == self.n_trials:
            raise SweeperError(f"all {failed} trials of this sweep failed (see the errors above)")
        self._report(study, sweep_dir, failed)
        return returns

    def _tell(self, study, trial, ret: JobReturn) -> Any:
        """Tell the study a job's result: None when it completed, else the failure (its exception or NaN)."""
        import optuna

        fail = optuna.trial.TrialState.FAIL
        try:
            value = ret.return_value  # re-raises the job's exception (Hydra prints the job's overrides)
        except Exception as err:
            study.tell(trial, state=fail)
            log.error(f"trial {trial.number} failed: {type(err).__name__}: {err}")
            return err
        values = job_values(value, len(self.directions))
        if any(math.isnan(v) for v in values):
            study.tell(trial, state=fail)
            log.warning(f"trial {trial.number} failed: the job returned {value!r} (params {trial.params})")
            return "nan"
        study.tell(trial, values if len(values) > 1 else values[0])
        log.info(f"trial {trial.number}: {values if len(values) > 1 else values[0]} <- {trial.params}")
        return None

    def _report(self, study, sweep_dir: Path, failed: int) -> None:
        import optuna

        states = [t.state for t in study.get_trials(deepcopy=False)]
        out: Dict[str, Any] = {
            "name": "nas_optuna", "study_name": study.study_name, "storage": self.storage,
            "sampler": self.sampler_name, "directions": self.directions, "trials_this_sweep": self.n_trials,
            "failed_this_sweep": failed, "trials_in_study": len(states),
            "completed_in_study": states.count(optuna.trial.TrialState.COMPLETE)}
        if len(self.directions) == 1:
            best = study.best_trial
            out.update(best_trial=best.number, best_params=dict(best.params), best_value=float(best.value))
            log.info(f"best value {best.value} (trial {best.number}), params {best.params}")
        else:
            out["best_trials"] = [{"number": t.number, "params": dict(t.params), "values": [float(v) for v in t.values]}
                                  for t in study.best_trials]
            log.info(f"Pareto set of {len(study.best_trials)} trials ({' / '.join(self.directions)}):")
            for t in study.best_trials:
                log.info(f"  trial {t.number}: {list(t.values)} <- {t.params}")
        _write_yaml(sweep_dir / RESULTS_FILE, out)
        log.info(f"results: {sweep_dir / RESULTS_FILE}")
