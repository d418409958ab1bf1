"""Runs of the same net with the same training budget but other seeds, merged into one row: mean
accuracy, its standard error (sample standard deviation / sqrt(n)), the seeds, and the mean of the
recorded latencies (re-timing in one session, ``measure=true``, gives one figure per net anyway)."""

from __future__ import annotations

import math
import statistics
from typing import Dict, List, Sequence, Tuple

from nas.report.collect import BASELINE, TRAINED_FOUND, Row


def _key(row: Row) -> Tuple:
    return (row.kind, row.arch_file if row.kind == TRAINED_FOUND else row.model, row.variant, row.num_classes,
            row.data, row.epochs, row.accuracy_kind)


def merge_seeds(rows: Sequence[Row]) -> List[Row]:
    """Train rows (trained found nets and baselines) that differ only by seed become one row each,
    in the place of the first; other rows pass through unchanged."""
    groups: Dict[Tuple, List[Row]] = {}
    order: List[object] = []
    for r in rows:
        if r.kind in (TRAINED_FOUND, BASELINE) and r.seeds and r.accuracy is not None:
            key = _key(r)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(r)
        else:
            order.append(r)
    out: List[Row] = []
    for item in order:
        if isinstance(item, Row):
            out.append(item)
            continue
        members = groups[item]
        first = members[0]
        if len(members) > 1:
            accs = [m.accuracy for m in members]
            first.accuracy = statistics.fmean(accs)
            first.accuracy_se = statistics.stdev(accs) / math.sqrt(len(accs))
            first.seeds = sorted(s for m in members for s in m.seeds)
            lats = [m.measured_ms for m in members if m.measured_ms is not None]
            if lats:
                first.measured_ms = first.recorded_ms = statistics.fmean(lats)
            first.source = ", ".join(m.source for m in members)
            first.name = first.name.split(" (")[0]
        out.append(first)
    return out
