"""The one Pareto front of the toolkit (non-dominated points under per-objective senses), its
hypervolume, and the one accuracy-latency front plot (the search's ``pareto.png`` and the report's
figure both draw with :func:`draw_front`)."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (all objectives maximised)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def front_indices(points: Sequence[Optional[Point]], senses: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points (``senses``: ``max`` or ``min`` per objective). Points that are
    None or hold a non-finite value are on no front; of equal points the first is kept."""
    signs = [1.0 if s == "max" else -1.0 for s in senses]
    valid = []
    for i, p in enumerate(points):
        if p is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                 for v in p):
            valid.append((i, tuple(s * v for s, v in zip(signs, p))))
    out, seen = [], set()
    for i, p in valid:
        if p in seen or any(dominates(q, p) for _, q in valid):
            continue
        seen.add(p)
        out.append(i)
    return out


def hypervolume_2d(points: Sequence[Tuple[float, float]], ref: Tuple[float, float]) -> float:
    """Area dominated by ``(latency, accuracy)`` points (latency down, accuracy up) and bounded by the
    reference point ``ref = (worst latency, worst accuracy)``; points beyond the reference add nothing."""
    pts = sorted((lat, acc) for lat, acc in points if lat <= ref[0] and acc >= ref[1])
    front = []  # the staircase: fastest first, each point more accurate than every faster one
    for lat, acc in pts:
        if not front or acc > front[-1][1]:
            front.append((lat, acc))
    area = 0.0
    for k, (lat, acc) in enumerate(front):
        right = front[k + 1][0] if k + 1 < len(front) else ref[0]
        area += (right - lat) * (acc - ref[1])
    return area


def draw_front(ax, points: Sequence[Tuple[float, float]], front: Sequence[Tuple[float, float]],
               label: str = "evaluated", front_label: str = "Pareto front", color: str = "C3") -> None:
    """Scatter ``(latency, accuracy)`` points and the front as a step line (fastest first)."""
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=12, alpha=0.5, label=label)
    if front:
        f = sorted(front)
        ax.step([p[0] for p in f], [p[1] for p in f], where="post", color=color, lw=1, label=front_label)
        ax.scatter([p[0] for p in f], [p[1] for p in f], color=color, s=18, zorder=3)


def pareto_figure(points: Sequence[Tuple[float, float]], front: Sequence[Tuple[float, float]], title: str,
                  target_ms: Optional[float] = None):
    """A search's accuracy-latency figure: every evaluated arch, the front, the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    draw_front(ax, points, front)
    if target_ms is not None:
        ax.axvline(target_ms, ls="--", color="gray", label=f"target {target_ms:.2f} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
