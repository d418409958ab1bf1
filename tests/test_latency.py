"""Latency tables: keys, op instances, prediction, cost vectors, bounds, files, fingerprints, caching,
calibration, validation (tiny spaces, tiny timings; nothing asserts on speed)."""

import itertools
import json
import math
import os

import numpy as np
import pytest
import torch

from nas.latency import (LatencyTableError, build_table, cache_path, fit_calibration, get_table,
                         load_table, op_key, target_fingerprint)
from nas.latency.calibrate import sample_archs, spread_archs
from nas.latency.measure import Setting, _interleave, anchor_archs, make_reference, time_archs, time_module
from nas.latency.ops import arch_uses, build_use, space_uses
from nas.latency.validate import measure_archs, validate_table, write_report
from nas.space import load_space
from nas.space.factorized import Residual, adds_shortcut
from test_latency_fixtures import synthetic_table, tiny_space

FAST = dict(min_run_time=0.001, passes=1, net_passes=1, progress=False)


def test_the_reference_gets_fresh_sessions_in_a_runtime(tmp_path, monkeypatch, fake_backend):
    """A runtime session keeps its own speed for life: in a runtime the reference is loaded again every
    RENEW_SECONDS between items (here: before each), its latency the median over all its sessions;
    eager modules have no sessions and keep one reference."""
    import nas.latency.measure as measure

    monkeypatch.setenv("NAS_LOWERED_CACHE", str(tmp_path / "lowered"))
    monkeypatch.setattr(measure, "RENEW_SECONDS", 0.0)
    space = tiny_space(tmp_path)
    archs = [space.sample(i) for i in range(3)]
    for runtime, sessions in (("fake", 1 + 2 * len(archs)), ("eager", 1)):
        s = measure.Setting(min_run_time=0.001, runtime=runtime)
        ref = measure.make_reference(space, s)
        first = ref.module
        ms = measure.time_archs(space, archs, s, passes=2, progress=False, reference=ref)
        assert ref.sessions == sessions and (ref.module is not first) == (runtime == "fake")
        assert len(ms) == len(archs) and all(m > 0 for m in ms) and len(ref.samples) >= 2 * 4 * len(archs)


def all_archs(space):
    return [space.make_arch(dict(zip([d.label for d in space.decisions], c)))
            for c in itertools.product(*[d.choices for d in space.decisions])]


# --- keys and op instances ----------------------------------------------------------------------
def test_op_key_is_readable_and_canonical():
    space = load_space("fbnet", variant="cifar")
    use = space.layer_op_instance(space.layers[1], "k3_e6")
    assert op_key(use) == "mbconv(exp_ratio=6,kernel_size=3) 16x32x32>24/s1"
    assert op_key(use._replace(config={"kernel_size": 3, "exp_ratio": 6.0, "block": "mbconv"})) == op_key(use)
    assert op_key(use._replace(stride=2)) != op_key(use)


@pytest.mark.parametrize("kind", ["layerwise", "factorized"])
def test_op_instances_are_what_the_network_runs(tmp_path, kind):
    space = tiny_space(tmp_path, kind)
    for seed in range(4):
        arch = space.sample(seed)
        net = space.build(arch)
        seen = []
        for stage in net.stages:
            for layer in stage:
                body = layer.body if isinstance(layer, Residual) else layer
                body.register_forward_hook(lambda m, i, o: seen.append((i[0].shape[1], i[0].shape[2], o.shape[1])))
        net(torch.zeros(1, 3, space.resolution, space.resolution))
        bodies = [u for u in space.op_instances(arch) if u.config["block"] != "shortcut"]
        assert seen == [(u.in_chs, u.input_size, u.out_chs) for u in bodies]


def test_factorized_shortcut_rule_matches_residual():
    for in_chs, out_chs, stride, skip in itertools.product([8, 16], [8, 16], [1, 2], ["pool", "identity", "none"]):
        assert adds_shortcut(in_chs, out_chs, stride, skip) == Residual(torch.nn.Identity(), in_chs, out_chs, stride,
                                                                        skip).add


@pytest.mark.parametrize("name", ["fbnet", "seeds", "mnasnet"])
def test_all_op_instances_cover_every_arch(name):
    space = load_space(name, variant="cifar")
    keys = {op_key(u) for u in space_uses(space)}
    for seed in range(20):
        assert {op_key(u) for u in arch_uses(space, space.sample(seed))} <= keys


