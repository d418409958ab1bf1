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


@dataclass
class LatencySettings:
    """How a search uses latency (the ``latency`` config section)."""

    target_ms: Optional[float] = None  # None: the method's own default (FBNet: alpha * log(LAT)^beta)
    constraint: str = "soft"  # soft | hard
    penalty: float = 2.0  # FBNet with a target: CE + penalty * relu(LAT / target - 1) (x10 when hard)
    calibrated: bool = True  # use the table's calibration
    measure: bool = True  # time the found archs end to end after the search
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

    def measure(self, archs: Sequence[Arch], entries: Sequence[ArchFigures]) -> List[str]:
        """Time ``archs`` end to end (on the latency table's scale) into their ``entries``' ``measured_ms``
        when ``settings.measure``; returns notes on what could not be timed."""
        from nas import distributed

        if not self.settings.measure or not archs or not distributed.is_main():  # rank 0 times, alone
            return []
        try:
            measured = self.latency.measure(self.space, list(archs), allow_mismatch=self.settings.allow_mismatch,
                                            allow_busy=self.settings.allow_busy)
        except TableElsewhere as err:  # a remote device's table (an agent's, a GPU's): its predictions stand
            return [f"found archs not timed here: the latency table was measured on another target "
                    f"({err.differences}); the latencies above are its predictions, time the archs on that target"]
        except NasError as err:  # e.g. a busy machine
            note = f"found archs not timed: {err}"
            if type(err).__name__ == "BusyMachine":
                print(f"WARNING: {note}", file=sys.stderr)
            return [note]
        for entry, ms in zip(entries, measured):
            entry.measured_ms = float(ms)
        return []

    def log_scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
