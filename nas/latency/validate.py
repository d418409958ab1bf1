"""End-to-end check of a table: time random architectures whole on the device and compare with the
table's raw (plain op sum) and calibrated predictions: MAPE, share within +-10%, Kendall's tau, a
scatter plot (PNG and TensorBoard). The architectures are drawn apart from the calibration's."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nas.io import atomic_save_figure, atomic_write_text  # noqa: E402
from nas.latency.calibrate import sample_archs  # noqa: E402
from nas.latency.measure import ANCHORS, NET_MIN_RUN_TIME, NET_PASSES, measure_archs  # noqa: E402
from nas.latency.metrics import accuracy, format_accuracy  # noqa: E402
from nas.latency.table import LatencyTable  # noqa: E402



@dataclass
class Validation:
    space: str
    seed: int
    fingerprint: Dict
    archs: List[List[int]]
    measured_ms: List[float]
    raw_ms: List[float]
    calibrated_ms: Optional[List[float]]
    raw: Dict[str, float]
    calibrated: Optional[Dict[str, float]]
    seconds: float
    reference_ms: Optional[float] = None  # the reference network's latency when the table was built
    reference_now_ms: Optional[float] = None  # ... and during this validation (machine drift)
    load: Dict = field(default_factory=dict)  # what the contention monitor saw while timing
    anchor_scale: Optional[float] = None  # the anchors' correction in measured_ms (measure_archs)
    anchors: int = 0
    unanchored: Optional[Dict[str, float]] = None  # the table's (calibrated) accuracy without that correction
    unanchored_ms: Optional[List[float]] = None  # measured_ms without it
    files: Dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"validation on {len(self.archs)} random {self.space} archs measured end to end "
                 f"({self.fingerprint.get('device_name')}, {self.fingerprint.get('threads')} threads, "
                 f"batch {self.fingerprint.get('batch_size')}, {self.fingerprint.get('runtime', 'eager')} "
                 f"{self.fingerprint.get('dtype')}; "
                 f"{self.seconds:.1f} s)"]
        if self.reference_ms:
            lines.append(f"timed against the table's reference network: {self.reference_ms:.3f} ms at build, "
                         f"{self.reference_now_ms:.3f} ms now (latencies are on the build's scale)")
        if self.load:
            lines.append(f"load: average {self.load.get('loadavg_before')} before, run-queue wait "
                         f"{self.load.get('wait_share')}, CPU share {self.load.get('cpu_share')}, other processes "
                         f"{self.load.get('others_timing')} cores"
                         + (" (BUSY: figures unreliable)" if self.load.get("busy") else ""))
        if self.anchors:
            lines.append(f"anchors: {self.anchors} calibration networks timed among them; latencies multiplied by "
                         f"{self.anchor_scale:.4f}"
                         + (f" (the table without the correction: {self.unanchored['within']:.0f}% within +-10%, "
                            f"Kendall tau {self.unanchored['kendall_tau']:.3f}, MAPE {self.unanchored['mape']:.2f}%)"
                            if self.unanchored else ""))
        lines.append(format_accuracy("raw op sum", self.raw))
        if self.calibrated:
            lines.append(format_accuracy("calibrated", self.calibrated))
        return "\n".join(lines)


def validate_table(table: LatencyTable, space, n: int = 100, seed: int = 0, *, allow_mismatch: bool = False,
                   passes: int = NET_PASSES, min_run_time: float = NET_MIN_RUN_TIME, progress: bool = True,
                   allow_busy: Optional[bool] = None, anchors: int = ANCHORS) -> Validation:
    """Time ``n`` random archs of ``space`` (none used by the calibration) with :func:`measure_archs`."""
    exclude = []
    if table.calibration and table.calibration.space == space.name:
        exclude = [space.decode(a) for a in table.calibration.archs]
    archs = sample_archs(space, n, "validate", seed, exclude)
    t0 = time.perf_counter()
    load: dict = {}
    timed = measure_archs(table, space, archs, allow_mismatch=allow_mismatch, passes=passes,
                          min_run_time=min_run_time, progress=progress, allow_busy=allow_busy, load=load,
                          anchors=anchors)
    measured, ref = timed.ms, timed.reference
    seconds = time.perf_counter() - t0
    raw = table.predict_many(space, archs, calibrated=False)
    cal = table.predict_many(space, archs, calibrated=True) if table.calibration else None
    return Validation(space.name, seed, dict(table.fingerprint), [space.encode(a) for a in archs], list(measured),
                      raw.tolist(), None if cal is None else cal.tolist(), accuracy(raw, measured),
                      None if cal is None else accuracy(cal, measured), seconds,
                      None if ref is None else ref.ms, None if ref is None else ref.measured_ms, load=load,
                      anchor_scale=timed.anchor_scale, anchors=timed.anchors,
                      unanchored=None if timed.unanchored_ms is None else
                      accuracy(raw if cal is None else cal, timed.unanchored_ms), unanchored_ms=timed.unanchored_ms)


def scatter_figure(v: Validation):
    """Predicted vs measured latency, raw and calibrated, with the +-10% band."""
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    ax.scatter(v.measured_ms, v.raw_ms, s=14, c="0.6", marker="o",
               label=f"op sum: {v.raw['within']:.0f}% within 10%, tau {v.raw['kendall_tau']:.2f}")
    if v.calibrated_ms is not None:
        ax.scatter(v.measured_ms, v.calibrated_ms, s=14, c="tab:blue", marker="x",
                   label=f"calibrated: {v.calibrated['within']:.0f}% within 10%, tau "
                         f"{v.calibrated['kendall_tau']:.2f}")
    values = v.measured_ms + v.raw_ms + (v.calibrated_ms or [])
    lo, hi = min(values) * 0.9, max(values) * 1.1
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    for f in (0.9, 1.1):
        ax.plot([lo, hi], [lo * f, hi * f], "k--", lw=0.6)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)", ylabel="predicted latency (ms)",
           title=f"{v.space}: {len(v.archs)} archs, {v.fingerprint.get('device')} "
                 f"{v.fingerprint.get('threads')} thr, batch {v.fingerprint.get('batch_size')}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def write_report(v: Validation, out_dir: str | os.PathLike) -> Dict[str, str]:
    """``validation.json``, ``validation.png`` and TensorBoard events (``tb/``) under ``out_dir``."""
    from torch.utils.tensorboard import SummaryWriter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = scatter_figure(v)
    png = atomic_save_figure(fig, out / "validation.png", dpi=120)
    with SummaryWriter(str(out / "tb")) as writer:
        writer.add_figure("latency/validation_scatter", fig)
        for name, acc in (("raw", v.raw), ("calibrated", v.calibrated)):
            for k, val in (acc or {}).items():
                writer.add_scalar(f"latency/{name}/{k}", val)
    plt.close(fig)
    v.files = {"json": str(out / "validation.json"), "png": str(png), "tensorboard": str(out / "tb")}
    atomic_write_text(out / "validation.json", json.dumps(asdict(v), indent=1) + "\n")
    return v.files