def test_fbnet_cifar_has_110_distinct_ops():
    # 12 distinct layer shapes x 9 candidates, minus identity skips sharing a key, plus stem and head
    assert len(space_uses(load_space("fbnet", variant="cifar"))) == 110


# --- prediction, cost vectors, bounds ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["layerwise", "factorized"])
def test_predict_is_the_sum_of_entries_and_bounds_are_exact(tmp_path, kind):
    space = tiny_space(tmp_path, kind)
    table = synthetic_table(space)
    archs = all_archs(space)
    preds = table.predict_many(space, archs, calibrated=False)
    arch = archs[5]
    assert preds[5] == pytest.approx(sum(table.entries[op_key(u)].ms for u in arch_uses(space, arch)))
    lo, hi = table.bounds(space, calibrated=False)
    assert lo == pytest.approx(preds.min()) and hi == pytest.approx(preds.max())


def test_cost_vectors_reproduce_predictions_linearly(tmp_path):
    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    archs = all_archs(space)
    measured = [1.3 * table.predict(space, a, False) + 0.7 for a in archs]
    table.calibration = fit_calibration(table, space, archs, measured)
    for calibrated in (False, True):
        const, vectors = table.cost_vectors(space, calibrated)
        assert list(vectors) == [d.label for d in space.decisions]
        assert all(len(vectors[d.label]) == len(d.choices) for d in space.decisions)
        for a in archs:
            expect = const + sum(vectors[d.label][d.choices.index(a[d.label])] for d in space.decisions)
            assert expect == pytest.approx(table.predict(space, a, calibrated))
        # expected latency under op probabilities is linear: equals the mean over sampled archs
        probs = {d.label: np.random.default_rng(0).dirichlet(np.ones(len(d.choices))) for d in space.decisions}
        expected = const + sum(float(probs[l] @ np.array(v)) for l, v in vectors.items())
        brute = sum(table.predict(space, a, calibrated) * math.prod(
            probs[d.label][d.choices.index(a[d.label])] for d in space.decisions) for a in archs)
        assert expected == pytest.approx(brute)
    lo, hi = table.bounds(space)
    preds = table.predict_many(space, archs)
    assert (lo, hi) == (pytest.approx(preds.min()), pytest.approx(preds.max()))


def test_cost_vectors_refuse_factorized_spaces(tmp_path):
    space = tiny_space(tmp_path, "factorized")
    with pytest.raises(LatencyTableError, match="does not add up per decision"):
        synthetic_table(space).cost_vectors(space)


def test_missing_entry_is_an_error_naming_op_and_shape(tmp_path):
    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    arch = space.make_arch({d.label: "k3_e3" for d in space.decisions})
    del table.entries["mbconv(exp_ratio=3,kernel_size=3) 8x8x8>8/s1"]
    with pytest.raises(LatencyTableError, match=r"mbconv .*8x8x8 -> 8 channels, stride 1.*s1\.0"):
        table.predict(space, arch)
    with pytest.raises(LatencyTableError):
        table.cost_vectors(space)
    assert [op_key(u) for u in table.missing(space)] == ["mbconv(exp_ratio=3,kernel_size=3) 8x8x8>8/s1"]


# --- calibration ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["layerwise", "factorized"])
def test_calibration_recovers_a_memory_bound_device(tmp_path, kind):
    space = tiny_space(tmp_path, kind)
    table = synthetic_table(space)
    archs = sample_archs(space, 40, "fit", 0)
    truth = [1.2 * table.predict(space, a, False) + 50 * table.features(space, a, ["params_m"])[0] + 0.3
             for a in archs]
    cal = fit_calibration(table, space, archs, truth)
    assert cal.model == "memory" and cal.loo_mape < 1e-6 and cal.raw_mape > 1
    table.calibration = cal
    test = sample_archs(space, 10, "test", 0)
    want = [1.2 * table.predict(space, a, False) + 50 * table.features(space, a, ["params_m"])[0] + 0.3 for a in test]
    assert table.predict_many(space, test) == pytest.approx(want, rel=1e-6)


def test_calibration_prefers_the_plain_sum_when_it_is_right(tmp_path):
    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    archs = sample_archs(space, 20, "fit", 0)
    cal = fit_calibration(table, space, archs, table.predict_many(space, archs, False))
    assert cal.model == "identity" and cal.coef == [1.0] and cal.intercept_ms == 0.0


