"""The search job as plain functions (the Hydra app in ``nas.search.__main__`` only wraps these).

``run_search(cfg, out_dir)`` loads the space, data and latency table, runs the method, checkpoints
every epoch (``resume=<run dir>`` continues), and writes into ``out_dir``: ``config.yaml``,
``latency_table.json``, ``tb/`` (TensorBoard), ``checkpoint.pt``, ``arch.yaml`` (the found arch),
``samples/sample_<k>.yaml`` and ``summary.json`` (predicted and measured latency, params, MACs).
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from nas.data import DATASETS, DataError, search_data
from nas.latency import LatencyTableError, get_table, load_table
from nas.latency.validate import measure_archs
from nas.latency.contention import BusyMachine
from nas.runtimes.check import check_runtime
from nas.profile import profile
from nas.io import atomic_torch_save, atomic_write_text, write_json
from nas.space import SpaceError, load_space
from nas.space.layerwise import LayerwiseSpace
from nas.strategies import STRATEGIES, StrategyError
from nas.strategies.fbnet import FBNetOptions, FBNetSearch, LatencyModel, SearchError
from nas.training import NonFiniteLoss

USER_ERRORS = (DataError, SpaceError, LatencyTableError, SearchError, StrategyError, NonFiniteLoss)
CHECKPOINT = "checkpoint.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_table(cfg: DictConfig, space, device: str, threads: Optional[int]):
    """The latency table of the search's target: a named file (fingerprint-checked) or the cached/built one."""
    lat = cfg.latency
    target = lat.device or device
    if lat.table:
        table = load_table(lat.table)
        expected = {"device": target, "batch_size": lat.batch_size, "dtype": lat.dtype}
        check_runtime(table, lat.get("runtime", "eager"))
        table.check_fingerprint(expected, allow_mismatch=lat.allow_mismatch)
        return table
    if target != device:
        raise SearchError(f"latency.device={target}: a table for another device than the search's ({device}) cannot "
                          f"be measured here; name one with latency.table=<file>")
    return get_table(space, device=target, batch_size=lat.batch_size, dtype=lat.dtype, threads=threads,
                     cache_dir=lat.cache_dir, rebuild=lat.rebuild, runtime=lat.get("runtime", "eager"),
                     allow_busy=lat.get("allow_busy", False), busy_wait=lat.get("busy_wait", 120.0))


def latency_model(cfg: DictConfig, table, space) -> LatencyModel:
    lo, hi = table.bounds(space)
    target = cfg.latency.target_ms
    if target is not None:
        if target < lo:
            raise SearchError(f"latency.target_ms={target} is below the cheapest architecture of space "
                              f"'{space.name}' on this table ({lo:.3f} ms); the range is {lo:.3f}..{hi:.3f} ms")
        if target > hi:
            raise SearchError(f"latency.target_ms={target} is above the dearest architecture of space "
                              f"'{space.name}' on this table ({hi:.3f} ms): every arch meets it; the range is "
                              f"{lo:.3f}..{hi:.3f} ms")
    const, vectors = table.cost_vectors(space, calibrated=cfg.latency.calibrated)
    penalty = cfg.latency.penalty * (10.0 if cfg.latency.constraint == "hard" else 1.0)
    return LatencyModel(const, {k: torch.tensor(v) for k, v in vectors.items()}, target, penalty)


def apply_default_space(cfg: DictConfig, overrides: List[str]) -> DictConfig:
    """A method's ``default_space`` (e.g. mnasnet's own space) unless the command line chose a space."""
    default = cfg.method.get("default_space")
    if not default or any(o.split("=")[0].lstrip("+~") in ("space", "space.name") for o in overrides):
        return cfg
    path = Path(__file__).resolve().parents[2] / "conf" / "space" / f"{default}.yaml"
    space = OmegaConf.load(path)
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    cfg.space.name, cfg.space.variant = space.name, space.variant
    return cfg


