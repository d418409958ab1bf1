"""Writing a report: ``report.md`` (header + table sorted by latency), ``pareto.png``, ``report.json``
and TensorBoard (``tb/``: the figure and the table), every file written atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from nas.io import atomic_save_figure, atomic_write_text, write_json
from nas.report.collect import Row
from nas.report.front import figure, pareto

SESSION = ("re-measured", "measured")  # latency_source of nets timed by nas.report.measure.remeasure
COLUMNS = ("net", "kind", "method", "target (ms)", "accuracy", "accuracy from", "latency (ms)", "latency from",
           "predicted (ms)", "params (M)", "MACs (M)", "Pareto", "source")


def sort_rows(rows: Sequence[Row]) -> List[Row]:
    """Fastest first; rows without a latency last."""
    return sorted(rows, key=lambda r: (r.latency_ms is None, r.latency_ms or 0.0, r.name))


def _f(x: Optional[float], digits: int) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table, fastest first (Pareto: 'yes' on its accuracy kind's front)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in sort_rows(rows):
        mark = {True: "yes", False: "", None: "-"}[r.pareto]
        acc = _f(r.accuracy, 4) + (f" ± {r.accuracy_se:.4f} ({len(r.seeds)} seeds)" if r.accuracy_se else "")
        cells = [r.name, r.kind, r.method, _f(r.target_ms, 2), acc, r.accuracy_kind or "",
                 _f(r.latency_ms, 3), r.latency_from, _f(r.predicted_ms, 3), _f(r.params_m, 3), _f(r.macs_m, 1),
                 mark, r.source]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def latency_note(rows: Sequence[Row]) -> str:
    """What the latency column holds and how it was measured."""
    remeasured = [r for r in rows if r.latency_source in SESSION]
    recorded = [r for r in rows if r.measured_ms is not None and r.latency_source not in SESSION]
    predicted = [r for r in rows if r.measured_ms is None and r.predicted_ms is not None]
    parts = []
    if remeasured:
        s = remeasured[0].latency_setting
        load = f"; load average before: {s['load_before']}" if s.get("load_before") is not None else ""
        parts.append(f"{len(remeasured)} of {len(rows)} nets **timed in one session** by this report "
                     f"({s.get('nets')} distinct nets, round-robin, warm-up pass, {s.get('rounds')} rounds; each "
                     f"net's minimum over rounds of the median of torch.utils.benchmark runs of "
                     f"{s.get('min_run_time')} s): {s.get('device')}, batch {s.get('batch_size')}, "
                     f"{s.get('dtype')}, {s.get('threads')} thread(s), torch {s.get('torch')}{load}; "
                     f"took {s.get('seconds')} s")
    if recorded:
        threads = sorted({str(r.latency_setting.get("threads", "?")) for r in recorded})
        parts.append(f"{len(recorded)} of {len(rows)} nets **as recorded** by their runs (measured at different "
                     f"times, batch 1, thread(s): {', '.join(threads)}; on a shared machine these differ by the "
                     f"machine's drift, use `measure=true` to compare them)")
    if predicted:
        parts.append(f"{len(predicted)} of {len(rows)} nets only **predicted** by their search's latency table "
                     f"(never timed end to end)")
    missing = len(rows) - len(remeasured) - len(recorded) - len(predicted)
    if missing:
        parts.append(f"{missing} net(s) without a latency")
    return "Latency: " + "; ".join(parts) + "." if parts else "Latency: none."


HEADER_NOTES = (
    "Accuracy: `trained (val)` is the final validation accuracy of a `nas.train` run; the other kinds are "
    "the search's own estimate of the found arch (shared weights or a proxy evaluator), not comparable with "
    "trained accuracy. Baselines without a train run have no accuracy (ticks along the bottom of the plot).",
    "Pareto: `yes` marks nets on the accuracy-latency front among nets of the same accuracy kind "
    "(`-`: no accuracy or latency).",
)


def markdown(rows: Sequence[Row], title: str) -> str:
    created = time.strftime("%Y-%m-%d %H:%M:%S")
    return "\n\n".join([f"# {title}", f"{len(rows)} nets, made {created}.", latency_note(rows), *HEADER_NOTES,
                        table(rows)]) + "\n"


def save_figure(fig, path: Path) -> Path:
    """``fig`` as PNG, atomically."""
    return atomic_save_figure(fig, path)


def write_report(rows: Sequence[Row], out: str | os.PathLike, title: str = "accuracy vs latency",
                 tensorboard: bool = True) -> Dict[str, Path]:
    """Mark the Pareto front and write ``report.md``, ``pareto.png``, ``report.json`` and ``tb/`` into
    ``out``; returns the paths by name."""
    out = Path(out)
    rows = sort_rows(rows)
    pareto(rows)
    md = markdown(rows, title)
    paths = {"report.md": atomic_write_text(out / "report.md", md)}
    fig = figure(rows, title)
    try:
        paths["pareto.png"] = save_figure(fig, out / "pareto.png")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
            try:
                writer.add_figure("report/pareto", fig, close=False)
                writer.add_text("report/table", md)
            finally:
                writer.close()
            paths["tb"] = out / "tb"
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    paths["report.json"] = write_json(out / "report.json", {"title": title, "latency": latency_note(rows),
                                                            "rows": [r.to_dict() for r in rows]})
    return paths
