"""``python -m nas.search``: a thin Hydra wrapper over :func:`nas.search.run.run_search`.

``main`` returns the job's objective (``nas.search.objective``; ``hydra.sweeper.objective`` picks the
summary key(s)) so that sweepers can optimise it. A user error ends a single run with ``error: ...``
and exit code 2; in a multirun (``-m``) it prints ``error: job <n>: ...``, the job returns NaN
(a failed trial for the nas_optuna sweeper) and the other jobs go on; the sweep then exits 2 naming
the failed jobs (docs/sweeps.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Union

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from nas.search.config import register_configs

register_configs()
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
JOBS: List[str] = []  # the jobs this process ran, and those that failed with a user error
FAILED: List[str] = []


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="search")
def main(cfg: DictConfig) -> Union[float, List[float]]:
    from nas.errors import NasError
    from nas.search.objective import check_spec, failed_value, objectives
    from nas.search.run import apply_default_space, format_summary, run_search

    hc = HydraConfig.get()
    spec = hc.sweeper.get("objective")
    sweeping = hc.mode == RunMode.MULTIRUN
    job = f"job {hc.job.num}" if sweeping else "the run"  # hydra.job.num exists in multiruns only
    JOBS.append(job)
    out_dir = Path(cfg.out_dir or hc.runtime.output_dir)
    try:
        check_spec(cfg.method.name, spec)
        cfg = apply_default_space(cfg, list(hc.overrides.task))
        summary = run_search(cfg, out_dir)
        value = objectives(summary, spec)
    except NasError as err:
        if not sweeping:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        print(f"error: {job}: {err}", file=sys.stderr)
        FAILED.append(job)
        return failed_value(spec)
    from nas.distributed import is_main

    if is_main():  # under torchrun: rank 0 reports
        print(format_summary(summary))
    return value


def cli() -> None:
    """Run ``main``; after a multirun in which some jobs failed, name them and exit 2."""
    main()
    if FAILED:
        print(f"error: {len(FAILED)} of {len(JOBS)} jobs of this sweep failed ({', '.join(FAILED)}; their "
              f"overrides are in the launch lines above)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