def run_search(cfg: DictConfig, out_dir: Path) -> Dict[str, Any]:
    """Set up space, data and latency table, run ``cfg.method``, write the outputs, return the summary."""
    method = cfg.method.name
    if method != "fbnet" and method not in STRATEGIES:
        raise SearchError(f"method={method}: unknown (known: fbnet, {', '.join(STRATEGIES.names())})")
    out_dir = Path(cfg.resume or cfg.out_dir or out_dir)
    marker = CHECKPOINT if method == "fbnet" else "archs.jsonl"
    if cfg.resume and not (out_dir / marker).is_file():
        raise SearchError(f"resume={cfg.resume}: no {marker} there (expected the directory of an earlier "
                          f"method={method} run)")
    out_dir.mkdir(parents=True, exist_ok=True)
    device = cfg.device.type
    if device == "cuda" and not torch.cuda.is_available():
        raise SearchError("device=cuda: no CUDA device is available here (use device=cpu)")
    if cfg.device.threads:
        torch.set_num_threads(cfg.device.threads)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()

    sp, d = cfg.space, cfg.data
    probe = load_space(sp.name, variant=sp.variant, width_mult=sp.width_mult, resolution=sp.resolution)
    data = search_data(d.name, d.root, resolution=probe.resolution, arch_fraction=d.arch_fraction,
                       val_fraction=d.val_fraction, limit_train=d.limit_train, limit_val=d.limit_val,
                       download=d.download, url=d.url, md5=d.md5, seed=cfg.seed)
    space = load_space(sp.name, variant=sp.variant, width_mult=sp.width_mult, resolution=sp.resolution,
                       num_classes=data.num_classes)
    table = resolve_table(cfg, space, device, cfg.latency.threads or cfg.device.threads)
    seed_everything(cfg.seed)  # building the table draws random archs: a cached table must not change the run
    table.save(out_dir / "latency_table.json")
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    augment = DATASETS.meta(d.name)["augment"] if d.augment is None else d.augment
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out_dir / "tb"))
    try:
        if method == "fbnet":
            summary = run_fbnet(cfg, out_dir, space, data, table, device, augment, writer)
        else:
            from nas.search.controllers import run_controller

            summary = run_controller(cfg, out_dir, space, data, table, device, augment, writer)
    finally:
        writer.close()
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(out_dir / "summary.json", summary)
    return summary


def run_fbnet(cfg: DictConfig, out_dir: Path, space, data, table, device: str, augment: bool,
              writer) -> Dict[str, Any]:
    if not isinstance(space, LayerwiseSpace):
        raise SearchError(f"method=fbnet needs a layer-wise space (fbnet, seeds); space={space.name} is "
                          f"{type(space).__name__}: use a controller (method=mnasnet, evolution, optuna, random)")
    lat_model = latency_model(cfg, table, space)
    before = 0.0  # epochs' seconds of the run this one resumes
    m = cfg.method
    opts = FBNetOptions(**{k: m[k] for k in FBNetOptions.__dataclass_fields__})
    search = FBNetSearch(space.supernet(), data, lat_model, opts, seed=cfg.seed, device=device, writer=writer,
                         augment=augment)
    if cfg.resume:
        state = torch.load(out_dir / CHECKPOINT, weights_only=True)
        if state.get("space") != space.name or state.get("epochs") != opts.epochs:
            raise SearchError(f"resume={cfg.resume}: its checkpoint is of space {state.get('space')!r} with "
                              f"{state.get('epochs')} epochs, this run asks for {space.name!r} with {opts.epochs}")
        search.load_state_dict(state["search"])
        before = float(state.get("seconds", 0.0))
    t0 = time.perf_counter()
    bar = tqdm(range(search.epoch, opts.epochs), desc="search", unit="epoch", initial=search.epoch,
               total=opts.epochs, disable=None)
    for _ in bar:
        metrics = search.run_epoch()
        bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}", lat=f"{metrics['expected_latency_ms']:.2f}ms")
        atomic_torch_save({"search": search.state_dict(), "space": space.name, "epochs": opts.epochs,
                           "seconds": before + time.perf_counter() - t0},
                          out_dir / CHECKPOINT)
    result = finish(search, space, table, cfg, out_dir, device)
    if before > 0:
        result["seconds_before_resume"] = round(before, 1)
    return result


