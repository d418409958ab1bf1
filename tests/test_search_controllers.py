"""``python -m nas.search method=mnasnet|evolution|optuna|random`` with the oneshot and proxy evaluators."""

import json

import pytest

from nas.space import Arch, load_space
from nas.search.run import run_search
from test_search import compose_search, table_for, toy_space


def controller_cfg(tmp_path, space_path, table, *extra):
    return compose_search(f"space.name={space_path}", f"latency.table={table}", "latency.measure=false",
                          "data.limit_train=96", "data.limit_val=32", "evaluator.epochs=1", "evaluator.batch_size=16",
                          "evaluator.max_steps_per_epoch=2", "supernet.epochs=1", "supernet.batch_size=16",
                          "supernet.max_steps_per_epoch=2", "supernet.bn_batches=1",
                          f"supernet.cache_dir={tmp_path / 'supernets'}", f"out_dir={tmp_path / 'run'}", *extra)


@pytest.fixture
def toy(tmp_path):
    path = toy_space(tmp_path)
    space = load_space(path, variant="cifar")
    return path, table_for(space, lambda use: 0.05 if use.choice == "skip" else 2.0).save(tmp_path / "table.json")


@pytest.mark.parametrize("method,evaluator", [("random", "oneshot"), ("evolution", "proxy"), ("mnasnet", "oneshot"),
                                              ("optuna", "oneshot")])
def test_controller_search_writes_its_outputs(tmp_path, toy, method, evaluator):
    space_path, table = toy
    extra = ["method.options.population_size=3", "method.options.sample_size=2"] if method == "evolution" else []
    extra += ["method.options.batch_size=2"] if method == "mnasnet" else []
    cfg = controller_cfg(tmp_path, space_path, table, f"method={method}", f"evaluator={evaluator}",
                         "method.budget=4", f"space.name={space_path}", *extra)
    summary = run_search(cfg, tmp_path)
    run = tmp_path / "run"
    lines = (run / "archs.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all({"reward", "accuracy", "latency_ms"} <= set(json.loads(l)["result"]) for l in lines)
    best = Arch.load(run / "best_arch.yaml")
    assert best.space == "toy" and (run / "pareto.png").is_file() and list((run / "pareto").glob("arch_*.yaml"))
    assert summary.found.reward == max(json.loads(l)["result"]["reward"] for l in lines)
    assert 0.1 <= summary.target_ms <= 6.5  # the middle of the table's range when no target is given


def test_controller_resume_continues_and_oneshot_supernet_is_reused(tmp_path, toy):
    space_path, table = toy
    first = run_search(controller_cfg(tmp_path, space_path, table, "method=evolution", "method.budget=3",
                                      "method.options.population_size=2", "method.options.sample_size=2"), tmp_path)
    assert first.evaluations == 3
    cached = list((tmp_path / "supernets").glob("*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = run_search(controller_cfg(tmp_path, space_path, table, "method=evolution", "method.budget=5",
                                      "method.options.population_size=2", "method.options.sample_size=2",
                                      f"resume={tmp_path / 'run'}"), tmp_path)
    assert again.resumed == 3 and again.evaluations <= 2  # repeats of a logged arch are not re-evaluated
    assert len((tmp_path / "run" / "archs.jsonl").read_text().splitlines()) == 5
    assert cached[0].stat().st_mtime_ns == stamp  # the trained supernet was loaded, not retrained


def test_factorized_space_with_a_controller(tmp_path):
    from test_latency_fixtures import FACTORIZED

    path = tmp_path / "tinyf.yaml"
    path.write_text(FACTORIZED)
    space = load_space(path, variant="cifar")
    table = table_for(space, lambda use: 1.0).save(tmp_path / "t.json")
    summary = run_search(controller_cfg(tmp_path, path, table, "method=random", "method.budget=3",
                                        "latency.target_ms=5"), tmp_path)
    assert summary.space == "tinyf" and len(summary.candidates) >= 1