@pytest.mark.parametrize("kind", ["layerwise", "factorized"])
def test_calibration_archs_spread_over_the_latency_range(tmp_path, kind):
    """Calibration archs cover the range evenly (uniform samples bunch in the middle), distinct, seeded."""
    space = tiny_space(tmp_path, kind)
    table = synthetic_table(space)
    lo, hi = table.bounds(space, calibrated=False)
    archs = spread_archs(table, space, 6, seed=0)
    preds = table.predict_many(space, archs, calibrated=False)
    assert len({tuple(space.encode(a)) for a in archs}) == 6
    assert preds.min() <= lo + 0.25 * (hi - lo) and preds.max() >= hi - 0.25 * (hi - lo)
    assert np.corrcoef(np.arange(6), preds)[0, 1] > 0.8  # the i-th arch is near the i-th spaced latency
    assert [a.choices for a in spread_archs(table, space, 6, seed=0)] == [a.choices for a in archs]


def test_sample_archs_avoids_excluded(tmp_path):
    space = tiny_space(tmp_path)
    first = sample_archs(space, 5, "calibrate", 0)
    second = sample_archs(space, 5, "validate", 0, exclude=first)
    enc = lambda xs: {tuple(space.encode(a)) for a in xs}  # noqa: E731
    assert len(enc(first)) == 5 and not enc(first) & enc(second)


# --- files and fingerprints --------------------------------------------------------------------------
def test_save_load_round_trip_is_atomic(tmp_path):
    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    archs = sample_archs(space, 8, "fit", 0)
    table.calibration = fit_calibration(table, space, archs, [2 * table.predict(space, a, False) for a in archs])
    path = table.save(tmp_path / "t" / "table.json")
    assert sorted(os.listdir(path.parent)) == ["table.json"]
    back = load_table(path)
    assert back.fingerprint == table.fingerprint and back.entries == table.entries
    assert back.calibration == table.calibration
    arch = space.sample(3)
    assert back.predict(space, arch) == pytest.approx(table.predict(space, arch))


@pytest.mark.parametrize("mutate, where", [
    (lambda d: "{not json", "corrupt"),
    (lambda d: {**d, "format": "other"}, "format"),
    (lambda d: {**d, "entries": {**d["entries"], "k": {"ms": "fast"}}}, r"entries\['k'\]"),
    (lambda d: {**d, "fingerprint": {k: v for k, v in d["fingerprint"].items() if k != "threads"}},
     "fingerprint.threads"),
    (lambda d: {**d, "const_covers": ["neck"]}, "const_covers"),
])
def test_bad_files_raise_one_clear_error(tmp_path, mutate, where):
    table = synthetic_table(tiny_space(tmp_path))
    data = mutate(table.to_dict())
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(LatencyTableError, match=where) as err:
        load_table(path)
    assert str(path) in str(err.value)
    with pytest.raises(LatencyTableError, match="existing"):
        load_table(tmp_path / "absent.json")


def test_entries_may_be_bare_numbers(tmp_path):
    space = tiny_space(tmp_path)
    data = synthetic_table(space).to_dict()
    data["entries"] = {k: v["ms"] for k, v in data["entries"].items()}
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(data))
    assert load_table(path).predict(space, space.sample(0)) > 0


def test_fingerprint_mismatch_names_the_fields(tmp_path):
    table = synthetic_table(tiny_space(tmp_path))
    expected = dict(table.fingerprint, threads=2, dtype="float16", date="another day", torch=None)
    with pytest.raises(LatencyTableError, match=r"threads: table has 1, target is 2; dtype") as err:
        table.check_fingerprint(expected)
    assert "date" not in str(err.value) and "torch" not in str(err.value)
    with pytest.warns(UserWarning, match="threads"):
        assert set(table.check_fingerprint(expected, allow_mismatch=True)) == {"threads", "dtype"}
    assert table.check_fingerprint(dict(table.fingerprint, date="x")) == {}


def test_target_fingerprint_checks_its_inputs():
    fp = target_fingerprint("cpu", 1, "float32", 1, 32)
    assert fp["threads"] == 1 and fp["torch"] == torch.__version__ and fp["device_name"]
    for bad in (dict(dtype="float64"), dict(batch_size=0), dict(threads=0), dict(device="tpu")):
        with pytest.raises(LatencyTableError):
            target_fingerprint(**{"device": "cpu", **bad})


