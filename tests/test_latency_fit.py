"""Ops priced from whole networks (``op_timing=fit``, nas.latency.fit_entries): the fit recovers an
additive device exactly, caching, and the errors (tiny spaces; nothing asserts on speed)."""

import random

import pytest

from nas.latency import LatencyTableError, build_table, get_table, op_key
from nas.latency.ops import space_uses
from test_latency_fixtures import tiny_space

FAST = dict(min_run_time=0.001, passes=1, net_passes=1, progress=False)


def additive_device(space, monkeypatch, seed=0):
    """Fake whole-network timing: every op key costs a random 0.1-1 ms, stem and head 0.5 ms together;
    returns the cost function the fit must recover, and the network counts and run times it was asked for."""
    import nas.latency.measure as measure

    rng = random.Random(seed)
    cost = {op_key(u): rng.uniform(0.1, 1.0) for u in space_uses(space) if u.config["block"] not in ("stem", "head")}
    timed, run_times = [], []

    def true_ms(arch):
        return 0.5 + sum(cost[op_key(u)] for u in space.op_instances(arch) if u.config["block"] not in ("stem", "head"))

    def fake_time_archs(space_, archs, s, passes, progress, desc="networks", reference=None):
        import torch

        with torch.inference_mode():
            reference.block()  # the reference's latency goes into the table's meta
        timed.append(len(archs))
        run_times.append(s.min_run_time)
        return [true_ms(a) for a in archs]

    import nas.latency.calibrate as calibrate

    monkeypatch.setattr(measure, "time_archs", fake_time_archs)
    monkeypatch.setattr(calibrate, "time_archs", fake_time_archs)  # calibration networks too
    return true_ms, timed, run_times


def test_entries_fitted_on_whole_networks_price_an_additive_device_exactly(tmp_path, monkeypatch):
    space = tiny_space(tmp_path)
    true_ms, timed, run_times = additive_device(space, monkeypatch)
    table = build_table(space, threads=1, op_timing="fit", fit_nets=60, **FAST)
    assert timed == [60] and table.meta["op_timing"] == "fit" and table.meta["fit_nets"] == 60
    assert table.const_covers == ["stem", "head"] and not table.missing(space)
    rng = random.Random(1)
    for _ in range(20):  # archs the fit never saw
        arch = space.sample(rng)
        assert table.predict(space, arch, calibrated=False) == pytest.approx(true_ms(arch), rel=1e-3, abs=1e-3)
    assert table.meta["fit_mape"] < 0.1
    from nas.latency.measure import NET_MIN_RUN_TIME  # networks run as long as validation networks, not as ops
    assert run_times == [NET_MIN_RUN_TIME] == [table.meta["fit_min_run_time"]]


def test_a_fit_table_is_cached_under_its_own_name_and_reused(tmp_path, monkeypatch):
    space = tiny_space(tmp_path)
    _, timed, _ = additive_device(space, monkeypatch)
    first = get_table(space, threads=1, cache_dir=tmp_path / "c", calibrate=0, op_timing="fit", fit_nets=40, **FAST)
    again = get_table(space, threads=1, cache_dir=tmp_path / "c", calibrate=0, op_timing="fit", fit_nets=40, **FAST)
    other = get_table(space, threads=1, cache_dir=tmp_path / "c", calibrate=0, op_timing="fit", fit_nets=50, **FAST)
    assert first.path == again.path != other.path and timed == [40, 50]
    assert again.entries == first.entries


def test_too_few_networks_to_fit_are_refused_in_one_line(tmp_path, monkeypatch):
    space = tiny_space(tmp_path)
    additive_device(space, monkeypatch)
    with pytest.raises(LatencyTableError, match=r"^fit_nets: expected at least 8 networks"):
        build_table(space, threads=1, op_timing="fit", fit_nets=4, **FAST)
    with pytest.raises(LatencyTableError, match=r"^op_timing=fit: networks are timed against the table's reference"):
        build_table(space, threads=1, op_timing="fit", fit_nets=40, reference=False, **FAST)


def test_an_op_no_fitted_network_ran_is_refused(tmp_path, monkeypatch):
    """Networks that never run a candidate (here: every decision kept at its first choice) cannot price it."""
    import nas.latency.calibrate as calibrate

    space = tiny_space(tmp_path)
    additive_device(space, monkeypatch)
    first = space.make_arch({d.label: d.choices[0] for d in space.decisions})
    monkeypatch.setattr(calibrate, "sample_archs", lambda sp, n, stream, seed=0, exclude=(): [first] * n)
    with pytest.raises(LatencyTableError, match=r"^op_timing=fit: \d+ ops of space 'tiny' ran in none of the 40 "):
        build_table(space, threads=1, op_timing="fit", fit_nets=40, **FAST)


