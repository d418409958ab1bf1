"""Two controller workers on one shared study vs one worker, at the same budget (issue #18).

    # NAS-Bench-201 through the search app (needs the nb201 benchmark file and evaluator=benchmark):
    python bench/shared_study.py --task app --methods evolution mnasnet random optuna --budget 60 --seeds 10 \\
        --search-args space=nb201 evaluator=benchmark
    # the toy chain task of the tests (no data, seconds):
    python bench/shared_study.py --task toy --methods evolution mnasnet random optuna --budget 60 --seeds 10

For each method and seed: one worker alone (no storage: the method as it always ran) and two workers
on one study (``method.storage=journal:<file>``; seeds ``2s`` and ``2s + 1``), each with the same
study budget. ``app`` starts the workers as two concurrent ``python -m nas.search`` processes (their
evaluations interleave as they will for a user); ``toy`` interleaves two in-process workers ask by ask
(every arch RUNNING while the other asks), deterministically. Reported per method: the mean (and
std) over seeds of the best found (``found.reward`` and ``found.accuracy`` of the summary; toy: the
regret to the known optimum), the evaluations, archs evaluated twice (should be 0), withdrawn
proposals and cached repeats. Writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from nas.io import atomic_write_text  # noqa: E402


def study_stats(storage: str, study: str) -> Dict[str, Any]:
    import optuna

    from nas.strategies.study import open_storage

    trials = optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    evaluated = [tuple(sorted(t.params.items())) for t in complete if "nas_cached_from" not in t.user_attrs]
    return {"complete": len(complete), "evaluated": len(evaluated), "twice": len(evaluated) - len(set(evaluated)),
            "withdrawn": sum("nas_duplicate_of" in t.user_attrs for t in trials),
            "cached": sum("nas_cached_from" in t.user_attrs for t in complete)}


# --- toy: in-process workers -------------------------------------------------------------------------

def toy_run(method: str, seed: int, budget: int, workers: int, tmp: Path) -> Dict[str, Any]:
    from nas.strategies import create_strategy
    from nas.strategies.driver import run_strategy
    from nas.strategies.shared_study import SharedController
    from test_shared_study import interleaved
    from test_strategies_tasks import ChainTask, toy_space

    space = toy_space("toy8x5")
    task = ChainTask(space, seed=seed, coupling=1.0)
    optimum = task.optimum()[1]
    if workers == 1:
        res = run_strategy(create_strategy(method, space, seed=seed), task, budget, progress=False)
        return {"regret": optimum - res.best.reward, "evaluations": res.evaluations}
    storage = str(tmp / f"{method}-{seed}.log")
    ws = []
    for k in range(workers):
        if method == "optuna":
            ws.append(create_strategy("optuna", space, seed=2 * seed + k, storage=storage, study_name="s"))
        else:
            ws.append(SharedController(space, 2 * seed + k, controller=method, storage=storage, study_name="s"))
    evaluated = interleaved(ws, task, budget)
    return {"regret": optimum - ws[0].best().reward, "evaluations": len(evaluated), **study_stats(storage, "s")}


# --- app: worker processes of nas.search ------------------------------------------------------------

def app_run(method: str, seed: int, budget: int, workers: int, tmp: Path, search_args: List[str]) -> Dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    common = [sys.executable, "-m", "nas.search", f"method={method}", f"method.budget={budget}",
              "latency.measure=false", *search_args]
    run = tmp / f"{method}-{seed}-{workers}"
    if workers == 1:
        procs = [subprocess.Popen([*common, f"seed={seed}", f"out_dir={run}/w0", f"hydra.run.dir={run}/h0"], env=env,
                                  cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    else:
        storage = f"journal:{run}/study.log"
        run.mkdir(parents=True, exist_ok=True)
        procs = [subprocess.Popen([*common, f"seed={2 * seed + k}", f"method.storage={storage}",
                                   f"+method.options.study_name=s{seed}", f"out_dir={run}/w{k}",
                                   f"hydra.run.dir={run}/h{k}"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for k in range(workers)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"{method} seed {seed}: a worker failed:\n{err[-2000:]}")
    summaries = [json.loads((run / f"w{k}" / "summary.json").read_text()) for k in range(len(procs))]
    found = summaries[0]["found"]
    out = {"reward": found.get("reward"), "accuracy": found.get("accuracy"),
           "evaluations": sum(s.get("evaluations") or 0 for s in summaries)}
    if workers > 1:
        assert all(s["found"]["arch_file"] != "" and s["found"].get("reward") == found.get("reward")
                   for s in summaries), "workers disagree on the study's best"
        out.update(study_stats(f"{run}/study.log", f"s{seed}"))
    return out


def mean_std(values: List[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.mean(values):.4f} +- {statistics.stdev(values) if len(values) > 1 else 0.0:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["toy", "app"], default="toy")
    p.add_argument("--methods", nargs="+", default=["evolution", "mnasnet", "random", "optuna"])
    p.add_argument("--budget", type=int, default=60)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--search-args", nargs="*", default=[], help="app: more nas.search overrides (space, evaluator)")
    p.add_argument("--out", default="outputs/bench/shared_study.json")
    args = p.parse_args()
    results: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            for workers in (1, args.workers):
                key = f"{workers} worker{'s' * (workers > 1)}"
                for seed in range(args.seeds):
                    if args.task == "toy":
                        r = toy_run(method, seed, args.budget, workers, Path(tmp))
                    else:
                        r = app_run(method, seed, args.budget, workers, Path(tmp), args.search_args)
                    results.setdefault(method, {}).setdefault(key, []).append(r)
                rs = results[method][key]
                figure = "regret" if args.task == "toy" else "accuracy"
                twice = sum(r.get("twice", 0) for r in rs)
                print(f"{method:>10} {key:>10}: {figure} {mean_std([r[figure] for r in rs])}"
                      + (f", reward {mean_std([r['reward'] for r in rs])}" if args.task == "app" else "")
                      + (f", evaluated twice {twice}, withdrawn {sum(r['withdrawn'] for r in rs)}, cached "
                         f"{sum(r['cached'] for r in rs)}" if workers > 1 else ""), flush=True)
    atomic_write_text(args.out, json.dumps({"settings": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
