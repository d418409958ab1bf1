"""Ops timed inside a network (``op_timing=net``, nas.latency.in_net): the base network, the networks
timed, the entries' arithmetic, caching, the runtime default and the errors (tiny spaces; nothing
asserts on speed)."""

import pytest
import torch

from nas.latency import LatencyTableError, build_table, get_table, op_key
from nas.latency.build import resolve_op_timing
from nas.latency.in_net import BASE_KEY, BASE_REPEATS, base_arch, plan
from nas.latency.measure import Timing
from nas.latency.ops import space_uses
from nas.latency.validate import validate_table
from nas.profile import count_macs
from test_latency_fixtures import tiny_space

FAST = dict(min_run_time=0.001, passes=1, net_passes=1, progress=False)


def macs(space, arch):
    torch.manual_seed(0)
    return count_macs(space.build(arch), (1, 3, space.resolution, space.resolution))


def test_the_base_network_takes_each_decisions_fewest_macs(tmp_path):
    space = tiny_space(tmp_path)
    base = base_arch(space)
    assert "skip" in base.choices.values()
    for d in space.decisions:
        for c in d.choices:
            assert macs(space, base) <= macs(space, space.make_arch({**base.choices, d.label: c}))


def test_one_network_per_op_key_the_base_does_not_run(tmp_path):
    space = tiny_space(tmp_path)
    base = base_arch(space)
    items, zero = plan(space, base)
    keys = [i.key for i in items]
    assert len(keys) == len(set(keys))
    body = {op_key(u) for u in space_uses(space) if u.config["block"] not in ("stem", "head")}
    assert set(keys) | {op_key(u) for u in zero} == body and not set(keys) & {op_key(u) for u in zero}
    for item in items:  # the base with exactly one decision changed, to a choice that runs the item's key
        changed = [label for label, c in item.arch.choices.items() if c != base.choices[label]]
        assert len(changed) == 1
        assert item.key in {op_key(u) for u in space.op_instances(item.arch)}


def test_an_entry_is_what_its_op_adds_to_the_base_network(tmp_path, monkeypatch):
    """With the sweep faked to report the base at ratio 0.5 of the reference (and once 0.9: the median
    wins) and op network i at 0.5 + (i + 1) / 10, entry i is (i + 1) / 10 of the reference's latency and
    the base's latency is the constant for stem and head."""
    space = tiny_space(tmp_path)
    import nas.latency.measure as measure

    seen = []

    def fake_sweep(items, make, s, passes, desc, progress, reference):
        with torch.inference_mode():
            reference.block()
        out, n, bases = [], 0, 0
        for it in items:
            if it.key == BASE_KEY:
                bases += 1
                out.append(Timing(0.0, 0.0, 5, 0.9 if bases == 2 else 0.5, 0.01))
            else:
                seen.append(it)
                n += 1
                out.append(Timing(0.0, 0.0, 5, 0.5 + n / 10, 0.01))
        assert bases == BASE_REPEATS and all(it.arch == base_arch(space) for it in items if it.key == BASE_KEY)
        return out

    monkeypatch.setattr(measure, "sweep", fake_sweep)
    table = build_table(space, threads=1, op_timing="net", **FAST)
    base = base_arch(space)
    ref = table.meta["reference"]["ms"]
    assert table.meta["base"] == space.encode(base) and table.meta["op_timing"] == "net"
    assert table.const_ms == pytest.approx(0.5 * ref, abs=1e-6) and set(table.const_covers) == {"stem", "head"}
    assert not table.missing(space) and seen
    assert table.predict(space, base, calibrated=False) == pytest.approx(table.const_ms)
    for i, item in enumerate(seen):
        assert table.entries[item.key].ms == pytest.approx((i + 1) / 10 * ref, abs=1e-6)
        assert table.predict(space, item.arch, calibrated=False) == pytest.approx(
            table.const_ms + (i + 1) / 10 * ref, abs=1e-5)


def test_a_network_faster_than_the_base_gives_zero_not_a_negative_entry(tmp_path, monkeypatch):
    space = tiny_space(tmp_path)
    import nas.latency.measure as measure

    def fake_sweep(items, make, s, passes, desc, progress, reference):
        with torch.inference_mode():
            reference.block()
        return [Timing(0.0, 0.0, 5, 1.0 if it.key == BASE_KEY else 0.9, 0.01) for it in items]

    monkeypatch.setattr(measure, "sweep", fake_sweep)
    table = build_table(space, threads=1, op_timing="net", **FAST)
    assert all(e.ms == 0.0 for e in table.entries.values())


