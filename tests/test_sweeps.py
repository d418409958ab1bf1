"""Sweeps: ``python -m nas.search -m`` (Hydra's basic sweeper) and the ``nas_optuna`` sweeper plugin."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from packaging.version import Version

from hydra_plugins.nas_optuna_sweeper.search_space import SweeperError, parse_search_space
from nas.search.objective import ObjectiveError, check_spec, failed_value, objective, objectives
from test_latency_fixtures import synthetic_table, tiny_space

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
# the tiny settings as a preset (+tiny=run from --config-dir)
TINY = """# @package _global_
space: {name: tiny_layerwise.yaml}
latency: {table: table.json, measure: false}
data: {limit_train: 64, limit_val: 32}
method: {epochs: 1, warmup_epochs: 0, batch_size: 16, max_steps_per_epoch: 1, samples: 1}
device: {threads: 1}
"""
SEARCH = ["--config-dir", ".", "+tiny=run", "hydra.sweep.dir=sweep"]

APP = """
import os
import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=".", config_name="conf")
def main(cfg):
    if HydraConfig.get().job.num == cfg.die_at:
        os._exit(137)  # a killed sweep
    if cfg.mode == "crash":
        raise RuntimeError("the job crashed")
    value = (cfg.x ** 2, (cfg.x - 2) ** 2) if cfg.mode == "pair" else -(cfg.x - 2) ** 2
    with open(os.path.join(HydraConfig.get().runtime.output_dir, "value.json"), "w") as f:
        f.write(repr(list(value) if cfg.mode == "pair" else value))
    return value


if __name__ == "__main__":
    main()
"""
CONF = "x: 0.0\nmode: single\ndie_at: -1\nhydra:\n  sweep:\n    dir: sweep\n    subdir: ${hydra.job.num}\n"


def run(args, cwd, module=None):
    cmd = [sys.executable, *(["-m", module] if module else ["app.py"]), "-m", *args]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)


@pytest.fixture
def toy_app(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "conf.yaml").write_text(CONF)
    return tmp_path


@pytest.fixture
def tiny_search(tmp_path):
    """A 3-layer space at 8x8 (digits' own size) and a synthetic table: no table is built."""
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "run.yaml").write_text(TINY)
    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    table.save(tmp_path / "table.json")
    return tmp_path, table.bounds(space)


def results(sweep_dir):
    return yaml.safe_load((Path(sweep_dir) / "optimization_results.yaml").read_text())


def test_optuna_is_the_projects_own():
    assert Version(optuna.__version__) >= Version("4")


def test_objective_reads_the_summary():
    fb = {"method": "fbnet", "final": {"val_acc_shared_weights": 0.75, "predicted_ms": 2.5}, "seconds": 3}
    ctl = {"method": "evolution", "best": {"reward": 0.5, "accuracy": 0.6, "latency_ms": 1.0}}
    assert objective(fb) == 0.75 and objective(ctl) == 0.5  # the defaults
    assert objective(fb, "found.latency_ms") == 2.5  # summaries of schema 1 ("final", "best") are upgraded
    assert objectives(ctl, ["found.accuracy", "found.latency_ms"]) == [0.6, 1.0]
    with pytest.raises(ObjectiveError, match=r"found.measured_ms: expected a number .*found.latency_ms"):
        objective(fb, "found.measured_ms")  # latency.measure=false: no measured figure
    check_spec("fbnet", ["found.accuracy", "found.latency_ms"])
    with pytest.raises(ObjectiveError, match="hydra.sweeper.objective: found.reward: expected a figure of a method=fb"):
        check_spec("fbnet", "found.reward")
    assert math.isnan(failed_value(None)) and len(failed_value(["a", "b"])) == 2


