"""Evaluator fidelity (``nas.fidelity``): rank correlations with bootstrap intervals, MACs spreading, the
resumable ground truth."""

import json
import random

import pytest
from scipy import stats
import torch

from nas.data import search_data
from nas.fidelity import FidelityError, MacsTable, TruthFile, arch_key, rank_fidelity, spread_keys, train_truth
from nas.latency.calibrate import spread_archs
from nas.profile import count_macs
from nas.space import load_space
from nas.loops import Recipe


def test_rank_fidelity_values_and_intervals():
    truth = {str(i): float(i) for i in range(10)}
    same = rank_fidelity(truth, {k: 3 * v + 1 for k, v in truth.items()}, n_boot=200)
    assert same["n"] == 10 and same["kendall_tau"] == pytest.approx(1) and same["spearman_rho"] == pytest.approx(1)
    assert same["kendall_tau_ci"] == pytest.approx([1, 1])
    rev = rank_fidelity(truth, {k: -v for k, v in truth.items()}, n_boot=200)
    assert rev["kendall_tau"] == pytest.approx(-1) and rev["spearman_rho_ci"] == pytest.approx([-1, -1])
    rng = random.Random(3)
    noisy = {k: v + rng.gauss(0, 3) for k, v in truth.items()}
    r = rank_fidelity(truth, {**noisy, "extra": 5.0}, n_boot=200, seed=1)  # keys only in scores are ignored
    assert r["n"] == 10
    assert r["kendall_tau"] == pytest.approx(stats.kendalltau(list(truth.values()), list(noisy.values())).statistic)
    lo, hi = r["kendall_tau_ci"]
    assert lo < r["kendall_tau"] < hi and hi - lo > 0.1
    assert rank_fidelity(truth, noisy, n_boot=200, seed=1) == r  # seeded
    few = rank_fidelity({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})
    assert few["kendall_tau"] is None and few["kendall_tau_ci"] is None


def test_macs_table_is_exact_and_spreads_archs():
    space = load_space("fbnet", variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    table = MacsTable(space)
    lo, hi = table.bounds(space)
    for seed in range(2):
        arch = space.sample(seed)
        macs = count_macs(space.build(arch), (1, 3, 16, 16)) / 1e6
        assert table.predict(space, arch) == pytest.approx(macs, rel=1e-9) and lo <= macs <= hi
    archs = spread_archs(table, space, 5, seed=0)
    spread = [table.predict(space, a) for a in archs]
    assert spread == sorted(spread) and spread[-1] - spread[0] > 0.6 * (hi - lo)
    with pytest.raises(FidelityError, match="^space 'mnasnet': type: expected a layer-wise space"):
        MacsTable(load_space("mnasnet", variant="cifar"))


def test_truth_is_resumable_and_checked(tmp_path):
    space = load_space("fbnet", variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    data = search_data("digits", resolution=16, arch_fraction=0.0, limit_train=64, limit_val=32)
    recipe = Recipe(epochs=1, batch_size=32, augment=False, max_steps_per_epoch=1)
    archs = [space.sample(i) for i in range(3)]
    path = tmp_path / "truth.json"
    truth = TruthFile(path)
    truth.start({"name": "fbnet"}, {"epochs": 1}, spread_keys(space, archs))
    trained = []
    acc = train_truth(space, truth, data, recipe, on_arch=trained.append)
    assert set(acc) == {arch_key(space, a) for a in archs} and len(trained) == 3
    assert all(0 <= v <= 1 for v in acc.values())
    saved = json.loads(path.read_text())  # an interrupted run: the last arch has no accuracy yet
    del saved["archs"][2]["accuracy"]
    path.write_text(json.dumps(saved))
    again, retrained = TruthFile(path), []
    again.start({"name": "fbnet"}, {"epochs": 1}, spread_keys(space, archs))
    assert train_truth(space, again, data, recipe, on_arch=retrained.append) == acc  # seeded: the same figure
    assert [e["key"] for e in retrained] == [arch_key(space, archs[2])]
    with pytest.raises(FidelityError, match=r"truth.json: recipe: expected \{\"epochs\": 2\}"):
        TruthFile(path).start({"name": "fbnet"}, {"epochs": 2}, spread_keys(space, archs))
    with pytest.raises(FidelityError, match="truth.json: archs: expected the 2 archs this run plans"):
        TruthFile(path).start({"name": "fbnet"}, {"epochs": 1}, spread_keys(space, archs[:2]))


def test_an_arch_interrupted_between_epochs_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    import nas.fidelity as fidelity

    space = load_space("fbnet", variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    data = search_data("digits", resolution=16, arch_fraction=0.0, limit_train=64, limit_val=32)
    recipe = Recipe(epochs=3, batch_size=32, augment=True, max_steps_per_epoch=2)
    keys = lambda: spread_keys(space, [space.sample(4)])  # noqa: E731 - fresh entries per file
    whole = TruthFile(tmp_path / "whole.json")
    whole.start({"name": "fbnet"}, {"epochs": 3}, keys())
    expected = train_truth(space, whole, data, recipe)
    assert not whole.partial_path.exists()  # gone once the arch is done

    real, epochs = fidelity.train_epoch, []

    def killed_in_epoch_2(net, loader, opt, recipe, epoch, **kw):
        epochs.append(epoch)
        if len(epochs) == 2:
            raise KeyboardInterrupt
        return real(net, loader, opt, recipe, epoch, **kw)

    monkeypatch.setattr(fidelity, "train_epoch", killed_in_epoch_2)
    cut = TruthFile(tmp_path / "cut.json")
    cut.start({"name": "fbnet"}, {"epochs": 3}, keys())
    with pytest.raises(KeyboardInterrupt):
        train_truth(space, cut, data, recipe)
    assert cut.partial_path.is_file() and torch.load(cut.partial_path, weights_only=True)["epoch"] == 1
    monkeypatch.setattr(fidelity, "train_epoch", lambda *a, **kw: (epochs.append(a[4]), real(*a, **kw))[1])
    resumed = TruthFile(tmp_path / "cut.json")
    resumed.start({"name": "fbnet"}, {"epochs": 3}, keys())
    assert train_truth(space, resumed, data, recipe) == expected  # the same weights, order and augmentation
    assert epochs == [0, 1, 1, 2] and not resumed.partial_path.exists()


def test_a_diverging_arch_counts_at_chance(tmp_path):
    space = load_space("fbnet", variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    data = search_data("digits", resolution=16, arch_fraction=0.0, limit_train=64, limit_val=32)
    truth = TruthFile(tmp_path / "truth.json")
    truth.start({"name": "fbnet"}, {"lr": 1e30}, spread_keys(space, [space.sample(0)]))
    acc = train_truth(space, truth, data, Recipe(epochs=2, batch_size=32, lr=1e30, augment=False))
    entry = json.loads((tmp_path / "truth.json").read_text())["archs"][0]
    assert list(acc.values()) == [0.1] and "loss is" in entry["diverged"]
