"""Re-time every net of a report in one session, so latencies recorded at different times (on a noisy
shared machine) become comparable.

Nets are timed round-robin (one ``time_module`` call per net per round, the starting net rotating
from round to round) after a warm-up pass, at batch 1 on the CPU with pinned threads; a net's figure
is its minimum over rounds of the per-call median of ``torch.utils.benchmark`` runs: the minimum
drops the rounds a burst of load from other jobs spoiled, the interleaving spreads slow drift over
all nets alike. Rows naming the same net (a searched arch and its trained copy) are timed once.
"""

from __future__ import annotations

import json
import os
import time
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from nas.latency.measure import Setting, time_module
from nas.progress import progress as progress_bar
from nas.report.collect import ReportError, Row

REMEASURED, MEASURED = "re-measured", "measured"  # latency_source: had a recorded figure / had none


def net_key(row: Row) -> str:
    """What identifies the net a row stands for (two rows with the same key are one net)."""
    if row.arch_file:
        from nas.space import Arch

        try:
            return json.dumps(Arch.load(row.arch_file).to_dict(), sort_keys=True)
        except ValueError:
            return f"arch:{row.arch_file}"
    if row.model:
        return f"model:{row.model}:{row.variant or 'imagenet'}:{row.num_classes}"
    raise ReportError(row.source or row.name, "arch_file", "an existing arch file or a model name to rebuild "
                      "the net for timing")


def build_net(row: Row) -> Tuple[nn.Module, Tuple[int, int, int]]:
    """The row's network (fresh weights: latency does not depend on them) and its input shape."""
    torch.manual_seed(0)
    if row.arch_file:
        from nas.space import Arch, load_space

        from nas.space import SpaceError

        try:
            arch = Arch.load(row.arch_file)
            space = load_space(arch.space, **arch.space_args)
            return space.build(arch), (3, space.resolution, space.resolution)
        except SpaceError as err:
            raise ReportError(row.arch_file, "<arch>", f"an arch whose net can be rebuilt for timing ({err})") \
                from None
    if row.model:
        from nas.models import create_model, model_resolution

        variant = row.variant or "imagenet"
        classes = row.num_classes or (10 if variant == "cifar" else 1000)
        res = model_resolution(row.model, variant)
        return create_model(row.model, num_classes=classes, variant=variant), (3, res, res)
    net_key(row)  # raises the error naming what is missing
    raise AssertionError("unreachable")


def remeasure(rows: Sequence[Row], threads: int = 1, rounds: int = 20, min_run_time: float = 0.02,
              warmup: int = 3, progress: bool = True) -> List[Row]:
    """Time every row's net in one interleaved session (see the module doc); sets each row's
    ``measured_ms`` (its ``recorded_ms`` keeps the old figure), ``latency_source`` ('re-measured', or
    'measured' for a net with no recorded figure) and ``latency_setting``. Returns ``rows``."""
    if rounds < 1:
        raise ReportError("remeasure", "rounds", "a positive integer", rounds)
    if threads < 1:
        raise ReportError("remeasure", "threads", "a positive integer", threads)
    keys = [net_key(r) for r in rows]
    nets: Dict[str, Tuple[nn.Module, Tuple[int, int, int]]] = {}
    for row, key in zip(rows, keys):
        if key not in nets:
            nets[key] = build_net(row)
    order = list(nets)
    setting = Setting(device="cpu", batch_size=1, threads=threads, min_run_time=min_run_time, warmup=warmup)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    samples: Dict[str, List[float]] = {k: [] for k in order}
    bar = progress_bar(total=len(order) * (rounds + 1), desc="timing", unit="net", enabled=progress, leave=False)
    try:
        for k in order:  # warm-up pass: first calls allocate, and the CPU leaves its idle clock
            module, shape = nets[k]
            time_module(module, [shape], setting, what=k[:80])
            bar.update()
        for r in range(rounds):
            for i in range(len(order)):
                k = order[(i + r) % len(order)]
                module, shape = nets[k]
                samples[k].append(time_module(module, [shape], setting, what=k[:80]).median_ms)
                bar.update()
    finally:
        bar.close()
    info = {"device": "cpu", "threads": threads, "batch_size": 1, "dtype": "float32", "rounds": rounds,
            "min_run_time": min_run_time, "nets": len(order), "torch": torch.__version__,
            "load_before": round(load, 2) if load is not None else None,
            "seconds": round(time.perf_counter() - t0, 1),
            "how": f"min over {rounds} interleaved rounds of the median of torch.utils.benchmark runs"}
    for row, key in zip(rows, keys):
        row.measured_ms = min(samples[key])
        row.latency_source = REMEASURED if row.recorded_ms is not None else MEASURED
        row.latency_setting = dict(info, rounds_ms=[round(x, 4) for x in samples[key]])
    return list(rows)