def describe(arch, space, table, search, cfg) -> Dict[str, Any]:
    child = space.build(arch)
    p = profile(child, (1, 3, space.resolution, space.resolution))
    return {"predicted_ms": table.predict(space, arch, calibrated=cfg.latency.calibrated),
            "params_m": p.params / 1e6, "macs_m": p.macs / 1e6, "val_acc_shared_weights": search.evaluate(arch)}


def finish(search: FBNetSearch, space, table, cfg: DictConfig, out_dir: Path, device: str) -> Dict[str, Any]:
    final = search.derive()
    arch_path = final.save(out_dir / "arch.yaml")
    result = {"arch_file": str(arch_path), "space": space.name, "method": cfg.method.name,
              "derive": search.derive_rule(), "target_ms": cfg.latency.target_ms,
              "final": describe(final, space, table, search, cfg), "samples": []}
    shutil.rmtree(out_dir / "samples", ignore_errors=True)
    archs = [final]
    for k, (arch, logp) in enumerate(search.samples(cfg.method.samples, cfg.seed)):
        path = arch.save(out_dir / "samples" / f"sample_{k}.yaml")
        result["samples"].append({"arch_file": str(path), "log_prob": logp, **describe(arch, space, table, search, cfg)})
        archs.append(arch)
    if cfg.latency.measure:
        # timed whole the way the table was built (its threads, against its reference network), so the
        # figures are on the table's scale even when the machine is slower or faster than when it was built
        try:
            measured, _ = measure_archs(table, space, archs, allow_mismatch=cfg.latency.allow_mismatch,
                                         allow_busy=cfg.latency.get("allow_busy", False))
        except LatencyTableError as err:  # a table measured elsewhere: its scale cannot be timed here
            result["measure_note"] = f"found archs not timed: {err}"
            if isinstance(err, BusyMachine):
                print(f"WARNING: {result['measure_note']}", file=sys.stderr)
        else:
            for entry, ms in zip([result["final"], *result["samples"]], measured):
                entry["measured_ms"] = ms
    result["history"] = search.history
    return result


def format_summary(s: Dict[str, Any]) -> str:
    if "best" in s:
        b = s["best"]
        return "\n".join([
            f"best architecture ({s['method']}, {s['evaluator']} evaluator): {s['arch_file']}",
            f"  reward {b['reward']:.4f}: accuracy {b['accuracy']:.3f}, latency {b['latency_ms']:.2f} ms "
            f"(target {s['target_ms']:.2f} ms)" + (f", measured {b['measured_ms']:.2f} ms" if "measured_ms" in b else ""),
            f"  {b.get('params_m', 0):.2f}M params, {b.get('macs_m', 0):.1f}M MACs; {len(s['pareto'])} archs on the "
            f"Pareto front in {Path(s['arch_file']).parent / 'pareto'}",
            f"  {s['evaluations']} evaluations in {s.get('seconds', 0):.0f} s; every arch: "
            f"{Path(s['arch_file']).parent / 'archs.jsonl'}"])
    f = s["final"]
    target = f" (target {s['target_ms']:.2f} ms)" if s.get("target_ms") else ""
    rule = {"target": "the most probable arch within 5% below the target", "argmax": "argmax of theta"}
    lines = [f"found architecture ({rule[s.get('derive', 'argmax')]}): {s['arch_file']}",
             f"  predicted latency {f['predicted_ms']:.2f} ms{target}" + (f", measured {f['measured_ms']:.2f} ms"
                                                                 if "measured_ms" in f else ""),
             f"  {f['params_m']:.2f}M params, {f['macs_m']:.1f}M MACs, val acc (shared weights) "
             f"{f['val_acc_shared_weights']:.3f}",
             *([f"  {s['measure_note']}"] if "measure_note" in s else []),
             f"  {len(s['samples'])} samples from the final distribution in {Path(s['arch_file']).parent / 'samples'}",
             f"  search took {s.get('seconds', 0):.0f} s" + (f" (after {s['seconds_before_resume']:.0f} s of epochs "
                                                             f"before the resume)" if "seconds_before_resume" in s
                                                             else "") + "; TensorBoard: tensorboard --logdir "
             f"{Path(s['arch_file']).parent / 'tb'}"]
    return "\n".join(lines)
