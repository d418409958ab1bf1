"""python -m nas.export: export a found architecture or a baseline (a Hydra app: key=value overrides).

    python -m nas.export arch=<arch file> [weights=<checkpoint>] out=<dir>
    python -m nas.export model=<baseline name> [variant=cifar] [weights=<checkpoint>] out=<dir>

Keys (schema: nas/export/config.py; values: conf/export.yaml):
  arch=PATH       architecture file (YAML/JSON) of a search space, e.g. a search's arch.yaml
  model=NAME      a registered baseline instead (`python -m nas.models` lists them)
  variant=NAME    imagenet (default) or cifar, with model=
  num_classes=N   classifier width, with model= (default 1000, or 10 for cifar)
  weights=PATH    checkpoint: a state_dict, or a dict holding one under state_dict, model_state_dict,
                  model, weights, net or supernet (a nas.train run's weights.pt or checkpoint.pt); for
                  arch=, a supernet's state or an fbnet search's checkpoint.pt (weights are inherited)
  out=DIR         output directory (required)
  name=NAME       file stem of the outputs (default: the arch file's or the model's name)
  seed=N          seed of the fresh initialisation when no weights are given (default 0)
  onnx=BOOL       write ONNX (default true; skipped with a note without onnx/onnxruntime)
  verify=BOOL     check every artefact against the in-package network on randomised weights and
                  BatchNorm statistics (relative tolerance), also in a fresh interpreter that cannot
                  import nas (default true)
  formats=LIST    deployable programs, each checked against the net and timed, e.g.
                  formats=[pt,executorch,onnx,openvino,executorch_int8,onnx_int8,openvino_int8]
                  (default: pt, i.e. the torch.export program, beside TorchScript and ONNX)
Paths holding characters of Hydra's override grammar ('=', ',', brackets, spaces) are quoted for
Hydra automatically. A user error ends in one `error:` line and exit code 2; nothing is written then.
"""

from __future__ import annotations

from typing import List

from omegaconf import DictConfig

from nas.cli import hydra_app, quote_values, run
from nas.export.config import register_configs

register_configs()
PATH_KEYS = ("arch", "weights", "out", "name", "model", "variant")


def check_config(cfg: DictConfig) -> None:
    """The export's options, checked before anything is read or written."""
    from nas.checks import check_ranges, require

    check_ranges(cfg)
    require(bool(cfg.arch) != bool(cfg.model), "arch / model", "exactly one of arch=<arch file> or "
            "model=<baseline name>", "both" if cfg.arch else "neither")
    require(bool(cfg.out), "out", "an output directory (out=<dir>)", *([cfg.out] if cfg.out is not None else []))
    for key in ("variant", "num_classes"):
        require(not (cfg.arch and cfg[key] is not None), key, "no value with arch= (an arch file records its "
                "space's settings)", cfg[key])
    from nas.io import check_writable_dir

    check_writable_dir(cfg.out, "out")
    for key in ("weights", "name", "variant"):
        require(cfg[key] is None or cfg[key] != "", key, "a value, or no key at all", cfg[key])
    if cfg.formats is not None:  # names checked before anything is lowered or written
        from nas.export.runtimes import check_formats

        check_formats(list(cfg.formats))


def _argv(argv: List[str]) -> List[str]:
    """Paths quoted for Hydra; ``formats=a,b`` (no brackets) read as the list ``[a,b]``."""
    out = []
    for item in argv:
        key, sep, value = item.partition("=")
        if sep and key == "formats" and value[:1] not in ("[", "'", '"'):
            item = f"formats=[{value}]"
        out.append(item)
    return quote_values(out, PATH_KEYS)


@hydra_app("export", argv_hook=_argv, uses_run_dir=False, help=__doc__)
def main(cfg: DictConfig) -> None:
    from nas.export.export import export_arch, export_model

    check_config(cfg)
    common = {k: cfg[k] for k in ("weights", "name") if cfg[k] is not None}
    common.update(seed=cfg.seed, onnx=cfg.onnx, verify=cfg.verify)
    if cfg.formats is not None:
        common["formats"] = list(cfg.formats)
    if cfg.arch:
        result = export_arch(cfg.arch, cfg.out, **common)
    else:
        result = export_model(cfg.model, cfg.out, variant=cfg.variant or "imagenet", num_classes=cfg.num_classes,
                              **common)
    m = result.metadata
    print(f"exported {m['name']} ({m['params'] / 1e6:.3f}M params, {m['macs'] / 1e6:.1f}M MACs) to {result.out}/")
    for f in result.files.values():
        print(f"  {f}")
    bn = m["torchscript"]["batchnorm"]
    print(f"BatchNorm folded: {bn['folded']}/{bn['total']}; ONNX: {m['onnx']['status']}")
    if m["verification"]:
        diffs = ", ".join(f"{k} {d:.1e}" for k, d in m["verification"]["max_abs_difference"].items())
        print(f"max abs difference to the in-package network (randomised weights, max |logit| "
              f"{m['verification']['max_abs_logit']:.2g}): {diffs}")
    for fmt, r in (m.get("runtimes") or {}).items():
        figs = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                if k in ("max_abs_difference", "top1_agreement", "ms", "ratio_to_eager", "speedup_over_fp32")]
        print(f"  {fmt}: {', '.join(figs)}")
    if m["weights"]["origin"] == "fresh":
        print(f"note: no weights= given: weights.pt holds a fresh initialisation (seed {m['weights']['seed']})")


if __name__ == "__main__":
    run(main)