def per_op_truth(table, space, n=24, seed=0):
    """``n`` archs and latencies with a per-op weights term the plain op sum lacks (what a ``memory``
    calibration fits exactly)."""
    from nas.latency.calibrate import sample_archs

    archs = sample_archs(space, n, "per-op-truth", seed)
    feats = [table.features(space, a, ["ms", "params_m"]) for a in archs]
    return archs, [0.05 + ms + 40.0 * p for ms, p in feats]


def memory_calibrated_fit_table(space):
    """A table marked ``op_timing=fit`` with a ``memory`` calibration, as an earlier version saved them."""
    import copy

    from nas.latency.calibrate import MODELS, fit_calibration
    from test_latency_fixtures import synthetic_table

    table = synthetic_table(space)
    table.meta["op_timing"] = "fit"
    archs, ms = per_op_truth(table, space)
    table.calibration = fit_calibration(table, space, archs, ms, models=MODELS)
    assert table.calibration.model == "memory" and "params_m" in table.calibration.features
    return copy.deepcopy(table)


def test_a_fit_table_is_calibrated_only_by_models_that_keep_its_ranking(tmp_path):
    """The same networks and latencies: a program table takes the per-op term, a fit table only rescales."""
    import numpy as np

    from nas.latency.calibrate import RANK_KEEPING, fit_calibration
    from test_latency_fixtures import synthetic_table

    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    archs, ms = per_op_truth(table, space)
    assert fit_calibration(table, space, archs, ms).model == "memory"  # the per-op term is real and found
    table.meta["op_timing"] = "fit"
    table.calibration = fit_calibration(table, space, archs, ms)
    assert table.calibration.model in RANK_KEEPING and table.calibration.model != "identity"
    rng = random.Random(3)
    others = [space.sample(rng) for _ in range(40)]
    raw, cal = table.predict_many(space, others, calibrated=False), table.predict_many(space, others)
    assert not np.allclose(raw, cal) and np.all(np.diff(cal[np.argsort(raw, kind="stable")]) >= -1e-12)


def test_an_earlier_per_op_calibration_of_a_fit_table_is_refitted_from_its_stored_networks(tmp_path):
    from nas.latency import conform_calibration, load_table
    from nas.latency.calibrate import RANK_KEEPING
    from test_latency_fixtures import synthetic_table

    space = tiny_space(tmp_path)
    path = memory_calibrated_fit_table(space).save(tmp_path / "fit.json")
    before = path.read_bytes()
    table = load_table(path)
    stored = (table.calibration.archs, table.calibration.measured_ms)
    with pytest.warns(UserWarning, match=r"fit\.json: calibration: model 'memory' re-ranks a table fitted on whole "
                                         r"networks .* refitted from its 24 stored networks as '(scale|affine)'"):
        assert conform_calibration(table, space) == "memory"
    assert table.calibration.model in RANK_KEEPING and (table.calibration.archs, table.calibration.measured_ms) == stored
    assert conform_calibration(table, space) is None and path.read_bytes() == before  # once; the file untouched
    lacking = load_table(path)  # a table lacking ops is refused by its callers, not refitted here
    lacking.entries.pop(next(iter(lacking.entries)))
    assert conform_calibration(lacking, space) is None and lacking.calibration.model == "memory"
    program = synthetic_table(space)  # a program table keeps its per-op calibration
    program.calibration = load_table(path).calibration
    assert conform_calibration(program, space) is None and program.calibration.model == "memory"


def test_a_cached_fit_table_with_a_per_op_calibration_is_refitted_and_saved_without_timing(tmp_path, monkeypatch):
    from nas.latency import load_table
    from nas.latency.calibrate import MODELS, RANK_KEEPING, fit_calibration

    space = tiny_space(tmp_path)
    _, timed, _ = additive_device(space, monkeypatch)
    first = get_table(space, threads=1, cache_dir=tmp_path / "c", calibrate=24, op_timing="fit", fit_nets=40, **FAST)
    assert timed == [40, 24] and first.calibration.model in RANK_KEEPING
    archs, ms = per_op_truth(first, space)
    first.calibration = fit_calibration(first, space, archs, ms, models=MODELS)  # as an earlier version did
    first.save(first.path)
    with pytest.warns(UserWarning, match="model 'memory' re-ranks"):
        again = get_table(space, threads=1, cache_dir=tmp_path / "c", calibrate=24, op_timing="fit", fit_nets=40, **FAST)
    assert timed == [40, 24] and again.path == first.path
    assert again.calibration.model in RANK_KEEPING and load_table(first.path).calibration.model in RANK_KEEPING
