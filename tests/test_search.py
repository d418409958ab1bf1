"""``python -m nas.search``: configs, a tiny end-to-end FBNet search, resume, latency pull, error paths."""

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from torch import nn

from nas.blocks import BLOCKS
from nas.checks import ConfigError
from nas.latency.fingerprint import cpu_name
from nas.errors import NasError
from nas.latency.ops import build_use, op_key, space_uses, use_stats
from nas.latency.table import Entry, LatencyTable
from nas.search.config import register_configs
from nas.search.run import format_summary, run_search
from nas.space import Arch, load_space
from nas.strategies.fbnet import FBNetSearch, SearchError

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")
register_configs()

TOY = """
name: toy
type: layerwise
variants:
  cifar: {resolution: 32, stem_stride: 2, strides: [2, 2], head_chs: 32, num_classes: 10}
stem: {chs: 8, kernel_size: 3, act: relu}
stages:
  - {chs: 16, layers: 2}
  - {chs: 16, layers: 1}
candidates:
  %s
head: {chs: 32, act: relu}
"""


def compose_search(*overrides):
    with initialize_config_dir(CONF, version_base="1.3"):
        return compose("search", overrides=list(overrides))


def toy_space(tmp_path, candidates="k3: {block: mbconv, kernel_size: 3, exp_ratio: 3}\n  skip: {block: skip}"):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY % candidates)
    return path


def table_for(space, cost):
    """A table whose entry for each op use costs ``cost(use)`` ms (stem and head: 0.1 ms)."""
    entries = {}
    for use in space_uses(space):
        with torch.device("meta"):
            module, _ = build_use(space, use)
        ms = 0.1 if use.site in ("stem", "head") else cost(use)
        entries[op_key(use)] = Entry(ms, **use_stats(module, use, 1))
    fp = {"device": "cpu", "device_name": cpu_name(), "threads": 1, "torch": torch.__version__, "dtype": "float32",
          "batch_size": 1, "resolution": space.resolution, "date": "2026-01-01"}
    return LatencyTable(fp, entries)


def tiny_cfg(tmp_path, space_path, table_path, *extra):
    return compose_search(f"space.name={space_path}", f"latency.table={table_path}", "latency.measure=false",
                          "data.limit_train=160", "data.limit_val=64", "method.epochs=3", "method.warmup_epochs=1",
                          "method.batch_size=16", "method.max_steps_per_epoch=3", "method.samples=3",
                          "supernet.epochs=1", "supernet.batch_size=16", "supernet.max_steps_per_epoch=3",
                          f"supernet.cache_dir={tmp_path / 'supernets'}", f"out_dir={tmp_path / 'run'}", *extra)


@pytest.fixture
def toy(tmp_path):
    path = toy_space(tmp_path)
    space = load_space(path, variant="cifar")
    table = table_for(space, lambda use: 0.05 if use.choice == "skip" else 2.0).save(tmp_path / "table.json")
    return path, table


def test_config_groups_and_schema():
    cfg = compose_search()
    assert cfg.method.name == "fbnet" and cfg.space.name == "fbnet" and cfg.data.name == "digits"
    assert cfg.device.type == "cpu" and cfg.method.tau0 == 5.0 and cfg.method.tau_decay == 0.956
    assert cfg.method.alpha == 0.2 and cfg.method.beta == 0.6 and cfg.method.mode == "hard"
    assert compose_search("method=evolution").space.name == "fbnet"
    from nas.search.run import apply_default_space

    mn = compose_search("method=mnasnet")
    assert apply_default_space(mn, ["method=mnasnet"]).space.name == "mnasnet"  # the controller's natural space
    assert apply_default_space(mn, ["method=mnasnet", "space=seeds"]).space.name == "fbnet"  # composed default kept
    for bad in (["method.epoch=3"], ["method.epochs=many"], ["method=gradient"], ["data=mnist"], ["bogus=1"]):
        with pytest.raises(ConfigCompositionException):
            compose_search(*bad)


