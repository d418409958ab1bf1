"""Command line: export a found architecture or a baseline.

    python -m nas.export arch=<arch file> [weights=<checkpoint>] out=<dir>
    python -m nas.export model=<baseline name> [variant=cifar] [weights=<checkpoint>] out=<dir>

Arguments are key=value pairs:
  arch=PATH       architecture file (YAML/JSON) of a search space
  model=NAME      a registered baseline instead (`python -m nas.models` lists them)
  variant=NAME    imagenet (default) or cifar, with model=
  num_classes=N   classifier width, with model= (default 1000, or 10 for cifar)
  weights=PATH    checkpoint: a state_dict, or a dict holding one under state_dict, model_state_dict,
                  model, weights, net or supernet; for arch=, a supernet's state (weights are inherited)
  out=DIR         output directory (required)
  name=NAME       file stem of the outputs (default: the arch file's or the model's name)
  seed=N          seed of the fresh initialisation when no weights are given (default 0)
  onnx=BOOL       write ONNX (default true; skipped with a note without onnx/onnxruntime)
  verify=BOOL     check every artefact against the in-package network, also in a fresh
                  interpreter that cannot import nas (default true)
  formats=LIST    deployable programs, each checked against the net and timed, e.g.
                  formats=[pt,executorch,onnx,openvino,executorch_int8,onnx_int8,openvino_int8]
                  (default: pt, i.e. the torch.export program, beside TorchScript and ONNX)
"""

from __future__ import annotations

import sys
from typing import Dict, List, Optional

KEYS = ("arch", "model", "variant", "num_classes", "weights", "out", "name", "seed", "onnx", "verify", "formats")
BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class UsageError(ValueError):
    pass


def parse(argv: List[str]) -> Dict[str, object]:
    """``key=value`` arguments -> export options (raises :class:`UsageError` with one clear line)."""
    args: Dict[str, str] = {}
    for item in argv:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"argument {item!r}: expected key=value (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise UsageError(f"unknown key {key!r}; expected one of {', '.join(KEYS)}")
        if key in args:
            raise UsageError(f"key {key!r} given twice")
        if not value:
            raise UsageError(f"key {key!r}: expected a value")
        args[key] = value
    if ("arch" in args) == ("model" in args):
        raise UsageError("give exactly one of arch=<arch file> or model=<baseline name>")
    if "out" not in args:
        raise UsageError("out=<dir> is required")
    if "arch" in args:
        for key in ("variant", "num_classes"):
            if key in args:
                raise UsageError(f"key {key!r} applies to model= only (an arch file records its space's settings)")
    opts: Dict[str, object] = dict(args)
    for key in ("num_classes", "seed"):
        if key in args:
            try:
                opts[key] = int(args[key])
            except ValueError:
                raise UsageError(f"key {key!r}: expected an integer, got {args[key]!r}") from None
    if "formats" in args:
        opts["formats"] = [f.strip() for f in args["formats"].strip("[]").split(",") if f.strip()]
    for key in ("onnx", "verify"):
        if key in args:
            if args[key].lower() not in BOOLS:
                raise UsageError(f"key {key!r}: expected true or false, got {args[key]!r}")
            opts[key] = BOOLS[args[key].lower()]
    return opts


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    from nas.errors import NasError
    from nas.export.errors import ExportError
    from nas.registry import UnknownNameError
    from nas.space.errors import SpaceError

    try:
        opts = parse(argv)
        from nas.export.export import export_arch, export_model

        common = {k: opts[k] for k in ("weights", "name", "seed", "onnx", "verify", "formats") if k in opts}
        if "arch" in opts:
            result = export_arch(opts["arch"], opts["out"], **common)
        else:
            result = export_model(opts["model"], opts["out"], variant=opts.get("variant", "imagenet"),
                                  num_classes=opts.get("num_classes"), **common)
    except (UsageError, ExportError, SpaceError, UnknownNameError, NasError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    m = result.metadata
    print(f"exported {m['name']} ({m['params'] / 1e6:.3f}M params, {m['macs'] / 1e6:.1f}M MACs) to {result.out}/")
    for f in result.files.values():
        print(f"  {f}")
    bn = m["torchscript"]["batchnorm"]
    print(f"BatchNorm folded: {bn['folded']}/{bn['total']}; ONNX: {m['onnx']['status']}")
    if m["verification"]:
        diffs = ", ".join(f"{k} {d:.1e}" for k, d in m["verification"]["max_abs_difference"].items())
        print(f"max abs difference to the in-package network: {diffs}")
    for fmt, r in (m.get("runtimes") or {}).items():
        figs = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                if k in ("max_abs_difference", "top1_agreement", "ms", "ratio_to_eager", "speedup_over_fp32")]
        print(f"  {fmt}: {', '.join(figs)}")
    if m["weights"]["origin"] == "fresh":
        print(f"note: no weights= given: weights.pt holds a fresh initialisation (seed {m['weights']['seed']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
