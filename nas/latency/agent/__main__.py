"""``python -m nas.latency.agent pack KEY=VALUE ... out=DIR`` (the keys of ``python -m nas.latency``)."""

from __future__ import annotations

import sys
from pathlib import Path

from nas.errors import NasError


USAGE = "usage: python -m nas.latency.agent pack space=fbnet runtime=onnxruntime|executorch|openvino [dtype=int8] out=DIR"


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from nas.latency.app import CONF_DIR
    from nas.latency.config import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="latency", overrides=list(overrides))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] != "pack":
        print(USAGE, file=sys.stderr)
        return 2
    outs = [a for a in argv[1:] if a.startswith("out=")]
    if len(outs) != 1:
        print(f"error: out=DIR is required once\n{USAGE}", file=sys.stderr)
        return 2
    out = outs[0][4:]
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from nas.latency.agent.pack import pack
    from nas.latency.app import load_cfg_space

    try:
        cfg = compose([a for a in argv[1:] if not a.startswith("out=")])
        job = pack(cfg, out, load_cfg_space(cfg))
    except NasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: {str(err).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"job packed: {job}/ ({len(list((Path(job) / 'programs').iterdir()))} programs); on the device: "
          f"python measure.py; then: python -m nas.latency import={Path(job) / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