def test_tiny_search_end_to_end(tmp_path, toy):
    space_path, table = toy
    summary = run_search(tiny_cfg(tmp_path, space_path, table), tmp_path / "unused")
    run = tmp_path / "run"
    for name in ("arch.yaml", "config.yaml", "latency_table.json", "summary.json", "checkpoint.pt"):
        assert (run / name).is_file(), name
    assert list((run / "tb").iterdir()) and len(list((run / "samples").glob("sample_*.yaml"))) >= 1
    arch = Arch.load(run / "arch.yaml")
    assert arch.space == "toy" and set(arch.choices) == {"s1.0", "s1.1", "s2.0"}
    assert json.loads((run / "summary.json").read_text())["found"]["latency_ms"] == summary.found.latency_ms
    # hard mode: the weights-only warm-up epoch is the shared supernet training (cached), then 2 search epochs
    assert [h["epoch"] for h in summary.history] == [2, 3] and "a_lat_ms" in summary.history[-1]
    assert any("warm-started" in n for n in summary.notes) and list((tmp_path / "supernets").glob("toy-*.pt"))


def test_found_archs_are_timed_the_way_the_table_was(tmp_path, toy, monkeypatch):
    """latency.measure times the final arch and the samples with the table's settings (threads, scale)."""
    import nas.latency.measure as measure

    space_path, table = toy
    seen = {}
    real = measure.time_archs

    def spy(space, archs, s, *args, **kwargs):
        seen.update(threads=s.threads, batch=s.batch_size, n=len(archs))
        return real(space, archs, s, *args, **kwargs)

    monkeypatch.setattr(measure, "time_archs", spy)
    data = json.loads(Path(table).read_text())
    foreign = tmp_path / "foreign.json"  # the same table from another CPU model: refused unless allowed
    foreign.write_text(json.dumps({**data, "fingerprint": {**data["fingerprint"], "device_name": "another cpu"}}))
    from nas.latency import LatencyTableError

    with pytest.raises(LatencyTableError, match="device_name: table has 'another cpu'.*allow_mismatch"):
        run_search(tiny_cfg(tmp_path, space_path, foreign, "latency.measure=true"), tmp_path / "unused")
    assert not (tmp_path / "run").exists() and not seen
    summary = run_search(tiny_cfg(tmp_path, space_path, foreign, "latency.measure=true", "latency.allow_mismatch=true",
                                  "method.epochs=1", "method.warmup_epochs=0", f"out_dir={tmp_path / 'run2'}"),
                         tmp_path / "unused")
    assert seen == {"threads": 1, "batch": 1, "n": 1 + len(summary.candidates)}
    assert summary.found.measured_ms > 0 and all(s.measured_ms > 0 for s in summary.candidates)
    seen.clear()  # a GPU's table (allowed) cannot be timed on this CPU-only machine: not timed, said so
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps({**data, "fingerprint": {**data["fingerprint"], "device": "cuda"}}))
    summary = run_search(tiny_cfg(tmp_path, space_path, gpu, "latency.measure=true", "latency.allow_mismatch=true",
                                  "method.epochs=1", "method.warmup_epochs=0", f"out_dir={tmp_path / 'run3'}"),
                         tmp_path / "unused")
    assert any("cuda" in n for n in summary.notes) and not seen
    assert summary.found.measured_ms is None and "found archs not timed" in format_summary(summary)


def test_a_remote_devices_table_is_not_timed_here_and_the_note_says_so(tmp_path, toy):
    """A table timed on another device (an agent's) prices the search; its found archs cannot be timed
    here, and the summary's note says so as a fact, not as an error to fix."""
    from nas.latency import load_table
    from nas.strategies.job import SearchJob

    space_path, table_path = toy
    data = json.loads(Path(table_path).read_text())
    remote = tmp_path / "remote.json"
    remote.write_text(json.dumps({**data, "fingerprint": {**data["fingerprint"], "device_name": "Cortex-A76"}}))
    space = load_space(space_path, variant="cifar")
    job = SearchJob(space=space, data=None, latency=load_table(remote), out_dir=tmp_path)
    arch = space.sample(0)
    entry = job.figures(arch, "arch.yaml")
    notes = job.measure([arch], [entry])
    assert entry.measured_ms is None and len(notes) == 1
    assert notes[0].startswith("found archs not timed here: the latency table was measured on another target "
                               "(device_name: table has 'Cortex-A76'")
    assert "its predictions" in notes[0] and "allow_mismatch" not in notes[0]
    job.settings.target_ms = 1.0  # latency.meet_target cannot time it either: the arch stands, nothing re-derived
    derived = []
    assert job.meet_target(arch, lambda t, low: derived.append(t) or arch) == (arch, []) and derived == []


