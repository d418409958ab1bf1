"""Controllers as several workers on one Optuna study (nas.strategies.shared_study): no arch evaluated
twice, the budget counts the study, the same best and front for every worker, a kill -9 loses one arch."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from nas.strategies import create_strategy
from nas.strategies.base import StrategyError, pareto_front
from nas.strategies.controller import Controller
from nas.strategies.driver import run_strategy
from nas.strategies.registry import STRATEGIES
from nas.strategies.shared_study import SharedController, build_strategy
from nas.strategies.study import open_storage
from test_strategies_tasks import ChainTask, toy_space

REPO = Path(__file__).resolve().parents[1]
METHODS = [("evolution", {"population_size": 8, "sample_size": 3}), ("mnasnet", {"batch_size": 8}),
           ("random", {}), ("optuna", {"n_startup_trials": 8})]


def worker(method, opts, storage, seed, study="toy"):
    if method == "optuna":
        return create_strategy("optuna", toy_space(), seed=seed, storage=storage, study_name=study, **opts)
    return SharedController(toy_space(), seed, controller=method, options=opts, storage=storage, study_name=study)


def interleaved(workers, task, budget):
    """The workers' asks and tells interleaved (every arch is RUNNING while the others ask), with
    run_strategy's cache; the encodings evaluated, in order."""
    space, evaluated = workers[0].space, []
    while True:
        asked = []
        for w in workers:
            if w.num_done() < budget:
                arch = w.ask()
                asked.append((w, arch, w.lookup(arch)))
        if not asked:
            return evaluated
        for w, arch, seen in asked:
            if seen is None:
                evaluated.append(tuple(space.encode(arch)))
            w.tell(arch, task(arch) if seen is None else seen.result)


def trials(storage, study="toy"):
    return optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials()


@pytest.mark.parametrize("method, opts", METHODS, ids=[m for m, _ in METHODS])
def test_two_workers_share_the_budget_without_evaluating_an_arch_twice(tmp_path, method, opts):
    storage = str(tmp_path / "study.log")  # an Optuna journal file
    task = ChainTask(toy_space(), seed=1, coupling=1.0)
    a, b = worker(method, opts, storage, 0), worker(method, opts, storage, 1)
    evaluated = interleaved([a, b], task, 40)
    assert len(evaluated) == len(set(evaluated)), "an arch was evaluated twice"
    ts = trials(storage)
    complete = [t for t in ts if t.state.name == "COMPLETE"]
    assert 40 <= len(complete) <= 41 and a.num_done() == b.num_done() == len(complete)
    assert len(complete) == len(evaluated) + sum("nas_cached_from" in t.user_attrs for t in complete)
    assert not [t for t in ts if t.state.name == "RUNNING"]
    assert {t.user_attrs["worker"].rsplit("-", 1)[1] for t in complete} == {"seed0", "seed1"}
    assert a.best() == b.best() and a.best().reward == max(t.values[0] for t in complete)
    assert pareto_front(a.records()) == pareto_front(b.records())  # the same whichever worker reads them
    if method != "optuna":
        assert a.name == method and all("nas_info" in t.user_attrs for t in complete) is (method == "mnasnet")


