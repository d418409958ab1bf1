"""Measure a space's latency table on this device, cache it, reuse it when the fingerprint matches.

Every op any architecture can run is timed once per distinct (op config, input shape): in FBNet's
CIFAR space 22 layers x 9 candidates are 110 distinct ops with stem and head. Then (``calibrate``)
a few random architectures are timed end to end and the calibration is fitted on them.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import torch

from nas.latency.contention import Contention, enforce, wait_for_quiet
from nas.latency.errors import LatencyTableError
from nas.latency.fit_entries import FIT_NETS, measure_entries_by_fit
from nas.latency.fingerprint import target_fingerprint, today
from nas.latency.in_net import check_op_timing, measure_entries_in_net, supports as supports_in_net
from nas.latency.measure import NET_PASSES, Reference, Setting, make_reference, reference_arch, sweep, table_reference
from nas.latency.ops import build_use, op_key, use_stats
from nas.latency.table import Entry, LatencyTable, load_table

DEFAULT_CALIBRATE = 24  # architectures timed end to end to fit the calibration
DEFAULT_MIN_RUN_TIME = 0.02  # seconds of timed runs per op and sweep
DEFAULT_PASSES = 3
DEFAULT_CONTEXT_MB = 16.0  # ops run round-robin over copies holding this many MB of weights (in context)
KEEP_COPIES_MB = 1024  # copies kept between sweeps


def space_info(space) -> dict:
    return {"name": space.name, "variant": space.variant, "resolution": space.resolution,
            "width_mult": space.width_mult, "num_classes": space.num_classes}


def measure_entries(space, table: LatencyTable, s: Setting, passes: int = DEFAULT_PASSES,
                    progress: bool = True, reference: Optional[Reference] = None) -> int:
    """Time the ops of ``space`` that ``table`` lacks into it (against ``reference`` if given: entries
    are ratios times its final ``ms``); returns how many were timed."""
    todo = table.missing(space)
    if not todo:
        return 0

    pools: Dict[str, List[torch.nn.Module]] = {}
    budget = [KEEP_COPIES_MB * 2**20]

    def make(use):
        """The op, and a factory of its copies for timing in context; copies are kept for the next
        sweeps while they fit in ``KEEP_COPIES_MB`` (building them is most of a sweep's overhead)."""
        torch.manual_seed(0)
        module, shapes = build_use(space, use)
        pool = pools.setdefault(op_key(use), [])
        served = [0]

        def factory():
            i, served[0] = served[0], served[0] + 1
            if i < len(pool):
                return pool[i]
            copy = build_use(space, use)[0]
            size = sum(p.numel() * p.element_size() for p in copy.parameters())
            if size <= budget[0]:
                budget[0] -= size
                pool.append(copy)
            return copy

        return module, shapes, f"op '{op_key(use)}'", factory

    timings = sweep(todo, make, s, passes, desc=f"ops of {space.name}", progress=progress, reference=reference)
    scale = reference.ms if reference is not None else None
    over: Dict = {}
    if s.runtime != "eager":  # a program's call costs once per network, not once per op (nas.latency.overhead)
        from nas.latency.overhead import call_overheads, shape_key, shape_of

        over = {shape_key(k): v for k, v in call_overheads(todo, s, passes, reference, progress).items()}
        table.meta.setdefault("call_overhead_ms", {}).update({k: round(v, 6) for k, v in over.items()})
    for use, t in zip(todo, timings):
        with torch.device("meta"):
            module, _ = build_use(space, use)
        ms, iqr = (t.median_ms, t.iqr_ms) if scale is None else (t.ratio * scale, t.ratio_iqr * scale)
        if over:  # not below zero: a skip costs ~nothing, and searches assume costs >= 0
            ms = max(0.0, ms - over[shape_key(shape_of(use))])
        table.entries[op_key(use)] = Entry(round(ms, 6), runs=t.runs, iqr_ms=round(iqr, 6),
                                           **use_stats(module, use, s.batch_size))
    return len(todo)


def build_table(space, device: str = "cpu", batch_size: int = 1, dtype: str = "float32",
                threads: Optional[int] = None, *, min_run_time: float = DEFAULT_MIN_RUN_TIME,
                passes: int = DEFAULT_PASSES, progress: bool = True, reference: bool = True,
                context_mb: float = DEFAULT_CONTEXT_MB, runtime: str = "eager",
                monitor: Optional[Contention] = None, op_timing: Optional[str] = None,
                net_passes: int = NET_PASSES, fit_nets: int = FIT_NETS, seed: int = 0) -> LatencyTable:
    """A fresh table of every op of ``space`` measured here (not calibrated, not saved).

    ``reference``: time every op in alternation with the space's reference network (drift-free
    ratios); ``context_mb``: time ops with their weights out of the core's caches, as inside a
    network (0: hot); see ``nas.latency.measure``. The table records both. ``runtime``: lower every
    op (and the reference) into that runtime (``nas.runtimes``) and time it there. ``monitor``
    watches for contention while timing (its verdict is the caller's: see :func:`get_table`).
    ``op_timing``: ``program`` (each op lowered and timed alone) or ``net`` (what each op adds to the
    space's base network, both timed whole: ``nas.latency.in_net``, over ``net_passes`` sweeps) or
    ``fit`` (fitted on ``fit_nets`` random networks timed whole: ``nas.latency.fit_entries``; ``seed``
    draws them); ``None``: the runtime's default."""
    fp = target_fingerprint(device, threads, dtype, batch_size, space.resolution, runtime)
    s = Setting(device, dtype, batch_size, fp["threads"], min_run_time, context_mb=context_mb, runtime=runtime,
                monitor=monitor)
    table = LatencyTable({**fp, "date": today()}, meta={"source": "measured", "space": space_info(space)})
    t0 = time.perf_counter()
    ref = make_reference(space, s) if reference else None
    timing = resolve_op_timing(runtime, op_timing, dtype, space, reference)
    if timing == "net":
        n = measure_entries_in_net(space, table, s, net_passes, progress, ref)
    elif timing == "fit":
        n = measure_entries_by_fit(space, table, s, fit_nets, net_passes, progress, ref, seed)
    else:
        n = measure_entries(space, table, s, passes, progress, ref)
    if ref is not None:
        table.meta["reference"] = {"space": space.name, "arch": space.encode(reference_arch(space)),
                                   "ms": round(ref.measured_ms, 6), "blocks": len(ref.samples)}
        if monitor is not None:
            monitor.reference(ref.samples)
    table.meta.update(ops_measured=n, ops_seconds=round(time.perf_counter() - t0, 2), min_run_time=min_run_time,
                      passes=passes, net_passes=net_passes, context_mb=context_mb)
    return table


def resolve_op_timing(runtime: str, op_timing: Optional[str] = None, dtype: str = "float32", space=None,
                      reference: bool = True, can_fit: bool = True) -> str:
    """``op_timing``, or when ``None`` the runtime's default for ``dtype`` (``Backend.op_timing``), as far
    as it can run: ``fit`` and ``net`` need a reference network; ``net`` a ``space`` whose latency adds up
    per decision; where the caller cannot fit (``can_fit=False``: a device job) ``fit`` becomes ``net``."""
    if op_timing is None:
        from nas.runtimes import get_runtime

        default = get_runtime(runtime).default_op_timing(dtype)
        if default == "fit" and not can_fit:
            default = "net"
        if default in ("net", "fit") and not reference:
            return "program"
        if default == "net" and space is not None and not supports_in_net(space):
            return "program"
        return default
    return check_op_timing(op_timing)


def protocol(reference: bool, context_mb: float, op_timing: str, fit_nets: int = FIT_NETS) -> dict:
    """How ops were timed, as the cache path's hash sees it (``op_timing=program`` adds nothing, so
    tables built before the option keep their names)."""
    out = {"reference": reference, "context_mb": context_mb}
    if op_timing != "program":
        out["op_timing"] = op_timing
    if op_timing == "fit":
        out["fit_nets"] = fit_nets
    return out


def cache_path(space, fingerprint: dict, cache_dir: str | Path = "outputs/latency_tables",
               protocol: Optional[dict] = None) -> Path:
    """``<cache_dir>/<space>-<variant>-r<res>-w<width>-<device>-b<batch>-<dtype>-t<threads>-<hash>.json``;
    the hash covers the whole fingerprint (CPU/GPU name, torch version) but the date, and the
    measuring ``protocol`` (reference, context)."""
    fp = {k: v for k, v in fingerprint.items() if k != "date"}
    digest = hashlib.sha1(json.dumps([fp, protocol or {}], sort_keys=True).encode()).hexdigest()[:10]
    runtime = f"-{fp['runtime']}" if fp.get("runtime") else ""  # eager tables keep their names
    name = (f"{space.name}-{space.variant}-r{space.resolution}-w{space.width_mult:g}-{fp['device']}{runtime}"
            f"-b{fp['batch_size']}-{fp['dtype']}-t{fp['threads']}-{digest}.json")
    return Path(cache_dir) / name


HOST_RATIO = 2.0  # the reference network this much slower or faster than in a cached table: warn (the same
# host measured 0.79-0.85x of a table it built minutes before: the build times it among cache-evicting ops)


def check_same_host(table, ref) -> float:
    """Time ``table``'s reference network here and warn when it runs more than ``HOST_RATIO`` times
    slower or faster than when the table was built: the fingerprint keys on the CPU's name, which
    hosts of very different speed share (or this machine is busy now). Returns the ratio."""
    now = ref.time_now_ms()
    ratio = now / ref.nominal_ms
    if not 1 / HOST_RATIO <= ratio <= HOST_RATIO:
        warnings.warn(f"{table.where}: meta.reference: the reference network runs at {now:.3f} ms here against "
                      f"{ref.nominal_ms:.3f} ms when this table was built ({ratio:.2f}x): the table is likely of "
                      f"another host under the same CPU name, or this machine is busy; its figures are off by "
                      f"about that factor (rebuild it: latency.rebuild=true)", stacklevel=3)
    return ratio


def get_table(space, device: str = "cpu", batch_size: int = 1, dtype: str = "float32",
              threads: Optional[int] = None, cache_dir: str | Path = "outputs/latency_tables",
              rebuild: bool = False, progress: bool = True, *, calibrate: int = DEFAULT_CALIBRATE,
              min_run_time: float = DEFAULT_MIN_RUN_TIME, passes: int = DEFAULT_PASSES,
              seed: int = 0, reference: bool = True, context_mb: float = DEFAULT_CONTEXT_MB,
              runtime: str = "eager", allow_busy: Optional[bool] = None, busy_wait: float = 0.0,
              op_timing: Optional[str] = None, net_passes: int = NET_PASSES,
              fit_nets: int = FIT_NETS) -> LatencyTable:
    """The table of ``space`` for this device and settings: the cached one when its fingerprint matches
    (ops it lacks are measured and added), else measured now; calibrated on ``calibrate`` random
    architectures timed end to end (0: no calibration); saved atomically; returned.

    ``threads=None`` pins torch's current thread count. ``reference``, ``context_mb``: how ops are
    timed, and ``op_timing`` (see :func:`build_table`); ``passes`` sweeps over ops, ``net_passes`` over whole
    networks (calibration, ``op_timing=net``). A corrupt cached file is an error (delete it or pass
    ``rebuild=True``).

    ``runtime`` (``nas.runtimes``; default eager PyTorch): ops and networks are lowered into it and
    timed there; its name and version are in the fingerprint. Contention (``nas.latency.contention``):
    before timing, wait up to ``busy_wait`` s for the load to leave room; while timing, watch CPU
    time, run-queue wait and the reference's spread; a busy verdict refuses (nothing is saved)
    unless ``allow_busy`` (or the ``NAS_ALLOW_BUSY=1`` environment variable), which warns
    loudly. The observed load goes into ``meta.load``.
    """
    from nas.latency.calibrate import calibrate_table, conform_calibration

    fp = target_fingerprint(device, threads, dtype, batch_size, space.resolution, runtime)
    op_timing = resolve_op_timing(runtime, op_timing, dtype, space, reference)
    path = cache_path(space, fp, cache_dir, protocol(reference, context_mb, op_timing, fit_nets))
    monitor = Contention(fp["threads"])
    s = Setting(device, dtype, batch_size, fp["threads"], min_run_time, context_mb=context_mb, runtime=runtime,
                monitor=monitor)
    what = f"building the {runtime} {dtype} latency table of {space.name}"
    table: Optional[LatencyTable] = None
    changed = False  # saved at the end when True
    if path.is_file() and not rebuild:
        try:
            table = load_table(path)
        except LatencyTableError as err:
            raise LatencyTableError(f"{err} (delete the cached file or rebuild)") from None
        table.check_fingerprint(fp)
        changed = conform_calibration(table, space) is not None
        if op_timing in ("net", "fit") and table.missing(space):
            raise LatencyTableError(f"{path}: entries: op_timing={op_timing} prices ops against the networks the "
                                    f"table was built with, and {len(table.missing(space))} ops of space '{space.name}' "
                                    f"have none (the space changed since?); rebuild it (rebuild=true)")
        if table.missing(space) or (calibrate and table.calibration is None):
            wait_for_quiet(fp["threads"], busy_wait, allow_busy, what)
            monitor.restart()
        t0 = time.perf_counter()
        ref = table_reference(table, space, s)
        if ref is not None:
            check_same_host(table, ref)
        n = measure_entries(space, table, s, passes, progress, ref)
        if n and ref is not None:
            monitor.reference(ref.samples)
        if n:
            table.meta["ops_measured"] = table.meta.get("ops_measured", 0) + n
            table.meta["ops_seconds"] = round(table.meta.get("ops_seconds", 0) + time.perf_counter() - t0, 2)
            table.calibration = None  # fitted on other entries
            changed = True
    if table is None:
        wait_for_quiet(fp["threads"], busy_wait, allow_busy, what)
        monitor.restart()
        table = build_table(space, device, batch_size, dtype, fp["threads"], min_run_time=min_run_time,
                            passes=passes, progress=progress, reference=reference, context_mb=context_mb,
                            runtime=runtime, monitor=monitor, op_timing=op_timing, net_passes=net_passes,
                            fit_nets=fit_nets, seed=seed)
        changed = True
    if calibrate and table.calibration is None:
        t0 = time.perf_counter()
        calibrate_table(table, space, calibrate, seed=seed, setting=s, passes=net_passes, progress=progress)
        table.meta["calibration_seconds"] = round(time.perf_counter() - t0, 2)
        changed = True
    if changed:
        table.meta["load"] = enforce(monitor.verdict(), allow_busy, what).as_meta()
        table.save(path)
    table.path = path
    return table
