"""Ops priced from whole networks (``op_timing=fit``): no op is timed on its own or one at a time.

``FIT_NETS`` random networks of the space are timed whole in the table's runtime, against its
reference network, and every op's entry is fitted on them: :class:`nas.latency.predictor.FittedPredictor`
(one cost per op configuration, Huber regression on how often each op runs in each network, as for
devices where only whole networks can be timed). ``const_ms`` stands for the stem, the head and the
intercept; entries are relative costs and may be negative (only sums are meaningful). The table is
additive as any other, so FBNet's expected latency uses it unchanged; the anchors work as for the
other modes, and the calibration on whole networks (``calibrate``) only rescales
(``nas.latency.calibrate.models_for``: its ranking stays the fit's).

Why: ops priced one by one -- as their own programs (``program``) or as what each adds to a base
network (``net``) -- are each mispriced by their own amount in the runtimes where a network is more than
the sum of its ops. Fitted on 424 networks timed in ONNX Runtime int8, the entries ranked 100 other
networks, timed in other processes hours earlier, at Kendall tau 0.92-0.93 with all within ±10%, where
the ``net`` table reached 0.72-0.75 and 90-91% (docs/latency_tables.md, ``bench/latency_opfit.py``);
built this way, ONNX Runtime fp32 / int8 and OpenVINO fp32 / int8 tables put 100 fresh networks 100%
within ±10% at tau 0.92-0.98 (2026-12-02).
Cost: ``FIT_NETS`` lowered networks instead of one per op key (~100 for ``fbnet``); fewer than about 300
fit poorly there (100 networks: tau 0.78-0.83).
"""

from __future__ import annotations

import dataclasses

from nas.latency.errors import LatencyTableError
from nas.latency.metrics import accuracy
from nas.latency.ops import op_key, space_uses
from nas.space.base import HEAD, STEM

FIT_NETS = 300  # networks timed whole to fit the entries (op_timing=fit)


def measure_entries_by_fit(space, table, s, n_nets: int, passes: int, progress: bool, reference,
                           seed: int = 0) -> int:
    """Fill ``table`` (a new one) with op costs fitted on ``n_nets`` random networks timed whole against
    ``reference``; returns how many networks were timed."""
    from nas.latency.calibrate import sample_archs
    from nas.latency.in_net import op_stats
    from nas.latency.measure import NET_MIN_RUN_TIME, time_archs
    from nas.latency.predictor import FittedPredictor
    from nas.latency.table import Entry

    if reference is None:
        raise LatencyTableError("op_timing=fit: networks are timed against the table's reference network; "
                                "reference=false cannot be combined with it")
    if n_nets < 8:
        raise LatencyTableError(f"fit_nets: expected at least 8 networks to fit op costs on, got {n_nets}")
    archs = sample_archs(space, n_nets, "fit", seed)
    s = dataclasses.replace(s, min_run_time=max(s.min_run_time, NET_MIN_RUN_TIME))  # as validation networks
    ms = time_archs(space, archs, s, passes, progress, desc=f"networks of {space.name} (op_timing=fit)",
                    reference=reference)
    fitted = FittedPredictor.fit(space, archs, ms, tie=True, correction="off")
    cost = dict(zip(fitted.names, fitted.coef.tolist()))
    covered = (STEM, HEAD)
    uses = space_uses(space)
    unseen = sorted({op_key(u) for u in uses if op_key(u) not in cost})
    if unseen:
        raise LatencyTableError(f"op_timing=fit: {len(unseen)} ops of space '{space.name}' ran in none of the "
                                f"{n_nets} networks timed, e.g. '{unseen[0]}'; time more (fit_nets=...)")
    const = fitted.intercept + sum(cost[op_key(u)] for u in uses if u.config["block"] in covered)
    if not const >= 0:
        raise LatencyTableError(f"op_timing=fit: the fit put the networks' fixed part at {const:.4g} ms (below 0); "
                                f"time more networks (fit_nets=...) or use op_timing=net")
    for u in uses:
        if u.config["block"] not in covered:
            table.entries[op_key(u)] = Entry(round(cost[op_key(u)], 6), **op_stats(space, u, s.batch_size))
    table.const_ms = round(const, 6)
    table.const_covers = list(covered)
    predicted = fitted.predict_many(space, archs, corrected=False)
    table.meta.update(op_timing="fit", fit_nets=n_nets, fit_seed=seed, fit_min_run_time=s.min_run_time,
                      fit_mape=round(accuracy(predicted, ms)["mape"], 3))
    return n_nets
