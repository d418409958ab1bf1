"""The supernet trainer: options and their errors, path sampling (uniform / fair / sandwich), in-place
distillation, the cached artefact shared by the oneshot evaluator and FBNet's hard-mode warm-up."""

from pathlib import Path

import pytest
import torch

from nas.data import ImageData, SearchData
from nas.evaluators import EVALUATORS
from nas.space import load_space
from nas.supernet.training import PathSampler, SupernetError, SupernetOptions, SupernetTrainer, candidate_macs

TOY = Path(__file__).resolve().parent / "toy_spaces" / "toy6x4.yaml"


@pytest.fixture(scope="module")
def space():
    return load_space(TOY, variant="cifar")


def toy_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    part = lambda k: ImageData(torch.randint(0, 256, (k, 3, 8, 8), generator=g, dtype=torch.uint8),
                               torch.randint(0, 4, (k,), generator=g), 4, (0.5,) * 3, (0.25,) * 3, "toy")
    return SearchData(part(n), part(16), part(16))


@pytest.mark.parametrize("options, message", [
    ({"sampling": "often"}, "supernet: sampling: expected one of uniform, fair, got 'often'"),
    ({"sampling": "fair", "sandwich": True}, "supernet: sandwich: expected sampling=uniform"),
    ({"distill": True}, "supernet: distill: expected sandwich=true"),
    ({"epochs": 0}, "supernet: epochs: expected an integer >= 1, got 0"),
    ({"superkernels": True}, "supernet: superkernels: expected an option of the supernet"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(SupernetError) as err:
        SupernetOptions.of(options)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_fair_sampling_runs_every_candidate_once_per_step(space):
    sampler = PathSampler(space, SupernetOptions(sampling="fair"), seed=0)
    for _ in range(3):
        paths = sampler()
        assert len(paths) == 4  # the most candidates a decision has
        for d in space.decisions:
            assert sorted(p.choices[d.label] for p in paths) == sorted(d.choices)


def test_sandwich_paths_are_the_largest_and_smallest(space):
    macs = candidate_macs(space)
    sampler = PathSampler(space, SupernetOptions(sandwich=True, sandwich_random=3), seed=0)
    paths = sampler()
    assert len(paths) == 5
    for d in space.decisions:
        costs = dict(zip(d.choices, macs[d.label]))
        assert costs[paths[0].choices[d.label]] == max(costs.values())
        assert costs[paths[1].choices[d.label]] == min(costs.values())
    assert paths[0].choices["s1.0"] == "k5_e3" and paths[1].choices["s1.0"] == "skip"


@pytest.mark.parametrize("options", [{"sampling": "fair"}, {"sandwich": True, "distill": True}])
def test_a_step_trains_every_path_it_runs(space, options, tmp_path):
    """Gradients of all the step's paths accumulate before the one update: with fair sampling every
    candidate's parameters get a gradient in one step."""
    trainer = SupernetTrainer(space, toy_data(), {**options, "cache_dir": str(tmp_path)})
    net = trainer.build().train()
    step = trainer.step_fn(net, PathSampler(space, trainer.opts, seed=0))
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))
    net.zero_grad(set_to_none=True)
    out, loss = step(x, y)
    loss.backward()
    assert out.shape == (8, 4) and torch.isfinite(loss)
    for label, mixed in net.mixed_ops().items():
        for cand, op in mixed.ops.items():
            params = list(op.parameters())
            ran = options.get("sampling") == "fair" or cand in ("k5_e3", "skip")
            if ran:
                assert all(p.grad is not None for p in params), (label, cand)
        assert mixed.shared.weights["conv_dw__conv"].grad is not None


def test_distilled_paths_learn_the_largest_paths_prediction(space, tmp_path, monkeypatch):
    import nas.supernet.training as training

    seen = []
    real = training.soft_cross_entropy
    monkeypatch.setattr(training, "soft_cross_entropy", lambda out, p: seen.append(p) or real(out, p))
    trainer = SupernetTrainer(space, toy_data(), {"sandwich": True, "distill": True, "cache_dir": str(tmp_path)})
    net = trainer.build().train()
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))
    trainer.step_fn(net, PathSampler(space, trainer.opts, seed=0))(x, y)
    assert len(seen) == 3  # smallest + 2 random paths; the largest learns the labels
    assert not seen[0].requires_grad and torch.allclose(seen[0].sum(1), torch.ones(8))
    assert all(p is seen[0] for p in seen)


def test_training_is_cached_and_leaves_the_random_state(space, tmp_path):
    data = toy_data()
    opts = {"epochs": 2, "batch_size": 16, "cache_dir": str(tmp_path)}
    first = SupernetTrainer(space, data, opts, seed=1)
    net = first.build()
    state = torch.get_rng_state()
    first.train(net, progress=False)
    assert torch.equal(torch.get_rng_state(), state) and not first.reused and first.cache_path.is_file()
    again = SupernetTrainer(space, data, opts, seed=1)
    net2 = again.train(progress=False)
    assert again.reused and again.cache_path == first.cache_path
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), k
    # another option, seed or weight split is another artefact
    others = [SupernetTrainer(space, data, {**opts, "sampling": "fair"}, seed=1),
              SupernetTrainer(space, data, opts, seed=2), SupernetTrainer(space, toy_data(seed=5), opts, seed=1)]
    assert len({t.cache_path for t in others} | {first.cache_path}) == 4
    # bn_batches and cache_dir do not change what is trained
    assert SupernetTrainer(space, data, {**opts, "bn_batches": 2}, seed=1).cache_path == first.cache_path