def test_withdrawn_proposal_and_cached_repeat(tmp_path):
    """A proposal RUNNING elsewhere is withdrawn (FAIL, nas_duplicate_of) and the strategy asked again; one
    COMPLETE in the study is a cached repeat (told its figures, not evaluated)."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    space = toy_space()
    a = SharedController(space, 0, controller="random", storage=storage, study_name="toy", claim_retries=3)
    b = SharedController(space, 0, controller="random", storage=storage, study_name="toy", worker_id="b",
                         claim_retries=3)  # same seed: b proposes what a proposes
    arch = a.ask()
    other = b.ask()
    assert other != arch
    ts = trials(storage)
    assert [t.state.name for t in ts] == ["RUNNING", "FAIL", "RUNNING"] and ts[1].user_attrs["nas_duplicate_of"] == 0
    task = ChainTask(space, seed=0)
    a.tell(arch, task(arch))
    c = SharedController(space, 0, controller="random", storage=storage, study_name="toy", worker_id="c")
    again = c.ask()  # c's first proposal (seed 0, 1 complete trial) ... until it draws arch, asked directly:
    c.tell(again, task(again))
    seen = c.lookup(arch)
    assert seen is not None and seen.result == a.best().result
    b.tell(other, task(other))


def test_evolution_rebuilds_its_population_from_the_study(tmp_path):
    storage = str(tmp_path / "study.log")
    space = toy_space()
    task = ChainTask(space, seed=0)
    a = worker("evolution", {"population_size": 6, "sample_size": 2}, storage, 0)
    run_strategy(a, task, 10, progress=False)
    inner = a._inner  # rebuilt from the 9 complete trials before the 10th ask
    complete = sorted((t for t in trials(storage) if t.state.name == "COMPLETE"), key=lambda t: t.datetime_complete)
    assert [r.reward for r in inner.history] == [t.values[0] for t in complete[:len(inner.history)]]
    assert [inner.history[s].reward for s in inner.population] == [t.values[0] for t in complete[3:9]]
    b = worker("evolution", {"population_size": 6, "sample_size": 2}, storage, 1)  # a new worker: the same state
    b.ask()
    assert [r.reward for r in b._inner.history] == [t.values[0] for t in complete]


def test_storage_and_option_errors(tmp_path):
    space = toy_space()
    with pytest.raises(StrategyError, match="journal file in an existing directory"):
        SharedController(space, controller="evolution", storage=str(tmp_path / "no" / "study.log"))
    with pytest.raises(StrategyError, match="population_size"):
        SharedController(space, controller="evolution", options={"population_size": 1}, storage=str(tmp_path / "s"))
    with pytest.raises(StrategyError, match="one of evolution, mnasnet, random"):
        SharedController(space, controller="fbnet", storage=str(tmp_path / "s"))
    SharedController(space, controller="evolution", options={"population_size": 6, "sample_size": 3},
                     storage=str(tmp_path / "s.log"))
    with pytest.raises(StrategyError, match="nas_controller_options"):  # a worker with other options
        SharedController(space, controller="evolution", options={"population_size": 7, "sample_size": 3},
                         storage=str(tmp_path / "s.log"), study_name="nas-toy6x4-evolution")
    method = {"budget": 5, "storage": str(tmp_path / "cfg.log"),
              "options": {"population_size": 6, "sample_size": 3, "study_name": "cfg", "worker_id": "w"}}
    s = build_strategy("evolution", space, 3, method)
    assert isinstance(s, SharedController) and s.name == "evolution" and s.worker_id == "w"
    assert s.run_settings == {"budget": 5} and s.controller_options == {"population_size": 6, "sample_size": 3}
    assert issubclass(STRATEGIES.get("evolution"), Controller)
    with pytest.raises(StrategyError, match="storage: expected no storage"):  # the class alone keeps no study
        STRATEGIES.get("evolution").from_config(space, 3, method)


@pytest.mark.parametrize("method, opts", METHODS + [("random", {"feasible_only": True})],
                         ids=[m for m, _ in METHODS] + ["random-feasible"])
def test_hard_constraint_reaches_shared_workers(tmp_path, method, opts):
    """``Strategy.constrain`` (the job's hard constraint) on a shared-study worker: the controller itself
    proposes feasible archs only (evolution, mnasnet, TPE, random with feasible_only), as it does alone;
    plain random search stays plain."""
    storage = str(tmp_path / "study.log")
    task = ChainTask(toy_space(), seed=1, coupling=1.0)
    a, b = worker(method, opts, storage, 0), worker(method, opts, storage, 1)
    feasible = lambda arch: a.space.encode(arch)[0] != 0  # noqa: E731 - a quarter of the space is infeasible
    for w in (a, b):
        w.constrain(feasible)
    evaluated = interleaved([a, b], task, 24)
    off = sum(enc[0] == 0 for enc in evaluated)
    if method == "random" and not opts:
        assert off > 0  # plain: about a quarter infeasible
    else:
        assert off == 0, f"{off} infeasible archs evaluated"
    assert len(evaluated) == len(set(evaluated))
    rejected = [t for t in trials(storage) if t.user_attrs.get("rejected")]
    assert bool(rejected) is (method == "optuna")  # only TPE learns the infeasible region from told trials
    assert all(a.space.encode(r.arch)[0] != 0 for r in a.records()) or (method == "random" and not opts)


# --- kill -9 of a worker process ---------------------------------------------------------------------

WORKER = """
import sys, time
sys.path[:0] = [{repo!r}, {tests!r}]
from nas.strategies.shared_study import SharedController
from nas.strategies.driver import run_strategy
from test_strategies_tasks import ChainTask, toy_space
space = toy_space()
task = ChainTask(space, seed=1, coupling=1.0)
def evaluate(arch):
    time.sleep({sleep})
    return task(arch)
s = SharedController(space, {seed}, controller="evolution", options={{"population_size": 8, "sample_size": 3}},
                     storage={storage!r}, study_name="toy", worker_id="w{seed}")
res = run_strategy(s, evaluate, {budget}, log_path={log!r}, checkpoint_path={ckpt!r}, progress=False)
print("done", res.evaluations)
"""


def start_worker(tmp_path, storage, seed, budget, sleep=0.15):
    code = WORKER.format(repo=str(REPO), tests=str(REPO / "tests"), seed=seed, storage=storage, budget=budget,
                         sleep=sleep, log=str(tmp_path / f"w{seed}.jsonl"), ckpt=str(tmp_path / f"w{seed}.pt"))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_kill_9_of_a_worker_loses_only_its_arch(tmp_path, kind):
    storage = str(tmp_path / "study.log") if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    budget = 30
    a, b = start_worker(tmp_path, storage, 0, budget), start_worker(tmp_path, storage, 1, budget)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # kill worker 0 once the study is under way
            time.sleep(0.3)
            if os.path.exists(tmp_path / "study.log" if kind == "journal" else tmp_path / "study.db"):
                try:
                    ts = trials(storage)
                except Exception:  # noqa: BLE001 - the study may not exist yet
                    continue
                mine = [t for t in ts if t.user_attrs.get("worker") == "w0"]
                if sum(t.state.name == "COMPLETE" for t in mine) >= 4 and mine[-1].state.name == "RUNNING":
                    break
        os.kill(a.pid, signal.SIGKILL)
        a.wait(30)
        out, err = b.communicate(timeout=600)
        assert b.returncode == 0, err[-2000:]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    ts = trials(storage)
    complete = [t for t in ts if t.state.name == "COMPLETE"]
    running = [t for t in ts if t.state.name == "RUNNING"]
    assert len(complete) >= budget and [t.user_attrs["worker"] for t in running] == ["w0"]  # only the killed arch
    evaluated = [tuple(sorted(t.params.items())) for t in complete if "nas_cached_from" not in t.user_attrs]
    assert len(evaluated) == len(set(evaluated)), "an arch was evaluated twice"
    logged = [json.loads(line)["step"] for line in (tmp_path / "w0.jsonl").read_text().splitlines() if line.strip()]
    assert len(logged) == sum(t.user_attrs["worker"] == "w0" for t in complete)  # worker 0's work is all there
    # restarted with the same worker id: its RUNNING trial is failed and requeued; the budget is already met
    c = start_worker(tmp_path, storage, 0, budget)
    out, err = c.communicate(timeout=300)
    assert c.returncode == 0, err[-2000:]
    states = [t.state.name for t in trials(storage)]
    assert "RUNNING" not in states and states[running[0].number] == "FAIL"