def test_search_space_from_override_grammar():
    space = parse_search_space(["a=interval(0.1,0.5)", "b=tag(log,interval(1e-4,1))", "c=int(interval(1,5))",
                                "d=range(2,9,3)", "e=choice(fbnet,'y z',true,'[1]')", "f=range(0.1,0.5,0.1)",
                                "g=fixed", "+h=1", "a=interval(0.2,0.3)"])
    d = space.distributions
    assert (d["a"].low, d["a"].high, d["a"].log) == (0.2, 0.3, False)  # the later override wins
    assert d["b"].log and (type(d["c"]).__name__, d["c"].low, d["c"].high) == ("IntDistribution", 1, 5)
    assert (d["d"].low, d["d"].high, d["d"].step) == (2, 8, 3)  # range's stop is exclusive
    assert (d["f"].low, d["f"].high, d["f"].step) == (0.1, 0.4, 0.1)
    assert list(d["e"].choices) == ["fbnet", "y z", True, "[1]"]
    lines = space.overrides({"a": 0.25, "b": 0.01, "c": 3, "d": 5, "e": "[1]", "f": 0.2})
    assert lines == ["a=0.25", "b=0.01", "c=3", "d=5", "e='[1]'", "f=0.2", "g=fixed", "+h=1"]
    assert space.overrides({**dict.fromkeys("abcdf", 1), "e": True})[4] == "e=true"
    # by name: Hydra's plugin scan re-executes hydra_plugins modules, so an earlier test's Hydra app
    # may have replaced the module (and the class) this file imported
    with pytest.raises(Exception, match="low < high") as err:
        parse_search_space(["a=interval(1,0)"])
    assert type(err.value).__name__ == SweeperError.__name__