def test_oneshot_evaluator_scores_with_the_trained_supernet(space, tmp_path):
    data = toy_data()
    ev = EVALUATORS.get("oneshot").from_config(
        space, data, lambda arch: 1.0, {"name": "oneshot", "supernet": {"epochs": 1, "batch_size": 16,
                                                                         "bn_batches": 2, "cache_dir": str(tmp_path)}})
    out = ev(space.sample(0))
    assert 0.0 <= out["accuracy"] <= 1.0 and out["latency_ms"] == 1.0 and ev.cache_path.is_file()
    assert ev.supernet.mixed_ops()["s1.0"].shared is not None  # the default supernet: superkernels
    ev2 = EVALUATORS.get("oneshot").from_config(
        space, data, lambda arch: 1.0, {"name": "oneshot", "supernet": {"epochs": 1, "batch_size": 16,
                                                                         "bn_batches": 2, "cache_dir": str(tmp_path)}})
    assert ev2(space.sample(0))["accuracy"] == out["accuracy"] and ev2.reused


def test_fbnet_hard_mode_warm_starts_from_the_oneshot_evaluators_supernet(tmp_path):
    """One artefact: a controller search with the oneshot evaluator trains it, FBNet's hard mode reuses it
    for its warm-up epochs (and trains it itself when there is none)."""
    from nas.search.run import run_search
    from test_search import table_for, tiny_cfg, toy_space
    from test_search_controllers import controller_cfg

    space_path = toy_space(tmp_path)
    table = table_for(load_space(space_path, variant="cifar"), lambda use: 1.0).save(tmp_path / "table.json")
    common = ["data.limit_train=96", "supernet.epochs=1", "supernet.batch_size=16", "supernet.max_steps_per_epoch=2",
              f"supernet.cache_dir={tmp_path / 'supernets'}"]
    run_search(controller_cfg(tmp_path, space_path, table, "method=random", "method.budget=2", *common), tmp_path)
    cached = list((tmp_path / "supernets").glob("*.pt"))
    assert len(cached) == 1
    summary = run_search(tiny_cfg(tmp_path, space_path, table, *common, f"out_dir={tmp_path / 'fb'}"), tmp_path)
    assert any(f"reused from {cached[0]}" in n for n in summary.notes), summary.notes
    assert [h["epoch"] for h in summary.history] == [2, 3]  # the warm-up epoch was the shared training
    fresh = run_search(tiny_cfg(tmp_path, space_path, table, *common[:-1], f"supernet.cache_dir={tmp_path / 'x'}",
                                f"out_dir={tmp_path / 'fb2'}"), tmp_path)
    assert any("trained in" in n for n in fresh.notes) and fresh.found.arch_file
    off = run_search(tiny_cfg(tmp_path, space_path, table, *common, "method.warm_start=false",
                              f"out_dir={tmp_path / 'fb3'}"), tmp_path)
    assert not any("warm-started" in n for n in off.notes) and [h["epoch"] for h in off.history] == [1, 2, 3]


def test_supernet_config_errors_are_one_line(tmp_path):
    from nas.search.run import run_search
    from test_search import table_for, tiny_cfg, toy_space

    space_path = toy_space(tmp_path)
    table = table_for(load_space(space_path, variant="cifar"), lambda use: 1.0).save(tmp_path / "table.json")
    with pytest.raises(SupernetError, match="^supernet: distill: expected sandwich=true"):
        run_search(tiny_cfg(tmp_path, space_path, table, "supernet.distill=true"), tmp_path)


def test_fixed_transitions_leave_the_decisions():
    """space option fix_transitions: the channel-changing layers run one op and are not searched."""
    from nas.space import SpaceError
    from nas.supernet import MixedOp, build_supernet

    space = load_space("fbnet", variant="cifar", width_mult=0.5, fix_transitions="k3_e6")
    fixed = [l.label for l in space.layers if l.stride != 1 or l.in_chs != l.out_chs]
    assert sorted(space.fixed) == sorted(fixed) and len(fixed) == 6 and len(space.decisions) == 16
    arch = space.sample(0)
    assert arch.space_args["fix_transitions"] == "k3_e6" and not set(fixed) & set(arch.choices)
    net = build_supernet(space)
    assert not any(isinstance(m, MixedOp) for m in (net.stages[int(l[1]) - 1][int(l.split(".")[1])] for l in fixed))
    assert type(net.extract(arch)) is type(space.build(arch))
    with pytest.raises(SpaceError, match="override fix_transitions: expected a candidate of transition layer s2.0"):
        load_space("fbnet", variant="cifar", fix_transitions="k7_e6")
    with pytest.raises(SpaceError, match="override fix_transitions: expected a layer-wise space"):
        load_space("nb201", variant="cifar10", fix_transitions="k3_e6")
