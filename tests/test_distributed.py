"""Data-parallel training (nas.distributed) on this CPU: 2 gloo processes compute what 1 process computes.

The equality tests spawn 2 processes (``torch.multiprocessing``, a file rendezvous) that run the same
seeded epoch as the test process; weights, theta, BatchNorm statistics and the epoch's figures must
agree to float tolerance (``RTOL``/``ATOL``): one global batch of 16 is 2 x 8 rows, BatchNorm
statistics are all-reduced (SyncBatchNorm, ``device.sync_bn=true``), gradients averaged (DDP for weights, an all-reduce for
theta), Gumbel draws the same on both ranks.
"""

import copy
import gc
import os
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from nas import distributed as dist
from nas.data import BatchLoader, load_digits_data, search_data
from nas.loops import Recipe, evaluate, make_optimizer, to_device, train_epoch
from nas.seeding import seed_everything
from nas.space import load_space
from nas.strategies.fbnet import FBNetOptions, FBNetSearch, LatencyModel
from nas.supernet import build_supernet

RTOL, ATOL = 1e-4, 1e-5  # weights, theta, BN statistics: float32 sums in another order over a few steps
# optimiser states are gradient-sized, and some gradients (of a conv before a BatchNorm, ~0 by its shift
# invariance) are mostly rounding: 1 process with 1 vs 2 threads differs more there than 2 ranks vs 1
GRAD_ATOL = 1e-4

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
  k3: {block: mbconv, kernel_size: 3, exp_ratio: 3}
  k5: {block: mbconv, kernel_size: 5, exp_ratio: 1}
  skip: {block: skip}
