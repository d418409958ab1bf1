"""run_strategy's log, checkpoint and resume: a killed search continues to the same result as an
uninterrupted one with the same seed; Optuna studies in sqlite continue and are shared by workers."""

import json

import pytest
import torch

from nas.strategies import StrategyError, create_strategy, load_checkpoint, read_log, run_strategy
from test_strategies_tasks import ChainTask, toy_space

RESUMABLE = [  # (method, options)
    ("random", {}),
    ("evolution", {"population_size": 8, "sample_size": 3}),
    ("mnasnet", {"batch_size": 6}),
    ("mnasnet", {"algorithm": "reinforce", "batch_size": 4}),
    ("optuna", {"n_startup_trials": 5}),
    ("optuna", {"objectives": ["accuracy", "latency_ms"], "population_size": 8}),
    ("bo", {"initial": 6, "batch": 3}),
]
IDS = ["random", "evolution", "mnasnet-ppo", "mnasnet-reinforce", "optuna-tpe", "optuna-nsga2", "bo"]


def test_every_registered_controller_is_tested_for_resume():
    from nas.strategies import STRATEGIES

    assert {m for m, _ in RESUMABLE} == set(STRATEGIES.names()) - {"fbnet"}  # fbnet: tests/test_search.py


class Killed(Exception):
    pass


def killing(task, after):
    """``task`` that dies (like a killed process) on its ``after + 1``-th call."""
    calls = {"n": 0}

    def evaluate(arch):
        if calls["n"] == after:
            raise Killed
        calls["n"] += 1
        return task(arch)

    return evaluate


def figures(res, space):
    return [(space.encode(r.arch), r.result) for r in res.records]


@pytest.mark.parametrize("method, opts", RESUMABLE, ids=IDS)
def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path, method, opts):
    space, budget = toy_space(), 48
    full = run_strategy(create_strategy(method, space, seed=3, **opts), ChainTask(space, seed=1, coupling=1.0), budget,
                      tmp_path / "full.jsonl", tmp_path / "full.pt", checkpoint_every=7, progress=False)
    log, ckpt = tmp_path / "run.jsonl", tmp_path / "run.pt"
    task = ChainTask(space, seed=1, coupling=1.0)
    evaluated = 0
    for kill_after in (17, 12):  # killed twice, mid-way between checkpoints
        with pytest.raises(Killed):
            run_strategy(create_strategy(method, space, seed=3, **opts), killing(task, kill_after), budget, log, ckpt,
                       checkpoint_every=7, progress=False)
        evaluated += kill_after
        with open(log, "a") as f:
            f.write('{"step": 99, "choi')  # killed while writing a line
    res = run_strategy(create_strategy(method, space, seed=3, **opts), task, budget, log, ckpt, checkpoint_every=7,
                     progress=False)
    assert res.resumed > 17 and figures(res, space) == figures(full, space)
    assert res.best.arch == full.best.arch and res.best.result == full.best.result
    assert evaluated + res.evaluations == full.evaluations  # nothing evaluated twice
    assert figures(res, space) == [(space.encode(r.arch), r.result) for r in read_log(log, space)]
    lines = log.read_text().splitlines()
    assert len(lines) == budget and json.loads(lines[-1])["step"] == budget - 1
    assert load_checkpoint(ckpt)["log_records"] == budget
    again = run_strategy(create_strategy(method, space, seed=3, **opts), task, budget, log, ckpt, progress=False)
    assert again.evaluations == 0 and figures(again, space) == figures(full, space)  # finished: nothing to do


def test_checkpoints_load_with_weights_only_and_are_json_for_most(tmp_path):
    space = toy_space()
    for method in ("random", "evolution", "mnasnet", "optuna", "bo"):
        s = create_strategy(method, space, seed=0)
        run_strategy(s, ChainTask(space), 20, checkpoint_path=tmp_path / f"{method}.pt", progress=False)
        state = torch.load(tmp_path / f"{method}.pt", weights_only=True)["state"]
        assert state["strategy"] == method and len(state["history"]) == 20
        if method != "mnasnet":
            json.dumps(state)
        twin = create_strategy(method, space, seed=0)
        twin.load_state_dict(state)
        assert [r.arch for r in twin.history] == [r.arch for r in s.history] and twin.ask() == s.ask()