def test_resume_ends_with_the_same_architecture(tmp_path, toy, monkeypatch):
    space_path, table = toy
    full = run_search(tiny_cfg(tmp_path / "a", space_path, table), tmp_path)
    original = FBNetSearch.run_epoch

    def interrupted(self):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(FBNetSearch, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_cfg(tmp_path / "b", space_path, table), tmp_path)
    monkeypatch.setattr(FBNetSearch, "run_epoch", original)
    resumed = run_search(tiny_cfg(tmp_path / "c", space_path, table, f"resume={tmp_path / 'b' / 'run'}"), tmp_path)
    assert Arch.load(resumed.found.arch_file) == Arch.load(full.found.arch_file)
    assert resumed.history == full.history
    a = torch.load(tmp_path / "a" / "run" / "checkpoint.pt", weights_only=True)["search"]["supernet"]
    b = torch.load(tmp_path / "b" / "run" / "checkpoint.pt", weights_only=True)["search"]["supernet"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_table_built_in_the_run_does_not_change_it(tmp_path, toy, monkeypatch):
    """Building a table draws random archs (calibration): a run that builds its table must end like one
    that reuses it from the cache."""
    import random

    import numpy as np

    import nas.search.run as search_run

    space_path, table = toy
    cached = run_search(tiny_cfg(tmp_path / "a", space_path, table), tmp_path)
    real = search_run.resolve_table

    def building(*args, **kwargs):
        torch.rand(100), random.random(), np.random.rand()  # what a build does to the global RNGs
        return real(*args, **kwargs)

    monkeypatch.setattr(search_run, "resolve_table", building)
    built = run_search(tiny_cfg(tmp_path / "b", space_path, table), tmp_path)
    assert built.history == cached.history
    assert Arch.load(built.found.arch_file) == Arch.load(cached.found.arch_file)


def test_theta_moves_toward_the_cheaper_op(tmp_path, toy):
    space_path, table = toy
    summary = run_search(tiny_cfg(tmp_path, space_path, table, "latency.target_ms=0.5", "latency.penalty=50",
                                  "method.theta_lr=0.1"), tmp_path)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["search"]["supernet"]
    names = ["k3", "skip"]
    for key, theta in state.items():
        if key.endswith("theta"):
            probs = theta.softmax(0)
            assert probs[names.index("skip")] > 0.5, (key, probs)
    assert summary.history[-1]["expected_latency_ms"] < summary.history[0]["expected_latency_ms"]


def test_found_arch_meets_the_target_not_just_argmax(tmp_path, toy):
    """With a target, the found arch is the most probable one whose table latency is within 5% below it;
    argmax per layer ignores how the layers add up (here theta stays uniform: argmax is all k3, 6.2 ms)."""
    space_path, table = toy
    target = ["latency.target_ms=4.3", "method.theta_lr=0.0", "method.epochs=2"]
    s = run_search(tiny_cfg(tmp_path, space_path, table, *target), tmp_path)
    assert s.derive == "target" and 0.95 * 4.3 <= s.found.latency_ms <= 4.3  # two k3 + one skip: 4.25
    assert sorted(Arch.load(s.found.arch_file).choices.values()) == ["k3", "k3", "skip"]
    s = run_search(tiny_cfg(tmp_path, space_path, table, *target, "method.derive=argmax"), tmp_path)
    assert s.derive == "argmax" and s.found.latency_ms == pytest.approx(6.2)
    with pytest.raises(ConfigError, match="method.derive: .*needs latency.target_ms"):
        run_search(tiny_cfg(tmp_path, space_path, table, "method.derive=target", "method.epochs=1",
                            "method.warmup_epochs=0"), tmp_path)
    with pytest.raises(ConfigError, match="method.derive: expected one of auto, argmax, target, sampled, got 'best'"):
        run_search(tiny_cfg(tmp_path, space_path, table, "method.derive=best"), tmp_path)


class Noise(nn.Module):
    """A candidate that replaces its input by noise (test-only block). (An all-zero op would not do: a
    layer's output scale is invisible through the next BatchNorm, so mixing weights could not tell.)"""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__()
        self.out_chs, self.stride = out_chs, stride

    def forward(self, x):
        n, _, h, w = x.shape
        return torch.randn(n, self.out_chs, -(-h // self.stride), -(-w // self.stride))


def test_search_finds_the_clearly_better_op(tmp_path, monkeypatch):
    """FBNet's soft mixing (the paper's gradient) finds the op that is clearly better. The hard
    straight-through estimator sees only the sampled op's output scale and is not held to this."""
    monkeypatch.setitem(BLOCKS._items, "noise", Noise)
    monkeypatch.setitem(BLOCKS._meta, "noise", {"examples": []})
    path = toy_space(tmp_path, "conv: {block: conv, kernel_size: 3}\n  noise: {block: noise}")
    space = load_space(path, variant="cifar")
    table = table_for(space, lambda use: 1.0).save(tmp_path / "table.json")  # equal latency: accuracy decides
    summary = run_search(tiny_cfg(tmp_path, path, table, "method.epochs=8", "method.warmup_epochs=2",
                                  "method.max_steps_per_epoch=8", "method.theta_lr=0.1", "data.limit_train=480",
                                  "method.mode=soft"), tmp_path)
    assert set(Arch.load(summary.found.arch_file).choices.values()) == {"conv"}


@pytest.mark.parametrize("factor, rounds, choices, within", [
    (0.68, 2, ["k3", "k3", "k3"], True),  # 4.25 ms measures 2.89 (-33%): re-derived for 6.32 -> all k3, 4.216 ms
    (0.68, 0, ["k3", "k3", "skip"], False),  # latency.meet_target=0: the table alone
    (0.5, 2, ["k3", "k3", "k3"], False),  # 2.125 ms: for 8.6 ms, the dearest (6.2 ms) -> 3.1 ms, still under
    (1.0, 2, ["k3", "k3", "skip"], True),  # the table is right: nothing re-derived
])
def test_found_arch_is_re_derived_until_it_meets_the_target_on_the_device(tmp_path, toy, monkeypatch, factor, rounds,
                                                                          choices, within):
    """latency.meet_target: the found arch is timed on the device; where it misses the target by more than
    5%, the arch is derived again for the table target the measurement implies (the table's error there)."""
    from nas.latency.table import LatencyTable

    timed = []

    def measure(self, space, archs, **kw):  # the device runs every arch `factor` x the table's prediction
        timed.append(len(archs))
        assert kw["anchors"] == 3  # latency.anchors reaches the measurement
        return [factor * self.predict(space, a) for a in archs]

    monkeypatch.setattr(LatencyTable, "measure", measure)
    space_path, table = toy
    s = run_search(tiny_cfg(tmp_path, space_path, table, "latency.target_ms=4.3", "method.theta_lr=0.0",
                            "method.epochs=2", "latency.measure=true", f"latency.meet_target={rounds}",
                            "latency.anchors=3"), tmp_path)
    assert sorted(Arch.load(s.found.arch_file).choices.values()) == choices, (s.notes, s.found.extra)
    assert s.found.measured_ms == pytest.approx(factor * s.found.latency_ms)
    log = s.found.extra.get("meet_target", [])
    assert len(log) == (0 if rounds == 0 else 2 if choices[-1] == "k3" else 1)
    assert timed[:len(log)] == [1] * len(log) and timed[len(log)] == 4  # then found + 3 samples, as before
    if log:
        assert log[0] == {"table_target_ms": 4.3, "predicted_ms": 4.25, "measured_ms": round(factor * 4.25, 4)}
        note = next(n for n in s.notes if n.startswith("found arch timed on the device"))
        assert ("not within 5%" not in note) == within, note
    if len(log) == 2:  # the table target the first measurement implies, inside the space's range (0.35-6.2 ms)
        assert log[1]["table_target_ms"] == pytest.approx(min(4.3 / factor, 6.2), rel=1e-3)
        assert (abs(log[1]["measured_ms"] / 4.3 - 1) <= 0.05) == within


def test_without_a_target_the_found_arch_is_the_best_of_argmax_and_samples(tmp_path, monkeypatch):
    """theta stays uniform (theta_lr=0), so its argmax is every layer's first op: here a noise op, a corner
    of the space no trained path resembles. ``derive=auto`` without a target (``sampled``) picks, of the
    argmax and the samples, the lowest validation loss (here stubbed: per image, the number of noise ops,
    plus per-image noise of standard deviation ``sd``), a sample only if it beats the argmax by more than
    ``pick_margin`` standard errors of the paired difference."""
    from nas.strategies.fbnet import FBNetSearch

    monkeypatch.setitem(BLOCKS._items, "noise", Noise)
    monkeypatch.setitem(BLOCKS._meta, "noise", {"examples": []})
    path = toy_space(tmp_path, "noise: {block: noise}\n  conv: {block: conv, kernel_size: 3}")
    space = load_space(path, variant="cifar")
    table = table_for(space, lambda use: 1.0).save(tmp_path / "table.json")  # equal latency
    scored, sd = [], {"value": 0.0}

    def noise_ops(arch):
        return float(sum(c == "noise" for c in arch.choices.values()))

    def image_losses(self, arch):
        if dict(arch.choices) not in scored:
            scored.append(dict(arch.choices))
        gen = torch.Generator().manual_seed(zlib.crc32(repr(sorted(arch.choices.items())).encode()))  # per arch
        noise = torch.randn(50, generator=gen, dtype=torch.float64)
        return noise_ops(arch) + sd["value"] * (noise - noise.mean())  # mean: the noise ops, exactly

    monkeypatch.setattr(FBNetSearch, "image_losses", image_losses)
    monkeypatch.setattr(FBNetSearch, "validation_loss", lambda self, arch: float(image_losses(self, arch).mean()))
    common = ["method.theta_lr=0.0", "method.samples=6"]
    s = run_search(tiny_cfg(tmp_path, path, table, *common), tmp_path)
    found = Arch.load(s.found.arch_file).choices
    assert s.derive == "sampled" and scored[0] == {k: "noise" for k in found}  # the argmax comes first
    assert len(scored) >= 3 and sum(c == "noise" for c in found.values()) == min(
        sum(c == "noise" for c in a.values()) for a in scored) < 3
    assert any(n.startswith("found arch: the lowest search loss") and ", sample " in n for n in s.notes)
    # per-image noise (sd 20 on 50 images: a paired standard error of ~4) swamps gains of a few noise ops:
    # the argmax stays; with pick_margin=0 the lowest mean wins, whatever the noise
    sd["value"] = 20.0
    for margin, kept in ((2.0, True), (0.0, False)):
        scored.clear()
        s = run_search(tiny_cfg(tmp_path, path, table, *common, f"method.pick_margin={margin}"), tmp_path)
        found = Arch.load(s.found.arch_file).choices
        note = next(n for n in s.notes if n.startswith("found arch:"))
        assert (set(found.values()) == {"noise"}) == kept, note
        assert ("within the margin" in note) == kept, note
    scored.clear()
    s = run_search(tiny_cfg(tmp_path, path, table, *common, "method.derive=argmax"), tmp_path)
    assert s.derive == "argmax" and set(Arch.load(s.found.arch_file).choices.values()) == {"noise"}
    assert not scored and not any(n.startswith("found arch:") for n in s.notes)


def test_paired_gain_and_the_margin_rule():
    """The gain of a candidate over the argmax is the mean per-image difference with its standard error;
    a candidate displaces the argmax only beyond ``margin`` standard errors, the largest such gain wins."""
    from nas.strategies.fbnet_arch import choose_by_gain, paired_gain

    gen = torch.Generator().manual_seed(0)
    base = 1.0 + torch.rand(4000, generator=gen, dtype=torch.float64)
    noise = 0.5 * torch.randn(4000, generator=gen, dtype=torch.float64)
    gain, se = paired_gain(base, base - 0.2 + noise)
    assert gain == pytest.approx(0.2 - float(noise.mean()), abs=1e-9)
    assert se == pytest.approx(float(noise.std()) / 4000 ** 0.5, rel=1e-6)
    assert paired_gain(base, base - 0.3) == pytest.approx((0.3, 0.0), abs=1e-9)  # same shift on every image
    with pytest.raises(ValueError, match="same images"):
        paired_gain(base, base[:10])
    gains = [(0.01, 0.02), (0.1, 0.02), (0.3, 0.2), (-0.5, 0.01)]
    assert choose_by_gain(gains, 2.0) == 2  # 0.1 > 2 x 0.02; 0.3 is not > 2 x 0.2; a loss is no gain
    assert choose_by_gain(gains, 1.0) == 3 and choose_by_gain(gains, 0.0) == 3
    assert choose_by_gain(gains, 6.0) == 0 and choose_by_gain([], 2.0) == 0
    assert choose_by_gain([(0.0, 0.0)], 0.0) == 0  # a tie keeps the argmax


def test_error_paths(tmp_path, toy):
    space_path, table = toy
    with pytest.raises(SearchError, match="below the cheapest architecture"):
        run_search(tiny_cfg(tmp_path, space_path, table, "latency.target_ms=0.01"), tmp_path)
    with pytest.raises(SearchError, match="above the dearest architecture"):
        run_search(tiny_cfg(tmp_path, space_path, table, "latency.target_ms=1000"), tmp_path)
    with pytest.raises(SearchError, match="resume=.*no checkpoint.pt"):
        run_search(tiny_cfg(tmp_path, space_path, table, f"resume={tmp_path / 'nothing'}"), tmp_path)
    from nas.data import DataError
    from nas.latency import LatencyTableError

    with pytest.raises(DataError, match="data.root"):
        run_search(tiny_cfg(tmp_path, space_path, table, "data=cifar10", f"data.root={tmp_path / 'none'}"), tmp_path)
    phone = LatencyTable.from_dict({**json.loads(Path(table).read_text()),
                                    "fingerprint": {**json.loads(Path(table).read_text())["fingerprint"],
                                                    "device": "cuda"}})
    with pytest.raises(LatencyTableError, match="device"):
        run_search(tiny_cfg(tmp_path, space_path, phone.save(tmp_path / "gpu.json")), tmp_path)


def test_nan_loss_stops_naming_epoch_and_step(tmp_path, toy):
    space_path, table = toy
    with pytest.raises(ConfigError, match="method.w_lr: expected a number >= 0, got nan"):  # refused up front
        run_search(tiny_cfg(tmp_path, space_path, table, "method.w_lr=nan"), tmp_path)
    with pytest.raises(SearchError, match=r"loss is (nan|inf) at epoch \d, step \d"):  # a loss that diverges
        run_search(tiny_cfg(tmp_path, space_path, table, "method.w_lr=1e30", "method.max_steps_per_epoch=8",
                                    "method.warm_start=false"), tmp_path)
    with pytest.raises(NasError, match=r"^supernet training: loss is nan at epoch 1, step \d: stopping \(lower supernet.lr"):
        run_search(tiny_cfg(tmp_path, space_path, table, "supernet.lr=nan"), tmp_path)  # the shared warm-up


@pytest.mark.slow  # 9 s: a subprocess; tests/test_bad_inputs.py runs the CLI error rows in the default run
def test_cli_prints_one_clear_error(tmp_path, toy):
    space_path, table = toy
    out = subprocess.run([sys.executable, "-m", "nas.search", f"space.name={space_path}", f"latency.table={table}",
                          "latency.target_ms=0.001", f"out_dir={tmp_path / 'cli'}"], capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 2 and out.stderr.strip().startswith("error: latency.target_ms=0.001 is below")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("overrides", [["space=nb201"], ["space=nb201", "space.variant=cifar100"],
                                       ["space=nb201", "space.variant=imagenet16"], ["space.variant=imagenet"]])
def test_every_space_files_variants_pass_the_config_check(overrides):
    """The search config check leaves variants to the space file (nb201's are cifar10/cifar100/imagenet16)."""
    from nas.search.config import check_search_config

    check_search_config(compose_search(*overrides))


# --- FBNet's latency term is read in the space's own unit, not in ms ------------------------------------
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_fbnet_latency_term_is_the_same_on_a_faster_or_slower_machine(scale):
    """A machine 10x faster (the cheapest arch under 1 ms: log(ms) <= 0) made the search collapse onto
    all-`skip`; the term must not depend on the unit the table's costs are in."""
    import torch

    from nas.strategies.fbnet import FBNetOptions
    from nas.strategies.fbnet_latency import LatencyModel, fbnet_loss

    base = {"a": torch.tensor([0.0, 0.4, 1.2]), "b": torch.tensor([0.1, 0.9, 2.0])}
    model = LatencyModel(0.2 * scale, {k: v * scale for k, v in base.items()})
    ref = LatencyModel(0.2, base)
    opts, ce = FBNetOptions(), torch.tensor(1.5)
    for lat in (0.3, 1.0, 3.4):  # the cheapest arch (0.3), a middle one, the dearest
        assert float(fbnet_loss(ce, torch.tensor(lat * scale), opts, model)) == pytest.approx(
            float(fbnet_loss(ce, torch.tensor(lat), opts, ref)), rel=1e-5)
    assert float(fbnet_loss(ce, torch.tensor(0.3 * scale), opts, model)) == pytest.approx(1.5 * opts.alpha, rel=1e-4)
    lat = torch.tensor(0.5 * scale, requires_grad=True)  # log = 1 at the cheapest arch (above); just dearer:
    fbnet_loss(ce, lat, opts, model).backward()
    assert float(lat.grad) > 0  # costs more, also below 1 ms
