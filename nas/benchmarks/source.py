"""A tabular benchmark's measured latencies as a search's latency source (``latency.table=benchmark
latency.device=<device>``): the interface a :class:`~nas.strategies.job.SearchJob` uses of a latency
table (``predict``, ``bounds``, ``cost_vectors``, ``measure``, ``save``, ``fingerprint``).

- ``predict`` looks the arch's latency up in the file (exact, microseconds; ``calibrated`` changes
  nothing: these are measurements, not op sums);
- ``bounds`` are the file's smallest and largest latency on the device (exact);
- ``cost_vectors`` is an *additive model fitted* to the measurements: the file's latencies are whole
  networks timed on the device and do not add up per edge, so ``const + sum_l cost[l][op_l]`` is the
  least-squares fit over all 15,625 archs (a ``none`` edge costs 0; the fit's R^2 and error are in
  :attr:`fit` and in the saved description). FBNet's expected latency needs it for a target on a
  benchmark device; every other method uses the exact ``predict``;
- ``measure`` cannot time anything here: it raises a :class:`BenchmarkError` (the job turns it into a
  note of the summary);
- ``save`` writes a small JSON description of the source into the run dir (file, device, bounds, the
  fit), not a copy of the data.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from nas.benchmarks.errors import BenchmarkError
from nas.benchmarks.nb201 import EDGES, OPS, code_numbers, load_bench
from nas.benchmarks.truth import AdditiveFit, additive_fit

FORMAT = "nas-latency-source"


class BenchmarkLatency:
    """Measured latencies of every arch of a benchmark's space on one of its devices."""

    name = "benchmark"
    measurable = False  # latencies measured on another device: nothing can be timed here

    def __init__(self, device: Optional[str], path: Optional[str | os.PathLike] = None):
        self.bench = load_bench(path)
        devices = self.bench.devices()
        if device not in devices:
            raise BenchmarkError(str(self.bench.path), "latency.device", f"one of the file's {len(devices)} devices "
                                 f"({', '.join(devices)})", device)
        self.device = device
        self.path = self.bench.path
        self.latencies = self.bench.by_code(self.bench.latency(device))  # by code number
        self.fingerprint: Dict[str, Any] = {
            "device": device, "device_name": f"{device} (measured by the benchmark's authors, {self.path.name})",
            "threads": None, "torch": None, "dtype": None, "batch_size": 1, "resolution": None, "date": None}
        self._fit: Optional[Tuple[float, List[List[float]], AdditiveFit]] = None

    @classmethod
    def from_config(cls, cfg: Any, space: Any) -> "BenchmarkLatency":
        """From a search config: ``latency.device`` and the ``benchmark`` section's ``path``."""
        bench = cfg.get("benchmark") or {}
        source = cls(cfg.latency.device, bench.get("path"))
        source.bench.check_space(space)
        return source

    def __repr__(self) -> str:
        return f"BenchmarkLatency({self.device!r}, {str(self.path)!r})"

    # --- lookups ---------------------------------------------------------------------------------
    def number(self, space: Any, arch: Any) -> int:
        """The code number of ``arch`` (its row in :attr:`latencies`)."""
        return int(code_numbers(np.asarray(space.encode(arch), dtype=np.int64)))

    def predict(self, space: Any, arch: Any, calibrated: bool = True) -> float:
        """The measured latency (ms) of ``arch`` on the device."""
        return float(self.latencies[self.number(space, arch)])

    def predict_many(self, space: Any, archs: Sequence, calibrated: bool = True) -> np.ndarray:
        return np.array([self.predict(space, a) for a in archs], dtype=float)

    def bounds(self, space: Any, calibrated: bool = True) -> Tuple[float, float]:
        """The smallest and largest latency of the file on the device (exact)."""
        return float(self.latencies.min()), float(self.latencies.max())

    @property
    def fit(self) -> Tuple[float, List[List[float]], AdditiveFit]:
        """The additive per-edge-op model ``(const, costs[edge][op], fit)``, least squares over all archs."""
        if self._fit is None:
            from nas.benchmarks.truth import all_codes

            self._fit = additive_fit(all_codes([len(OPS)] * len(EDGES)), self.latencies, [len(OPS)] * len(EDGES),
                                     zero=[OPS.index("none")] * len(EDGES))
        return self._fit

    def cost_vectors(self, space: Any, calibrated: bool = True) -> Tuple[float, Dict[str, List[float]]]:
        """``(const_ms, {edge: [cost of each op]})`` of the fitted additive model (see the module
        docstring: the measurements do not add up, this is their least-squares additive fit)."""
        self.bench.check_space(space)
        const, costs, _ = self.fit
        return const, {d.label: list(c) for d, c in zip(space.decisions, costs)}

    def measure(self, space: Any, archs: Sequence, allow_mismatch: bool = False,
                allow_busy: bool = False, anchors: int = 0) -> List[float]:
        raise BenchmarkError(f"{self.path}: lat_{self.device}: these latencies were measured on {self.device} by "
                             f"the benchmark's authors and cannot be timed here (the search used them as they are)")

    # --- files -----------------------------------------------------------------------------------
    def describe(self) -> Dict[str, Any]:
        const, costs, fit = self.fit
        lo, hi = float(self.latencies.min()), float(self.latencies.max())
        return {"format": FORMAT, "source": self.name, "file": str(self.path), "sha1": _sha1(self.path),
                "device": self.device, "fingerprint": self.fingerprint, "bounds_ms": [lo, hi],
                "note": "latencies of whole networks measured on the device by the benchmark's authors, looked up "
                        "per arch; nothing was timed here. cost_vectors (FBNet's expected latency) use the additive "
                        "fit below, not the measurements",
                "additive_fit": {"const_ms": const, "costs_ms": {e: c for e, c in zip(EDGES, costs)}, "ops": list(OPS),
                                 "r2": fit.r2, "mape_pct": fit.mape, "max_abs_error_ms": fit.max_abs_ms,
                                 "archs": fit.n}}

    def save(self, path: str | os.PathLike):
        from nas.io import write_json

        return write_json(path, self.describe())


def _sha1(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
