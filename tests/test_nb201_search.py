"""Searching NAS-Bench-201 with its ground truth (issue #13, items 2, 3, 5): evaluator=benchmark, the
benchmark latency source, hard constraints reaching the strategies, ground-truth figures, the bench
script. Tests that read ``nb201_hw.npz`` skip without it (``$NAS_NB201_DIR`` or ``../shared``)."""

import json
import math

import numpy as np
import pytest

from nas.benchmarks import BenchmarkError
from nas.benchmarks.truth import additive_fit, all_codes, front, hypervolume_ratio, optimum
from nas.errors import NasError
from nas.space import SpaceError, load_space
from test_nb201 import BENCH, needs_data

LEARNING = ["evolution", "mnasnet", "optuna", "bo"]


# --- ground-truth helpers (no file needed) -------------------------------------------------------------
def test_truth_helpers_on_known_data():
    codes = all_codes([3, 2, 4])
    assert codes.shape == (24, 3) and codes[0].tolist() == [0, 0, 0] and codes[5].tolist() == [0, 1, 1]
    assert optimum(np.array([1.0, 5.0, 3.0]), np.array([True, False, True])) == (2, 3.0)
    assert math.isnan(optimum(np.array([1.0]), np.array([False]))[1])
    lat, acc = np.array([1.0, 2.0, 2.0, 3.0, 4.0]), np.array([10.0, 30.0, 20.0, 25.0, 40.0])
    assert front(lat, acc).tolist() == [[1.0, 10.0], [2.0, 30.0], [4.0, 40.0]]
    hv = hypervolume_ratio([(1.0, 10.0), (2.0, 30.0), (4.0, 40.0)], lat, acc, ref=(4.0, 0.0))
    assert hv["hypervolume_ratio"] == 1.0 and hv["true_hypervolume"] == 10 * 1 + 30 * 2  # (4,40) adds no area
    assert hypervolume_ratio([(2.0, 30.0)], lat, acc, ref=(4.0, 0.0))["hypervolume_ratio"] == pytest.approx(60 / 70)
    # an additive latency is fitted exactly; the baseline choice costs 0
    costs = [[0.0, 1.5, 2.0], [0.0, 0.25], [0.0, 3.0, 1.0, 0.5]]
    truth_lat = 2.0 + sum(np.array(c)[codes[:, l]] for l, c in enumerate(costs))
    const, fitted, fit = additive_fit(codes, truth_lat, [3, 2, 4])
    assert const == pytest.approx(2.0) and np.allclose(np.concatenate(fitted), np.concatenate(costs))
    assert fit.r2 == pytest.approx(1.0) and fit.max_abs_ms < 1e-9


# --- errors a user can cause: one line each --------------------------------------------------------------
@needs_data
def test_user_errors_are_one_line(tmp_path):
    from nas.benchmarks.source import BenchmarkLatency
    from nas.evaluators import EVALUATORS

    space = load_space("nb201", variant="cifar10")
    cases = [
        (lambda: BenchmarkLatency("gold_6226", tmp_path / "nowhere.npz"), BenchmarkError, "nowhere.npz"),
        (lambda: BenchmarkLatency("gold_9999"), BenchmarkError, "latency.device: expected one of the file's 27"),
        (lambda: BenchmarkLatency(None), BenchmarkError, "gold_6226"),
        (lambda: EVALUATORS.get("benchmark").from_config(space, None, lambda a: 1.0, {"name": "benchmark"},
                                                         sections={"benchmark": {"dataset": "mnist"}}),
         BenchmarkError, "dataset: expected one of cifar10, cifar100, imagenet16_120"),
        (lambda: space.from_string("|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"), SpaceError,
         "1<-0: expected an op of this space"),
        (lambda: BENCH.index("|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"), BenchmarkError,
         "archs: expected one of the benchmark's arch strings"),
        (lambda: BenchmarkLatency("pixel3").measure(space, [space.sample()]), NasError,
         "measured on pixel3 by the benchmark's authors and cannot be timed here"),
    ]
    for call, error, expected in cases:
        with pytest.raises(error) as err:
            call()
        assert "\n" not in str(err.value) and expected in str(err.value), str(err.value)


# --- the latency source -------------------------------------------------------------------------------
@needs_data
def test_benchmark_latency_source(tmp_path):
    from nas.benchmarks.source import BenchmarkLatency
    from nas.latency.sources import LATENCY_SOURCES

    assert LATENCY_SOURCES.get("benchmark") is BenchmarkLatency
    space = load_space("nb201", variant="cifar10")
    src = BenchmarkLatency("raspi4")
    lat = BENCH.latency("raspi4")
    for i in (0, 77, 15_624):
        arch = space.from_string(BENCH.arch_string(i))
        assert src.predict(space, arch) == lat[i] == src.predict(space, arch, calibrated=False)
    assert src.bounds(space) == (lat.min(), lat.max())
    const, vectors = src.cost_vectors(space)
    assert list(vectors) == [d.label for d in space.decisions] and all(v[0] == 0.0 for v in vectors.values())
    codes = BENCH.codes
    additive = const + sum(np.array(vectors[d.label])[codes[:, k]] for k, d in enumerate(space.decisions))
    resid = additive - lat  # the least-squares fit: residuals orthogonal to every op indicator
    assert abs(resid.mean()) < 1e-6 and abs(resid[codes[:, 3] == 3].mean() * (codes[:, 3] == 3).mean()) < 1e-6
    assert src.fit[2].r2 > 0.9  # raspi4's latencies are nearly additive per edge op
    path = src.save(tmp_path / "latency_table.json")
    saved = json.loads(path.read_text())
    assert path.stat().st_size < 5000 and saved["device"] == "raspi4" and saved["bounds_ms"] == [lat.min(), lat.max()]
    assert "nothing was timed here" in saved["note"] and saved["fingerprint"]["threads"] is None


