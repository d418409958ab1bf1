"""The latency lookup table (LUT): per (op config, input shape) latency on one device, a fingerprint of
that device, and an optional calibration fitted on whole networks measured there.

Prediction is additive, as in FBNet (Wu et al. 2019, Eq. 6) and MNASNet's LUT use: an architecture's
latency is the sum of its ops' entries (stem, body, head) plus ``const_ms``. The calibration keeps it
additive: each op costs ``coef . features(op)`` (its latency, one per-op overhead, its weights and
boundary activations in millions: memory traffic) plus one intercept,
so ``cost_vectors`` stays exact and FBNet's expected latency stays linear in the op probabilities.

The JSON format is documented in ``docs/latency_tables.md``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from nas.io import atomic_write_text
from nas.latency.errors import LatencyTableError, TableElsewhere
from nas.latency.fingerprint import FIELDS, differences
from nas.latency.measure import ANCHORS, measure_archs
from nas.latency.ops import arch_uses, describe, op_key, space_uses
from nas.space.base import OpUse

FORMAT, VERSION = "nas-latency-table", 1
FEATURES = ("ms", "ops", "params_m", "act_m")


@dataclass
class Entry:
    """One op at one shape: median latency (ms) and what the calibration needs to know of it."""

    ms: float
    params: Optional[int] = None  # weights (elements)
    act: Optional[int] = None  # input + output activations (elements, batch included)
    runs: Optional[int] = None  # timed runs behind the figure
    iqr_ms: Optional[float] = None

    def features(self, names: Sequence[str], key: str) -> np.ndarray:
        out = []
        for n in names:
            if n == "ms":
                out.append(self.ms)
            elif n == "ops":
                out.append(1.0)
            else:
                v = self.params if n == "params_m" else self.act
                if v is None:
                    raise LatencyTableError(f"entry '{key}': the calibration uses {n}, but the entry has no "
                                            f"{'params' if n == 'params_m' else 'act'} count")
                out.append(v / 1e6)
        return np.asarray(out, dtype=float)


@dataclass
class Calibration:
    """``latency = intercept_ms + sum over ops of coef . features(op)`` (+ ``coef['ms'] * const_ms``)."""

    features: List[str]
    coef: List[float]
    intercept_ms: float
    model: str = "custom"  # identity | scale | affine | overhead | memory (see nas.latency.calibrate)
    n_archs: int = 0
    loo_mape: Optional[float] = None  # leave-one-out MAPE (%) of this fit on its archs
    raw_mape: Optional[float] = None  # MAPE (%) of the plain op sum on the same archs
    space: Optional[str] = None
    archs: List[List[int]] = field(default_factory=list)  # encodings of the measured archs
    measured_ms: List[float] = field(default_factory=list)

    def cost(self, entry: Entry, key: str) -> float:
        return float(np.dot(self.coef, entry.features(self.features, key)))

    @property
    def ms_coef(self) -> float:
        return self.coef[self.features.index("ms")] if "ms" in self.features else 0.0


class LatencyTable:
    """Entries keyed by :func:`nas.latency.ops.op_key`, a fingerprint, ``const_ms`` and a calibration.

    ``const_covers`` lists the parts of a network (``stem``, ``head``) that ``const_ms`` stands for
    (tables brought from elsewhere often give one constant for both); those parts are not looked up.
    """

    def __init__(self, fingerprint: Dict[str, Any], entries: Optional[Dict[str, Entry]] = None, *,
                 const_ms: float = 0.0, const_covers: Sequence[str] = (), calibration: Optional[Calibration] = None,
                 meta: Optional[Dict[str, Any]] = None, path: Optional[Path] = None):
        self.fingerprint = dict(fingerprint)
        self.entries: Dict[str, Entry] = dict(entries or {})
        self.const_ms = float(const_ms)
        self.const_covers = list(const_covers)
        self.calibration = calibration
        self.meta = dict(meta or {})
        self.path = Path(path) if path else None

    def __repr__(self) -> str:
        fp = self.fingerprint
        return (f"LatencyTable({len(self.entries)} entries, {fp.get('device')} {fp.get('device_name')!r}, "
                f"threads={fp.get('threads')}, {fp.get('dtype')}, batch {fp.get('batch_size')}, "
                f"calibrated={self.calibration is not None})")

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "latency table"

    # --- lookups -----------------------------------------------------------------------------
    def entry(self, use: OpUse) -> Entry:
        key = op_key(use)
        try:
            return self.entries[key]
        except KeyError:
            raise LatencyTableError(f"{self.where}: no entry for {describe(use)}; measure it (build the table for "
                                    f"this space) or add it") from None

    def cost(self, use: OpUse, calibrated: bool = True) -> float:
        e = self.entry(use)
        if calibrated and self.calibration is not None:
            return self.calibration.cost(e, op_key(use))
        return e.ms

    def const(self, calibrated: bool = True) -> float:
        if calibrated and self.calibration is not None:
            return self.calibration.intercept_ms + self.calibration.ms_coef * self.const_ms
        return self.const_ms

    def uses(self, space, arch) -> List[OpUse]:
        """The ops of ``arch`` this table looks up (parts in ``const_covers`` left out)."""
        return [u for u in arch_uses(space, arch) if u.config["block"] not in self.const_covers]

    def missing(self, space) -> List[OpUse]:
        """Ops some architecture of ``space`` runs that the table has no entry for."""
        return [u for u in space_uses(space) if u.config["block"] not in self.const_covers
                and op_key(u) not in self.entries]

    # --- predictions -------------------------------------------------------------------------
    def predict(self, space, arch, calibrated: bool = True) -> float:
        """Predicted latency (ms) of ``arch``; ``calibrated=False`` (or no calibration): the plain op sum."""
        return self.const(calibrated) + sum(self.cost(u, calibrated) for u in self.uses(space, arch))

    def predict_many(self, space, archs: Sequence, calibrated: bool = True) -> np.ndarray:
        return np.array([self.predict(space, a, calibrated) for a in archs], dtype=float)

    def features(self, space, arch, names: Sequence[str]) -> np.ndarray:
        """Sum over the ops of ``arch`` of their calibration features (``ms`` includes ``const_ms``)."""
        total = sum((self.entry(u).features(names, op_key(u)) for u in self.uses(space, arch)),
                    np.zeros(len(names)))
        if "ms" in names:
            total[list(names).index("ms")] += self.const_ms
        return total

    def _costs(self, calibrated: bool):
        """The cost of an op use, 0 for the parts ``const_ms`` stands for."""
        return lambda u: 0.0 if u.config["block"] in self.const_covers else self.cost(u, calibrated)

    def cost_vectors(self, space, calibrated: bool = True) -> Tuple[float, Dict[str, List[float]]]:
        """For a space whose latency adds up per decision (``space.additive_ops()``, e.g. layer-wise):
        ``(const_ms, {decision label: [cost of each choice, in choice order]})`` so that
        ``latency(arch) = const_ms + sum_l cost[l][choice_l]`` exactly (FBNet's expected latency
        ``sum_l p_l . c_l + const`` is then linear in the op probabilities)."""
        additive = space.additive_ops()
        if additive is None:
            raise LatencyTableError(f"cost_vectors: the latency of space '{space.name}' does not add up per "
                                    f"decision (its ops and shapes depend on several); use predict() or bounds()")
        fixed, per_choice = additive
        cost = self._costs(calibrated)
        vectors = {label: [sum(cost(u) for u in ops) for ops in choices] for label, choices in per_choice.items()}
        return self.const(calibrated) + sum(cost(u) for u in fixed), vectors

    def bounds(self, space, calibrated: bool = True) -> Tuple[float, float]:
        """``(min_ms, max_ms)`` of the predicted latency over every architecture of ``space`` (exact)."""
        lo, hi = space.latency_bounds(self._costs(calibrated))
        const = self.const(calibrated)
        return const + lo, const + hi

    def measure(self, space, archs: Sequence, allow_mismatch: bool = False, allow_busy: bool = False,
                anchors: int = ANCHORS) -> List[float]:
        """End-to-end latencies (ms) of ``archs`` timed here the way this table's entries were (its
        settings, against its reference network: on the table's scale; an error for a table measured
        on another target unless ``allow_mismatch``; corrected by its calibration networks timed beside
        them, ``anchors`` of them, see :func:`nas.latency.measure.measure_archs`)."""
        return measure_archs(self, space, archs, allow_mismatch=allow_mismatch, allow_busy=allow_busy,
                             anchors=anchors).ms

    # --- fingerprint -------------------------------------------------------------------------
    def check_fingerprint(self, expected: Mapping[str, Any], allow_mismatch: bool = False) -> Dict[str, tuple]:
        """Raise unless the table was measured on ``expected`` (fields with value ``None`` and ``date`` are
        not compared). ``allow_mismatch``: warn instead. Returns ``{field: (table's, expected)}``."""
        diffs = differences(self.fingerprint, dict(expected))
        if diffs:
            text = "; ".join(f"{k}: table has {a!r}, target is {b!r}" for k, (a, b) in diffs.items())
            if not allow_mismatch:
                raise TableElsewhere(f"{self.where}: fingerprint differs from the target ({text}); use a table "
                                     f"measured on the target, rebuild it, or allow the mismatch explicitly "
                                     f"(allow_mismatch=True)", text)
            warnings.warn(f"{self.where}: using a table measured elsewhere ({text})", stacklevel=2)
        return diffs

    # --- files -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        entries = {k: {f: v for f, v in asdict(e).items() if v is not None} for k, e in sorted(self.entries.items())}
        return {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint, "meta": self.meta,
                "const_ms": self.const_ms, "const_covers": self.const_covers,
                "calibration": asdict(self.calibration) if self.calibration else None, "entries": entries}

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + rename): a crash never leaves half a table."""
        path = atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        self.path = path
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "latency table") -> "LatencyTable":
        def fail(key: str, expected: str, got: Any = ...) -> LatencyTableError:
            msg = f"{source}: {key}: expected {expected}"
            return LatencyTableError(msg + (f", got {got!r}" if got is not ... else ""))

        if not isinstance(data, dict):
            raise fail("<top level>", "a JSON object", type(data).__name__)
        if data.get("format") != FORMAT:
            raise fail("format", f"{FORMAT!r}", data.get("format"))
        if data.get("version") != VERSION:
            raise fail("version", str(VERSION), data.get("version"))
        unknown = set(data) - {"format", "version", "fingerprint", "meta", "const_ms", "const_covers", "calibration",
                               "entries"}
        if unknown:
            raise fail(sorted(unknown)[0], "only the documented top-level keys (see docs/latency_tables.md)")
        fp = data.get("fingerprint")
        if not isinstance(fp, dict):
            raise fail("fingerprint", f"an object with {', '.join(FIELDS)}", fp)
        for k in FIELDS:
            if k not in fp:
                raise fail(f"fingerprint.{k}", "a value (null if unknown)")
        const = data.get("const_ms", 0.0)
        if not _finite(const) or const < 0:
            raise fail("const_ms", "a finite number >= 0", const)
        covers = data.get("const_covers", [])
        if not isinstance(covers, list) or not set(covers) <= {"stem", "head"}:
            raise fail("const_covers", "a list of parts from stem, head", covers)
        raw = data.get("entries")
        if not isinstance(raw, dict):
            raise fail("entries", "an object {key: ms or {ms: ...}}", type(raw).__name__)
        entries = {}
        relative = bool(covers)  # costs relative to a reference op (const_ms covers the rest): may be < 0
        for k, v in raw.items():
            v = {"ms": v} if _finite(v) else v
            if not isinstance(v, dict) or not _finite(v.get("ms")) or (v["ms"] < 0 and not relative):
                raise fail(f"entries['{k}']", "a finite number of ms (>= 0 unless const_covers makes the entries "
                           "relative costs) or an object with such an 'ms'", v)
            extra = set(v) - {"ms", "params", "act", "runs", "iqr_ms"}
            if extra:
                raise fail(f"entries['{k}'].{sorted(extra)[0]}", "only ms, params, act, runs, iqr_ms")
            entries[k] = Entry(**v)
        cal = data.get("calibration")
        if cal is not None:
            try:
                cal = Calibration(**cal)
            except TypeError as err:
                raise fail("calibration", f"the documented calibration object ({err})") from None
            if len(cal.coef) != len(cal.features) or not set(cal.features) <= set(FEATURES):
                raise fail("calibration.features", f"names from {', '.join(FEATURES)}, one coef each", cal.features)
        meta = data.get("meta") or {}
        if not isinstance(meta, dict):
            raise fail("meta", "an object", meta)
        return cls(fp, entries, const_ms=const, const_covers=covers, calibration=cal, meta=meta)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_table(path: str | os.PathLike) -> LatencyTable:
    """Read and check a table file; any problem is one :class:`LatencyTableError` naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise LatencyTableError(f"{path}: expected an existing latency table file (JSON)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LatencyTableError(f"{path}: expected a JSON latency table, the file is corrupt ({err})") from None
    table = LatencyTable.from_dict(data, str(path))
    table.path = path
    return table
