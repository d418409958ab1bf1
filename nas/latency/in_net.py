"""Ops timed inside a network (``op_timing=net``): an op's entry is what it adds to a whole network.

Timed as a program of its own (``op_timing=program``), an op pays what a network pays
once: the runtime's call, binding inputs and outputs, for int8 the quantize / dequantize at the
program's boundary, and whatever the runtime does per inference. Where that dominates sub-millisecond
ops (OpenVINO: op sums 3-5x the network's latency, ONNX Runtime: 1.5x), subtracting a trivial
program's time (``nas.latency.overhead``) and fitting the rest away (``nas.latency.calibrate``) leaves
a scatter that reorders nets. Here no op is timed alone:

- the **base network** takes, at every decision, its cheapest choice by multiply-adds (``skip`` where
  a layer has one); it is timed ``BASE_REPEATS`` times per sweep, spread over the sweep, and its
  latency is ``const_ms`` (it stands for stem and head);
- for every op key the space can run that the base does not, one network: the base with one decision
  (the first that can run that key) set to that choice: the entry is its latency minus the base's
  (not below zero). Entries of the base's own choices are 0.

Everything is timed against the table's usual reference network (a random arch of the space, as
calibration and validation networks are): a first version used the base itself as the reference, and
a network 4-10x smaller than the ones validated kept neither scale nor order between two validations
of the same 100 networks twenty minutes apart (ONNX Runtime fp32: 11% apart, Kendall tau 0.89).

So an arch's raw prediction is the base's latency plus, per layer, what its choice adds to it inside a
network: the runtime's per-call costs are paid once, as in a real network. What it misses is how
choices interact (a layer's cost beside another non-base layer); the calibration on whole networks
(unchanged) fits that. It needs a space whose latency adds up per decision with one op per choice
(layer-wise spaces such as ``fbnet``); a key several decisions share is timed at the first of them.
Cost: one lowered network per distinct op key (~100 for ``fbnet``) instead of one op program each.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch

from nas.latency.errors import LatencyTableError
from nas.latency.ops import build_use, op_key, use_stats
from nas.space.base import HEAD, STEM, OpUse

OP_TIMINGS = ("program", "net", "fit")  # fit: nas.latency.fit_entries
BASE_KEY = "(base network)"
BASE_REPEATS = 5  # the base is in every entry: timed this many times per sweep, its figure the median
MIN_RUN_TIME = 0.1  # at least this many seconds of timed runs per network and sweep: an entry is a small
# difference of two network latencies, so its noise is the network's, not the op's


def check_op_timing(value: str) -> str:
    if value not in OP_TIMINGS:
        raise LatencyTableError(f"op_timing: expected one of {', '.join(OP_TIMINGS)} (or null: the runtime's "
                                f"default), got {value!r}")
    return value


def _macs(space, use: OpUse) -> int:
    from nas.profile import count_macs

    module, shapes = build_use(space, use)
    return count_macs(module, (1, *shapes[0]))


def _additive(space) -> Tuple[List[OpUse], Dict[str, List[OpUse]]]:
    """The space's fixed ops and, per decision, the one op of each choice; a one-line error otherwise."""
    additive = space.additive_ops()
    if additive is None:
        raise LatencyTableError(f"op_timing=net: the latency of space '{space.name}' does not add up per decision "
                                f"(its ops and shapes depend on several); use op_timing=program")
    fixed, per_choice = additive
    single: Dict[str, List[OpUse]] = {}
    for label, choices in per_choice.items():
        if any(len(uses) != 1 for uses in choices):
            raise LatencyTableError(f"op_timing=net: decision '{label}' of space '{space.name}' adds several ops "
                                    f"per choice, which one network per op cannot tell apart; use op_timing=program")
        single[label] = [uses[0] for uses in choices]
    return fixed, single


def supports(space) -> bool:
    """Whether ``space``'s ops can be timed inside networks (its latency adds up per decision, one op per
    choice): a runtime's default ``net`` falls back to ``program`` where not."""
    try:
        _additive(space)
    except LatencyTableError:
        return False
    return True


def base_arch(space):
    """Per decision, the choice with the fewest multiply-adds (the first of equals): the base network."""
    _, per_choice = _additive(space)
    choices = {}
    for d in space.decisions:
        macs = [_macs(space, u) for u in per_choice[d.label]]
        choices[d.label] = d.choices[macs.index(min(macs))]
    return space.make_arch(choices)


class Item(NamedTuple):
    key: str  # BASE_KEY for the base network itself
    use: Optional[OpUse]  # None for the base
    arch: object  # the base with one decision changed (or the base)


def op_stats(space, use: OpUse, batch_size: int) -> dict:
    """An op's weights and boundary activations (``use_stats``), built on the meta device."""
    with torch.device("meta"):
        module, _ = build_use(space, use)
    return use_stats(module, use, batch_size)


def plan(space, base) -> Tuple[List[Item], List[OpUse]]:
    """The networks to time (one per op key the base does not run) and the ops whose entries are 0
    (the base's own choices and fixed layers, which its latency includes)."""
    fixed, per_choice = _additive(space)
    zero = [u for u in fixed if u.config["block"] not in (STEM, HEAD)]
    for d in space.decisions:
        zero.append(per_choice[d.label][d.choices.index(base.choices[d.label])])
    zero_keys = {op_key(u) for u in zero}
    items: List[Item] = []
    seen = set(zero_keys)
    for d in space.decisions:
        for choice, use in zip(d.choices, per_choice[d.label]):
            key = op_key(use)
            if key in seen:
                continue
            seen.add(key)
            items.append(Item(key, use, space.make_arch({**base.choices, d.label: choice})))
    return items, zero


def measure_entries_in_net(space, table, s, passes: int, progress: bool, reference) -> int:
    """Fill ``table`` (a new one) by timing the base network and one network per op key against
    ``reference`` (the table's reference network); returns how many op networks were timed."""
    import statistics

    from nas.latency.measure import sweep
    from nas.latency.table import Entry

    if reference is None:
        raise LatencyTableError("op_timing=net: networks are timed against the table's reference network; "
                                "reference=false cannot be combined with it")
    base = base_arch(space)
    items, zero = plan(space, base)
    res = space.resolution
    timed = list(items)
    for k in reversed(range(BASE_REPEATS)):  # the base spread over the sweep: a slow spell hits it once at most
        timed.insert(k * len(items) // BASE_REPEATS, Item(BASE_KEY, None, base))

    def make(item: Item):
        torch.manual_seed(0)
        return space.build(item.arch), [(3, res, res)], f"the network with '{item.key}'"

    found = sweep(timed, make, dataclasses.replace(s, context_mb=0.0, min_run_time=max(s.min_run_time, MIN_RUN_TIME)),
                  passes, desc=f"ops of {space.name} in networks", progress=progress, reference=reference)
    scale = reference.ms
    base_ratio = statistics.median(t.ratio for it, t in zip(timed, found) if it.key == BASE_KEY)
    timings = [t for it, t in zip(timed, found) if it.key != BASE_KEY]

    for u in zero:
        table.entries[op_key(u)] = Entry(0.0, **op_stats(space, u, s.batch_size))
    for item, t in zip(items, timings):
        table.entries[item.key] = Entry(round(max(0.0, (t.ratio - base_ratio) * scale), 6), runs=t.runs,
                                        iqr_ms=round(t.ratio_iqr * scale, 6), **op_stats(space, item.use, s.batch_size))
    table.const_ms = round(base_ratio * scale, 6)
    table.const_covers = [STEM, HEAD]
    table.meta.update(op_timing="net", base=space.encode(base), base_ms=table.const_ms)
    return len(items)

