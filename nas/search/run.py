"""The search job as plain functions (the Hydra app in ``nas.search.__main__`` only wraps these).

``run_search(cfg, out_dir)`` loads the space, the data and the latency source, builds the method
named by ``method.name`` from the strategy registry and runs it (``strategy.search(job)``); every
method checkpoints into ``out_dir`` (``resume=<run dir>`` continues) and ends with the typed
:class:`~nas.results.SearchSummary` written as ``summary.json``, beside ``config.yaml``,
``latency_table.json``, ``tb/`` (TensorBoard) and the method's own files (see its docstring).
Nothing here knows a method by name. Under torchrun every rank runs the job (the training inside is
data-parallel, ``nas.distributed``) and rank 0 writes.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Dict, List

import torch
from omegaconf import DictConfig, OmegaConf

from nas import distributed as dist
from nas.data import DATASETS, search_data
from nas.evaluators import EVALUATORS
from nas.io import atomic_write_text, check_writable_dir
from nas.latency import conform_calibration, get_table, load_table
from nas.latency.fingerprint import check_runtime, device_name
from nas.latency.fit_entries import FIT_NETS
from nas.latency.sources import LATENCY_SOURCES
from nas.results import SearchSummary
from nas.search.config import check_search_config
from nas.seeding import preserved_rng, seed_everything
from nas.space import load_space
from nas.strategies import STRATEGIES, LatencySettings, SearchError, SearchJob, build_strategy
from nas.supernet.training import SupernetOptions

SUMMARY = "summary.json"


def resolve_table(cfg: DictConfig, space, device: str, threads):
    """The latency source of the search's target: a registered source named by ``latency.table``
    (``nas.latency.sources``, e.g. ``benchmark``), a named table file (fingerprint-checked) or the
    cached/built table."""
    lat = cfg.latency
    target = lat.device or device
    if lat.table in LATENCY_SOURCES:
        return LATENCY_SOURCES.get(lat.table).from_config(cfg, space)
    if lat.table:
        table = load_table(lat.table)
        # an eager table of another CPU (GPU) model is another device: refused unless allow_mismatch (a
        # runtime table names the device the agent timed it on: the search is for that device)
        same_device = target == device and lat.get("runtime", "eager") == "eager"
        expected = {"device": target, "batch_size": lat.batch_size, "dtype": lat.dtype,
                    "device_name": device_name(device) if same_device else None}
        check_runtime(table, lat.runtime)
        table.check_fingerprint(expected, allow_mismatch=lat.allow_mismatch)
        conform_calibration(table, space)  # in memory; the named file is left as it is
        check_table_covers(table, space, lat.get("calibrated", True))
        return table
    if target != device:
        raise SearchError(f"latency.device={target}: a table for another device than the search's ({device}) cannot "
                          f"be measured here; name one with latency.table=<file>")
    return get_table(space, device=target, batch_size=lat.batch_size, dtype=lat.dtype, threads=threads,
                     cache_dir=lat.cache_dir, rebuild=lat.rebuild, runtime=lat.runtime, allow_busy=lat.allow_busy,
                     busy_wait=lat.busy_wait, op_timing=lat.get("op_timing"),
                     fit_nets=lat.get("fit_nets", FIT_NETS))


def check_table_covers(table, space, calibrated: bool) -> None:
    """A named table must price every op of the space, and every arch above 0 ms (errors name the
    user's file, before anything is written)."""
    from nas.latency import LatencyTableError
    from nas.latency.ops import op_key

    missing = table.missing(space)
    if missing:
        raise LatencyTableError(f"{table.where}: entries: expected an entry for every op of space '{space.name}', "
                                f"got none for {len(missing)} of them, e.g. '{op_key(missing[0])}' (build the "
                                f"table for this space: python -m nas.latency space=...)")
    lo, _ = table.bounds(space, calibrated=calibrated)
    if not lo > 0:
        raise LatencyTableError(f"{table.where}: {'calibration' if calibrated and table.calibration else 'entries'}: "
                                f"expected latencies that predict more than 0 ms for every arch of space "
                                f"'{space.name}', got {lo:.4g} ms for the cheapest")


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


def method_config(cfg: DictConfig) -> Dict[str, Any]:
    """The ``method`` section as the method's class reads it (``name`` and ``default_space`` are the app's)."""
    method = OmegaConf.to_container(cfg.method, resolve=True)
    return {k: v for k, v in method.items() if k not in ("name", "default_space")}


def latency_settings(cfg: DictConfig) -> LatencySettings:
    lat = cfg.latency
    return LatencySettings(target_ms=lat.target_ms, constraint=lat.constraint, penalty=lat.penalty,
                           calibrated=lat.calibrated, measure=lat.measure,
                           meet_target=lat.meet_target, anchors=lat.anchors, allow_mismatch=lat.allow_mismatch,
                           dtype=lat.dtype, batch_size=lat.batch_size, runtime=lat.runtime, allow_busy=lat.allow_busy)


def evaluator_factory(cfg: DictConfig, space, data, device: str, augment: bool):
    """``make(latency_ms) -> evaluator`` for the ``evaluator`` config section (built only by methods
    that score archs one by one)."""
    options = OmegaConf.to_container(cfg.evaluator, resolve=True)
    options.setdefault("amp", OmegaConf.select(cfg, "device.amp", default="auto"))
    options["supernet"] = OmegaConf.to_container(cfg.supernet, resolve=True)  # the oneshot evaluator's supernet
    cls = EVALUATORS.get(options["name"])
    context = {"data": OmegaConf.to_container(cfg.data), "classes": space.num_classes}
    sections = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("benchmark",) if cfg.get(k) is not None}

    def make(latency_ms):
        return cls.from_config(space, data, latency_ms, options, device=device, seed=cfg.seed, augment=augment,
                               context=context, sections=sections)

    return make


