"""NAS-Bench-201 as a cell space: arch strings, children (parameter counts against the benchmark's), the
supernet, latency accounting, export, the benchmark file reader, and the one-line errors.

Tests that read ``nb201_hw.npz`` skip without it (``../shared/datasets/nas-bench-201-hw`` beside the
clone, or ``$NAS_NB201_DIR``).
"""

import ast
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.benchmarks import BenchmarkError, NB201Bench
from nas.benchmarks.nb201 import EDGES, OPS, find_data
from nas.blocks.nb201 import Cell, Skip, Zero
from nas.latency.ops import op_key
from nas.profile import count_macs, count_params
from nas.space import SpaceError, load_space
from nas.space.base import build_block
from nas.strategies.fbnet import LatencyModel
from nas.supernet import build_supernet, supernet_modes
from nas.supernet.cell import SuperCell
from test_latency_fixtures import synthetic_table

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

try:
    BENCH = NB201Bench()
except BenchmarkError:
    BENCH = None
needs_data = pytest.mark.skipif(BENCH is None, reason="nb201_hw.npz not found (../shared/datasets/"
                                                      "nas-bench-201-hw or $NAS_NB201_DIR)")

TINY = """
name: tinycell
type: cell
variants:
  cifar: {resolution: 8, stem_stride: 1, strides: [1, 2], num_classes: 10}
stem: {chs: 8, kernel_size: 3, act: null}
stages: [{chs: 8, cells: 1}, {chs: 16, cells: 2}]
reduction: {block: nb201_resblock}
cell:
  nodes: 3
  ops:
    none: {block: nb201_zero}
    skip_connect: {block: nb201_skip}
    nor_conv_3x3: {block: nb201_conv, kernel_size: 3}
"""


@pytest.fixture(scope="module")
def space():
    return load_space("nb201", variant="cifar10")


def tiny(tmp_path, text=TINY):
    path = tmp_path / "tinycell.yaml"
    path.write_text(text)
    return load_space(path, variant="cifar")


def uniform(space, op):
    return space.make_arch({d.label: op for d in space.decisions})


def all_archs(space):
    return [space.make_arch(dict(zip([d.label for d in space.decisions], c)))
            for c in itertools.product(*[d.choices for d in space.decisions])]


def randomize(model):
    """Non-trivial BN statistics and affine parameters, so equality checks mean something."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
    return model


def batch_stats(model):
    """BN running statistics of one random batch (variances floored): activations of order 1."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.momentum = None
            m.reset_running_stats()
        model.train()(torch.randn(4, 3, 32, 32))
        for m in norms:
            m.momentum = 0.1
            m.running_var.clamp_(min=0.1)
    return model.eval()


# --- the space -----------------------------------------------------------------------------------
def test_space_shape_and_variants(space):
    assert space.kind == "cell" and space.size() == 15_625
    assert [d.label for d in space.decisions] == list(EDGES)
    assert all(d.choices == OPS for d in space.decisions)
    variants = [("cifar", 32, 10), ("cifar10", 32, 10), ("cifar100", 32, 100), ("imagenet16", 16, 120)]
    for variant, res, classes in variants:
        s = load_space("nb201", variant=variant)
        assert (s.resolution, s.num_classes, s.final_size()) == (res, classes, res // 4)
        assert [(st.chs, st.cells, st.stride) for st in s.stages] == [(16, 5, 1), (32, 5, 2), (64, 5, 2)]
    wide = load_space("nb201", variant="cifar", width_mult=2.0)
    assert [st.chs for st in wide.stages] == [32, 64, 128] and wide.stem["chs"] == 32


def test_arch_string_round_trip(space):
    arch = space.from_string(EXAMPLE)
    assert arch.choices == {"1<-0": "nor_conv_3x3", "2<-0": "nor_conv_3x3", "2<-1": "avg_pool_3x3",
                            "3<-0": "skip_connect", "3<-1": "nor_conv_3x3", "3<-2": "skip_connect"}
    assert space.to_string(arch) == EXAMPLE
    strings = [space.to_string(a) for a in all_archs(space)]
    assert len(set(strings)) == 15_625
    assert all(space.to_string(space.from_string(s)) == s for s in strings[::97])


@pytest.mark.parametrize("text,key", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "<string>"),             # two node groups
    ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),          # no opening bar
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2"),                        # too few edges
    ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "node 2"),                 # sources out of order
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),                  # no ~
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "1<-0"),               # unknown op
])
def test_bad_arch_strings_are_one_line_errors(space, text, key):
    with pytest.raises(SpaceError) as err:
        space.from_string(text)
    msg = str(err.value)
    assert "\n" not in msg and "arch string for space 'nb201'" in msg and f": {key}: expected" in msg
    if key == "1<-0":
        assert "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3" in msg and "conv_5x5" in msg


