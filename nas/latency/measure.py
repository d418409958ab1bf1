"""Timing ops and whole networks on the target device with ``torch.utils.benchmark``.

Each measurement runs in eval mode under ``torch.inference_mode`` after a few warm-up calls, with the
thread count pinned (CUDA synchronized by the Timer).

- Plain (``time_module`` without a reference): ``Timer.blocked_autorange``, as many runs as fit in
  ``min_run_time``; the figure is the median.
- Against a reference (``reference=``): blocks of runs of the item alternate with equally long
  blocks of a fixed reference network, until the item has run ``min_run_time``; the figure is the
  median ratio of an item block to the mean of the reference blocks on either side, times the
  reference's latency. On a shared or
  virtual machine the speed drifts by 10-30% over seconds to minutes (frequency, other tenants): the
  ratio cancels the drift, so entries timed a minute apart, and networks timed an hour later, are on
  one scale. (Blocks use ``timeit.Timer``, which ``torch.utils.benchmark.Timer`` wraps, with a clock
  that synchronizes CUDA: ``Timer.timeit`` adds two warm-up runs per call, which would triple the
  cost of alternating single runs of whole networks.)

Ops in context (``Setting.context_mb``): timed alone and called again and again, an op finds its
weights hot in L1/L2; inside a network, the other ops' weights (MBs) have pushed them out, so every
call loads them from L3 or memory. Timing the op round-robin over enough copies of it (distinct
weights, the same input) to hold ``context_mb`` MB of weights reproduces that. On the toolkit's
2-core test CPU (fbnet, CIFAR, batch 1), against the same 100 networks timed whole, the op sum was
20% low with Kendall tau 0.88 timed hot, 16% / 0.90 in 8 MB of context, 11% / 0.92 in 16 MB.

``passes`` > 1 times every item again in a later sweep, so a burst of load spoils one sweep of an
item, not all; an item's figure is the median over its sweeps. Every sweep builds (in a runtime: loads
into a new session) each item afresh, and the reference gets a new session every ``RENEW_SECONDS``: in
ONNX Runtime on the 2-core test CPU, sessions of one program run 2.5% apart (coefficient of variation)
for life, repeats within one session 0.4%. Whole networks are therefore timed over ``NET_PASSES`` short
sweeps: the same 100 fbnet networks validated twice then agree at Kendall tau 0.95 and 2% in scale,
against 0.86-0.89 and 5-11% with 3 sweeps of 0.2 s and one reference session (docs/latency_tables.md).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import math
import random
import statistics
import time
import timeit
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.utils.benchmark as benchmark
from torch import nn

from nas.progress import progress as progress_bar
from nas.latency.errors import LatencyTableError
from nas.latency.contention import Contention, enforce, wait_for_quiet
from nas.latency.fingerprint import check_device, check_dtype, resolve_threads, table_runtime, target_fingerprint

BLOCK_SECONDS = 0.004  # shortest block of runs when alternating with a reference
MAX_COPIES = 64
RENEW_SECONDS = 2.0  # a runtime's reference network gets a fresh session this often (Reference.renew)
NET_PASSES = 9  # sweeps over whole networks (found archs, validation, calibration, op_timing=net), each on a fresh
# instance (in a runtime: a new session; see the module doc)
NET_MIN_RUN_TIME = 0.05  # seconds of timed runs per whole network and sweep
ANCHORS = 8  # calibration networks timed among the networks of every measure_archs (see there)
ANCHOR_WARN = 0.15  # an anchor correction larger than this is reported


@dataclass
class Timing:
    median_ms: float
    iqr_ms: float
    runs: int
    ratio: Optional[float] = None  # median ratio to the reference's blocks, when timed against one
    ratio_iqr: Optional[float] = None


@dataclass
class Setting:
    """Where and how to time: device, dtype name, batch size, pinned intra-op threads, run time."""

    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    threads: Optional[int] = 1  # None: torch's current count
    min_run_time: float = 0.05
    warmup: int = 2
    context_mb: float = 0.0  # >0: run round-robin over copies holding this many MB of weights (see module doc)
    runtime: str = "eager"  # eager | executorch | onnxruntime | openvino: modules are lowered into it (nas.runtimes)
    monitor: Optional[object] = None  # a nas.latency.contention.Contention observing every timed item

    def __post_init__(self):
        check_device(self.device)
        check_dtype(self.dtype, self.runtime)
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


def _clock(device: str) -> Callable[[], float]:
    if device.startswith("cuda"):
        def clock() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()
        return clock
    return time.perf_counter


class _Cycle:
    def __init__(self, modules):
        self.next = itertools.cycle(modules).__next__

    def __call__(self, *inputs):
        return self.next()(*inputs)


def _in_context(module: nn.Module, context_mb: float, factory: Optional[Callable[[], nn.Module]] = None,
                s: Optional[Setting] = None) -> nn.Module:
    """``module`` or a round-robin over copies of it (distinct weights) holding ``context_mb`` MB;
    copies come from ``factory`` (moved to ``s``'s device and dtype), else ``copy.deepcopy`` (slower)."""
    size = getattr(module, "weight_bytes", None) or sum(p.numel() * p.element_size() for p in module.parameters())
    if context_mb <= 0 or size == 0:
        return module
    k = int(min(MAX_COPIES, max(1, math.ceil(context_mb * 2**20 / size))))
    if k == 1:
        return module
    if factory is None:
        return _Cycle([module] + [copy.deepcopy(module) for _ in range(k - 1)])
    to = dict(device=s.device, dtype=input_dtype(s)) if s is not None else {}
    return _Cycle([module] + [factory().to(**to).eval() for _ in range(k - 1)])


class _Blocks:
    """``seconds_per_run(number)``: mean time of ``number`` back-to-back runs."""

    def __init__(self, module: nn.Module, inputs: Sequence[torch.Tensor], device: str):
        self.timer = timeit.Timer("module(*inputs)", timer=_clock(device), globals={"module": module, "inputs": inputs})

    def __call__(self, number: int) -> float:
        return self.timer.timeit(number) / number

    def runs_for(self, seconds: float) -> int:
        return max(1, int(round(seconds / max(self(1), 1e-7))))


def input_dtype(s: Setting) -> torch.dtype:
    """The inputs' dtype: the setting's in eager; float32 for a runtime (int8 there is the program's)."""
    return check_dtype(s.dtype) if s.runtime == "eager" else torch.float32


def _prepare(module: nn.Module, shapes: Sequence[Tuple[int, ...]], s: Setting):
    dtype = input_dtype(s)
    module = module.to(device=s.device, dtype=dtype).eval()
    inputs = [torch.randn(s.batch_size, *shape, device=s.device, dtype=dtype) for shape in shapes]
    if s.runtime != "eager":
        from nas.runtimes.timing import lowered

        module = lowered(module, inputs, s)
    for _ in range(s.warmup):
        module(*inputs)
    _sync(s.device)
    return module, inputs


class Reference:
    """A fixed network timed in alternation with every item; ``ms`` is its median block latency over
    everything timed so far against it (or a fixed value from a table, ``nominal_ms``)."""

    def __init__(self, module: nn.Module, shapes: Sequence[Tuple[int, ...]], s: Setting,
                 nominal_ms: Optional[float] = None):
        self.setting, self.source, self.shapes = s, module, shapes
        self.sessions = 0
        self.renew()
        with pinned_threads(s.threads), torch.inference_mode():
            self.number = self.blocks.runs_for(BLOCK_SECONDS)
            self.block_seconds = max(BLOCK_SECONDS, self.blocks(self.number) * self.number)
        self.samples: List[float] = []
        self.nominal_ms = nominal_ms

    def renew(self) -> None:
        """Run the reference from a fresh instance (in a runtime: a new session of its program). A session
        keeps its own speed for life (module doc), so one reference session would put its offset on every
        figure timed against it: ``sweep`` renews it every ``RENEW_SECONDS`` (between items), and ``ms``
        is the median over all its sessions."""
        with pinned_threads(self.setting.threads), torch.inference_mode():
            self.module, inputs = _prepare(self.source, self.shapes, self.setting)
            self.blocks = _Blocks(self.module, inputs, self.setting.device)
        self.sessions += 1
        self.since = time.perf_counter()

    def block(self) -> float:
        """One block (call with the setting's threads pinned, under inference mode)."""
        t = self.blocks(self.number)
        self.samples.append(t)
        return t

    def time_now_ms(self, blocks: int = 7) -> float:
        """The reference's median latency (ms) over ``blocks`` fresh blocks, apart from its samples."""
        with pinned_threads(self.setting.threads), torch.inference_mode():
            return statistics.median(self.blocks(self.number) for _ in range(blocks)) * 1e3

    @property
    def measured_ms(self) -> float:
        return statistics.median(self.samples) * 1e3 if self.samples else float("nan")

    @property
    def ms(self) -> float:
        return self.nominal_ms if self.nominal_ms is not None else self.measured_ms


def _iqr(values: Sequence[float]) -> float:
    if len(values) < 4:
        return 0.0
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def time_module(module: nn.Module, shapes: Sequence[Tuple[int, ...]], s: Setting, what: str = "module",
                reference: Optional[Reference] = None, factory: Optional[Callable[[], nn.Module]] = None) -> Timing:
    """Latency of ``module(*inputs)`` with random inputs of the given per-sample ``shapes`` (moved to
    the setting's device and dtype; its train/eval mode is restored). With a ``reference``, the
    returned ``ratio`` is drift-free and ``median_ms`` is ``ratio * reference.ms``. ``factory``
    builds the copies ``s.context_mb`` asks for (default: deep copies)."""
    training, original = module.training, module
    try:
        with pinned_threads(s.threads), torch.inference_mode(), contextlib.ExitStack() as watch:
            module, inputs = _prepare(module, shapes, s)
            if module is not original:  # lowered into a runtime: copies are reloads of its program
                factory = module.reload
            runner = _in_context(module, s.context_mb, factory, s)
            if runner is not module:
                for _ in range(s.warmup):
                    runner(*inputs)
            if s.monitor is not None:  # CPU time and run-queue wait while this item is timed
                watch.enter_context(s.monitor.observe())
            if reference is None:
                timer = benchmark.Timer(stmt="module(*inputs)", globals={"module": runner, "inputs": inputs},
                                        num_threads=s.threads)
                m = timer.blocked_autorange(min_run_time=s.min_run_time)
                return Timing(m.median * 1e3, m.iqr * 1e3, len(m.times) * m.number_per_run)
            blocks = _Blocks(runner, inputs, s.device)
            number = blocks.runs_for(reference.block_seconds)
            ratios, times, spent = [], [], 0.0
            before = reference.block()
            while len(ratios) < 3 or spent < s.min_run_time:
                t = blocks(number)
                after = reference.block()
                ratios.append(2 * t / (before + after))  # reference blocks on both sides: linear drift cancels
                times.append(t)
                spent += t * number
                before = after
            ratio = statistics.median(ratios)
            return Timing(ratio * reference.ms, _iqr(ratios) * reference.ms, len(times) * number, ratio, _iqr(ratios))
    except RuntimeError as err:
        raise LatencyTableError(f"{what} does not run on {s.device} in {s.dtype}: {err}") from None
    finally:
        original.train(training)


def sweep(items: Sequence, make: Callable[[object], tuple], s: Setting, passes: int = 1, desc: str = "timing",
          progress: bool = True, reference: Optional[Reference] = None) -> List[Timing]:
    """Time every item (``make(item) -> (module, input shapes, name[, factory of copies])``) ``passes``
    times, sweep after sweep (modules are rebuilt each sweep: memory); per item, the median over its
    sweeps. In a runtime, every module is lowered first (``nas.runtimes.timing.prelower``)."""
    if passes < 1:
        raise LatencyTableError(f"passes: expected a positive integer, got {passes!r}")
    if s.runtime != "eager":  # lowering is CPU work: all of it first, on every core, none while timing
        from nas.runtimes.timing import prelower

        prelower(items, make, s, progress=progress)
    found: List[List[Timing]] = [[] for _ in items]
    renew_every = RENEW_SECONDS if reference is not None and s.runtime != "eager" else None
    bar = progress_bar(total=len(items) * passes, desc=desc, unit="item", enabled=progress, leave=False)
    try:
        for p in range(passes):
            order = list(range(len(items)))
            if p:  # later sweeps in another order: a slow spell of the machine hits other neighbours
                random.Random(p).shuffle(order)
            for i in order:
                if renew_every is not None and time.perf_counter() - reference.since >= renew_every:
                    reference.renew()
                module, shapes, name, *factory = make(items[i])
                found[i].append(time_module(module, shapes, s, name, reference, *factory))
                bar.update()
    finally:
        bar.close()
    return [_median_timing(ts) for ts in found]


def _median_timing(ts: Sequence[Timing]) -> Timing:
    if len(ts) == 1:
        return ts[0]
    med = lambda xs: statistics.median(xs) if all(x is not None for x in xs) else None  # noqa: E731
    return Timing(med([t.median_ms for t in ts]), med([t.iqr_ms for t in ts]), sum(t.runs for t in ts),
                  med([t.ratio for t in ts]), med([t.ratio_iqr for t in ts]))


def reference_arch(space):
    """The space's reference network: one fixed random architecture."""
    return space.sample(random.Random("latency-reference"))


def make_reference(space, s: Setting, encoding: Optional[Sequence[int]] = None,
                   nominal_ms: Optional[float] = None) -> Reference:
    """The reference network of ``space`` (or of the given arch encoding, e.g. a table's)."""
    arch = space.decode(list(encoding)) if encoding is not None else reference_arch(space)
    torch.manual_seed(0)
    res = space.resolution
    return Reference(space.build(arch), [(3, res, res)], s, nominal_ms)


def table_reference(table, space, s: Setting) -> Optional[Reference]:
    """The reference a table's entries were timed against (``meta.reference``), at the table's nominal
    latency, or ``None`` if the table has none for this space (then timing is plain)."""
    ref = table.meta.get("reference") if isinstance(table.meta, dict) else None
    if not ref or ref.get("space") != space.name or not ref.get("ms"):
        return None
    try:
        return make_reference(space, s, ref["arch"], float(ref["ms"]))
    except (ValueError, KeyError, TypeError) as err:
        raise LatencyTableError(f"{table.where}: meta.reference: expected the reference arch of space "
                                f"'{space.name}' and its latency ({err})") from None


def time_archs(space, archs: Sequence, s: Setting, passes: int = NET_PASSES, progress: bool = True,
               desc: str = "networks", reference: Optional[Reference] = None) -> List[float]:
    """End-to-end latency (ms) of each architecture's child network at the space's resolution
    (against ``reference`` when given: ratios times its ``ms``)."""
    res = space.resolution

    def make(arch):
        torch.manual_seed(0)
        return space.build(arch), [(3, res, res)], f"the network of {arch.choices}"

    timings = sweep(list(archs), make, dataclasses.replace(s, context_mb=0.0), passes, desc, progress, reference)
    if reference is not None:
        return [t.ratio * reference.ms for t in timings]
    return [t.median_ms for t in timings]


@dataclass
class NetTimes:
    """Whole networks timed on a table's scale by :func:`measure_archs`."""

    ms: List[float]  # on the table's scale: against its reference, times ``anchor_scale`` when anchored
    reference: Optional["Reference"] = None
    anchor_scale: Optional[float] = None  # median over the anchors of latency at build / latency now
    anchors: int = 0
    unanchored_ms: Optional[List[float]] = None  # the same timings without the anchors' correction


def anchor_archs(table, space, k: int) -> Tuple[List, List[float]]:
    """Up to ``k`` of the table's calibration networks, evenly over their latency range, with the
    latencies they were timed at when the table was built (none if the table has no calibration of
    ``space``)."""
    cal = getattr(table, "calibration", None)
    if k <= 0 or cal is None or cal.space != space.name or not cal.archs or len(cal.archs) != len(cal.measured_ms):
        return [], []
    order = sorted(range(len(cal.archs)), key=lambda i: cal.measured_ms[i])
    n, k = len(order), min(k, len(order))
    picks = [order[min(n - 1, int((j + 0.5) * n / k))] for j in range(k)]
    return [space.decode(cal.archs[i]) for i in picks], [float(cal.measured_ms[i]) for i in picks]


def _interleave(n: int, k: int) -> List[Tuple[bool, int]]:
    """Positions of ``n`` networks and ``k`` anchors in one sweep, the anchors evenly among the networks:
    ``(is_anchor, index)``."""
    slots = [round((j + 0.5) * n / k) for j in range(k)]
    out: List[Tuple[bool, int]] = []
    for i in range(n + 1):
        out += [(True, j) for j in range(k) if slots[j] == i]
        if i < n:
            out.append((False, i))
    return out


def measure_archs(table, space, archs: Sequence, *, allow_mismatch: bool = False, passes: int = NET_PASSES,
                  min_run_time: float = NET_MIN_RUN_TIME, progress: bool = False,
                  allow_busy: Optional[bool] = None, load: Optional[dict] = None, busy_wait: float = 120.0,
                  anchors: int = ANCHORS) -> NetTimes:
    """Time architectures whole the way the table's entries were timed (its device, dtype, batch size,
    threads and runtime; against its reference network if it has one, so the figures are on the
    table's scale whatever the machine's speed now).

    Anchors: one reference network cancels the machine's drift only to a few percent. Timed against it,
    the same networks measure 2-7% apart from one run to the next, all of them together (ONNX Runtime fp32
    on the 2-core test CPU, docs/latency_tables.md). So ``anchors`` of the table's calibration networks
    (:func:`anchor_archs`) are timed among ``archs`` in every sweep, and every figure is multiplied by
    the median over the anchors of (latency at build / latency now): the run is put on the scale the
    calibration was fitted on. Only for a table measured here (not with a mismatch allowed).

    A busy machine (``nas.latency.contention``) refuses unless ``allow_busy``; the observed load is
    put into ``load`` when given. A load still high when timing starts (other jobs, or this process's own
    training just before) is waited out for up to ``busy_wait`` seconds first."""
    fp = table.fingerprint
    runtime = table_runtime(fp)
    here = target_fingerprint(fp["device"] or "cpu", fp["threads"], fp["dtype"] or "float32", fp["batch_size"] or 1,
                              space.resolution, runtime)
    differences = table.check_fingerprint(here, allow_mismatch)
    anchor_nets, anchor_build_ms = anchor_archs(table, space, 0 if differences or not archs else anchors)
    what = f"timing {len(archs)} {runtime} networks of {space.name}"
    wait_for_quiet(here["threads"], busy_wait, allow_busy, what)
    monitor = Contention(here["threads"])
    s = Setting(here["device"], here["dtype"], here["batch_size"], here["threads"], min_run_time, runtime=runtime,
                monitor=monitor)
    ref = table_reference(table, space, s)
    order = _interleave(len(archs), len(anchor_nets))
    timed = time_archs(space, [anchor_nets[i] if anchor else archs[i] for anchor, i in order], s, passes, progress,
                       desc="networks" + (f" (+{len(anchor_nets)} anchors)" if anchor_nets else ""), reference=ref)
    measured = [ms for (anchor, _), ms in zip(order, timed) if not anchor]
    out = NetTimes(measured, ref)
    if anchor_nets:
        now = [ms for (anchor, _), ms in zip(order, timed) if anchor]
        scale = statistics.median(b / m for b, m in zip(anchor_build_ms, now))
        if abs(scale - 1.0) > ANCHOR_WARN:
            warnings.warn(f"{table.where}: {what}: its calibration networks ran {100 * (1 / scale - 1):+.0f}% "
                          f"against the reference compared with when the table was built; the figures are corrected "
                          f"by that, but a change this large suggests the machine or its settings changed: rebuild "
                          f"the table (latency.rebuild=true)", stacklevel=2)
        out = NetTimes([ms * scale for ms in measured], ref, scale, len(anchor_nets), measured)
    if ref is not None:
        monitor.reference(ref.samples)
    report = enforce(monitor.verdict(), allow_busy, what)
    if load is not None:
        load.update(report.as_meta())
    return out