def test_an_in_net_table_is_built_timed_cached_apart_and_validated(tmp_path):
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, calibrate=3, op_timing="net", **FAST)
    assert table.meta["op_timing"] == "net" and table.calibration is not None and not table.missing(space)
    assert table.meta["ops_measured"] == len(plan(space, base_arch(space))[0])
    program = get_table(space, threads=1, cache_dir=tmp_path, calibrate=0, **FAST)
    assert program.path != table.path and "op_timing" not in program.meta
    again = get_table(space, threads=1, cache_dir=tmp_path, calibrate=3, op_timing="net", **FAST)
    assert again.path == table.path and again.entries == table.entries
    v = validate_table(table, space, 3, passes=1, min_run_time=0.001, progress=False)
    assert len(v.measured_ms) == 3 and all(m > 0 for m in v.measured_ms)
    assert v.reference_ms == table.meta["reference"]["ms"]


def test_a_cached_in_net_table_missing_ops_asks_for_a_rebuild(tmp_path):
    import json

    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, calibrate=0, op_timing="net", **FAST)
    data = json.loads(table.path.read_text())
    del data["entries"][sorted(data["entries"])[0]]
    table.path.write_text(json.dumps(data))
    with pytest.raises(LatencyTableError, match="rebuild") as err:
        get_table(space, threads=1, cache_dir=tmp_path, calibrate=0, op_timing="net", **FAST)
    assert str(table.path) in str(err.value) and "\n" not in str(err.value)


def test_the_runtime_names_the_default(monkeypatch):
    from nas.runtimes.eager import Eager

    assert resolve_op_timing("eager") == "program"
    monkeypatch.setattr(Eager, "op_timing", {"float32": "net"})
    assert resolve_op_timing("eager") == "net" and resolve_op_timing("eager", "program") == "program"
    assert resolve_op_timing("eager", dtype="bfloat16") == "program"


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_onnx_runtimes_default_to_fit_where_it_can_run(tmp_path, dtype):
    """ONNX Runtime and OpenVINO fit op costs on whole networks by default (measured better in both dtypes),
    in any space; without a reference they fall back to programs; a device job, which cannot fit, times ops
    inside networks where the space allows and as programs where not, while an explicit op_timing=net
    there stays an error (below)."""
    layerwise, factorized = tiny_space(tmp_path), tiny_space(tmp_path, "factorized")
    for runtime in ("onnxruntime", "openvino"):
        assert resolve_op_timing(runtime, None, dtype, layerwise) == "fit"
        assert resolve_op_timing(runtime, None, dtype, factorized) == "fit"
        assert resolve_op_timing(runtime, None, dtype, layerwise, reference=False) == "program"
        assert resolve_op_timing(runtime, None, dtype, layerwise, can_fit=False) == "net"
        assert resolve_op_timing(runtime, None, dtype, factorized, can_fit=False) == "program"
        assert resolve_op_timing(runtime, "program", dtype, layerwise) == "program"
        assert resolve_op_timing(runtime, "fit", dtype, layerwise, can_fit=False) == "fit"  # the caller refuses it
    for runtime in ("eager", "executorch"):
        assert resolve_op_timing(runtime, None, dtype if runtime != "eager" else "float32", layerwise) == "program"


@pytest.mark.parametrize("kind, kwargs, words", [
    ("layerwise", dict(op_timing="lone"), ["op_timing", "program, net, fit", "'lone'"]),
    ("layerwise", dict(op_timing="net", reference=False), ["op_timing=net", "reference=false"]),
    ("factorized", dict(op_timing="net"), ["op_timing=net", "does not add up per decision", "op_timing=program"]),
])
def test_what_op_timing_net_cannot_do_is_one_line(tmp_path, kind, kwargs, words):
    space = tiny_space(tmp_path, kind)
    with pytest.raises(LatencyTableError) as err:
        build_table(space, threads=1, **{**FAST, **kwargs})
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words)


def test_in_net_plumbing_in_a_runtime(tmp_path, monkeypatch, fake_backend):
    """Networks are lowered and timed in the table's runtime (conftest's fake one: a pickled module),
    by the runtime's default op timing."""
    monkeypatch.setattr(type(fake_backend), "op_timing", {"float32": "net"})
    monkeypatch.setenv("NAS_LOWERED_CACHE", str(tmp_path / "lowered"))
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, runtime="fake", calibrate=3, **FAST)
    assert table.meta["op_timing"] == "net" and "call_overhead_ms" not in table.meta
    assert table.fingerprint["runtime"] == "fake" and table.calibration is not None and not table.missing(space)
    assert any((tmp_path / "lowered").iterdir())