def test_search_without_a_log_resumes_from_the_checkpoint(tmp_path):
    space = toy_space()
    full = run_strategy(create_strategy("evolution", space, seed=0), ChainTask(space), 30, progress=False)
    run_strategy(create_strategy("evolution", space, seed=0), ChainTask(space), 20, checkpoint_path=tmp_path / "c.pt",
               progress=False)
    res = run_strategy(create_strategy("evolution", space, seed=0), ChainTask(space), 30,
                     checkpoint_path=tmp_path / "c.pt", progress=False, cache=False)
    assert res.resumed == 20 and res.evaluations == 10 and figures(res, space) == figures(full, space)


def test_resume_refuses_foreign_or_broken_files(tmp_path):
    space, task = toy_space(), ChainTask(toy_space())
    log, ckpt = tmp_path / "a.jsonl", tmp_path / "a.pt"
    run_strategy(create_strategy("random", space, seed=0), task, 10, log, ckpt, checkpoint_every=4, progress=False)
    text = log.read_text()
    with pytest.raises(StrategyError, match="a.jsonl: <file>: expected no earlier search"):
        run_strategy(create_strategy("random", space, seed=0), task, 20, log, ckpt, resume=False, progress=False)
    assert log.read_text() == text  # nothing overwritten
    with pytest.raises(StrategyError, match="seed: expected 1"):
        run_strategy(create_strategy("random", space, seed=1), task, 20, log, ckpt, progress=False)
    with pytest.raises(StrategyError, match="strategy: expected 'evolution'"):
        run_strategy(create_strategy("evolution", space, seed=0), task, 20, log, ckpt, progress=False)
    run_strategy(create_strategy("evolution", space, seed=0), task, 10, checkpoint_path=tmp_path / "e.pt",
               progress=False)
    with pytest.raises(StrategyError, match="e.pt: options.population_size: expected 30 .*, got 20"):
        run_strategy(create_strategy("evolution", space, seed=0, population_size=30), task, 20,
                   checkpoint_path=tmp_path / "e.pt", progress=False)
    with pytest.raises(StrategyError, match="a.pt: space: expected 'toy8x5'"):
        run_strategy(create_strategy("random", toy_space("toy8x5"), seed=0), task, 20, checkpoint_path=ckpt,
                   progress=False)
    # a log without its checkpoint is replayed; one from another seed does not match the proposals
    with pytest.raises(StrategyError, match="step 0: expected the arch this strategy proposes with seed 5"):
        run_strategy(create_strategy("random", space, seed=5), task, 20, log, progress=False)
    lines = text.splitlines()
    (tmp_path / "bad.jsonl").write_text("\n".join(lines[:3] + ["{not json"] + lines[4:]) + "\n")
    with pytest.raises(StrategyError, match="bad.jsonl: line 4: expected a JSON record"):
        run_strategy(create_strategy("random", space, seed=0), task, 20, tmp_path / "bad.jsonl", progress=False)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StrategyError, match="bad.pt: <file>: expected a search checkpoint"):
        run_strategy(create_strategy("random", space, seed=0), task, 20, checkpoint_path=tmp_path / "bad.pt",
                   progress=False)
    with pytest.raises(StrategyError, match="at least the 10 records"):  # checkpoint ahead of its log
        run_strategy(create_strategy("random", space, seed=0), task, 20, tmp_path / "empty.jsonl", ckpt,
                   progress=False)


def test_optuna_sqlite_study_continues_after_a_kill(tmp_path):
    space = toy_space()
    opts = {"n_startup_trials": 4, "study_name": "toy"}  # TPE proposes from trial 4 on
    task = ChainTask(space, seed=2, coupling=1.0)
    ref = create_strategy("optuna", space, seed=0, storage=f"sqlite:///{tmp_path / 'ref.db'}", **opts)
    full = run_strategy(ref, task, 12, progress=False, cache=False)
    url = f"sqlite:///{tmp_path / 'run.db'}"
    with pytest.raises(Killed):  # trial 6 is left RUNNING
        run_strategy(create_strategy("optuna", space, seed=0, storage=url, **opts), killing(task, 6), 12,
                   tmp_path / "run.jsonl", progress=False, cache=False)
    s = create_strategy("optuna", space, seed=0, storage=url, **opts)
    assert s.num_done() == 6
    res = run_strategy(s, task, 12, tmp_path / "run.jsonl", progress=False, cache=False)
    trials = s.study.get_trials()
    states = [t.state.name for t in trials]
    assert len(trials) == 13 and states[6] == "FAIL" and states.count("COMPLETE") == 12  # numbering went on
    assert trials[7].params == trials[6].params  # the killed trial's arch was evaluated again
    assert res.evaluations == 6 and len(res.records) == 12
    # re-seeded from (seed, complete trials): the same archs as the uninterrupted study
    assert [r.arch for r in s.records()] == [r.arch for r in ref.records()]
    assert res.best.result == full.best.result


