"""``python -m nas.search``: a thin Hydra wrapper over :func:`nas.search.run.run_search`.

``main`` returns the job's objective (``nas.search.objective``; ``hydra.sweeper.objective`` picks the
summary key(s)) so that sweepers can optimise it. Errors are reported by the shared launcher
(``nas.cli``): a user error ends a single run with ``error: ...`` and exit code 2; in a multirun
(``-m``) it prints ``error: job <n>: ...``, the job returns NaN (a failed trial for the nas_optuna
sweeper) and the other jobs go on; the sweep then exits 2 naming the failed jobs (docs/sweeps.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Union

from omegaconf import DictConfig

from nas.cli import hydra_app, run
from nas.search.config import register_configs

register_configs()
HELP = """python -m nas.search [method=fbnet|mnasnet|evolution|optuna|random] [space=...] [data=...] [key=value ...]

Search an architecture for this device (a Hydra app; -m sweeps, e.g. latency.target_ms=1.5,3.0).
Writes into outputs/search/<date>_<time>/ (or out_dir=): the found arch, summary.json, the latency
table used, config.yaml, TensorBoard logs and a checkpoint; resume=<run dir> continues a run.
Schemas (every key, its meaning and valid range): nas/search/config.py, nas/strategies/fbnet.py.
A user error ends in one `error:` line and exit code 2 (docs/errors.md)."""


def _failed_value(cfg: DictConfig):
    from hydra.core.hydra_config import HydraConfig

    from nas.search.objective import failed_value

    return failed_value(HydraConfig.get().sweeper.get("objective"))


@hydra_app("search", failed_value=_failed_value, help=HELP)
def main(cfg: DictConfig) -> Union[float, List[float]]:
    from hydra.core.hydra_config import HydraConfig

    from nas.search.objective import check_spec, objectives
    from nas.search.run import apply_default_space, format_summary, run_search

    hc = HydraConfig.get()
    spec = hc.sweeper.get("objective")
    out_dir = Path(cfg.out_dir or hc.runtime.output_dir)
    check_spec(cfg.method.name, spec)
    cfg = apply_default_space(cfg, list(hc.overrides.task))
    summary = run_search(cfg, out_dir)
    value = objectives(summary, spec)
    from nas.distributed import is_main

    if is_main():  # under torchrun: rank 0 reports
        print(format_summary(summary))
    return value


def cli() -> None:
    run(main)


if __name__ == "__main__":
    cli()