# --- children ------------------------------------------------------------------------------------
def fixed_params(classes, c=16):
    """Stem (conv + BN), the two reduction blocks, lastact BN and the classifier of NB201's network."""
    stem = 3 * c * 9 + 2 * c
    red = sum(ci * co * 9 + 2 * co + co * co * 9 + 2 * co + ci * co for ci, co in [(c, 2 * c), (2 * c, 4 * c)])
    return stem + red + 2 * 4 * c + 4 * c * classes + classes


def edge_params(op, c):
    return {"nor_conv_3x3": c * c * 9 + 2 * c, "nor_conv_1x1": c * c + 2 * c}.get(op, 0)


@pytest.mark.parametrize("variant,classes,smallest,largest", [
    ("cifar10", 10, 73_306, 1_531_546),       # NB201 / NATS-Bench: 0.073306 / 1.531546 M params
    ("cifar100", 100, 79_156, 1_537_396),     # 0.079156 / 1.537396
    ("imagenet16", 120, 80_456, 1_538_696),   # 0.080456 / 1.538696
])
def test_parameter_counts_match_the_benchmark(variant, classes, smallest, largest):
    s = load_space("nb201", variant=variant)
    with torch.device("meta"):
        counts = {op: count_params(s.build(uniform(s, op))) for op in OPS}
    assert counts["nor_conv_3x3"] == largest == fixed_params(classes) + 6 * 5 * sum(
        edge_params("nor_conv_3x3", c) for c in (16, 32, 64))
    assert counts["none"] == counts["skip_connect"] == counts["avg_pool_3x3"] == smallest == fixed_params(classes)
    assert counts["nor_conv_1x1"] == fixed_params(classes) + 30 * sum(edge_params("nor_conv_1x1", c)
                                                                      for c in (16, 32, 64))
    rng = np.random.default_rng(0)
    for _ in range(5):  # any arch: fixed part plus its edges' ops in every cell
        arch = s.sample(rng)
        with torch.device("meta"):
            n = count_params(s.build(arch))
        assert n == fixed_params(classes) + 5 * sum(edge_params(arch[d.label], c) for d in s.decisions
                                                    for c in (16, 32, 64))


def test_macs_match_the_benchmark_flops(space):
    # NB201 / NATS-Bench report 220.11969 / 7.78305 MFLOPs at CIFAR-10: conv and linear multiply-adds
    # plus the classifier's 10 biases
    with torch.device("meta"):
        assert count_macs(space.build(uniform(space, "nor_conv_3x3")), (1, 3, 32, 32)) + 10 == 220_119_690
        assert count_macs(space.build(uniform(space, "none")), (1, 3, 32, 32)) + 10 == 7_783_050


