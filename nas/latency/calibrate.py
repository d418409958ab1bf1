"""Close the gap between the plain op sum and whole-network latency, keeping prediction additive.

Ops timed in context (weights out of the core's caches, see ``nas.latency.measure``) close most of
the gap; what remains (framework work between ops, memory traffic the copies do not reproduce) is
fitted on a few architectures timed end to end: ``latency ~ intercept + sum over ops of coef . (ms,
1, weights, activations)`` by least squares on relative error, choosing among nested models by
leave-one-out error (the simplest within 3% of the best). Every term is a per-op cost, so the
calibrated table is still a LUT and FBNet's expected latency stays linear in the op probabilities.

A table whose entries were themselves fitted on whole networks (``op_timing=fit``, hundreds of them)
is calibrated only by the models that keep its ranking (:data:`RANK_KEEPING`: identity, scale, affine):
per-op terms refitted on the 24 calibration networks fitted noise there (OpenVINO int8: Kendall tau of
100 fresh networks 0.922 for the fitted sum, 0.795 after a ``memory`` calibration; docs/latency_tables.md).
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import table_runtime
from nas.latency.measure import NET_PASSES, Setting, table_reference, time_archs
from nas.latency.table import FEATURES, Calibration, LatencyTable

# candidate models, simplest first: (name, features, with intercept); "identity" is the plain op sum
MODELS: Tuple[Tuple[str, Tuple[str, ...], bool], ...] = (
    ("identity", ("ms",), False), ("scale", ("ms",), False), ("affine", ("ms",), True),
    ("overhead", ("ms", "ops"), True), ("memory", ("ms", "ops", "params_m", "act_m"), True))
TOLERANCE = 1.03  # the simplest model whose leave-one-out error is within 3% of the best one wins
RANK_KEEPING = ("identity", "scale", "affine")  # a monotone function of the op sum: the ranking is the table's


def models_for(table: LatencyTable) -> Tuple[Tuple[str, Tuple[str, ...], bool], ...]:
    """The calibration models ``table`` may be fitted with: all of :data:`MODELS`, or for a table whose
    entries were fitted on whole networks (``meta.op_timing == "fit"``) only the rank-keeping ones."""
    if table.meta.get("op_timing") == "fit":
        return tuple(m for m in MODELS if m[0] in RANK_KEEPING)
    return MODELS


def conform_calibration(table: LatencyTable, space) -> Optional[str]:
    """Refit, from the networks it stored (nothing is timed), a calibration of ``table`` made with a model
    :func:`models_for` no longer allows (a fit table calibrated by an earlier version); returns the old
    model's name when it did, else None. A calibration of another space, without its networks, or of a
    table lacking ops of ``space`` (the callers refuse those) is left alone."""
    c = table.calibration
    if (c is None or c.model in {m[0] for m in models_for(table)} or c.space != space.name or not c.archs
            or table.missing(space)):
        return None
    table.calibration = fit_calibration(table, space, [space.decode(a) for a in c.archs], c.measured_ms)
    warnings.warn(f"{table.where}: calibration: model '{c.model}' re-ranks a table fitted on whole networks "
                  f"(op_timing=fit) and is no longer used for one; refitted from its {c.n_archs} stored networks "
                  f"as '{table.calibration.model}' (nothing timed)", stacklevel=2)
    return c.model


def sample_archs(space, n: int, stream: str, seed: int = 0, exclude: Sequence = ()) -> List:
    """``n`` distinct random architectures from a named random stream, none of ``exclude`` (where the
    space is large enough)."""
    rng = random.Random(f"{stream}:{seed}")
    seen = {tuple(space.encode(a)) for a in exclude}
    out: List = []
    for _ in range(100 * n + 100):
        if len(out) == n:
            break
        arch = space.sample(rng)
        key = tuple(space.encode(arch))
        if key not in seen or len(seen) >= space.size():
            seen.add(key)
            out.append(arch)
    while len(out) < n:  # a tiny space: repeats are unavoidable
        out.append(space.sample(rng))
    return out


def spread_archs(table: LatencyTable, space, n: int, seed: int = 0) -> List:
    """``n`` architectures whose plain op sums spread evenly over the space's latency range.

    Uniform samples all land near the middle of the range (a sum of many independent choices), while
    a latency-constrained search ends at its ends, mostly the cheap one; a calibration fitted on the
    middle alone extrapolates there (an intercept that is 25% of a cheap arch's latency). Arch ``i``
    is walked from a random start toward the ``i``-th of ``n`` evenly spaced latencies in the range by
    single-decision changes, kept when they do not move away from it."""
    lo, hi = table.bounds(space, calibrated=False)
    rng = random.Random(f"calibrate-spread:{seed}")
    out: List = []
    seen = set()
    for i in range(n):
        target = lo + (hi - lo) * (i + 0.5) / n
        arch = space.sample(rng)
        err = abs(table.predict(space, arch, calibrated=False) - target)
        for _ in range(20 * len(space.decisions)):
            d = space.decisions[rng.randrange(len(space.decisions))]
            choices = dict(arch.choices)
            choices[d.label] = d.choices[rng.randrange(len(d.choices))]
            cand = space.make_arch(choices)
            e = abs(table.predict(space, cand, calibrated=False) - target)
            if e <= err:
                arch, err = cand, e
        key = tuple(space.encode(arch))
        if key in seen and len(seen) < space.size():
            arch = next(a for a in sample_archs(space, n + len(seen), f"spread-fill:{i}", seed)
                        if tuple(space.encode(a)) not in seen)
            key = tuple(space.encode(arch))
        seen.add(key)
        out.append(arch)
    return out


def _relative_lstsq(X: np.ndarray, y: np.ndarray, intercept: bool) -> Tuple[np.ndarray, float]:
    """Least squares of ``[X, 1] @ beta ~ y`` on relative error; returns beta (intercept last, 0 without)
    and the leave-one-out MAPE (%)."""
    A = (np.column_stack([X, np.ones(len(y))]) if intercept else X) / y[:, None]
    beta, *_ = np.linalg.lstsq(A, np.ones(len(y)), rcond=None)
    hat = np.einsum("ij,ji->i", A, np.linalg.pinv(A))
    loo = (1.0 - A @ beta) / np.clip(1.0 - hat, 1e-9, None)
    return (beta if intercept else np.append(beta, 0.0)), float(np.mean(np.abs(loo)) * 100)


def fit_calibration(table: LatencyTable, space, archs: Sequence, measured_ms: Sequence[float],
                    models: Optional[Sequence[Tuple[str, Tuple[str, ...], bool]]] = None) -> Calibration:
    """Fit a :class:`Calibration` of ``table`` on architectures of ``space`` with measured latencies
    (``models``: default :func:`models_for` the table)."""
    models = models_for(table) if models is None else models
    y = np.asarray(measured_ms, dtype=float)
    if len(archs) != len(y) or len(y) < 3 or not np.all(y > 0):
        raise LatencyTableError(f"calibration: expected at least 3 architectures with positive latencies, got "
                                f"{len(archs)} architectures and {len(y)} latencies")
    usable = [m for m in models if _has_features(table, m[1])]
    names_full = [f for f in FEATURES if any(f in m[1] for m in usable)]
    X_full = np.array([table.features(space, a, names_full) for a in archs])
    raw = X_full[:, names_full.index("ms")]
    raw_mape = float(np.mean(np.abs(raw / y - 1)) * 100)
    fits = []
    for name, feats, intercept in usable:
        if name == "identity":
            fits.append((raw_mape, name, ["ms"], np.array([1.0, 0.0])))
            continue
        # a feature constant over the archs (e.g. the op count of a layer-wise space) is the intercept's
        names = [f for f in feats if f == "ms" or np.ptp(X_full[:, names_full.index(f)]) > 1e-12]
        if len(y) < len(names) + int(intercept) + 2 or (name != "affine" and intercept and names == ["ms"]):
            continue
        beta, loo = _relative_lstsq(X_full[:, [names_full.index(f) for f in names]], y, intercept)
        fits.append((loo, name, names, beta))
    if not fits:
        raise LatencyTableError(f"calibration: none of the models {[m[0] for m in usable]} can be fitted on "
                                f"{len(y)} architectures (too few of them, or the models' features are constant)")
    best = min(f[0] for f in fits)
    loo, model, names, beta = next(f for f in fits if f[0] <= best * TOLERANCE)
    return Calibration(list(names), [float(b) for b in beta[:-1]], float(beta[-1]), model=model, n_archs=len(y),
                       loo_mape=round(loo, 4), raw_mape=round(raw_mape, 4), space=space.name,
                       archs=[space.encode(a) for a in archs], measured_ms=[round(float(v), 6) for v in y])


def _has_features(table: LatencyTable, names: Sequence[str]) -> bool:
    need = {"params_m": "params", "act_m": "act"}
    return all(getattr(e, need[n]) is not None for e in table.entries.values() for n in names if n in need)


CALIBRATION_MIN_RUN_TIME = 0.06  # seconds of timed runs per network and sweep


def calibrate_table(table: LatencyTable, space, n: int, seed: int = 0, setting: Optional[Setting] = None,
                    passes: int = NET_PASSES, progress: bool = True, min_run_time: float = CALIBRATION_MIN_RUN_TIME) -> Calibration:
    """Time ``n`` architectures spread over the space's latency range (:func:`spread_archs`) end to end
    (the table's settings; against its reference network if it has one), fit, store in ``table``."""
    fp = table.fingerprint
    s = setting or Setting(fp["device"], fp["dtype"], fp["batch_size"], fp["threads"],
                           runtime=table_runtime(fp))
    s = dataclasses.replace(s, min_run_time=min_run_time)
    archs = spread_archs(table, space, n, seed)
    measured = time_archs(space, archs, s, passes, progress, desc="calibration networks",
                          reference=table_reference(table, space, s))
    table.calibration = fit_calibration(table, space, archs, measured)
    return table.calibration
