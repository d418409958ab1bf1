"""Is the machine busy? A contention monitor for everything that times ops and networks.

On a shared machine other jobs take the timing thread's core away for part of each block: entries
come out inflated by a random share, and a table built so is wrong without saying so (a first try on
a 2-core machine at load average 6 gave a calibrated MAPE of 38% and Kendall tau 0.02). Three
signals, each cheap:

- load: ``os.getloadavg()`` against the cores left once this job's threads run (read before timing,
  when this job does not yet count, and after). The load average cannot tell whose threads it counts:
  this job's own training a minute ago, its runtime's worker threads, the ``pip install`` just before.
  So a load that says busy is confirmed by what it is meant to detect, the CPU other processes use now
  (:func:`cpu_of_others`, ``/proc/stat`` minus this process over one second): a main job waited two
  minutes after its own supernet training, and an OpenVINO build 120 s for its own worker threads, on
  a machine nothing else used;
- CPU time against wall time while timing: a timing loop runs all the time, so its process gets
  about ``threads`` seconds of CPU per second of wall time unless it waits for a core; on Linux the
  run-queue wait of this process's threads (``/proc/self/task/*/schedstat``) says the same directly;
- other processes' CPU use while timing (``/proc/stat`` minus this process): a job on the cores the
  timing threads leave free takes no core from them, but shares the caches and memory bandwidth. It
  caught what the other signals missed: OpenVINO's ``convert_model`` forked copies of this process to
  send telemetry, each ~50% of the second core, while the next networks were timed (now avoided:
  ``nas.runtimes.ov``);
- the spread of the reference network's blocks (the interquartile range of each block's ratio to
  the one before, over their median): on a quiet machine a few percent.

A monitor gathers them over a build (``observe`` around each timed item, ``reference`` at the end)
and ``verdict`` tells if they say *busy*; :func:`wait_for_quiet` polls the load before a build.
Policy (``allow_busy``): refuse with one line, or, when allowed, warn loudly and record; the table
keeps the observed figures in ``meta.load`` either way.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from nas.latency.errors import LatencyTableError

MAX_WAIT_SHARE = 0.10  # run-queue wait over wall time above this: another job took the core
MIN_CPU_SHARE = 0.80  # CPU time over (wall time x threads) below this, one thread: descheduled
MAX_REF_SPREAD = 0.15  # reference blocks' IQR / median above this
MAX_OTHERS_SHARE = 0.5  # other processes using more than this share of the cores left free while timing
LOAD_SLACK = 0.5  # load average may exceed the cores left for others by this much


_OWN = {"until": None, "threads": 0.0}  # when this process last timed, with how many busy threads


def own_load(now: Optional[float] = None) -> float:
    """What this process's own timing still adds to the 1-minute load average (it decays as e^(-t/60)):
    a bench that builds one table after another must not read its own past work as another job's."""
    if _OWN["until"] is None:
        return 0.0
    now = time.monotonic() if now is None else now
    return _OWN["threads"] * math.exp(-max(0.0, now - _OWN["until"]) / 60.0)


