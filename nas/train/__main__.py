"""``python -m nas.train``: a thin Hydra wrapper over :func:`nas.train.run.run_train` (errors: ``nas.cli``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from nas.cli import hydra_app, run
from nas.train.config import register_configs

register_configs()
HELP = """python -m nas.train arch=<arch file> | model=<baseline> [data=cifar10 data.root=DIR] [epochs=30] [key=value ...]

Train a found architecture or a baseline from scratch (a Hydra app); writes result.json, weights.pt,
checkpoint.pt (resume=<run dir> continues), config.yaml and TensorBoard logs into
outputs/train/<date>_<time>/ (or out_dir=). Schema (every key, its meaning and valid range):
nas/train/config.py. A user error ends in one `error:` line and exit code 2 (docs/errors.md)."""


@hydra_app("train", help=HELP)
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from nas.train.run import format_summary, run_dir, run_train

    out_dir = run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))
    result = run_train(cfg, out_dir)
    from nas.distributed import is_main

    if is_main():  # under torchrun: rank 0 reports (its run dir is the one every rank used)
        print(format_summary(result, out_dir))


if __name__ == "__main__":
    run(main)
