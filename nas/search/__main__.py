"""``python -m nas.search``: a thin Hydra wrapper over :func:`nas.search.run.run_search`."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nas.search.config import register_configs

register_configs()
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="search")
def main(cfg: DictConfig) -> None:
    from nas.search.run import USER_ERRORS, apply_default_space, format_summary, run_search

    hc = HydraConfig.get()
    out_dir = Path(cfg.out_dir or hc.runtime.output_dir)
    try:
        cfg = apply_default_space(cfg, list(hc.overrides.task))
        summary = run_search(cfg, out_dir)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_summary(summary))


if __name__ == "__main__":
    main()
