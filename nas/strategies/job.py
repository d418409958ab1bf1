"""What every search method is handed by the app, and the figures every method reports alike.

``nas.search`` loads the space, the data and the latency source, and builds a :class:`SearchJob`;
the method's class (registered in ``STRATEGIES``) is built with :meth:`from_config` and runs
``search(job) -> SearchSummary``. The app knows no method by name.

The latency source is a :class:`~nas.latency.LatencyTable` (measured here or brought from a device)
or anything with the same ``predict`` / ``bounds`` / ``cost_vectors`` / ``measure`` / ``save``
(e.g. a benchmark file's measured latencies).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from nas.errors import NasError
from nas.latency.errors import TableElsewhere
from nas.profile import profile
from nas.results import ArchFigures
from nas.space import Arch
from nas.strategies.base import SearchError


MEET_TOLERANCE = 0.05  # SearchJob.meet_target: a found arch within 5% of the target on the device meets it
MEET_AIM = 0.025  # ... and it aims at [1 - MEET_AIM, 1] x the target: re-derives unless the arch measures within it


def _closest(rounds: Sequence[Dict[str, float]], target: float) -> int:
    """Of measured rounds, the one measured closest to the target (the earliest of equals)."""
    return min(range(len(rounds)), key=lambda i: abs(rounds[i]["measured_ms"] / target - 1)) if rounds else 0


def meet_target_notes(rounds: Sequence[Dict[str, float]], target: Optional[float], changed: bool) -> List[str]:
    """One note on :meth:`SearchJob.meet_target`'s rounds (none when it did not run)."""
    if not rounds or not target:
        return []
    steps = [f"{r['measured_ms']:.3f} ms ({100 * (r['measured_ms'] / target - 1):+.1f}%; table {r['predicted_ms']:.3f})"
             + (f" re-derived for a table target of {r['table_target_ms']:.3f} ms" if i else "")
             for i, r in enumerate(rounds)]
    pick = rounds[_closest(rounds, target)]
    verdict = "within" if abs(pick["measured_ms"] / target - 1) <= MEET_TOLERANCE else "not within"
    return [f"found arch timed on the device against the {target:.3f} ms target: " + "; ".join(steps)
            + f" -> {'re-derived arch' if changed else 'the derived arch'} kept, {verdict} "
              f"{100 * MEET_TOLERANCE:.0f}% (latency.meet_target)"]


@dataclass
class LatencySettings:
    """How a search uses latency (the ``latency`` config section)."""

    target_ms: Optional[float] = None  # None: the method's own default (FBNet: alpha * log(LAT)^beta)
    constraint: str = "soft"  # soft | hard
    penalty: float = 2.0  # FBNet with a target: CE + penalty * relu(LAT / target - 1) (x10 when hard)
    calibrated: bool = True  # use the table's calibration
    measure: bool = True  # time the found archs end to end after the search
    meet_target: int = 2  # re-derivations of the found arch on its measured latency (SearchJob.meet_target)
    anchors: int = 8  # calibration networks timed beside found archs (nas.latency.measure.measure_archs)
    allow_mismatch: bool = False  # accept a table measured on another target
    dtype: str = "float32"
    batch_size: int = 1
    runtime: str = "eager"  # the runtime found archs are timed in (the table's)
    allow_busy: bool = False  # time found archs even on a busy machine (nas.latency.contention)


