"""Pack a self-contained latency job for a remote device: every op of a space, the reference network
and the calibration (and validation) networks, lowered into the deployment runtime here, plus the
stand-alone ``measure.py`` that times them there (it needs only the runtime and numpy).

With ``op_timing=net`` (``nas.latency.in_net``) the job's "ops" are networks: the space's base network
(key ``BASE_KEY``) and, per op key, the base with one decision changed; the importer turns their
figures into what each op adds to the base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import torch
from nas.io import atomic_write_text
from nas.latency.build import resolve_op_timing, space_info
from nas.latency.calibrate import sample_archs, spread_archs
from nas.latency.errors import LatencyTableError
from nas.latency.in_net import BASE_KEY, MIN_RUN_TIME as NET_MIN_RUN_TIME, Item, base_arch, op_stats, plan
from nas.latency.measure import Setting, reference_arch
from nas.latency.ops import build_use, op_key, space_uses, use_stats
from nas.latency.table import Entry, LatencyTable
from nas.progress import progress as progress_bar
from nas.runtimes import get_runtime, lower
from nas.runtimes.timing import content_key, prelower

FORMAT = "nas-latency-job"
MEASURE = Path(__file__).with_name("measure.py")
PACKED = ("job.json", "programs", "measure.py", "README.txt")  # what pack writes into its folder


def _macs(module, shapes, batch: int) -> float:
    from nas.profile import count_macs

    if len(shapes) != 1:
        return float(sum(p.numel() for p in module.parameters()))
    try:
        return float(count_macs(module, (batch, *shapes[0])))
    except Exception:  # noqa: BLE001 - a proxy only
        return float(sum(p.numel() for p in module.parameters()))


def proxy_table(space, batch: int) -> LatencyTable:
    """Multiply-adds per op in place of latency: spreads the calibration networks over the space's
    cost range before anything is timed on the device."""
    entries = {}
    for use in space_uses(space):
        module, shapes = build_use(space, use)
        entries[op_key(use)] = Entry(_macs(module.eval(), shapes, batch) / 1e6 + 1e-3)
    return LatencyTable({"device": "proxy"}, entries)


def _program(rt, module, shapes, cfg, out: Path, stem: str) -> Dict[str, Any]:
    inputs = [torch.randn(cfg.batch_size, *s) for s in shapes]
    prog = lower(rt, module, inputs, cfg.dtype, 1, key=content_key(module))
    path = prog.artifact.save(out / "programs" / stem)
    return {"file": str(path.relative_to(out)), "inputs": [list(s) for s in shapes],
            "names": list(prog.artifact.input_names), "weight_bytes": prog.artifact.weight_bytes}


def pack(cfg, out: str | Path, space, progress: bool = True) -> Path:
    """Write the job for ``space`` in ``cfg.runtime`` / ``cfg.dtype`` into ``out`` (a folder)."""
    if cfg.runtime == "eager":
        raise LatencyTableError("runtime: expected a deployment runtime for a device job (executorch, onnxruntime, "
                                "openvino), got 'eager' (time eager PyTorch here with python -m nas.latency)")
    rt = get_runtime(cfg.runtime)
    rt.require()
    rt.check_dtype(cfg.dtype)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LatencyTableError(f"{out}: out: expected a folder for the job, got a file")
    if out.exists() and any(out.iterdir()):
        held = sorted(p.name for p in out.iterdir())
        others = [n for n in held if n not in PACKED]  # a device's result.json is kept: the user moves it first
        if others:
            raise LatencyTableError(f"{out}: out: expected an empty folder or an earlier (or interrupted) job, got a "
                                    f"folder holding {', '.join(others[:3])}")
        shutil.rmtree(out)  # an earlier job, or one a kill interrupted (no job.json yet): packed again
    out.mkdir(parents=True, exist_ok=True)
    res = space.resolution
    threads = cfg.threads if cfg.threads is not None else (cfg.device.threads or 1)

    from nas.latency.overhead import CallOnly, shape_key, shape_of

    timing = resolve_op_timing(rt.name, cfg.op_timing, cfg.dtype, space, can_fit=False)
    if timing == "fit":
        raise LatencyTableError("op_timing=fit: a device job times ops or op networks, not the networks a fit "
                                "needs yet; pack with op_timing=net or program")
    in_net = timing == "net"  # a job always has a reference
    uses = space_uses(space)
    shapes_in = sorted({shape_of(u) for u in uses})
    ref_arch = reference_arch(space)
    zero: List[Dict[str, Any]] = []
    items: List = []
    if in_net:  # ops timed inside networks: no op or call program; the base and one network per op key it lacks
        base = base_arch(space)
        items, zero_uses = plan(space, base)
        items = [Item(BASE_KEY, None, base), *items]
        uses, shapes_in = [], []
        zero = [{"key": op_key(u), **op_stats(space, u, cfg.batch_size)} for u in zero_uses]
    cal = spread_archs(proxy_table(space, cfg.batch_size), space, cfg.calibrate, cfg.seed) if cfg.calibrate else []
    val = sample_archs(space, cfg.validate, "validate", cfg.seed, cal) if cfg.validate else []

    def make(job):
        kind, what = job
        torch.manual_seed(0)
        if kind == "op":
            module, shapes = build_use(space, what)
            return module.eval(), shapes
        if kind == "call":
            return CallOnly(), [what]
        if kind == "in_net":
            return space.build(what.arch).eval(), [(3, res, res)]
        return space.build(what).eval(), [(3, res, res)]

    # every program lowered first, on every core (then the loops below read them from the store)
    prelower([("op", u) for u in uses] + [("call", sh) for sh in shapes_in]
             + [("in_net", i) for i in items]
             + [("net", a) for a in [ref_arch, *cal, *val]], make,
             Setting("cpu", cfg.dtype, cfg.batch_size, 1, runtime=rt.name), progress=cfg.progress)

    ops: List[Dict[str, Any]] = []
    bar = progress_bar(uses, desc=f"writing ops ({rt.name} {cfg.dtype})", unit="op", enabled=cfg.progress,
                       leave=False)
    for i, use in enumerate(bar):
        module, shapes = make(("op", use))
        item = _program(rt, module, shapes, cfg, out, f"op_{i:03d}")
        ops.append({"key": op_key(use), **item, **use_stats(module, use, cfg.batch_size)})
    for i, it in enumerate(items):
        item = _program(rt, *make(("in_net", it)), cfg, out, f"op_net_{i:03d}")
        stats = op_stats(space, it.use, cfg.batch_size) if it.use else {}
        ops.append({"key": it.key, **item, "weight_bytes": 0, **stats})  # whole networks: no copies for context

    def nets(archs, prefix, desc):
        items = []
        for i, arch in enumerate(progress_bar(archs, desc=desc, unit="net", enabled=cfg.progress, leave=False)):
            item = _program(rt, *make(("net", arch)), cfg, out, f"{prefix}_{i:03d}")
            items.append({"arch": space.encode(arch), **item})
        return items

    overhead = []
    for shape in shapes_in:
        item = _program(rt, *make(("call", shape)), cfg, out, f"call_{shape_key(shape)}")
        overhead.append({"key": shape_key(shape), **item, "weight_bytes": 0})
    reference = nets([ref_arch], "reference", "writing the reference")[0]
    job = {"format": FORMAT, "version": 1, "space": space_info(space),
           "space_args": {"name": cfg.space.name, "variant": space.variant, "width_mult": space.width_mult,
                          "resolution": res, "num_classes": space.num_classes},
           "runtime": rt.name, "runtime_version_packed": rt.version(), "dtype": cfg.dtype, "threads": threads,
           "batch_size": cfg.batch_size, "passes": cfg.passes, "net_passes": cfg.net_passes,
           "min_run_time": max(cfg.min_run_time, NET_MIN_RUN_TIME) if in_net else cfg.min_run_time,
           "op_timing": "net" if in_net else "program", "zero_ops": zero,
           "net_min_run_time": cfg.net_min_run_time, "context_mb": cfg.context_mb, "reference": reference,
           "ops": ops, "overhead": overhead, "calibration": nets(cal, "net", "writing calibration networks"),
           "validation": nets(val, "val", "writing validation networks")}
    shutil.copyfile(MEASURE, out / "measure.py")
    need = {"executorch": "executorch numpy", "onnxruntime": "onnxruntime numpy", "openvino": "openvino numpy"}
    (out / "README.txt").write_text(
        f"Latency job: {len(ops)} ops of {space.name} and {len(job['calibration'])} calibration / "
        f"{len(job['validation'])} validation networks in {rt.name} {cfg.dtype}.\n\n"
        f"On the device (Python 3 with: pip install {need[rt.name]}):\n\n"
        f"    python measure.py            # writes result.json (--threads N, --quick to try it)\n\n"
        f"Then, where the toolkit is: python -m nas.latency import=result.json\n")
    atomic_write_text(out / "job.json", json.dumps(job, indent=1) + "\n")  # last: a folder with job.json is whole
    return out