def test_child_trains_and_none_only_is_finite():
    s = load_space("nb201", variant="cifar", width_mult=0.5)
    net = s.build(s.from_string(EXAMPLE))
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 7])
    F.cross_entropy(net(x), y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    empty = s.build(uniform(s, "none")).eval()
    out = empty(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert torch.equal(out[0], out[1])  # every cell outputs zeros: the logits no longer depend on the input
    imnet = load_space("nb201", variant="imagenet16", width_mult=0.5)
    assert imnet.build(imnet.sample(0))(torch.randn(2, 3, 16, 16)).shape == (2, 120)


def test_cell_sums_its_nodes():
    x = torch.randn(1, 4, 5, 5)
    skip = Cell(4, 4, 1, edges=[Skip(4, 4, 1) for _ in range(6)])  # n1 = x, n2 = 2x, n3 = x + x + 2x
    assert torch.allclose(skip(x), 4 * x)
    edges = [Skip(4, 4, 1), Zero(4, 4, 1), Zero(4, 4, 1), Zero(4, 4, 1), Skip(4, 4, 1), Skip(4, 4, 1)]
    assert torch.allclose(Cell(4, 4, 1, edges=edges)(x), x)  # node 2 has only zero inputs: zeros
    with pytest.raises(ValueError):
        Cell(4, 4, 1, edges=edges[:5])


# --- supernet ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet():
    s = load_space("nb201", variant="cifar", width_mult=0.25)
    return s, randomize(build_supernet(s))


def test_supernet_fixed_path_equals_extracted_child(supernet):
    s, net = supernet
    assert supernet_modes(s) == ("soft", "hard", "fixed")
    x = torch.randn(2, 3, 32, 32)
    for arch in [s.from_string(EXAMPLE), uniform(s, "none"), s.sample(1)]:
        net.set_arch(arch).eval()
        child = net.extract(arch).eval()
        assert list(child.state_dict()) == list(s.build(arch).state_dict())
        with torch.no_grad():
            torch.testing.assert_close(child(x), net(x), rtol=0, atol=1e-6)
    net.train()


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_supernet_modes_train_theta(supernet, mode):
    s, net = supernet
    net.train().set_mode(mode, tau=1.0)
    assert len(net.arch_parameters()) == 6 and list(net.mixed_ops()) == list(EDGES)
    thetas = [k for k in net.state_dict() if k.endswith("theta")]
    assert len(thetas) == 6  # one theta per edge decision, not one per cell
    for seed in range(50):  # a hard draw with a none edge can leave a node dead (no gradient): draw again
        torch.manual_seed(seed)
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(torch.randn(2, 3, 32, 32)), torch.tensor([0, 3])).backward()
        if mode == "soft" or "none" not in net.sampled_arch().choices.values():
            break
    for label, c in net.mixed_ops().items():
        assert c.theta.grad is not None and c.theta.grad.abs().sum() > 0, label
        assert c.weights is not None and torch.isclose(c.weights.sum(), torch.tensor(1.0))
    if mode == "hard":  # one draw per pass: in every cell only the sampled op's weights got gradients
        arch = net.sampled_arch()
        for cell in [m for stage in net.stages for m in stage if isinstance(m, SuperCell)]:
            for d, edge in zip(s.decisions, cell.edges):
                for name, op in edge.ops.items():
                    got = [p.grad is not None for p in op.parameters()]
                    assert all(got) if name == arch[d.label] else not any(got), (d.label, name)
    net.set_mode("fixed")


def test_fbnet_expected_latency_uses_the_shared_draw(supernet):
    s, net = supernet
    table = synthetic_table(s)
    const, vectors = table.cost_vectors(s, calibrated=False)
    model = LatencyModel(const, {k: torch.tensor(v) for k, v in vectors.items()})
    net.set_mode("hard", tau=0.01)  # near one-hot draws: E[latency] is the sampled arch's latency
    net(torch.randn(1, 3, 32, 32))
    lat = model.expected(net)
    lat.backward()
    assert all(t.grad is not None for t in net.arch_parameters())
    assert float(lat.detach()) == pytest.approx(table.predict(s, net.sampled_arch(), calibrated=False), rel=1e-4)
    net.zero_grad(set_to_none=True)
    net.set_mode("fixed")


# --- latency accounting --------------------------------------------------------------------------
def test_cost_vectors_reproduce_predict_and_bounds_are_exact(space):
    table = synthetic_table(space)
    const, vectors = table.cost_vectors(space, calibrated=False)
    none = OPS.index("none")
    assert all(v[none] == 0 for v in vectors.values())  # a none edge runs (and costs) nothing
    for seed in range(20):
        arch = space.sample(seed)
        expect = const + sum(vectors[d.label][d.choices.index(arch[d.label])] for d in space.decisions)
        assert expect == pytest.approx(table.predict(space, arch, calibrated=False))
    grid = np.array(list(itertools.product(range(5), repeat=6)))
    totals = const + sum(np.asarray(vectors[e])[grid[:, k]] for k, e in enumerate(EDGES))
    lo, hi = table.bounds(space, calibrated=False)
    assert lo == pytest.approx(totals.min()) and hi == pytest.approx(totals.max())


def test_op_instances_are_what_the_cell_runs(tmp_path):
    s = tiny(tmp_path)
    table = synthetic_table(s)
    assert {op_key(u).split("(")[0] for u in s.all_network_ops()} == {
        "stem", "head", "nb201_resblock", "nb201_skip", "nb201_conv", "shortcut"}
    for arch in all_archs(s):
        net = s.build(arch)
        ran = []
        for stage in net.stages:
            for layer in stage:
                mods = [e for e in layer.edges if not isinstance(e, Zero)] if isinstance(layer, Cell) else [layer]
                for m in mods:
                    m.register_forward_hook(lambda m, i, o, ran=ran: ran.append((type(m).__name__, i[0].shape[1],
                                                                                   i[0].shape[2])))
        net(torch.zeros(1, 3, 8, 8))
        uses = s.op_instances(arch)
        body = [(type(build_block(u.config, u.in_chs, u.out_chs, u.stride)).__name__, u.in_chs, u.input_size)
                for u in uses if u.config["block"] != "shortcut"]
        assert sorted(body) == sorted(ran)
        live = [[arch[f"{i}<-{j}"] != "none" for j in range(i)] for i in range(1, 3)]
        adds_run = sum(max(0, sum(k) - 1) for k in live)
        adds_listed = sum(sum(k) for k in live[1:])  # every live edge into node 2 lists its add
        cells = 3
        assert sum(u.config["block"] == "shortcut" for u in uses) == cells * adds_listed
        assert adds_listed - adds_run == (1 if any(live[1]) else 0)  # one add too many per non-empty node >= 2
        assert table.predict(s, arch, calibrated=False) > 0


# --- export --------------------------------------------------------------------------------------
def test_export_writes_the_cell_as_constructor_calls(tmp_path):
    from nas.export import export_arch
    from nas.export.artifacts import load_source

    s = load_space("nb201", variant="cifar", width_mult=0.25)
    arch = s.from_string(EXAMPLE)
    torch.manual_seed(0)
    child = batch_stats(randomize(s.build(arch)))
    torch.save(child.state_dict(), tmp_path / "w.pt")
    result = export_arch(arch.save(tmp_path / "a.yaml"), tmp_path / "out", weights=tmp_path / "w.pt", verify=False,
                         onnx=False)
    source = (result.out / result.files["source"]).read_text()
    tree = ast.parse(source)
    assert "nas" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == result.metadata["class"])
    init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    strings = {n.value for n in ast.walk(init) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & set(OPS)  # ops are constructor calls, not names
    assert "# 2<-1: avg_pool_3x3" in source and EXAMPLE in source
    net = load_source(result.out / result.files["source"]).build_model()
    net.load_state_dict(torch.load(result.out / "weights.pt", weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    frozen = torch.jit.load(str(result.out / result.files["torchscript"]))
    with torch.no_grad():
        ref = child(x)
        assert float((net.eval()(x) - ref).abs().max()) <= 1e-5
        assert float((frozen(x) - ref).abs().max()) <= 1e-5
    bn = result.metadata["torchscript"]["batchnorm"]
    assert bn["left"] == 1 and bn["total"] > 1  # only the head's BN (after a cell's sum) has no conv to fold into


# --- the benchmark file --------------------------------------------------------------------------
@needs_data
def test_benchmark_index_round_trip_for_every_arch(space):
    assert len(BENCH) == 15_625 and len(BENCH.devices()) == 27
    assert BENCH.datasets() == ["cifar10", "cifar100", "imagenet16_120"]
    BENCH.check_space(space)
    idx = np.arange(15_625)
    assert (BENCH.index_of_codes(BENCH.codes) == idx).all()
    assert (BENCH.indices(BENCH.archs.tolist()) == idx).all()
    grid = np.array(list(itertools.product(range(5), repeat=6)))
    assert sorted(BENCH.index_of_codes(grid).tolist()) == idx.tolist()
    for i in range(0, 15_625, 311):  # the space's strings and encodings are the file's
        arch = space.from_string(BENCH.arch_string(i))
        assert BENCH.index(space.to_string(arch)) == i and BENCH.index_of_codes(space.encode(arch)) == i
    # the file's README: maxima and HW-NAS-Bench's published latencies of index 0
    assert [int(BENCH.accuracy(d).argmax()) for d in BENCH.datasets()] == [6111, 9930, 857]
    assert BENCH.accuracy("cifar", [6111])[0] == pytest.approx(94.373, abs=1e-3)
    assert BENCH.accuracy("imagenet16", [857]) == pytest.approx([47.311], abs=1e-3)
    assert [round(float(BENCH.latency(d, 0)), 3) for d in ("raspi4", "pixel3", "eyeriss", "fpga")] == [
        10.482, 3.606, 3.646, 2.573]
    assert BENCH.latency("pixel3", [0, 1, 0]).shape == (3,)


@needs_data
def test_benchmark_query_errors_are_one_line():
    for call, key, listed in [(lambda: BENCH.latency("pixle3"), "device", "pixel3, raspi4"),
                              (lambda: BENCH.accuracy("svhn"), "dataset", "cifar10, cifar100, imagenet16_120"),
                              (lambda: BENCH.index("|none~0|"), "archs", "|op~0|"),
                              (lambda: BENCH.accuracy("cifar10", [15_625]), "indices", "0..15624"),
                              (lambda: BENCH.index_of_codes([[0, 1, 2, 3, 4, 5]]), "codes", "0..4")]:
        with pytest.raises(BenchmarkError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and f": {key}: expected" in msg and listed in msg, msg


def test_missing_or_malformed_benchmark_file(tmp_path, monkeypatch):
    monkeypatch.delenv("NAS_NB201_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ../shared beside the working directory or the "repository"
    monkeypatch.setattr("nas.benchmarks.nb201.REPO", tmp_path / "repo")
    with pytest.raises(BenchmarkError) as err:
        NB201Bench(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nb201_hw.npz") in msg
    assert all(w in msg for w in ("NATS-Bench", "HELP", "HW-NAS-Bench", "NAS_NB201_DIR"))
    monkeypatch.setenv("NAS_NB201_DIR", str(tmp_path))
    assert str(tmp_path) in str(pytest.raises(BenchmarkError, find_data).value)
    grid = np.array(list(itertools.product(range(5), repeat=6)))
    strings = np.array(["|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*[OPS[k] for k in row]) for row in grid])
    good = {"archs": strings, "acc_cifar10": np.ones(15_625), "lat_cpu": np.ones(15_625)}
    bad = [({"archs": strings[:10]}, "archs"), ({"acc_cifar10": np.ones(3)}, "acc_cifar10"),
           ({"lat_cpu": np.full(15_625, np.nan)}, "lat_cpu"), ({"archs": np.where(strings == strings[4], "x", strings)},
                                                              "archs: [4]"),
           ({"archs": np.where(strings == strings[4], strings[5], strings)}, "archs")]
    for change, key in bad:
        np.savez(tmp_path / "nb201_hw.npz", **{**good, **change})
        with pytest.raises(BenchmarkError) as err:
            NB201Bench()
        assert "\n" not in str(err.value) and f"nb201_hw.npz: {key}: expected" in str(err.value), str(err.value)
    np.savez(tmp_path / "nb201_hw.npz", **good)
    b = NB201Bench()
    assert b.index(strings[7]) == 7 and b.devices() == ["cpu"] and b.accuracy("cifar").shape == (15_625,)


# --- space files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("old,new,key", [
    ("nodes: 3", "nodes: 1", "cell.nodes"),
    ("nodes: 3", "nodes: three", "cell.nodes"),
    ("nb201_zero}", "nb201_zeros}", "cell.ops.none.block"),
    ("kernel_size: 3}\n", "kernel_size: 3, stride: 2}\n", "cell.ops.nor_conv_3x3.stride"),
    ("    skip_connect:", "    skip~connect:", "cell.ops.skip~connect"),
    ("stages: [{chs: 8, cells: 1}, ", "stages: [", "variants.cifar.strides"),
    ("reduction: {block: nb201_resblock}\n", "", "reduction"),
    ("reduction: {block: nb201_resblock}", "reduction: {block: nb201_cell}", "reduction"),
    ("cells: 1}", "cells: 0}", "stages[0].cells"),
    ("stem: {chs: 8, kernel_size: 3, act: null}", "stem: {chs: 8, kernel_size: 3, act: null}\nhead: {chs: 32}",
     "head.chs"),
])
def test_space_file_errors_name_file_and_key(tmp_path, old, new, key):
    assert old in TINY
    with pytest.raises(SpaceError) as err:
        tiny(tmp_path, TINY.replace(old, new, 1))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / "tinycell.yaml")) and f": {key}" in msg, msg


def test_tiny_cell_space_is_general(tmp_path):
    s = tiny(tmp_path)
    assert s.size() == 27 and [d.label for d in s.decisions] == ["1<-0", "2<-0", "2<-1"]
    arch = s.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|")
    assert s.to_string(arch) == "|nor_conv_3x3~0|+|none~0|skip_connect~1|"
    assert s.build(arch)(torch.randn(1, 3, 8, 8)).shape == (1, 10)
    assert math.isclose(s.log10_size(), math.log10(27))


# --- the search app ------------------------------------------------------------------------------
def test_fbnet_search_runs_on_a_cell_space(tmp_path):
    from hydra import compose, initialize_config_dir
    from test_latency_fixtures import tiny_space

    from nas.search.config import register_configs
    from nas.search.run import run_search
    from nas.space import Arch
    from nas.strategies.fbnet import SearchError

    register_configs()
    table = synthetic_table(tiny(tmp_path)).save(tmp_path / "table.json")

    def cfg(space_path):
        with initialize_config_dir(str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
            return compose("search", overrides=[
                f"space.name={space_path}", "space.variant=cifar", f"latency.table={table}", "latency.measure=false",
                "data.limit_train=64", "data.limit_val=32", "method.epochs=1", "method.warmup_epochs=0",
                "method.batch_size=16", "method.max_steps_per_epoch=1", "method.samples=1",
                f"out_dir={tmp_path / 'run'}"])

    summary = run_search(cfg(tmp_path / "tinycell.yaml"), tmp_path)
    arch = Arch.load(tmp_path / "run" / "arch.yaml")
    assert arch.space == "tinycell" and list(arch.choices) == ["1<-0", "2<-0", "2<-1"]
    assert "a_lat_ms" in summary.history[-1]
    factorized = tiny_space(tmp_path, "factorized").source  # its supernet runs fixed paths only
    with pytest.raises(SearchError, match=r"the supernet of space 'tinyf' \(factorized\) runs fixed only"):
        run_search(cfg(factorized), tmp_path)


@pytest.mark.slow  # times ops and networks (at toy settings)
def test_latency_app_builds_a_cell_table(tmp_path, capsys):
    from hydra import compose, initialize_config_dir

    from nas.latency import load_table
    from nas.latency.app import CONF_DIR, run

    s = tiny(tmp_path)
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("latency", overrides=[f"space.name={s.source}", "space.variant=cifar", "threads=1",
                                            "min_run_time=0.001", "net_min_run_time=0.001", "passes=1", "net_passes=1",
                                            "progress=false", f"cache_dir={tmp_path / 'cache'}", "calibrate=3",
                                            "validate=2"])
    out = run(cfg, tmp_path / "run")
    table = load_table(out["table"])
    assert not table.missing(s) and table.calibration.n_archs == 3 and out["validation"].raw["n"] == 2
    assert not any(k.startswith("nb201_zero") for k in table.entries)  # none runs nothing: no entry
    lo, hi = table.bounds(s, calibrated=False)
    assert lo == pytest.approx(table.predict(s, uniform(s, "none"), calibrated=False)) and lo < hi
    assert "latency range of tinycell" in capsys.readouterr().out