head: {chs: 32, act: relu}
"""


# --- helpers run both in the test process and in the spawned ranks ----------------------------------

def _space(path):
    return load_space(path, variant="cifar")


def _data():
    return search_data("digits", limit_train=160, limit_val=64, seed=0)


def fbnet_run(space_path, mode, epochs, state=None):
    """``epochs`` FBNet epochs (weights and theta from the first one) of a tiny supernet; its state after
    each epoch."""
    seed_everything(0)
    space = _space(space_path)
    net = build_supernet(space)
    costs = {label: torch.tensor([0.05 if n == "skip" else 2.0 for n in m.names])
             for label, m in net.mixed_ops().items()}
    opts = FBNetOptions(epochs=3, warmup_epochs=0, batch_size=16, mode=mode, max_steps_per_epoch=3)
    search = FBNetSearch(net, _data(), LatencyModel(0.5, costs), opts, seed=0)
    if state is not None:
        search.load_state_dict(state)
    states = []
    for _ in range(epochs):
        search.run_epoch()
        states.append(copy.deepcopy(search.state_dict()))
    return states


def child_run(space_path, steps=3):
    """A few steps of plain training of one child (``train_epoch`` + ``evaluate``): weights and figures."""
    seed_everything(0)
    space = _space(space_path)
    child = to_device(space.build(space.sample(__import__("random").Random(1))))
    recipe = Recipe(epochs=2, batch_size=16, lr=0.05, max_steps_per_epoch=steps, augment=True)
    opt, _ = make_optimizer(child, recipe)
    data = _data()
    loader = BatchLoader(data.weight, 16, augment=True, seed=0, drop_last=True)
    m = train_epoch(dist.prepare(child), loader, opt, recipe, 0, progress=False)
    m.update(evaluate(child, data.val, 20))
    return {"state": child.state_dict(), "figures": m}


def child_run_local_bn(space_path):
    """``child_run`` with per-rank BatchNorm statistics (``device.sync_bn=false``, the default)."""
    dist.use_sync_batchnorm(False)
    try:
        return child_run(space_path)
    finally:
        dist.use_sync_batchnorm(True)


def deep_grads64(_space_path=None):
    """The gradients of one step of MobileNetV1 (27 BatchNorms) in float64 through DDP: float32 rounding
    compounds through a deep net's BatchNorm backward passes (1 process's own float32 gradients are up
    to ~30% off the float64 ones at the stem), so exactness is shown in float64."""
    from nas.models import create_model

    seed_everything(0)
    net = create_model("mobilenetv1_025", num_classes=10, variant="cifar").double()
    x, y = next(iter(dist.local_loader(BatchLoader(_data().weight, 16, augment=True, seed=0, drop_last=True))))
    train_net = dist.prepare(net)
    train_net.train()
    torch.nn.functional.cross_entropy(train_net(x.double()), y, label_smoothing=0.1).backward()
    return {n: p.grad for n, p in net.named_parameters()}


def _init(rank, world, init_file):
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    dist.use_sync_batchnorm(True)  # the equality tests: global-batch statistics, as one process


def _worker(rank, world, init_file, out, space_path, jobs):
    _init(rank, world, init_file)
    try:
        for name, job in jobs:
            torch.save(job(space_path), Path(out) / f"{name}_{rank}.pt")
        torch.distributed.barrier()  # no rank leaves the group while the other still talks to it
    finally:
        gc.collect()  # DDP wrappers hold the group: let them go before it is destroyed, not at interpreter exit
        torch.distributed.destroy_process_group()


def spawn(jobs, space_path, world=2):
    """Run ``jobs`` [(name, fn(space_path) -> picklable)] on ``world`` gloo ranks; {name: [result per rank]}.

    A rank killed by a signal *after* every result was written (a gloo teardown abort, seen once in CI:
    "terminate called without an active exception" after the jobs) is reported as a warning: the
    results are complete and are what the tests compare. Killed before that, the spawn fails."""
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"{name}_{r}.pt" for name, _ in jobs for r in range(world)]
        try:
            mp.spawn(_worker, args=(world, os.path.join(tmp, "pg"), tmp, str(space_path), jobs), nprocs=world)
        except mp.ProcessExitedException as err:
            if err.signal_name is None or not all(f.exists() for f in files):
                raise
            warnings.warn(f"a gloo rank died at teardown after writing its results: {err}")
        return {name: [torch.load(Path(tmp) / f"{name}_{r}.pt", weights_only=False) for r in range(world)]
                for name, _ in jobs}


def assert_states_close(a, b, what, atol=ATOL):
    assert a.keys() == b.keys(), what
    for k in a:
        if torch.is_tensor(a[k]) and a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=RTOL, atol=atol, msg=lambda m: f"{what}: {k}: {m}")
        elif torch.is_tensor(a[k]):
            assert torch.equal(a[k], b[k]), f"{what}: {k}"


class _Job:  # picklable partials for mp.spawn
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __call__(self, space_path):
        return self.fn(space_path, *self.args)


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.yaml"
    path.write_text(TOY)
    return path


@pytest.fixture(scope="module")
def two_ranks(toy_path):
    """One spawn of 2 gloo ranks running the jobs the equality tests compare (spawning costs seconds)."""
    return spawn([("hard", _Job(fbnet_run, "hard", 2)), ("child", _Job(child_run)), ("deep", deep_grads64),
                  ("child_local", _Job(child_run_local_bn))], toy_path)


@pytest.fixture(scope="module")
def two_ranks_soft(toy_path):
    return spawn([("soft", _Job(fbnet_run, "soft", 2))], toy_path)


# --- tests -------------------------------------------------------------------------------------------

def test_shards_of_a_batch_make_the_batch():
    data = load_digits_data(32)
    loader = BatchLoader(data, 48, augment=True, seed=3, drop_last=True)
    loader.set_epoch(2)
    full = list(loader)
    shards = [list(loader.shard(r, 3)) for r in range(3)]
    for i, (x, y) in enumerate(full):
        assert [len(s[i][1]) for s in shards] == [16, 16, 16]
        assert torch.equal(torch.cat([s[i][0] for s in shards]), x)
        assert torch.equal(torch.cat([s[i][1] for s in shards]), y)
    uneven = BatchLoader(data.subset(torch.arange(10)), 4, shuffle=False)  # 4, 4, 2 rows over 3 ranks
    sizes = [[len(y) for _, y in uneven.shard(r, 3)] for r in range(3)]
    assert sizes == [[1, 1, 0], [1, 1, 1], [2, 2, 1]]
    from nas.data import DataError

    with pytest.raises(DataError, match="batch_size: expected a multiple of the number of processes \\(5\\)"):
        loader.shard(0, 5)


def test_single_process_helpers_are_no_ops():
    assert not dist.is_distributed() and dist.is_main() and dist.world_size() == 1
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert dist.prepare(net) is net and isinstance(net[1], nn.BatchNorm2d)  # nothing converted
    loader = BatchLoader(load_digits_data(32), 8)
    assert dist.local_loader(loader) is loader and dist.all_sum(1, 2.5) == [1.0, 2.5]
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    assert dist.setup("cpu") == "cpu"  # no torchrun environment: nothing joined


def test_sync_batchnorm_converts_in_place_and_back():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    bn, weight = net[1], net[1].weight
    dist.convert_sync_batchnorm(net)
    assert net[1] is bn and isinstance(bn, dist.SyncBatchNorm) and bn.weight is weight
    x = torch.randn(6, 3, 8, 8)
    ref = nn.BatchNorm2d(4)
    ref.load_state_dict(bn.state_dict())
    assert torch.equal(net(x), ref(net[0](x)))  # a plain BatchNorm on one process
    dist.revert_sync_batchnorm(net)
    assert type(net[1]) is nn.BatchNorm2d and net[1].weight is weight and set(net.state_dict()) == {
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"}


def test_fbnet_epoch_on_two_processes_equals_one(toy_path, two_ranks):
    """Weights, theta, BN statistics, optimiser states and the epochs' figures (weight and theta phases,
    validation of the derived arch after BN re-estimation) of 2 ranks x 8 rows = 1 process x 16 rows,
    after each of 2 epochs: hard (single-path Gumbel, the default) mode."""
    check_fbnet_epoch(toy_path, "hard", two_ranks["hard"])


@pytest.mark.slow
def test_fbnet_soft_epoch_on_two_processes_equals_one(toy_path, two_ranks_soft):
    """Soft mode (every candidate runs, mixed by Gumbel-softmax weights) amplifies rounding: after the
    first epoch 2 processes equal 1 to the tolerances above; after the second, 1 process with 2 threads
    is already 2.6e-3 (L2 over every float tensor) from 1 thread, and 2 processes, whose BatchNorms
    round otherwise (float64 sums), ~1e-2: the test bounds it by 10x that floor. A real divergence (another
    Gumbel draw, a missing reduction) moves the state by O(0.1-1)."""
    one = fbnet_run(toy_path, "soft", 2)
    r0, r1 = (r for r in two_ranks_soft["soft"])
    check_fbnet_state(one[0], r0[0], r1[0], "soft, epoch 1")
    torch.set_num_threads(2)
    try:
        other = fbnet_run(toy_path, "soft", 2)[1]["supernet"]
    finally:
        torch.set_num_threads(1)
    a, b = one[1]["supernet"], r0[1]["supernet"]
    assert_states_close(b, r1[1]["supernet"], "rank 0 vs rank 1")

    def distance(x, y):
        return sum(float((x[k] - y[k]).pow(2).sum()) for k in x if x[k].is_floating_point()) ** 0.5

    floor, two = distance(a, other), distance(a, b)
    assert two <= max(1e-5, 10 * floor), f"2 processes are {two:.2e} from 1 process, 2 threads {floor:.2e}"
    for k, v in one[1]["history"][-1].items():
        assert v == pytest.approx(r0[1]["history"][-1][k], rel=1e-3, abs=1e-4), k


def check_fbnet_epoch(toy_path, mode, ranks):
    for epoch, one in enumerate(fbnet_run(toy_path, mode, 2)):
        check_fbnet_state(one, ranks[0][epoch], ranks[1][epoch], f"{mode}, epoch {epoch + 1}")


def check_fbnet_state(one, r0, r1, mode):
    assert_states_close(r0["supernet"], r1["supernet"], "rank 0 vs rank 1")
    assert_states_close(one["supernet"], r0["supernet"], f"{mode}: 1 process vs 2")
    thetas = [k for k in one["supernet"] if k.endswith("theta")]
    assert thetas and any(one["supernet"][k].abs().max() > 1e-3 for k in thetas)  # theta moved
    h1, h2 = one["history"][-1], r0["history"][-1]
    assert h1.keys() == h2.keys() and "a_loss" in h1
    for k in h1:
        assert h1[k] == pytest.approx(h2[k], rel=1e-4, abs=1e-5), k
    for key in ("w_opt", "t_opt"):
        for pid, s in one[key]["state"].items():
            for name, v in s.items():
                if torch.is_tensor(v) and v.is_floating_point():
                    torch.testing.assert_close(v, r0[key]["state"][pid][name], rtol=1e-2, atol=GRAD_ATOL)
    assert torch.equal(one["torch_rng"], r0["torch_rng"])  # the same draws consumed


def test_fbnet_resumes_at_another_world_size(toy_path, two_ranks):
    """A checkpoint of the 2-process epoch continues in 1 process as the 1-process run continues."""
    straight = fbnet_run(toy_path, "hard", 2)[-1]
    resumed = fbnet_run(toy_path, "hard", 1, state=two_ranks["hard"][0][0])[-1]
    assert resumed["epoch"] == straight["epoch"] == 2
    assert_states_close(straight["supernet"], resumed["supernet"], "resumed after 2 ranks vs straight")


def test_deep_net_gradients_on_two_processes_equal_one_in_float64(two_ranks):
    one = deep_grads64()
    r0, r1 = two_ranks["deep"]
    for k in one:
        assert torch.equal(r0[k], r1[k]), k
        torch.testing.assert_close(r0[k], one[k], rtol=1e-9, atol=1e-12, msg=lambda m: f"{k}: {m}")


def test_child_training_on_two_processes_equals_one(toy_path, two_ranks):
    one = child_run(toy_path)
    r0, r1 = two_ranks["child"]
    assert_states_close(r0["state"], r1["state"], "rank 0 vs rank 1")
    assert_states_close(one["state"], r0["state"], "1 process vs 2")
    for k, v in one["figures"].items():
        assert v == pytest.approx(r0["figures"][k], rel=1e-4, abs=1e-5), k


def test_per_rank_batchnorm_keeps_the_ranks_equal(toy_path, two_ranks):
    """``device.sync_bn=false``: BatchNorms stay plain and see each rank's 8 rows (so the statistics are
    not one process's 16 rows'), but DDP averages the gradients and rank 0's running statistics are
    broadcast, so both ranks hold the same model to evaluate and save."""
    one = child_run(toy_path)
    r0, r1 = two_ranks["child_local"]
    assert_states_close(r0["state"], r1["state"], "rank 0 vs rank 1")
    key = next(k for k in one["state"] if k.endswith("running_mean"))
    assert not torch.allclose(one["state"][key], r0["state"][key], rtol=RTOL, atol=ATOL)
    assert r0["figures"] == r1["figures"]


# --- the apps under torchrun (slow: each launch imports torch in 3 processes) ----------------------------

REPO = Path(__file__).resolve().parents[1]


def torchrun(tmp_path, module, *overrides, nproc=2):
    """``torchrun --standalone --nproc-per-node=<nproc> -m <module> <overrides>``; its stdout."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", module,
           *overrides, f"hydra.run.dir={tmp_path / 'hydra'}"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_torchrun_train_continues_a_one_process_run_as_it_would_go_on(tmp_path, monkeypatch):
    """``torchrun -m nas.train`` (2 gloo ranks) resumes a 1-process checkpoint and ends where 1 process ends."""
    import test_train as tt
    from nas.train import run as train_run

    common = ["model=mobilenetv1_025", "augment=true", "seed=5", "max_steps_per_epoch=3"]
    full = train_run.run_train(tt.tiny_cfg(tmp_path / "full", *common), tmp_path)
    real = train_run.train_epoch

    def first_epoch_only(model, loader, opt, recipe, epoch, *args, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(model, loader, opt, recipe, epoch, *args, **kwargs)

    monkeypatch.setattr(train_run, "train_epoch", first_epoch_only)
    with pytest.raises(KeyboardInterrupt):
        train_run.run_train(tt.tiny_cfg(tmp_path / "cut", *common), tmp_path)
    stdout = torchrun(tmp_path, "nas.train", *tt.TINY, *common, f"resume={tmp_path / 'cut'}", "device.sync_bn=true")
    assert stdout.count("trained mobilenetv1_025") == 1  # rank 0 reports
    a = torch.load(tmp_path / "full" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "weights.pt", weights_only=True)
    assert a.keys() == b.keys()  # plain BatchNorm keys, no DDP prefix
    import json

    # MobileNetV1 is deep: 1 process's float32 BatchNorm gradients are themselves noisy (see deep_grads64),
    # so the figures agree to that noise, not to 1e-5 (exactness: the float64 and shallow-net tests above)
    result = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert [h["epoch"] for h in result["history"]] == [1, 2] and result["history"][0] == full.history[0]
    assert result["history"][-1]["val_acc"] == pytest.approx(full.history[-1]["val_acc"], abs=2 / 64 + 1e-9)
    assert result["history"][-1]["train_loss"] == pytest.approx(full.history[-1]["train_loss"], rel=1e-2)


@pytest.mark.slow
def test_torchrun_search_fbnet_equals_one_process(tmp_path):
    """``torchrun -m nas.search`` (FBNet, 2 ranks) writes one run dir holding what 1 process writes."""
    import test_search as ts
    from nas.search.run import run_search

    space_path = ts.toy_space(tmp_path)
    table = ts.table_for(load_space(space_path, variant="cifar"),
                         lambda use: 0.05 if use.choice == "skip" else 2.0).save(tmp_path / "table.json")
    args = [f"space.name={space_path}", f"latency.table={table}", "latency.measure=false", "data.limit_train=160",
            "data.limit_val=64", "method.epochs=2", "method.warmup_epochs=1", "method.batch_size=16",
            "method.max_steps_per_epoch=3", "method.samples=2", "supernet.epochs=1", "supernet.batch_size=16",
            "supernet.max_steps_per_epoch=3"]  # hard mode's warm-up: the shared supernet trainer, data-parallel too
    one = run_search(ts.compose_search(*args, f"out_dir={tmp_path / 'one'}", f"supernet.cache_dir={tmp_path / 'c1'}"),
                     tmp_path)
    stdout = torchrun(tmp_path, "nas.search", *args, f"out_dir={tmp_path / 'two'}",
                      f"supernet.cache_dir={tmp_path / 'c2'}", "device.sync_bn=true")
    assert stdout.count("found architecture") == 1
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)["search"]
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)["search"]
    assert_states_close(a["supernet"], b["supernet"], "1 process vs 2")
    assert (tmp_path / "two" / "arch.yaml").read_text() == (tmp_path / "one" / "arch.yaml").read_text()
    import json

    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["found"]["accuracy"] == pytest.approx(one.found.accuracy, abs=1 / 64 + 1e-9)


