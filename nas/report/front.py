"""The accuracy-latency Pareto front of a report's rows and its figure.

Accuracies of different kinds are not comparable (a trained net's validation accuracy vs a search's
shared-weight estimate), so the front is computed among the rows of each accuracy kind: a row is on
it if no row of its kind is at least as accurate and at least as fast, and strictly better in one.
Rows without an accuracy or a latency (baselines without a train run) are on no front.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from nas.pareto import draw_front, front_indices
from nas.report.collect import BASELINE, FOUND, TRAINED_FOUND, Row

STYLE = {  # marker, fill, colour per kind
    FOUND: dict(marker="^", facecolors="none", edgecolors="C0"),
    TRAINED_FOUND: dict(marker="*", color="C3", s=110),
    BASELINE: dict(marker="o", color="C2"),
}


def pareto(rows: Sequence[Row]) -> List[Row]:
    """Mark each row's ``pareto`` (True / False, None when it has no accuracy or latency) within its
    accuracy kind; returns the rows on a front, fastest first."""
    groups: Dict[Optional[str], List[Row]] = defaultdict(list)
    for r in rows:
        if r.accuracy is None or r.latency_ms is None:
            r.pareto = None
        else:
            groups[r.accuracy_kind].append(r)
    front = []
    for members in groups.values():
        points = [(r.accuracy, r.latency_ms) for r in members]
        on = {points[i] for i in front_indices(points, ("max", "min"))}  # equal points share their place
        for r, point in zip(members, points):
            r.pareto = point in on
            if r.pareto:
                front.append(r)
    return sorted(front, key=lambda r: (r.latency_ms, -r.accuracy))


def figure(rows: Sequence[Row], title: str = "accuracy vs latency"):
    """Accuracy vs latency: found nets (hollow triangles: search estimate; stars: trained), baselines
    (circles), front members ringed, each accuracy kind's front as a step line, latency targets as dashed
    vertical lines; nets without an accuracy as labelled ticks along the bottom edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    pareto(rows)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    placed = [r for r in rows if r.accuracy is not None and r.latency_ms is not None]
    for kind in (FOUND, TRAINED_FOUND, BASELINE):
        pts = [r for r in placed if r.kind == kind]
        if pts:
            ax.scatter([r.latency_ms for r in pts], [r.accuracy for r in pts], label=kind, zorder=3, **STYLE[kind])
    bars = [r for r in placed if r.accuracy_se]
    if bars:  # standard errors over seeds
        ax.errorbar([r.latency_ms for r in bars], [r.accuracy for r in bars], yerr=[r.accuracy_se for r in bars],
                    fmt="none", ecolor="gray", elinewidth=0.8, capsize=2, zorder=2)
    ring = [r for r in placed if r.pareto]
    if ring:
        ax.scatter([r.latency_ms for r in ring], [r.accuracy for r in ring], marker="o", s=160, facecolors="none",
                   edgecolors="black", linewidths=0.8, label="on a Pareto front", zorder=2)
    for r in placed:
        ax.annotate(r.name, (r.latency_ms, r.accuracy), fontsize=6, xytext=(3, 3), textcoords="offset points")
    kinds = sorted({r.accuracy_kind for r in placed if r.pareto}, key=str)
    for i, kind in enumerate(kinds):
        front = [(r.latency_ms, r.accuracy) for r in placed if r.pareto and r.accuracy_kind == kind]
        draw_front(ax, [], front, front_label=f"front: {kind}", color=f"C{4 + i}")
    ticks = [r for r in rows if r.accuracy is None and r.latency_ms is not None]
    if ticks:
        bottom = blended_transform_factory(ax.transData, ax.transAxes)
        for j, r in enumerate(ticks):
            ax.plot([r.latency_ms] * 2, [0.0, 0.05], color="gray", lw=1.5, transform=bottom,
                    label="no accuracy (latency only)" if j == 0 else None)
            ax.text(r.latency_ms, 0.06, r.name, rotation=90, fontsize=6, ha="center", va="bottom",
                    color="gray", transform=bottom)
    targets = sorted({r.target_ms for r in rows if r.target_ms is not None})
    for j, t in enumerate(targets):
        ax.axvline(t, ls="--", color="gray", lw=0.8, label="latency target" if j == 0 else None)
    lats = [r.latency_ms for r in rows if r.latency_ms is not None] + targets
    if lats and min(lats) > 0 and max(lats) / min(lats) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms, batch 1)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
