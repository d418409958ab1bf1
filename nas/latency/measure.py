"""Timing ops and whole networks on the target device with ``torch.utils.benchmark``.

Each measurement: eval mode under ``torch.inference_mode``, a few warm-up calls, then
``Timer.blocked_autorange`` (adaptive: as many runs as fit in ``min_run_time``; the Timer pins the
thread count and synchronizes CUDA). ``passes`` > 1 times every item again in a later sweep, so a
burst of load from other processes spoils one sweep of an item, not all; an item's figure is the
minimum over sweeps of its median.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.utils.benchmark as benchmark
from torch import nn
from tqdm import tqdm

from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import check_device, check_dtype, resolve_threads


@dataclass
class Timing:
    median_ms: float
    iqr_ms: float
    runs: int


@dataclass
class Setting:
    """Where and how to time: device, dtype name, batch size, pinned intra-op threads, run time."""

    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    threads: Optional[int] = 1  # None: torch's current count
    min_run_time: float = 0.05
    warmup: int = 2

    def __post_init__(self):
        check_device(self.device)
        check_dtype(self.dtype)
        self.threads = resolve_threads(self.threads)


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_module(module: nn.Module, shapes: Sequence[Tuple[int, ...]], s: Setting, what: str = "module") -> Timing:
    """Median latency of ``module(*inputs)`` with random inputs of the given per-sample ``shapes``
    (the module is moved to the setting's device and dtype; its train/eval mode is restored)."""
    dtype = check_dtype(s.dtype)
    training = module.training
    try:
        module = module.to(device=s.device, dtype=dtype).eval()
        inputs = [torch.randn(s.batch_size, *shape, device=s.device, dtype=dtype) for shape in shapes]
        with pinned_threads(s.threads), torch.inference_mode():
            for _ in range(s.warmup):
                module(*inputs)
            _sync(s.device)
            timer = benchmark.Timer(stmt="module(*inputs)", globals={"module": module, "inputs": inputs},
                                    num_threads=s.threads)
            m = timer.blocked_autorange(min_run_time=s.min_run_time)
    except RuntimeError as err:
        raise LatencyTableError(f"{what} does not run on {s.device} in {s.dtype}: {err}") from None
    finally:
        module.train(training)
    return Timing(m.median * 1e3, m.iqr * 1e3, len(m.times) * m.number_per_run)


def sweep(items: Sequence, make: Callable[[object], Tuple[nn.Module, Sequence[Tuple[int, ...]], str]], s: Setting,
          passes: int = 1, desc: str = "timing", progress: bool = True) -> List[Timing]:
    """Time every item (``make(item) -> (module, input shapes, name)``) ``passes`` times, sweep after
    sweep; keep per item the sweep with the lowest median. Modules are rebuilt each sweep (memory)."""
    if passes < 1:
        raise LatencyTableError(f"passes: expected a positive integer, got {passes!r}")
    best: List[Timing] = [None] * len(items)  # type: ignore[list-item]
    bar = tqdm(total=len(items) * passes, desc=desc, unit="op", file=sys.stderr, disable=not progress or None,
               leave=False)
    try:
        for _ in range(passes):
            for i, item in enumerate(items):
                module, shapes, name = make(item)
                t = time_module(module, shapes, s, name)
                if best[i] is None or t.median_ms < best[i].median_ms:
                    best[i] = t
                bar.update()
    finally:
        bar.close()
    return best


def time_archs(space, archs: Sequence, s: Setting, passes: int = 2, progress: bool = True,
               desc: str = "networks") -> List[float]:
    """End-to-end latency (ms) of each architecture's child network at the space's resolution."""
    res = space.resolution

    def make(arch):
        torch.manual_seed(0)
        return space.build(arch), [(3, res, res)], f"the network of {arch.choices}"

    return [t.median_ms for t in sweep(list(archs), make, s, passes, desc, progress)]
