"""Lowered programs cached on disk (nas.runtimes.store) and lowered before timing on every core
(nas.runtimes.timing.prelower): a second process finds the program without lowering, the store keeps
under its size limit, a damaged entry is lowered again, and a sweep in a runtime times programs the
pre-lowering pass made (in worker processes, not in this one)."""

import io
import os

import pytest
import torch
from torch import nn

from nas.latency.measure import Setting, sweep
from nas.runtimes import RUNTIMES, lower
from nas.runtimes import store
from nas.runtimes.base import Artifact, Backend, weight_bytes
from nas.runtimes.timing import content_key, prelower


class PickledModule(Backend):
    """A runtime whose program is the pickled eager module; counts the lowerings done in this process
    and writes the lowering process's pid into the program."""

    name, package, extra = "pickled", "torch", "pickled"
    exported = 0

    def version(self):
        return "1.0"

    def export(self, module, inputs, dtype, calibration):
        type(self).exported += 1
        buf = io.BytesIO()
        torch.save({"module": module, "pid": os.getpid()}, buf)
        return Artifact(buf.getvalue(), ".pt", weight_bytes(module, dtype))

    def session(self, artifact, threads):
        module = torch.load(io.BytesIO(artifact.data), weights_only=False)["module"]
        return lambda inputs: module(*inputs)


def pid_of(data: bytes) -> int:
    return torch.load(io.BytesIO(data), weights_only=False)["pid"]


@pytest.fixture
def runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("NAS_LOWERED_CACHE", str(tmp_path / "lowered"))
    monkeypatch.setitem(RUNTIMES._items, "pickled", PickledModule)
    monkeypatch.setitem(RUNTIMES._meta, "pickled", {})
    monkeypatch.setattr(PickledModule, "exported", 0)
    from nas.runtimes import base

    monkeypatch.setattr(base, "_CACHE", base.OrderedDict())  # this process has lowered nothing yet
    return PickledModule()


def net(seed: int, width: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 2, 1)).eval()


def entries(root):
    return sorted(p.name for p in root.glob("*.json"))


def test_a_program_is_lowered_once_across_processes(runtime, tmp_path):
    from nas.runtimes import base

    x = torch.randn(1, 3, 6, 6)
    m = net(0)
    lower(runtime, m, [x], key=content_key(m))
    assert runtime.exported == 1 and len(entries(tmp_path / "lowered")) == 1
    base._CACHE.clear()  # as a new process would start
    prog = lower(runtime, m, [x], key=content_key(m))
    assert runtime.exported == 1  # read back from disk
    with torch.no_grad():
        assert torch.equal(prog(x), m(x))
    lower(runtime, m, [torch.randn(1, 3, 8, 8)], key=content_key(m))  # other input shapes: another program
    assert runtime.exported == 2
    other = net(1)
    lower(runtime, other, [x], key=content_key(other))  # other weights: another program
    assert runtime.exported == 3 and len(entries(tmp_path / "lowered")) == 3


def test_a_damaged_entry_is_lowered_again(runtime, tmp_path):
    from nas.runtimes import base

    x, m = torch.randn(1, 3, 6, 6), net(0)
    lower(runtime, m, [x], key=content_key(m))
    (prog,) = (tmp_path / "lowered").glob("*.pt")
    prog.write_bytes(prog.read_bytes()[:10])  # cut short (a full disk, a killed copy)
    base._CACHE.clear()
    lower(runtime, m, [x], key=content_key(m))
    assert runtime.exported == 2 and len(prog.read_bytes()) > 10


def test_store_keeps_under_its_limit_dropping_the_least_recently_used(runtime, tmp_path, monkeypatch):
    x = torch.randn(1, 3, 6, 6)
    mods = [net(i, width=64) for i in range(3)]
    lower(runtime, mods[0], [x], key=content_key(mods[0]))
    size = sum(p.stat().st_size for p in (tmp_path / "lowered").iterdir())
    monkeypatch.setenv("NAS_LOWERED_CACHE_MB", str(2.5 * size / 2**20))  # room for two programs
    lower(runtime, mods[1], [x], key=content_key(mods[1]))
    first = store.store_key("pickled", "1.0", "float32", content_key(mods[0]), ((1, 3, 6, 6),))
    os.utime(tmp_path / "lowered" / f"{first}.json", (1e9, 1e9))  # mods[0] used long ago
    lower(runtime, mods[2], [x], key=content_key(mods[2]))
    kept = entries(tmp_path / "lowered")
    assert len(kept) == 2 and f"{first}.json" not in kept


def test_store_off(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_LOWERED_CACHE", "off")
    m = net(0)
    lower(runtime, m, [torch.randn(1, 3, 6, 6)], key=content_key(m))
    assert store.store_dir() is None and not (tmp_path / "lowered").exists()


def test_sweep_times_programs_lowered_beforehand_in_worker_processes(runtime, tmp_path):
    from nas.runtimes import base

    s = Setting("cpu", "float32", 1, 1, 0.001, warmup=1, runtime="pickled")
    items = list(range(4))

    def make(i):
        return net(i), [(3, 6, 6)], f"net {i}"

    assert prelower(items, make, s, workers=2, progress=False) == 4
    assert runtime.exported == 0  # all four lowered by the workers
    arts = [store.load(store.store_key("pickled", "1.0", "float32", content_key(net(i)), ((1, 3, 6, 6),)))
            for i in items]
    assert all(a is not None for a in arts)
    pids = {pid_of(data) for data, _ in arts}
    assert pids and os.getpid() not in pids
    timings = sweep(items, make, s, passes=1, progress=False)  # finds them all: no lowering here
    assert runtime.exported == 0 and all(t.median_ms > 0 for t in timings)
    assert prelower(items, make, s, workers=2, progress=False) == 0
    base._CACHE.clear()
    items.append(9)
    sweep(items, make, s, passes=1, progress=False)  # one new program: lowered here, in this process
    assert runtime.exported == 1


def test_hundreds_of_modules_go_to_the_workers_by_value(runtime):
    """Sent through the pool's queue as they are, torch passes every tensor as a shared-memory file
    descriptor: an agent pack of ~190 fbnet programs ran out of open files. Sent pickled by value, a
    sweep of 300 modules fits in 128 descriptors."""
    import resource

    s = Setting("cpu", "float32", 1, 1, 0.001, runtime="pickled")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(128, hard), hard))
    try:
        n = prelower(list(range(300)), lambda i: (net(i, width=2), [(3, 4, 4)], "net"), s, workers=2, progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert n == 300 and runtime.exported == 0


def test_one_parameter_free_module_at_several_shapes_is_several_programs(runtime):
    s = Setting("cpu", "float32", 1, 1, 0.001, runtime="pickled")
    shapes = [(3, 4, 4), (8, 2, 2), (5, 6, 6)]
    assert prelower(shapes, lambda sh: (nn.ReLU(), [sh], "call"), s, workers=1, progress=False) == 3
    assert runtime.exported == 3