def test_optuna_workers_share_one_study(tmp_path):
    space = toy_space()
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    task = ChainTask(space, seed=0)
    first = run_strategy(create_strategy("optuna", space, seed=0, storage=url), task, 6, progress=False, cache=False)
    second = create_strategy("optuna", space, seed=1, storage=url)
    res = run_strategy(second, task, 14, progress=False, cache=False)
    assert first.evaluations == 6 and res.evaluations == 8  # the budget counts the whole study
    assert {t.user_attrs["worker"].rsplit("-", 1)[1] for t in second.study.get_trials()} == {"seed0", "seed1"}
    assert res.best.reward == max(r.reward for r in second.records()) >= first.best.reward
    with pytest.raises(StrategyError, match="nas_space: expected toy8x5"):
        create_strategy("optuna", toy_space("toy8x5"), storage=url, study_name=second.study_name)
    with pytest.raises(StrategyError, match="directions"):
        create_strategy("optuna", space, storage=url, study_name=second.study_name,
                        objectives=["accuracy", "latency_ms"])
    with pytest.raises(StrategyError, match="storage: expected a reachable RDB URL"):
        create_strategy("optuna", space, storage="nosuchdb://x")


def test_log_marks_cached_repeats_and_on_record_sees_each_new_record(tmp_path):
    space = toy_space()
    task = ChainTask(space)
    seen = []
    res = run_strategy(create_strategy("random", space, seed=0), task, 300, tmp_path / "log.jsonl", progress=False,
                     on_record=lambda rec, best: seen.append((rec.step, best.reward)))
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    distinct = {tuple(line["encoding"]) for line in lines}
    assert 0 < sum(line["cached"] for line in lines) == 300 - len(distinct)  # repeats were not re-evaluated
    assert task.evaluations == res.evaluations == len(distinct)
    assert [s for s, _ in seen] == list(range(300)) and seen[-1][1] == res.best.reward
    assert [b for _, b in seen] == sorted(b for _, b in seen)  # best so far never drops


@pytest.mark.parametrize("method, opts", RESUMABLE, ids=IDS)
def test_constrained_search_resumes_and_stays_feasible(tmp_path, method, opts):
    """With a hard constraint handed over (``Strategy.constrain``), a killed search still resumes to the
    uninterrupted result, and the strategies that restrict their proposals propose feasible archs only
    (random search is plain unless asked, NSGA-II's fronts span every latency)."""
    space = toy_space()
    task = ChainTask(space, seed=1, coupling=1.0)  # latency 6..18 per arch; about a third within 11

    def make():
        s = create_strategy(method, space, seed=3, **opts)
        s.constrain(lambda arch: task.latency(space.encode(arch)) <= 11.0)
        return s

    full = run_strategy(make(), task, 30, tmp_path / "full.jsonl", tmp_path / "full.pt", checkpoint_every=7,
                        progress=False)
    log, ckpt = tmp_path / "run.jsonl", tmp_path / "run.pt"
    assert full.evaluations >= 4
    with pytest.raises(Killed):  # killed half-way through the evaluations (repeats are not evaluated)
        run_strategy(make(), killing(task, full.evaluations // 2), 30, log, ckpt, checkpoint_every=7, progress=False)
    res = run_strategy(make(), task, 30, log, ckpt, checkpoint_every=7, progress=False)
    assert figures(res, space) == figures(full, space)
    feasible = [r.result["latency_ms"] <= 11.0 for r in full.records]
    restricted = method != "random" and "objectives" not in opts
    assert all(feasible) if restricted else not all(feasible)