@pytest.mark.slow
def test_torchrun_controller_with_oneshot_evaluator(tmp_path):
    """Evolution + oneshot under torchrun: the supernet trains data-parallel, rank 0's strategy asks,
    both ranks score each arch; the log is 1 process's."""
    import json

    import test_search as ts
    from nas.search.run import run_search

    space_path = ts.toy_space(tmp_path)
    table = ts.table_for(load_space(space_path, variant="cifar"),
                         lambda use: 0.05 if use.choice == "skip" else 2.0).save(tmp_path / "table.json")
    args = [f"space.name={space_path}", f"latency.table={table}", "latency.measure=false", "data.limit_train=160",
            "data.limit_val=64", "method=evolution", "method.budget=5", "method.options.population_size=3",
            "method.options.sample_size=2", "supernet.epochs=1", "supernet.batch_size=16",
            "supernet.max_steps_per_epoch=3"]
    run_search(ts.compose_search(*args, f"out_dir={tmp_path / 'one'}", f"supernet.cache_dir={tmp_path / 'c1'}"),
               tmp_path)
    torchrun(tmp_path, "nas.search", *args, f"out_dir={tmp_path / 'two'}", f"supernet.cache_dir={tmp_path / 'c2'}",
             "device.sync_bn=true")
    logs = [[json.loads(line) for line in (tmp_path / d / "archs.jsonl").read_text().splitlines()]
            for d in ("one", "two")]
    assert [r["choices"] for r in logs[0]] == [r["choices"] for r in logs[1]] and len(logs[1]) == 5
    for r1, r2 in zip(*logs):
        assert r1["result"]["accuracy"] == pytest.approx(r2["result"]["accuracy"], abs=1 / 32 + 1e-9)
    a = torch.load(next((tmp_path / "c1").glob("*.pt")), weights_only=True)["supernet"]
    b = torch.load(next((tmp_path / "c2").glob("*.pt")), weights_only=True)["supernet"]
    assert_states_close(a, b, "oneshot supernet: 1 process vs 2")


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # the cuda context built (not entered) on this CPU
def test_bf16_autocast_path_trains_on_cpu():
    """``amp``: auto is bf16 autocast on CUDA only (none on CPU: single-process CPU runs are unchanged);
    bf16 forces it, which runs the CUDA code path's autocast on this CPU: bf16 activations, float32
    weights and gradients, a finite loss that falls."""
    assert isinstance(dist.autocast("cpu", "auto"), type(dist.autocast("cpu", "off")))
    assert isinstance(dist.autocast("cuda", "auto"), torch.autocast)
    with pytest.raises(dist.DistributedError, match="amp: expected one of auto, bf16, off"):
        dist.autocast("cpu", "fp8")
    seed_everything(0)
    net = to_device(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)))
    data = load_digits_data(32)
    recipe = Recipe(epochs=1, batch_size=32, lr=0.1, max_steps_per_epoch=8, amp="bf16", label_smoothing=0.0)
    opt, _ = make_optimizer(net, recipe)
    with dist.autocast("cpu", "bf16"):
        assert net(torch.zeros(2, 3, 32, 32)).dtype == torch.bfloat16
    loader = BatchLoader(data, 32, seed=0, drop_last=True)
    first = evaluate(net, data.subset(torch.arange(256)))["val_loss"]
    m = train_epoch(net, loader, opt, recipe, 0, progress=False)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in net.parameters())
    assert torch.isfinite(torch.tensor(m["train_loss"]))
    assert evaluate(net, data.subset(torch.arange(256)))["val_loss"] < first
