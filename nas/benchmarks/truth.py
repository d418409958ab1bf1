"""Ground-truth figures of a tabular benchmark that scores a search: the best arch under a reward or a
constraint, the true accuracy-latency front and the hypervolume of a found front against it, and the
additive per-decision latency model fitted to measured (non-additive) latencies.

Everything works on arrays over every architecture of the space (the benchmark enumerates them), so
the app's summary (``nas.evaluators.benchmark``), the bench script and the tests compute the same numbers.

>>> codes = all_codes([5] * 6)                               # (15625, 6), code-number order
>>> best, value = optimum(acc, lat <= 8.0)                     # best feasible arch
>>> hypervolume_ratio(found_points, lat, acc)                  # found front vs the true front
>>> const, costs, fit = additive_fit(codes, lat, sizes)        # lat ~ const + sum_l costs[l][code_l]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from nas.pareto import hypervolume_2d


def all_codes(sizes: Sequence[int]) -> np.ndarray:
    """Every encoding of a product space with ``sizes[l]`` choices per decision, as ``(N, L)`` rows in
    code-number order (first decision most significant, as ``nb201.code_numbers`` counts)."""
    grids = np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)


def optimum(values: np.ndarray, mask: Optional[np.ndarray] = None) -> Tuple[int, float]:
    """``(position, value)`` of the largest of ``values`` where ``mask`` (all when None); ``(-1, nan)``
    when the mask selects nothing."""
    values = np.asarray(values, dtype=float)
    if mask is not None:
        values = np.where(mask, values, -np.inf)
    i = int(np.argmax(values))
    return (i, float(values[i])) if np.isfinite(values[i]) else (-1, math.nan)


def front(lat: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """The non-dominated ``(latency, accuracy)`` points (latency down, accuracy up), fastest first."""
    lat, acc = np.asarray(lat, dtype=float), np.asarray(acc, dtype=float)
    order = np.lexsort((-acc, lat))  # by latency, the most accurate first among equal latencies
    best = np.maximum.accumulate(acc[order])
    keep = np.r_[True, best[1:] > best[:-1]]
    return np.stack([lat[order][keep], acc[order][keep]], axis=1)


def reference_point(lat: np.ndarray, acc: np.ndarray) -> Tuple[float, float]:
    """The hypervolume's reference: the dearest arch's latency and the median accuracy of the space
    (below the median, a front is all alike: a lower reference would let that area swamp the top)."""
    return float(np.max(lat)), float(np.median(acc))


def hypervolume_ratio(points: Sequence[Tuple[float, float]], lat: np.ndarray, acc: np.ndarray,
                      ref: Optional[Tuple[float, float]] = None) -> Dict[str, float]:
    """Hypervolume of found ``(latency, accuracy)`` points against that of the true front of the space
    (``lat``, ``acc`` of every arch) with one reference (:func:`reference_point` unless given):
    ``{'hypervolume', 'true_hypervolume', 'hypervolume_ratio'}`` (the ratio is at most 1)."""
    ref = ref or reference_point(lat, acc)
    true = hypervolume_2d([tuple(p) for p in front(lat, acc)], ref)
    found = hypervolume_2d([(float(a), float(b)) for a, b in points], ref)
    return {"hypervolume": found, "true_hypervolume": true, "hypervolume_ratio": found / true if true > 0 else math.nan}


@dataclass
class AdditiveFit:
    """How well ``const + sum_l costs[l][code_l]`` reproduces the measured latencies."""

    r2: float
    mape: float  # mean absolute percentage error, %
    max_abs_ms: float
    n: int


def additive_fit(codes: np.ndarray, lat: np.ndarray, sizes: Sequence[int],
                 zero: Sequence[int] = ()) -> Tuple[float, List[List[float]], AdditiveFit]:
    """Least-squares additive model of measured latencies: ``lat ~ const + sum_l costs[l][codes[:, l]]``.

    One choice per decision is the baseline, so the model is identified: the choice in ``zero`` (e.g.
    an op that runs nothing) costs exactly 0, else choice 0 (its cost then lives in ``const``). Returns
    ``(const, costs, fit)``."""
    codes, lat = np.asarray(codes), np.asarray(lat, dtype=float)
    base = [int(zero[l]) if l < len(zero) else 0 for l in range(len(sizes))]
    cols = [(l, c) for l, n in enumerate(sizes) for c in range(n) if c != base[l]]
    x = np.ones((len(codes), len(cols) + 1))
    for k, (l, c) in enumerate(cols):
        x[:, k + 1] = codes[:, l] == c
    coef, *_ = np.linalg.lstsq(x, lat, rcond=None)
    costs = [[0.0] * n for n in sizes]
    for k, (l, c) in enumerate(cols):
        costs[l][c] = float(coef[k + 1])
    pred = x @ coef
    resid = lat - pred
    r2 = 1.0 - float(resid @ resid) / float(((lat - lat.mean()) ** 2).sum())
    mape = float(np.mean(np.abs(resid) / np.abs(lat))) * 100
    return float(coef[0]), costs, AdditiveFit(r2, mape, float(np.abs(resid).max()), len(lat))