def run_search(cfg: DictConfig, out_dir: Path) -> SearchSummary:
    """Set up space, data and latency source, run ``cfg.method``, write the outputs, return the summary.

    Every check a user can fail (config values, resume files, data, space, latency table, method and
    evaluator options) runs before anything is written into the run directory."""
    check_search_config(cfg)
    cls = STRATEGIES.get(cfg.method.name)  # an unknown method lists the known ones
    out_dir = Path(cfg.resume or cfg.out_dir or out_dir)
    check_writable_dir(out_dir, "resume" if cfg.resume else "out_dir" if cfg.out_dir else "hydra.run.dir")
    if cfg.resume and not (out_dir / cls.resume_marker).is_file():
        raise SearchError(f"resume={cfg.resume}: no {cls.resume_marker} there (expected the directory of an earlier "
                          f"method={cfg.method.name} run)")
    device = cfg.device.type
    if device == "cuda" and not torch.cuda.is_available():
        raise SearchError("device=cuda: no CUDA device is available here (use device=cpu)")
    device = dist.setup(device, sync_bn=bool(OmegaConf.select(cfg, "device.sync_bn", default=False)))
    # under torchrun: joined the group (this rank's GPU)
    out_dir = dist.broadcast_object(out_dir)  # rank 0's (Hydra's run dirs differ by start time)
    main = dist.is_main()
    if cfg.device.threads:
        torch.set_num_threads(cfg.device.threads)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()

    sp, d = cfg.space, cfg.data
    probe = load_space(sp.name, variant=sp.variant, width_mult=sp.width_mult, resolution=sp.resolution,
                       fix_transitions=sp.fix_transitions)
    data = search_data(d.name, d.root, resolution=probe.resolution, arch_fraction=d.arch_fraction,
                       val_fraction=d.val_fraction, limit_train=d.limit_train, limit_val=d.limit_val,
                       download=d.download, url=d.url, md5=d.md5, seed=cfg.seed, holdout_val=True)
    space = load_space(sp.name, variant=sp.variant, width_mult=sp.width_mult, resolution=sp.resolution,
                       num_classes=data.num_classes, fix_transitions=sp.fix_transitions)
    if cfg.resume and hasattr(cls, "check_resume"):  # a resume that cannot continue fails before any work
        with preserved_rng():
            cls.check_resume(out_dir, space, cfg.seed, method_config(cfg))
    strategy = build_strategy(cfg.method.name, space, cfg.seed, method_config(cfg))  # bad options fail first
    SupernetOptions.of(OmegaConf.to_container(cfg.supernet, resolve=True))
    with dist.main_first():  # rank 0 builds and caches the table, the others read the cache
        table = resolve_table(cfg, space, device.split(":")[0], cfg.latency.threads or cfg.device.threads)
    SearchJob(space, data, table, out_dir, latency_settings(cfg)).check_target()  # inside the space's range
    seed_everything(cfg.seed)  # building the table draws random archs: a cached table must not change the run
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        where = table.path
        table.save(out_dir / "latency_table.json")
        table.path = where  # errors keep naming the file the user passed (or the cache), not the run dir's copy
        atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    augment = DATASETS.meta(d.name)["augment"] if d.augment is None else d.augment
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out_dir / "tb")) if main else contextlib.nullcontext() as writer:
        job = SearchJob(space, data, table, out_dir, latency_settings(cfg), seed=cfg.seed, device=device,
                        augment=augment, resume=bool(cfg.resume), writer=writer,
                        make_evaluator=evaluator_factory(cfg, space, data, device, augment),
                        evaluator_name=cfg.evaluator.name, amp=cfg.device.amp,
                        supernet=OmegaConf.to_container(cfg.supernet, resolve=True))
        summary = strategy.search(job)
    summary = dist.broadcast_object(summary)  # rank 0's on every rank
    summary.seconds = round(time.perf_counter() - t0, 1)
    if main:
        summary.save(out_dir / SUMMARY)
    return summary


def format_summary(s: SearchSummary) -> str:
    f, run = s.found, Path(s.found.arch_file).parent
    target = f" (target {s.target_ms:.2f} ms)" if s.target_ms else ""
    lines = [f"found architecture ({s.method}{f', {s.evaluator} evaluator' if s.evaluator else ''}): {f.arch_file}",
             f"  latency {f.latency_ms:.2f} ms{target}" + (f", measured {f.measured_ms:.2f} ms"
                                                         if f.measured_ms is not None else ""),
             f"  {f.params_m:.2f}M params, {f.macs_m:.1f}M MACs, accuracy {f.accuracy:.3f} ({s.accuracy_kind})"
             + (f", reward {f.reward:.4f}" if f.reward is not None else ""),
             *(f"  {n}" for n in s.notes),
             f"  {len(s.candidates)} more archs ({s.candidates_are}) beside it in {run}"]
    took = f"  search took {s.seconds or 0:.0f} s"
    if s.evaluations is not None:
        took += f", {s.evaluations} evaluations (every arch: {run / 'archs.jsonl'})"
    if s.seconds_before_resume:
        took += f" (after {s.seconds_before_resume:.0f} s of epochs before the resume)"
    lines.append(took + f"; TensorBoard: tensorboard --logdir {run / 'tb'}")
    return "\n".join(lines)