def machine_busy_seconds() -> Optional[float]:
    """CPU seconds every process has used since boot (Linux ``/proc/stat``), or ``None`` elsewhere."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError, IndexError):
        return None
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def cpu_of_others(window: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> Optional[float]:
    """Cores' worth of CPU time used by every process but this one over the next ``window`` seconds
    (Linux ``/proc/stat`` against this process's CPU time, all its threads), or ``None`` elsewhere."""
    b0, c0, t0 = machine_busy_seconds(), time.process_time(), time.monotonic()
    sleep(window)
    b1, c1, t1 = machine_busy_seconds(), time.process_time(), time.monotonic()
    if b0 is None or b1 is None:
        return None
    return max(0.0, (b1 - b0) - (c1 - c0)) / max(t1 - t0, 1e-3)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_queue_wait() -> Optional[float]:
    """Seconds this process's threads have waited for a core (Linux schedstat), or ``None``."""
    total = 0.0
    try:
        for task in Path("/proc/self/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    return total


class BusyMachine(LatencyTableError):
    """Timing on a machine other jobs keep busy (the message says what was seen and how to force it)."""


@dataclass
class LoadReport:
    threads: int
    cores: int
    loadavg_before: Optional[float] = None
    loadavg_after: Optional[float] = None
    others_cpu: Optional[float] = None  # cores other processes used before timing (read when the load said busy)
    cpu_share: Optional[float] = None  # CPU time / (wall time x threads) while timing
    wait_share: Optional[float] = None  # run-queue wait / wall time while timing
    others_timing: Optional[float] = None  # cores' worth of CPU other processes used while timing
    reference_spread: Optional[float] = None  # IQR / median of the reference's blocks
    timed_seconds: float = 0.0
    busy: bool = False
    reasons: List[str] = field(default_factory=list)
    allowed: bool = False

    def as_meta(self) -> Dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class Contention:
    """Gathers the signals while timing. ``loadavg``, ``others``, ``clock``, ``cpu`` and ``wait`` can be
    replaced (tests inject readings; an injected ``loadavg`` without ``others`` is taken as the whole
    truth: no reading of the real machine's CPU use confirms or overrules it, before or while timing)."""

    def __init__(self, threads: int, *, loadavg: Optional[Callable[[], Tuple[float, float, float]]] = None,
                 cpu: Callable[[], float] = time.process_time, wait: Callable[[], Optional[float]] = run_queue_wait,
                 clock: Callable[[], float] = time.perf_counter, n_cores: Optional[int] = None,
                 others: Optional[Callable[[], Optional[float]]] = None,
                 machine: Optional[Callable[[], Optional[float]]] = None):
        self.threads, self.cpu, self.wait, self.clock = threads, cpu, wait, clock
        self.loadavg = loadavg or (lambda: os.getloadavg())
        self.others = others or ((lambda: None) if loadavg else (lambda: cpu_of_others()))
        self.machine = machine or ((lambda: None) if loadavg else machine_busy_seconds)
        self.cores = n_cores or cores()
        self.report = LoadReport(threads, self.cores, loadavg_before=self._load())
        self.own_before = own_load()
        self.busy_before = self.busy_load(self.report.loadavg_before, running=False, own=self.own_before)
        self.wall = self.cpu_time = self.waited = self.machine_time = 0.0
        self.has_wait = self.has_machine = True

    def restart(self) -> None:
        """Read the load "before timing" again (after waiting for a quiet window: the load read when the
        monitor was made is then stale, and a wait that ended quiet must not be judged by it)."""
        self.report.loadavg_before = self._load()
        self.own_before = own_load()
        self.report.others_cpu = None
        self.busy_before = self.busy_load(self.report.loadavg_before, running=False, own=self.own_before)

    def _load(self) -> Optional[float]:
        try:
            return float(self.loadavg()[0])
        except OSError:
            return None

    def busy_load(self, load: Optional[float], running: bool, own: Optional[float] = None) -> bool:
        """Load average above what the cores left for others allow (``running``: this job's threads
        are part of it; else what this process's earlier timing still adds, ``own``, is discounted) and,
        before timing, other processes' CPU use now above it too (:func:`cpu_of_others`; read only when
        the load says busy, recorded as ``others_cpu``)."""
        if load is None:
            return False
        if not running:
            load -= own_load() if own is None else own
        room = self.cores - (0 if running else self.threads) + LOAD_SLACK
        if load <= room:
            return False
        if running:
            return True
        others = self.others()
        self.report.others_cpu = others
        return others is None or others > room

    @contextmanager
    def observe(self) -> Iterator[None]:
        """Around one timed item: adds its wall time, CPU time, run-queue wait and the machine's CPU time."""
        w0, c0, q0, m0 = self.clock(), self.cpu(), self.wait(), self.machine()
        try:
            yield
        finally:
            w1, c1, q1, m1 = self.clock(), self.cpu(), self.wait(), self.machine()
            self.wall += w1 - w0
            self.cpu_time += c1 - c0
            if q0 is None or q1 is None:
                self.has_wait = False
            else:
                self.waited += q1 - q0
            if m0 is None or m1 is None:
                self.has_machine = False
            else:
                self.machine_time += m1 - m0

    def reference(self, samples: Sequence[float]) -> None:
        """The reference's blocks, in order: the spread of each one's ratio to the one before (slow
        drift of the machine's speed cancels; jitter from other jobs does not)."""
        steps = [b / a for a, b in zip(samples, samples[1:]) if a > 0]
        if len(steps) >= 4:
            q = statistics.quantiles(steps, n=4)
            self.report.reference_spread = (q[2] - q[0]) / statistics.median(steps)

    def verdict(self) -> LoadReport:
        r = self.report
        r.loadavg_after = self._load()
        r.timed_seconds = round(self.wall, 3)
        if self.wall > 0:
            _OWN.update(until=time.monotonic(), threads=float(self.threads))
        r.reasons = []
        if self.wall > 0:
            r.cpu_share = self.cpu_time / (self.wall * self.threads)
            r.wait_share = self.waited / self.wall if self.has_wait else None
            if self.has_machine:
                r.others_timing = max(0.0, self.machine_time - self.cpu_time) / self.wall
        if self.busy_before:
            r.reasons.append(f"load average {r.loadavg_before:.2f} before timing on {self.cores} cores "
                             f"({self.threads} thread(s) needed){_others_text(r.others_cpu)}")
        if r.wait_share is not None and r.wait_share > MAX_WAIT_SHARE:
            r.reasons.append(f"timing threads waited for a core {r.wait_share:.0%} of the time")
        elif r.wait_share is None and self.threads == 1 and r.cpu_share is not None and r.cpu_share < MIN_CPU_SHARE:
            r.reasons.append(f"CPU time only {r.cpu_share:.0%} of wall time while timing")
        free = max(self.cores - self.threads, 1)
        if r.others_timing is not None and r.others_timing > MAX_OTHERS_SHARE * free:
            r.reasons.append(f"other processes used {r.others_timing:.1f} of the {free} core(s) left free while "
                             f"timing")
        if r.reference_spread is not None and r.reference_spread > MAX_REF_SPREAD:
            r.reasons.append(f"the reference network's blocks spread by {r.reference_spread:.0%} (IQR/median)")
        r.busy = bool(r.reasons)
        return r


def _others_text(others: Optional[float]) -> str:
    return "" if others is None else f", other processes using {others:.1f} cores"


ENV_ALLOW = "NAS_ALLOW_BUSY"


def resolve_allow(allow_busy: Optional[bool]) -> bool:
    """``allow_busy``, or the environment's ``NAS_ALLOW_BUSY`` (1/true/yes) forcing it everywhere (the
    test suite sets it: its toy timings are not figures)."""
    return bool(allow_busy) or os.environ.get(ENV_ALLOW, "").strip().lower() in ("1", "true", "yes")


def enforce(report: LoadReport, allow_busy: Optional[bool], what: str) -> LoadReport:
    """Refuse (one line) when ``report`` says busy, or, with ``allow_busy``, warn loudly."""
    allow_busy = resolve_allow(allow_busy)
    if not report.busy:
        return report
    why = "; ".join(report.reasons)
    if not allow_busy:
        raise BusyMachine(f"{what}: the machine is busy ({why}); timings would be wrong. Run it when the machine "
                          f"is quiet, or force it with allow_busy=true (latency.allow_busy=true in a search)")
    report.allowed = True
    msg = f"WARNING: {what} on a busy machine ({why}); latencies are unreliable (allow_busy=true)"
    warnings.warn(msg, stacklevel=2)
    print(f"\n{'!' * 8} {msg}", file=sys.stderr)
    return report


def wait_for_quiet(threads: int, seconds: float, allow_busy: Optional[bool], what: str,
                   loadavg: Optional[Callable[[], Tuple[float, float, float]]] = None,
                   poll: float = 5.0, sleep: Callable[[float], None] = time.sleep,
                   others: Optional[Callable[[], Optional[float]]] = None) -> Optional[float]:
    """Before timing: wait up to ``seconds`` for the load average (confirmed by other processes' CPU use,
    see :meth:`Contention.busy_load`) to leave room for ``threads``; then refuse (or warn,
    ``allow_busy``). Returns the last load average read."""
    mon = Contention(threads, loadavg=loadavg, others=others)
    if resolve_allow(allow_busy):
        seconds = 0.0  # forced: no waiting (the build's own checks still warn and record)
    deadline = time.monotonic() + seconds
    load = mon.report.loadavg_before
    busy = mon.busy_before
    while busy and time.monotonic() < deadline:
        print(f"{what}: load average {load:.2f} on {mon.cores} cores{_others_text(mon.report.others_cpu)}; "
              f"waiting for a quieter window (up to {seconds:.0f} s)", file=sys.stderr)
        sleep(min(poll, max(0.0, deadline - time.monotonic())))
        load = mon._load()
        busy = mon.busy_load(load, running=False)
    if busy and not resolve_allow(allow_busy):
        r = LoadReport(threads, mon.cores, loadavg_before=load, others_cpu=mon.report.others_cpu, busy=True,
                       reasons=[f"load average {load:.2f} on {mon.cores} cores ({threads} thread(s) needed)"
                                f"{_others_text(mon.report.others_cpu)}"])
        enforce(r, allow_busy, what)
    return load