@pytest.mark.slow  # 15 s: a Hydra multirun of real searches; the Optuna sweeper tests run in the default
def test_basic_multirun_one_job_per_target(tiny_search):
    cwd, (lo, hi) = tiny_search
    targets = [round(t, 3) for t in (lo / 2, lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3)]  # job 0's: below every arch
    out = run([*SEARCH, "latency.target_ms=" + ",".join(map(str, targets))], cwd, module="nas.search")
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: job 0: latency.target_ms=") and "below the cheapest" in errors[0]
    assert errors[-1].startswith("error: 1 of 3 jobs of this sweep failed (job 0") and "Traceback" not in out.stderr
    jobs = sorted(p for p in (cwd / "sweep").iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2"]
    assert not (jobs[0] / "summary.json").exists()
    for job, target in zip(jobs[1:], targets[1:]):
        summary = json.loads((job / "summary.json").read_text())
        assert summary["method"] == "fbnet" and (job / "arch.yaml").is_file()
        assert yaml.safe_load((job / "config.yaml").read_text())["latency"]["target_ms"] == target
    assert (cwd / "sweep" / "multirun.yaml").is_file()


@pytest.mark.slow  # 14 s; the sweeper is covered by test_optuna_sweeper_finds_the_optimum_region
def test_optuna_sweep_of_the_search_returns_its_objectives(tiny_search):
    cwd, (lo, hi) = tiny_search
    out = run([*SEARCH, f"latency.target_ms={(lo + hi) / 2:.4f}", "hydra/sweeper=nas_optuna",
               "hydra.sweeper.n_trials=2", "hydra.sweeper.objective=[found.accuracy,found.latency_ms]",
               "hydra.sweeper.direction=[maximize,minimize]", "method.alpha=interval(0.1,0.5)"],
              cwd, module="nas.search")
    assert out.returncode == 0, out.stderr
    res = results(cwd / "sweep")
    assert res["trials_in_study"] == 2 and res["completed_in_study"] == 2 and res["best_trials"]
    for best in res["best_trials"]:
        job = cwd / "sweep" / str(best["number"])
        found = json.loads((job / "summary.json").read_text())["found"]
        assert best["values"] == [found["accuracy"], found["latency_ms"]]
        assert 0.1 <= best["params"]["method.alpha"] <= 0.5
        assert yaml.safe_load((job / "config.yaml").read_text())["method"]["alpha"] == best["params"]["method.alpha"]


def test_optuna_sweeper_finds_the_optimum_region(toy_app):
    out = run(["hydra/sweeper=nas_optuna", "hydra.sweeper.n_trials=20", "hydra.sweeper.seed=0", "x=interval(-5,5)"],
              toy_app)
    assert out.returncode == 0, out.stderr
    res = results(toy_app / "sweep")
    values = [float((p / "value.json").read_text()) for p in (toy_app / "sweep").iterdir() if p.is_dir()]
    assert len(values) == 20 and res["best_value"] == max(values)
    assert abs(res["best_params"]["x"] - 2) < 0.5 and f"best value {res['best_value']}" in out.stdout


@pytest.mark.slow  # 8 s: a killed subprocess sweep
def test_sqlite_study_resumes_after_a_killed_sweep(toy_app):
    args = ["hydra/sweeper=nas_optuna", "hydra.sweeper.storage=sqlite:///study.db", "hydra.sweeper.study_name=toy",
            "hydra.sweeper.n_trials=3", "x=interval(-5,5)"]
    killed = run([*args, "die_at=2"], toy_app)
    assert killed.returncode != 0
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{toy_app / 'study.db'}")
    first = [t.params["x"] for t in study.trials]
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "RUNNING"]
    resumed = run(args, toy_app)
    assert resumed.returncode == 0, resumed.stderr
    assert "trial 2 was left running by a killed sweep" in resumed.stdout
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{toy_app / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL"] + ["COMPLETE"] * 3
    assert not set(first) & {t.params["x"] for t in study.trials[3:]}  # the resumed sampler draws anew
    assert sorted(p.name for p in (toy_app / "sweep").iterdir() if p.is_dir()) == [str(i) for i in range(6)]
    res = results(toy_app / "sweep")
    assert res["trials_in_study"] == 6 and res["completed_in_study"] == 5 and res["trials_this_sweep"] == 3


def test_multi_objective_gives_the_pareto_set(toy_app):
    out = run(["hydra/sweeper=nas_optuna", "hydra.sweeper.sampler=nsga2",
               "+hydra.sweeper.sampler_options.population_size=6", "hydra.sweeper.n_trials=12",
               "hydra.sweeper.n_jobs=3", "hydra.sweeper.direction=[minimize,minimize]", "mode=pair",
               "x=interval(-2,4)"], toy_app)
    assert out.returncode == 0, out.stderr
    front = results(toy_app / "sweep")["best_trials"]
    trials = [json.loads((p / "value.json").read_text()) for p in (toy_app / "sweep").iterdir() if p.is_dir()]
    assert len(trials) == 12 and front

    def dominated(a, b):  # b dominates a (both minimised)
        return all(x >= y for x, y in zip(a, b)) and a != b

    for t in front:
        assert 0 <= t["params"]["x"] <= 2  # x^2 and (x-2)^2 trade off exactly on [0, 2]
        assert not any(dominated(t["values"], v) for v in trials)
    off = [v for v in trials if v not in [t["values"] for t in front]]
    assert all(any(dominated(v, t["values"]) for t in front) for v in off)


def test_sweeper_errors_are_one_line(toy_app):
    base = ["hydra/sweeper=nas_optuna", "hydra.sweeper.n_trials=2"]
    for args, msg in ((["hydra.sweeper.storage=sqlite:///s.db", "x=interval(0,1)"], "also set hydra.sweeper.study"),
                      (["x=1"], "nothing to optimise"),
                      (["hydra.sweeper.sampler=grid", "x=interval(0,1)"], "expected one of tpe, random, nsga2"),
                      (["mode=pair", "x=interval(0,1)"], "expects a number")):
        out = run(base + args, toy_app)
        assert out.returncode == 1 and msg in out.stderr.splitlines()[-3] and "Traceback" not in out.stderr, out.stderr
    crash = run(base + ["mode=crash", "x=interval(0,1)"], toy_app)  # a job that raises stops the sweep
    assert crash.returncode == 1 and "RuntimeError: the job crashed" in crash.stderr
    assert "trial 0 failed" in crash.stdout and not (toy_app / "sweep" / "1").exists()


def test_search_space_as_a_params_mapping(toy_app):
    (toy_app / "mapped.yaml").write_text("defaults:\n  - conf\n  - override hydra/sweeper: nas_optuna\n  - _self_\n"
                                         "hydra:\n  sweeper:\n    n_trials: 3\n    params:\n      x: interval(-5,5)\n"
                                         "      mode: single\n")
    out = run(["--config-name", "mapped"], toy_app)
    assert out.returncode == 0, out.stderr
    xs = [yaml.safe_load((toy_app / "sweep" / str(i) / ".hydra" / "config.yaml").read_text())["x"] for i in range(3)]
    assert all(-5 <= x <= 5 for x in xs) and len(set(xs)) == 3
    out = run(["--config-name", "mapped", "x=interval(10,11)", "hydra.sweep.dir=again"], toy_app)  # command line wins
    assert out.returncode == 0, out.stderr
    assert all(10 <= yaml.safe_load((toy_app / "again" / str(i) / ".hydra" / "config.yaml").read_text())["x"] <= 11
               for i in range(3))