# --- measuring, caching, validating (real timings, tiny) --------------------------------------------
@pytest.mark.parametrize("kind, reference", [("layerwise", True), ("factorized", True), ("layerwise", False)])
def test_build_table_measures_every_distinct_op_once(tmp_path, kind, reference):
    space = tiny_space(tmp_path, kind)
    table = build_table(space, threads=1, reference=reference, **FAST)
    assert ("reference" in table.meta) == reference
    assert set(table.entries) == {op_key(u) for u in space_uses(space)}
    assert all(e.ms > 0 and e.runs > 0 and e.params is not None and e.act > 0 for e in table.entries.values())
    assert table.fingerprint["threads"] == 1 and table.fingerprint["date"]
    assert table.predict(space, space.sample(0), calibrated=False) > 0


def test_get_table_caches_reuses_and_completes(tmp_path, monkeypatch):
    space = tiny_space(tmp_path)
    cache = tmp_path / "cache"
    table = get_table(space, threads=1, cache_dir=cache, calibrate=4, **FAST)
    protocol = {"reference": True, "context_mb": 16.0}
    assert table.path == cache_path(space, table.fingerprint, cache, protocol) and table.calibration.n_archs == 4
    assert cache_path(space, table.fingerprint, cache, dict(protocol, context_mb=0.0)) != table.path
    stamp = table.path.stat().st_mtime_ns
    import nas.latency.build as build

    def no_timing(*a, **k):
        raise AssertionError("a cached table was measured again")

    monkeypatch.setattr(build, "sweep", no_timing)
    again = get_table(space, threads=1, cache_dir=cache, calibrate=4, **FAST)
    assert again.entries == table.entries and table.path.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    # a lost entry is measured again and the now stale calibration refitted
    data = json.loads(table.path.read_text())
    lost = sorted(data["entries"])[0]
    del data["entries"][lost]
    table.path.write_text(json.dumps(data))
    fixed = get_table(space, threads=1, cache_dir=cache, calibrate=4, **FAST)
    assert lost in fixed.entries and fixed.calibration is not None
    # another thread count is another table
    assert cache_path(space, dict(table.fingerprint, threads=2), cache) != table.path
    table.path.write_text("{")
    with pytest.raises(LatencyTableError, match="rebuild"):
        get_table(space, threads=1, cache_dir=cache, calibrate=0, **FAST)
    rebuilt = get_table(space, threads=1, cache_dir=cache, calibrate=0, rebuild=True, **FAST)
    assert set(rebuilt.entries) == set(table.entries)



@pytest.mark.parametrize("factor", [0.1, 10.0])
def test_a_cached_table_of_a_much_faster_or_slower_host_warns(tmp_path, factor):
    """The fingerprint keys on the CPU's name; a cached table whose reference network ran 10x faster
    (slower) when it was built than it runs here warns, naming the file and the ratio."""
    space = tiny_space(tmp_path)
    cache = tmp_path / "cache"
    table = get_table(space, threads=1, cache_dir=cache, calibrate=0, **FAST)
    data = json.loads(table.path.read_text())
    data["meta"]["reference"]["ms"] *= factor
    table.path.write_text(json.dumps(data))
    word = "the table is likely of another host"
    with pytest.warns(UserWarning, match=word) as caught:
        get_table(space, threads=1, cache_dir=cache, calibrate=0, **FAST)
    msg = str(next(w.message for w in caught if word in str(w.message)))
    assert str(table.path) in msg and "meta.reference" in msg and "latency.rebuild=true" in msg
    ratio = float(msg.split("x):")[0].rsplit("(", 1)[1])
    assert (ratio > 2) if factor < 1 else (ratio < 1 / 2)


def test_validate_reports_and_plots(tmp_path):
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, calibrate=4, **FAST)
    v = validate_table(table, space, 3, seed=0, passes=1, min_run_time=0.001, progress=False)
    assert len(v.measured_ms) == 3 and all(m > 0 for m in v.measured_ms)
    assert set(v.raw) == {"n", "mape", "max_ape", "within", "kendall_tau"} and v.calibrated["n"] == 3
    assert v.reference_ms == table.meta["reference"]["ms"] and v.reference_now_ms > 0
    cal_archs = {tuple(a) for a in table.calibration.archs}
    assert not cal_archs & {tuple(a) for a in v.archs}
    timed = measure_archs(table, space, [space.sample(7)], passes=1, min_run_time=0.001)
    assert len(timed.ms) == 1 and timed.ms[0] > 0 and timed.reference.ms == table.meta["reference"]["ms"]
    assert v.anchors == 4 and v.anchor_scale > 0 and v.unanchored["n"] == 3
    files = write_report(v, tmp_path / "report")
    assert os.path.getsize(files["png"]) > 1000
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(files["tensorboard"]))
    assert json.loads(open(files["json"]).read())["raw"]["n"] == 3