@dataclass
class SearchJob:
    """One search's inputs and where it writes."""

    space: Any
    data: Any  # nas.data.SearchData: weight / arch / val splits
    latency: Any  # a LatencyTable, or anything with its predict / bounds / cost_vectors / measure / save
    out_dir: Path
    settings: LatencySettings = field(default_factory=LatencySettings)
    seed: int = 0
    device: str = "cpu"
    augment: bool = False
    resume: bool = False
    writer: Any = None  # a TensorBoard SummaryWriter (or None)
    # builds the evaluator that scores archs for controllers, given the latency function they use
    make_evaluator: Optional[Callable[[Callable[[Arch], float]], Any]] = None
    evaluator_name: Optional[str] = None
    amp: str = "auto"  # the training loops' autocast (nas.loops.Recipe.amp): bfloat16 on CUDA by default
    # the ``supernet`` config section (nas.supernet.training.SupernetOptions): how supernets are built and
    # trained; FBNet's hard-mode warm-up shares the oneshot evaluator's cached training through it
    supernet: Dict[str, Any] = field(default_factory=dict)

    def predict(self, arch: Arch) -> float:
        return float(self.latency.predict(self.space, arch, calibrated=self.settings.calibrated))

    def bounds(self) -> Tuple[float, float]:
        return self.latency.bounds(self.space, calibrated=self.settings.calibrated)

    def check_target(self, source: str = "latency.target_ms") -> Optional[float]:
        """The latency target, checked to lie inside the space's latency range."""
        target = self.settings.target_ms
        if target is None:
            return None
        lo, hi = self.bounds()
        if not lo <= target <= hi:
            where = f"below the cheapest architecture of space '{self.space.name}' on this latency source " \
                    f"({lo:.3f} ms)" if target < lo else f"above the dearest architecture of space " \
                    f"'{self.space.name}' on this latency source ({hi:.3f} ms): every arch meets it"
            raise SearchError(f"{source}={target} is {where}; the range is {lo:.3f}..{hi:.3f} ms")
        return float(target)

    def figures(self, arch: Arch, arch_file: str, **known: Any) -> ArchFigures:
        """The figures of ``arch`` every method reports: params and MACs (profiled on the meta device),
        the latency the search uses (unless given), and ``known`` (accuracy, reward, ...)."""
        import torch

        if known.get("params_m") is None or known.get("macs_m") is None:
            size = (1, 3, self.space.resolution, self.space.resolution)
            with torch.device("meta"):
                p = profile(self.space.build(arch), size)
            known.update(params_m=p.params / 1e6, macs_m=p.macs / 1e6)
        if known.get("latency_ms") is None:
            known["latency_ms"] = self.predict(arch)
        extra = {k: known.pop(k) for k in list(known) if k not in ArchFigures.__dataclass_fields__}
        return ArchFigures(arch_file=str(arch_file), extra={**known.pop("extra", {}), **extra}, **known)

    def _time(self, archs: Sequence[Arch], warn: bool = True) -> Tuple[Optional[List[float]], List[str]]:
        """``archs`` timed end to end on the latency table's scale, or None and a note on why not."""
        try:
            return self.latency.measure(self.space, list(archs), allow_mismatch=self.settings.allow_mismatch,
                                        allow_busy=self.settings.allow_busy, anchors=self.settings.anchors), []
        except TableElsewhere as err:  # a remote device's table (an agent's, a GPU's): its predictions stand
            return None, [f"found archs not timed here: the latency table was measured on another target "
                          f"({err.differences}); the latencies above are its predictions, time the archs on that "
                          f"target"]
        except NasError as err:  # e.g. a busy machine
            note = f"found archs not timed: {err}"
            if warn and type(err).__name__ == "BusyMachine":
                print(f"WARNING: {note}", file=sys.stderr)
            return None, [note]

    def measure(self, archs: Sequence[Arch], entries: Sequence[ArchFigures]) -> List[str]:
        """Time ``archs`` end to end (on the latency table's scale) into their ``entries``' ``measured_ms``
        when ``settings.measure``; returns notes on what could not be timed."""
        from nas import distributed

        if not self.settings.measure or not archs or not distributed.is_main():  # rank 0 times, alone
            return []
        measured, notes = self._time(archs)
        for entry, ms in zip(entries, measured or []):
            entry.measured_ms = float(ms)
        return notes

    def meet_target(self, arch: Arch,
                    derive_at: Callable[[float, float], Arch]) -> Tuple[Arch, List[Dict[str, float]]]:
        """The found arch checked on the device against the latency target, and re-derived where the table
        was wrong there: ``arch`` is timed end to end; unless it measures within ``MEET_AIM`` below the
        target (or above it by less), ``derive_at(t, 1 - MEET_AIM)`` (the method's most probable arch whose
        table latency lies in [1 - MEET_AIM, 1] x ``t``) is asked again with ``t = target * predicted /
        measured`` (inside the space's range) -- the table's error at this arch taken as its error near it
        -- up to ``settings.meet_target`` times. A table that predicts most nets to within 10% can still
        miss the one arch a search lands on by more than the 5% a target allows (the runtime bench's two
        found archs: 6-7% under their prediction, docs/latency_tables.md); and a search's own window
        ([0.95, 1] x the target) leaves little room for that error.

        Returns the arch measured closest to the target and the rounds (table target, predicted,
        measured); a verdict uses ``MEET_TOLERANCE``. Nothing changes without a target, with
        ``settings.measure`` off, or when the archs cannot be timed here (a remote device's table, a busy
        machine). Rank 0 times; every rank gets its pick."""
        from nas import distributed

        target = self.settings.target_ms
        if not target or not self.settings.measure or self.settings.meet_target < 1:
            return arch, []
        rounds: List[Dict[str, float]] = []
        tried: List[Arch] = []
        if distributed.is_main():
            lo, hi = self.bounds()
            current, table_target = arch, float(target)
            for _ in range(self.settings.meet_target + 1):
                measured, _ = self._time([current], warn=False)
                if measured is None:  # job.measure says why, once, for every arch
                    break
                predicted = self.predict(current)
                tried.append(current)
                rounds.append({"table_target_ms": round(table_target, 4), "predicted_ms": round(predicted, 4),
                               "measured_ms": round(float(measured[0]), 4)})
                table_target = min(max(target * predicted / float(measured[0]), lo), hi)  # inside the space
                if -MEET_AIM <= measured[0] / target - 1 <= MEET_AIM or len(tried) > self.settings.meet_target:
                    break
                current = derive_at(table_target, 1 - MEET_AIM)
                if any(current.choices == a.choices for a in tried):
                    break
        pick = _closest(rounds, target)
        picked = distributed.broadcast_object(tried[pick].choices if tried else None)
        rounds = distributed.broadcast_object(rounds)
        return (self.space.make_arch(picked) if picked is not None else arch), rounds

    def log_scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
