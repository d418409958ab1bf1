"""``python -m nas.train``: a thin Hydra wrapper over :func:`nas.train.run.run_train`."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nas.train.config import register_configs

register_configs()
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    from nas.errors import NasError
    from nas.train.run import format_summary, run_dir, run_train

    out_dir = run_dir(cfg, Path(HydraConfig.get().runtime.output_dir))
    try:
        result = run_train(cfg, out_dir)
    except NasError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from nas.distributed import is_main

    if is_main():  # under torchrun: rank 0 reports (its run dir is the one every rank used)
        print(format_summary(result, out_dir))


if __name__ == "__main__":
    main()