def test_anchors_put_a_measurement_on_the_calibration_scale(tmp_path):
    """Calibration networks timed among the measured ones rescale them by (latency at build / now): with
    the build's anchor latencies doubled, every figure doubles (to noise) and the change is reported."""
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, calibrate=5, **FAST)
    nets, build_ms = anchor_archs(table, space, 3)
    assert len(nets) == 3 and build_ms == sorted(build_ms)
    assert build_ms[1] == sorted(table.calibration.measured_ms)[2]  # evenly over the calibration's range
    archs = sample_archs(space, 4, "anchors-test")
    plain = measure_archs(table, space, archs, passes=1, min_run_time=0.001, anchors=0)
    assert plain.anchor_scale is None and plain.anchors == 0 and plain.unanchored_ms is None
    cal = table.calibration  # its networks timed now, then claimed to have run twice as long at build
    cal.measured_ms = [2 * m for m in measure_archs(table, space, [space.decode(a) for a in cal.archs], passes=3,
                                                    min_run_time=0.01, anchors=0).ms]
    with pytest.warns(UserWarning, match="calibration networks ran -[0-9]+% against the reference"):
        timed = measure_archs(table, space, archs, passes=3, min_run_time=0.01, anchors=3)
    assert timed.anchors == 3 and 1.3 < timed.anchor_scale < 3.0
    assert timed.ms == pytest.approx([m * timed.anchor_scale for m in timed.unanchored_ms])
    assert sorted(_interleave(4, 3)) == sorted([(False, i) for i in range(4)] + [(True, j) for j in range(3)])
    assert [a for a, _ in _interleave(4, 2)] == [False, True, False, False, True, False]


def test_validate_refuses_a_table_from_elsewhere(tmp_path):
    space = tiny_space(tmp_path)
    table = synthetic_table(space, fingerprint={"device_name": "a phone"})
    with pytest.raises(LatencyTableError, match="device_name"):
        validate_table(table, space, 2, progress=False)


def test_timing_against_a_reference_is_a_ratio_of_its_latency(tmp_path):
    space = tiny_space(tmp_path)
    s = Setting(min_run_time=0.001)
    ref = make_reference(space, s)
    module, shapes = build_use(space, space_uses(space)[1])
    t = time_module(module, shapes, s, reference=ref)
    assert t.ratio > 0 and t.runs >= 3 and len(ref.samples) >= 3
    assert t.median_ms == pytest.approx(t.ratio * ref.ms)
    fixed = make_reference(space, s, nominal_ms=2.0)
    t = time_module(module, shapes, s, reference=fixed)
    assert t.median_ms == pytest.approx(2.0 * t.ratio) and fixed.measured_ms > 0


def test_ops_in_context_run_round_robin_over_weight_copies():
    from nas.latency.measure import _Cycle, _in_context

    op = torch.nn.Conv2d(16, 16, 1)  # 272 weights, 1088 bytes
    assert _in_context(op, 0.0) is op
    runner = _in_context(op, 4 * 1088 / 2**20)
    copies = [runner.next() for _ in range(8)]
    assert isinstance(runner, _Cycle) and len({id(c) for c in copies}) == 4 and copies[0] is copies[4]
    assert len({c.weight.data_ptr() for c in copies[:4]}) == 4
    x = torch.randn(1, 16, 4, 4)
    assert torch.equal(runner(x), op(x))
    assert _in_context(torch.nn.ReLU(), 16.0).__class__ is torch.nn.ReLU


def test_time_archs_returns_one_figure_per_arch(tmp_path):
    space = tiny_space(tmp_path)
    ms = time_archs(space, [space.sample(0), space.sample(1)], Setting(min_run_time=0.001), passes=2, progress=False)
    assert len(ms) == 2 and all(m > 0 for m in ms)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_build_on_cuda(tmp_path):
    space = tiny_space(tmp_path)
    table = build_table(space, device="cuda", threads=1, **FAST)
    assert table.fingerprint["device"] == "cuda" and table.fingerprint["device_name"] == torch.cuda.get_device_name()


def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(LatencyTableError, match="no CUDA device"):
        build_table(tiny_space(tmp_path), device="cuda", **FAST)
