"""Deployable formats of an exported network, each checked against the eager net and timed.

``formats``: ``pt`` (``torch.export`` program, ``.pt2``: the default compiled format), ``torchscript``
(kept while torch ships it; written by ``nas.export`` itself), ``executorch`` (``.pte``, XNNPACK),
``onnx`` (dynamo exporter; run by ONNX Runtime), ``openvino`` (OpenVINO IR ``.xml``/``.bin``), and
``<format>_int8`` for executorch, onnx, openvino (PT2E with the XNNPACK quantizer / ONNX Runtime's
static quantization; calibrated on real images).

Checks: float32 within ``FP32_TOL`` (max abs logit difference) of the eager net on random inputs;
int8: top-1 agreement with the eager net on ``VAL_IMAGES`` real validation images (scikit-learn's
digits, resized to the net's resolution), enforced at ``INT8_AGREEMENT`` when the net has trained
weights (a fresh initialisation's logits are near ties, so it is only reported then). Each format is
timed (``nas.latency.measure``, one thread, in alternation with the eager net) and its latency
ratio to eager reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import nn

from nas.errors import NasError
from nas.runtimes import get_runtime, lower
from nas.runtimes.base import first_line

FP32_TOL = 1e-4
INT8_AGREEMENT = 0.99
VAL_IMAGES = 1000
CALIBRATION_BATCHES = 8  # of one image each (the programs have batch 1)
RUNTIME_OF = {"executorch": "executorch", "onnx": "onnxruntime", "openvino": "openvino"}
SUFFIX = {"executorch": ".pte", "onnx": ".onnx", "openvino": ".xml"}
FORMATS = ("pt", "torchscript", "executorch", "executorch_int8", "onnx", "onnx_int8", "openvino", "openvino_int8")
DEFAULT_FORMATS = ("pt", "torchscript", "onnx")


class FormatError(NasError):
    """A format that cannot be written or does not match the eager net."""


def check_formats(formats: Sequence[str]) -> List[str]:
    out = []
    for f in formats:
        if f not in FORMATS:
            raise FormatError("export", "formats", f"names from {', '.join(FORMATS)}", f)
        if f not in out:
            out.append(f)
    return out


def real_images(resolution: int, n: int, offset: int = 0) -> torch.Tensor:
    """``n`` digits images (normalised, 3 x res x res), from ``offset`` on (wrapping around)."""
    from nas.data.digits import load_digits_data

    d = load_digits_data(resolution)
    idx = (torch.arange(n) + offset) % len(d)
    x = d.images[idx].float() / 255
    return (x - d.mean[0]) / d.std[0]


def write_pt(net: nn.Module, example: torch.Tensor, path: Path) -> None:
    with torch.no_grad():
        program = torch.export.export(net.eval(), (example,))
    torch.export.save(program, str(path))


def _save(fmt: str, prog, stem: Path) -> List[str]:
    base = fmt.removesuffix("_int8")
    name = stem.name + ("_int8" if fmt.endswith("_int8") else "")
    if base != "openvino":
        path = stem.with_name(name + SUFFIX[base])
        path.write_bytes(prog.artifact.data)
        return [path.name]
    import openvino as ov

    from nas.runtimes.ov import read_program

    xml = stem.with_name(name + ".xml")
    ov.save_model(read_program(prog.artifact.data), str(xml))
    return [xml.name, xml.with_suffix(".bin").name]


def top1(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net(x).argmax(1) for x in images.split(100)])


def agreement(labels: torch.Tensor, prog, images: torch.Tensor) -> float:
    """Share of ``images`` on which ``prog`` (batch 1) picks the class the eager net picked."""
    with torch.no_grad():
        got = torch.cat([prog(x).argmax(1) for x in images.split(1)])
    return float((got == labels).float().mean())


def runtime_formats(net: nn.Module, resolution: int, formats: Sequence[str], stage: Path, stem: str, *,
                    trained: bool, time_them: bool = True, threads: int = 1, val_images: int = VAL_IMAGES,
                    strict: bool = True) -> Tuple[Dict[str, List[str]], Dict[str, Any]]:
    """Write ``formats`` (but torchscript: ``nas.export``'s own) of ``net`` into ``stage``; returns
    ``({format: files}, {format: checks and timing})``. Raises :class:`FormatError` (one line) when a
    format's runtime is missing (``RuntimeUnavailable``), cannot lower the net, or does not match.
    ``strict=False`` (the default export's ``.pt2``): a net ``torch.export`` cannot trace is noted, not an error."""
    net = net.eval()
    g = torch.Generator().manual_seed(0)
    example = torch.randn(1, 3, resolution, resolution, generator=g)
    with torch.no_grad():
        ref = net(example)
    files: Dict[str, List[str]] = {}
    info: Dict[str, Any] = {}
    progs = {}
    calib = val = None
    for fmt in formats:
        if fmt == "torchscript":
            continue
        if fmt == "pt":
            path = stage / f"{stem}.pt2"
            try:
                write_pt(net, example, path)
            except Exception as err:  # noqa: BLE001
                if strict:
                    raise FormatError(path.name, "torch.export", "a net torch.export traces", first_line(err)) from None
                info[fmt] = {"status": f"skipped: {first_line(err)}"}
                continue
            with torch.no_grad():
                d = float((torch.export.load(str(path)).module()(example) - ref).abs().max())
            files[fmt], info[fmt] = [path.name], {"max_abs_difference": d}
            if d > FP32_TOL:
                raise FormatError(path.name, "verification", f"outputs within {FP32_TOL:g} of the eager net", d)
            continue
        base, int8 = fmt.removesuffix("_int8"), fmt.endswith("_int8")
        rt = get_runtime(RUNTIME_OF[base])
        rt.require()
        if int8 and calib is None:
            calib = [[x] for x in real_images(resolution, CALIBRATION_BATCHES, offset=1500).split(1)]
            val = real_images(resolution, val_images)
            labels = top1(net, val)
        try:
            prog = lower(rt, net, [example], "int8" if int8 else "float32", threads, calibration=calib)
        except NasError:
            raise
        except Exception as err:  # noqa: BLE001
            raise FormatError(fmt, "lowering", f"a net {rt.name} runs", first_line(err)) from None
        files[fmt] = _save(fmt, prog, stage / stem)
        entry: Dict[str, Any] = {"runtime": rt.name, "version": rt.version()}
        with torch.no_grad():
            if int8:
                agree = agreement(labels, prog, val)
                entry.update(top1_agreement=agree, images=len(val), enforced=trained)
                if trained and agree < INT8_AGREEMENT:
                    raise FormatError(fmt, "verification", f"top-1 agreement >= {INT8_AGREEMENT:.0%} with the "
                                      f"eager net on {len(val)} images", f"{agree:.1%}")
            else:
                d = float((prog(example) - ref).abs().max())
                entry["max_abs_difference"] = d
                if d > FP32_TOL:
                    raise FormatError(fmt, "verification", f"outputs within {FP32_TOL:g} of the eager net", d)
        info[fmt] = entry
        progs[fmt] = prog
    if time_them:
        time_formats(net, progs, resolution, threads, info)
    return files, info


def time_formats(net: nn.Module, progs: Dict[str, nn.Module], resolution: int, threads: int,
                 info: Dict[str, Any], min_run_time: float = 0.5) -> None:
    """Latency of eager and each lowered program, in alternation with the eager net (drift cancels)."""
    from nas.latency.measure import Reference, Setting, time_module

    s = Setting("cpu", "float32", 1, threads, min_run_time)
    shape = [(3, resolution, resolution)]
    ref = Reference(net, shape, s)
    eager = time_module(net, shape, s, "the eager net", ref)
    info["eager"] = {"ms": round(eager.median_ms, 4)}
    for fmt, prog in progs.items():
        t = time_module(prog, shape, s, fmt, ref)
        info[fmt].update(ms=round(t.median_ms, 4), ratio_to_eager=round(t.median_ms / eager.median_ms, 4))
    for fmt in progs:
        fp32 = info.get(fmt.removesuffix("_int8"))
        if fmt.endswith("_int8") and fp32 and "ms" in fp32:
            info[fmt]["speedup_over_fp32"] = round(fp32["ms"] / info[fmt]["ms"], 4)