# --- the app: evaluator=benchmark latency.table=benchmark ---------------------------------------------------
@needs_data
def test_app_search_on_the_benchmark(tmp_path):
    from nas.search.run import run_search
    from test_search import compose_search

    cfg = compose_search("space=nb201", "evaluator=benchmark", "method=evolution", "method.budget=12",
                         "method.options.population_size=4", "method.options.sample_size=2",
                         "latency.table=benchmark", "latency.device=gold_6226", "latency.target_ms=8",
                         "latency.constraint=hard", "benchmark.dataset=cifar100", "data.limit_train=64",
                         "data.limit_val=32", f"out_dir={tmp_path / 'run'}")
    summary = run_search(cfg, tmp_path)
    lines = [json.loads(l) for l in (tmp_path / "run" / "archs.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and all(l["result"]["feasible"] and l["result"]["latency_ms"] <= 8 for l in lines)
    assert "optimistic: test split, no validation split" in summary.accuracy_kind
    assert any("no validation split" in n for n in summary.notes)
    assert any("cannot be timed here" in n for n in summary.notes)  # found arch not timed: a note
    f = summary.figures
    assert f["true_best_reward"] == pytest.approx(69.3333 / 100, abs=1e-4) and f["true_best_latency_ms"] <= 8
    assert f["regret"] == pytest.approx(f["true_best_reward"] - summary.found.reward) and f["regret"] >= 0
    assert 0 < f["hypervolume_ratio"] <= 1 and f["found_feasible"] == 12
    acc = BENCH.accuracy("cifar100", [BENCH.index(space_string(tmp_path))])[0]
    assert summary.found.accuracy == pytest.approx(acc / 100)
    assert json.loads((tmp_path / "run" / "latency_table.json").read_text())["source"] == "benchmark"


@needs_data
def test_app_shared_study_workers_keep_the_hard_constraint(tmp_path):
    """Two evolution workers on one shared study (method.storage) through the app: the job's hard
    constraint reaches the controller each worker rebuilds from the study, so every arch is feasible."""
    from nas.search.run import run_search
    from test_search import compose_search

    storage = f"journal:{tmp_path / 'study.log'}"
    for seed, budget in ((0, 8), (1, 16)):  # the second worker goes on from the study the first left
        cfg = compose_search("space=nb201", "evaluator=benchmark", "method=evolution", f"method.budget={budget}",
                             "method.options.population_size=4", "method.options.sample_size=2",
                             f"method.storage={storage}", "latency.table=benchmark", "latency.device=gold_6226",
                             "latency.target_ms=8", "latency.constraint=hard", "benchmark.dataset=cifar100",
                             "data.limit_train=64", "data.limit_val=32", f"seed={seed}",
                             f"out_dir={tmp_path / f'w{seed}'}")
        summary = run_search(cfg, tmp_path)
    lines = [json.loads(line) for w in ("w0", "w1") for line in (tmp_path / w / "archs.jsonl").read_text().splitlines()]
    assert len(lines) == 16 and all(line["result"]["latency_ms"] <= 8 for line in lines)
    assert summary.figures["found_feasible"] == 16 and summary.figures["regret"] >= 0


def space_string(tmp_path):
    from nas.space import Arch

    space = load_space("nb201", variant="cifar10")
    return space.to_string(Arch.load(tmp_path / "run" / "best_arch.yaml"))


# --- strategies on the benchmark -------------------------------------------------------------------------
@needs_data
@pytest.mark.parametrize("method", LEARNING + ["random"])
def test_hard_constraint_reaches_the_strategies(method):
    from nas.search.simulate import Setting, simulate

    setting = Setting("cifar10", "raspi4", 10.0)  # 13% of the archs are feasible
    opts = {"feasible_only": True} if method == "random" else {}
    records = simulate(method, opts, setting, seed=0, budget=30)
    assert all(r.result["latency_ms"] <= 10.0 and r.result["reward"] == r.result["accuracy"] for r in records)
    if method == "random":  # plain random search ignores the constraint: infeasible archs get no reward
        plain = simulate("random", {}, setting, seed=0, budget=30)
        assert {r.result["reward"] for r in plain if not r.result["feasible"]} == {0.0}


@needs_data
def test_learning_strategies_beat_random_search_in_expectation():
    """CIFAR-100 on gold_6226 within 8 ms, 100 queries, seeds 0-4: each learning strategy's mean best
    feasible test accuracy above random search's (random: 67.1 on average, the best arch: 69.33)."""
    from nas.search.simulate import Setting, best_feasible, simulate

    setting = Setting("cifar100", "gold_6226", 8.0)
    mean = {m: np.mean([best_feasible(simulate(m, {}, setting, seed, 100), setting) for seed in range(5)])
            for m in ["random"] + LEARNING}
    print({k: round(v, 2) for k, v in mean.items()})
    assert all(mean[m] > mean["random"] for m in LEARNING), mean


@needs_data
def test_budget_prefix_and_unconstrained_reward():
    """A run's first 30 queries are a 30-query run (the bench script's budgets rely on it); without a
    target the reward is the accuracy."""
    from nas.search.simulate import Setting, best_curve, simulate, truth

    setting = Setting("cifar10")
    for method in LEARNING:
        long, short = simulate(method, {}, setting, 3, 40), simulate(method, {}, setting, 3, 30)
        assert [r.arch for r in long[:30]] == [r.arch for r in short]
        assert all(r.reward == r.result["accuracy"] for r in long)
    curve = best_curve(long, setting)
    assert curve[-1] <= truth(setting).optimum == pytest.approx(94.3733, abs=1e-3)
