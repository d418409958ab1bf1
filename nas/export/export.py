"""Export a found architecture or a baseline: standalone code, weights, TorchScript, ONNX, metadata.

``export_arch(arch_file, out, weights=None)`` and ``export_model(name, out, variant=..., weights=None)``
write into ``out``:

- ``<name>.py``: the network as one standalone file (only torch is imported; see ``codegen``);
- ``weights.pt``: its state_dict (from ``weights``, or the fresh initialisation made with ``seed``);
- ``<name>.torchscript.pt``: scripted and frozen, BatchNorm folded into the convolutions;
- ``<name>.onnx``: when the ``export`` extra (onnx, onnxruntime) is installed, else skipped with a note;
- ``export.json`` and ``README.md``: what was exported, params and MACs (``nas.profile``), the weights'
  origin, BatchNorm folding and the verification figures.

Every file is produced in a temporary folder and checked first (the standalone module, the TorchScript
file and the ONNX file against the in-package network, also in a fresh interpreter that cannot import
``nas``); only then are the files moved into ``out``, each atomically. On any error nothing is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from nas.export import artifacts
from nas.export.codegen import build_recorded, write_source
from nas.export.errors import ExportError
from nas.export.verify import run_fresh
from nas.export.weights import check_fits, inherit_from_supernet, looks_like_supernet, read_state_dict
from nas.profile import count_macs, count_params
from nas.supernet import SUPERNETS

VERIFY_RTOL = 1e-3  # export fails if an artefact is further than this (times max(1, |logits|)) from the network


@dataclass
class Target:
    """What to export: how to build it and how to describe it."""

    name: str
    build: Callable[[], nn.Module]
    resolution: int
    title: str
    doc: str
    info: Dict[str, Any]
    class_name: Optional[str] = None
    annotate: Optional[Callable[[nn.Module], Dict[int, str]]] = None
    space: Any = None
    arch: Any = None


@dataclass
class ExportResult:
    out: Path
    files: Dict[str, str]
    metadata: Dict[str, Any] = field(default_factory=dict)


def file_stem(name: str) -> str:
    stem = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "net"
    return stem if not stem[0].isdigit() else f"net_{stem}"


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in file_stem(name).split("_") if p) or "Net"


# --- targets --------------------------------------------------------------------------------------
def arch_target(arch: Any, name: Optional[str] = None) -> Target:
    """A target for an architecture (an ``Arch`` or the path of an arch YAML/JSON file)."""
    from nas.space import Arch, load_space

    path = None
    if not isinstance(arch, Arch):
        path = Path(arch)
        arch = Arch.load(path)
    space = load_space(arch.space, **arch.space_args)
    space.check(arch)
    stem = file_stem(name or (path.stem if path else f"{space.name}_arch"))
    annotate = lambda model: space.module_comments(arch, model)  # noqa: E731
    width = getattr(space, "width_mult", 1.0)
    title = (f"a network found in the '{space.name}' search space ({space.variant} variant"
             f"{f', width {width:g}' if width != 1 else ''})")
    doc = (f"Architecture of the '{space.name}' search space ({space.variant} variant); the comments give "
           f"each block's decision.")
    info = {"kind": "arch", "arch_file": str(path) if path else None, "space": space.name,
            "space_args": dict(arch.space_args), "variant": space.variant, "choices": dict(arch.choices),
            "num_classes": space.num_classes}
    return Target(stem, lambda: space.build(arch), space.resolution, title, doc, info, camel(stem), annotate,
                  space, arch)


def model_target(model: str, variant: str = "imagenet", num_classes: Optional[int] = None,
                 name: Optional[str] = None) -> Target:
    """A target for a registered baseline (``nas.models.list_models()``) in its ImageNet or CIFAR form."""
    from nas.models import MODELS, VARIANTS, create_model, model_resolution

    MODELS.get(model)  # unknown names raise, listing the known ones
    if variant not in VARIANTS:
        raise ExportError("model", "variant", f"one of {', '.join(VARIANTS)}", repr(variant))
    classes = int(num_classes) if num_classes else (10 if variant == "cifar" else 1000)
    title = f"{model}, {variant} form"
    info = {"kind": "model", "model": model, "variant": variant, "num_classes": classes,
            "source": MODELS.meta(model).get("source")}
    return Target(file_stem(name or model), lambda: create_model(model, num_classes=classes, variant=variant),
                  model_resolution(model, variant), title, "", info)


# --- export ---------------------------------------------------------------------------------------
def _load_weights(target: Target, model: nn.Module, weights: str | os.PathLike) -> Dict[str, Any]:
    state, where = read_state_dict(weights)
    origin = {"origin": "file", "file": str(weights), "read_from": where, "inherited_from_supernet": False}
    if target.space is not None and looks_like_supernet(state) and target.space.kind in SUPERNETS:
        state = inherit_from_supernet(target.space, target.arch, state, where)
        origin["inherited_from_supernet"] = True
    check_fits(state, model, where, f"network '{target.name}'")
    model.load_state_dict(state)
    return origin


def _header(target: Target, class_name: str, params: int, macs: int) -> str:
    res = target.resolution
    return (f"{class_name}: {target.title}. Exported by nas.export.\n\n"
            f"{res}x{res} inputs, {target.info['num_classes']} classes; {params / 1e6:.3f}M parameters, "
            f"{macs / 1e6:.1f}M multiply-adds.\n"
            f"Standalone: this file imports only PyTorch. With weights.pt beside it:\n\n"
            f"    import torch\n    from {target.name} import build_model\n\n"
            f"    model = build_model()\n"
            f"    model.load_state_dict(torch.load(\"weights.pt\", weights_only=True))\n"
            f"    model.eval()\n")


def _model_doc(target: Target, model: nn.Module) -> str:
    if target.doc:
        return target.doc
    module_doc = (sys.modules[type(model).__module__].__doc__ or "").strip().split("\n\n")[0]
    return f"{target.info['model']} ({target.info['variant']} form). {module_doc}"


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _verify(model: nn.Module, net: nn.Module, stage: Path, target: Target, onnx_written: bool,
            fresh: bool) -> Dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, target.resolution, target.resolution, generator=gen)
    with torch.no_grad():
        ref = model(x)
        diffs = {"standalone": _diff(net(x), ref),
                 "torchscript": _diff(torch.jit.load(str(stage / f"{target.name}.torchscript.pt"))(x), ref)}
    if onnx_written:
        diffs["onnx"] = _diff(artifacts.run_onnx(stage / f"{target.name}.onnx", x), ref)
    if fresh:
        outs = run_fresh([(stage, target.name)], [x])[0]
        diffs.update({f"fresh_interpreter_{k}": _diff(v, ref) for k, v in outs.items()})
    scale = max(1.0, float(ref.abs().max()))
    for kind, d in diffs.items():
        if d > VERIFY_RTOL * scale:
            raise ExportError("verification", kind, f"outputs within {VERIFY_RTOL * scale:.1e} of the in-package "
                              "network", f"a max abs difference of {d:.2e}")
    return {"input_shape": list(x.shape), "max_abs_logit": float(ref.abs().max()), "max_abs_difference": diffs}


def export(target: Target, out: str | os.PathLike, *, weights: Optional[str | os.PathLike] = None, seed: int = 0,
           onnx: bool = True, verify: bool = True, fresh: bool = True,
           formats: Optional[List[str]] = None) -> ExportResult:
    """Export ``target`` into the directory ``out`` (see the module docstring). ``formats``
    (``nas.export.runtimes``): deployable programs checked against the net and timed; ``None``: the
    ``torch.export`` program (``.pt2``) beside TorchScript and the legacy ONNX file, untimed."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(str(out), "out", "a directory to write into (a file of that name exists)")
    torch.manual_seed(seed)
    model, records = build_recorded(target.build)
    origin = _load_weights(target, model, weights) if weights is not None else {"origin": "fresh", "seed": seed}
    model.eval()
    with torch.device("meta"):
        meta_model = target.build()
    res = target.resolution
    params, macs = count_params(model), count_macs(meta_model, (1, 3, res, res))
    class_name = target.class_name or type(model).__name__
    source = write_source(model, records, class_name, _header(target, class_name, params, macs),
                          _model_doc(target, model), target.annotate(model) if target.annotate else None)

    stage = Path(tempfile.mkdtemp(prefix="nas-export-"))
    try:
        files = {"source": f"{target.name}.py", "weights": "weights.pt",
                 "torchscript": f"{target.name}.torchscript.pt"}
        (stage / files["source"]).write_text(source)
        torch.save(model.state_dict(), stage / files["weights"])
        net = artifacts.load_source(stage / files["source"]).build_model()
        if list(net.state_dict()) != list(model.state_dict()):
            raise ExportError(files["source"], "state_dict", "the same keys as the in-package network")
        net.load_state_dict(model.state_dict())
        net.eval()
        frozen = artifacts.freeze(net)
        bn = artifacts.batchnorm_report(net, frozen)
        with artifacts.quiet():
            torch.jit.save(frozen, str(stage / files["torchscript"]))
        skipped = artifacts.onnx_status() if onnx else "skipped: onnx=false"
        if formats is not None:
            from nas.export.runtimes import check_formats

            formats = check_formats(formats)
            skipped = "see runtimes.onnx" if "onnx" in formats else "skipped: not in formats"
        onnx_info: Dict[str, Any] = {"status": skipped}
        if not skipped:
            files["onnx"] = f"{target.name}.onnx"
            try:
                exporter = artifacts.export_onnx(net, torch.zeros(1, 3, res, res), stage / files["onnx"])
            except Exception as err:  # noqa: BLE001 - any exporter failure: one clear message
                reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
                raise ExportError(files["onnx"], "onnx", "a network the ONNX exporter converts (or pass onnx=false)",
                                  f"{type(err).__name__}: {reason}") from None
            onnx_info = {"status": "written", "exporter": exporter}
        checks = _verify(model, net, stage, target, "onnx" in files, fresh) if verify else None
        from nas.export.runtimes import runtime_formats

        rt_files, rt_info = runtime_formats(net, res, ["pt"] if formats is None else formats, stage, target.name,
                                            trained=weights is not None, time_them=formats is not None,
                                            strict=formats is not None)
        if "onnx" in rt_files:
            onnx_info = {"status": "written", "exporter": "dynamo"}
        for fmt, names in rt_files.items():
            files["pt2" if fmt == "pt" else fmt] = names[0]
            for extra in names[1:]:
                files[f"{fmt}_weights"] = extra
        meta = {"name": target.name, "class": class_name, **target.info,
                "input_size": [1, 3, res, res], "params": params, "macs": macs, "weights": origin,
                "files": files, "torchscript": {"frozen": True, "batchnorm": bn}, "onnx": onnx_info,
                "verification": checks, "torch": torch.__version__, "runtimes": rt_info}
        (stage / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
        (stage / "README.md").write_text(readme(meta))
        files.update({"metadata": "export.json", "readme": "README.md"})
        _publish(stage, out, list(files.values()), stale=[f"{target.name}.onnx"] if "onnx" not in files else [])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return ExportResult(out, files, meta)


def _publish(stage: Path, out: Path, names: List[str], stale: List[str]) -> None:
    """Move the staged files into ``out``, each atomically (copy beside it, then rename)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            tmp = out / f".{name}.tmp"
            try:
                shutil.copyfile(stage / name, tmp)
                os.replace(tmp, out / name)
            finally:
                if tmp.exists():
                    tmp.unlink()
        for name in stale:
            if (out / name).exists():
                (out / name).unlink()
    except OSError as err:
        raise ExportError(str(out), "out", "a writable directory", f"{type(err).__name__}: {err.strerror}") from None


def export_arch(arch: Any, out: str | os.PathLike, *, name: Optional[str] = None, **kwargs: Any) -> ExportResult:
    """Export an architecture (``Arch`` or arch file path); ``kwargs`` as for :func:`export`."""
    return export(arch_target(arch, name), out, **kwargs)


def export_model(model: str, out: str | os.PathLike, *, variant: str = "imagenet", num_classes: Optional[int] = None,
                 name: Optional[str] = None, **kwargs: Any) -> ExportResult:
    """Export a registered baseline in its ``variant`` form; ``kwargs`` as for :func:`export`."""
    return export(model_target(model, variant, num_classes, name), out, **kwargs)


# --- README ---------------------------------------------------------------------------------------
def readme(meta: Dict[str, Any]) -> str:
    f = meta["files"]
    lines = [f"# {meta['name']}: exported network", ""]
    if meta["kind"] == "arch":
        lines += [f"Architecture of the `{meta['space']}` search space (arch file: `{meta['arch_file'] or '-'}`, "
                  f"space args: `{json.dumps(meta['space_args'])}`).", ""]
    else:
        lines += [f"Baseline `{meta['model']}`, {meta['variant']} form ({meta['source']}).", ""]
    res = meta["input_size"][-1]
    lines += [f"- input {res}x{res}, {meta['num_classes']} classes",
              f"- {meta['params']:,} parameters, {meta['macs'] / 1e6:.1f}M multiply-adds (nas.profile)"]
    w = meta["weights"]
    if w["origin"] == "fresh":
        lines.append(f"- weights: FRESHLY INITIALISED (torch.manual_seed({w['seed']})), not trained")
    else:
        how = " (inherited from a supernet with `extract`)" if w["inherited_from_supernet"] else ""
        lines.append(f"- weights: from `{w['read_from']}`{how}")
    lines += ["", "| file | what |", "|---|---|",
              f"| `{f['source']}` | the network as standalone PyTorch code (`build_model()`; imports only torch) |",
              f"| `{f['weights']}` | its state_dict: `model.load_state_dict(torch.load('weights.pt', "
              "weights_only=True))` |",
              f"| `{f['torchscript']}` | TorchScript, frozen, BatchNorm folded: `torch.jit.load(...)` |"]
    if "onnx" in f:
        batch = "batch 1" if meta["onnx"]["exporter"] == "dynamo" else "dynamic batch"
        lines.append(f"| `{f['onnx']}` | ONNX ({meta['onnx']['exporter']} exporter), {batch} |")
    for fmt, r in (meta.get("runtimes") or {}).items():  # nas.export.runtimes: checked and timed programs
        key = "pt2" if fmt == "pt" else fmt
        if key in f and key != "onnx":
            timed = f", {r['ms']:.3f} ms ({r['ratio_to_eager']:.2f}x eager)" if "ms" in r else ""
            lines.append(f"| `{f[key]}` | {fmt} program{timed} |")
    lines += ["| `export.json` | this information, machine-readable |", ""]
    bn = meta["torchscript"]["batchnorm"]
    lines.append(f"BatchNorm: {bn['folded']} of {bn['total']} folded into convolutions"
                 + (f"; {bn['left']} cannot be (they read no convolution, e.g. pre-activation norms, or a "
                    "convolution output that is also read elsewhere) and stay as inference-mode batch_norm."
                    if bn["left"] else "."))
    if "onnx" not in f:
        lines.append(f"ONNX: {meta['onnx']['status']}.")
    v = meta["verification"]
    if v:
        figs = ", ".join(f"{k} {d:.1e}" for k, d in v["max_abs_difference"].items())
        lines += ["", f"Checked against the in-package network on a random {tuple(v['input_shape'])} input "
                  f"(max |logit| {v['max_abs_logit']:.3g}); max abs differences: {figs}."]
    return "\n".join(lines) + "\n"
