"""The sweeper's config schema, registered as ``hydra/sweeper=nas_optuna`` when Hydra scans ``hydra_plugins``.

Only Hydra and OmegaConf are imported here: Hydra imports every plugin module on each app's start-up,
so Optuna is imported lazily by the sweeper itself.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class NasOptunaSweeperConf:
    _target_: str = "hydra_plugins.nas_optuna_sweeper.sweeper.NasOptunaSweeper"
    # maximize | minimize, or a list of them (one per value of a job returning a sequence: multi-objective)
    direction: Any = "maximize"
    sampler: str = "tpe"  # tpe | random | nsga2
    seed: Optional[int] = 0  # the sampler's seed; a resumed study adds the number of trials it already holds
    sampler_options: Dict[str, Any] = field(default_factory=dict)  # keyword arguments of the sampler class
    n_trials: int = 20  # trials this sweep adds to the study
    n_jobs: int = 1  # trials asked for at once and handed to the launcher as one batch
    storage: Optional[str] = None  # an RDB URL (sqlite:///study.db): the study outlives the sweep and resumes
    study_name: Optional[str] = None  # required with a storage (the name a resumed sweep continues)
    params: Dict[str, str] = field(default_factory=dict)  # key: choice(...) | range(...) | interval(...) | value
    # read by the app, not the sweeper: which figure(s) the job returns (nas.search: a summary.json key)
    objective: Any = None


ConfigStore.instance().store(group="hydra/sweeper", name="nas_optuna", node=NasOptunaSweeperConf,
                             provider="nas_optuna_sweeper")
