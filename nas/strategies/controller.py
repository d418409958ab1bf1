"""A controller's search as a job: score sampled archs with the evaluator, reward them, drive the
strategy to its budget, report (``Controller.search(job)`` calls :func:`run_controller`).

Each sampled arch is scored by the evaluator (``oneshot``: inherited supernet weights; ``proxy``: a
short training from scratch; ``zerocost``; ``benchmark``: a tabular benchmark's accuracy), its
latency comes from the latency source (or is measured, ``measure_each``) and MNASNet's reward
ACC * (LAT / T)^w ranks it (hard constraint: infeasible archs get 0, and the strategy is handed the
constraint, :meth:`~nas.strategies.base.Strategy.constrain`). An evaluator that knows the ground
truth (``summarize``) adds its figures (optimum, regret, hypervolume against the true front) to the
summary. Writes ``archs.jsonl`` (every evaluated arch and its figures),
``search.pt`` (checkpoint; a resumed job continues), ``best_arch.yaml`` (+ the Pareto front's archs
under ``pareto/``), ``pareto.png`` and TensorBoard scalars and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from nas import distributed as dist
from nas.pareto import pareto_figure
from nas.results import SearchSummary
from nas.strategies.base import SearchError, Strategy, StrategyError, pareto_front
from nas.strategies.driver import run_strategy
from nas.strategies.job import SearchJob
from nas.strategies.registry import create_strategy, strategy_options
from nas.strategies.reward import MnasReward, make_reward

RUN_SETTINGS = ("budget", "alpha", "beta", "measure_each", "checkpoint_every")  # method config, not options


def split_method(name: str, method: Mapping[str, Any]) -> Tuple[Dict[str, Any], Any, Dict[str, Any]]:
    """A controller's ``method`` section as ``(its options, storage, run settings)``; an unknown key is an error."""
    method = dict(method)
    options = dict(method.pop("options", None) or {})
    storage = method.pop("storage", None)
    unknown = sorted(set(method) - set(RUN_SETTINGS))
    if unknown:
        raise StrategyError(f"method={name}", unknown[0], f"one of {', '.join(RUN_SETTINGS)}, storage, options")
    return options, storage, method


class Controller(Strategy):
    """An ask/tell strategy as a job of ``nas.search``: built from the ``method`` config section, run
    to its budget by :func:`run_controller`. Every registered controller derives from it."""

    objective = "found.reward"  # the summary figure a sweep optimises by default
    resume_marker = "archs.jsonl"  # the file a run dir holds once this search has started

    @classmethod
    def from_config(cls, space: Any, seed: int, method: Mapping[str, Any]) -> "Controller":
        """Built from the ``method`` config section: ``options`` are the strategy's own; ``budget``,
        ``alpha``, ``beta``, ``measure_each``, ``checkpoint_every`` how the search runs; ``storage`` a
        shared study for strategies that take one (optuna; ``nas.strategies.build_strategy`` runs
        evolution, mnasnet and random as workers of a shared study, ``nas.strategies.shared_study``)."""
        options, storage, run = split_method(cls.name, method)
        if storage is not None:
            if "storage" not in strategy_options(cls.name):
                raise StrategyError(f"method={cls.name}", "storage", "no storage: this strategy keeps its state in "
                                    "its run dir", storage)
            options.setdefault("storage", storage)
        strategy = create_strategy(cls.name, space, seed, **options)
        strategy.run_settings = run
        return strategy

    def search(self, job: SearchJob) -> SearchSummary:
        """Run to the budget on ``job``; the SearchSummary."""
        return run_controller(self, job, **getattr(self, "run_settings", {}))


@dataclass
class Objective:
    """What a controller's search optimises: the target, the reward, the evaluator and ``evaluate(arch)
    -> result`` (the evaluator's figures rewarded), as :func:`controller_objective` sets them up."""

    target_ms: float
    reward: MnasReward
    evaluator: Any
    evaluate: Callable[[Any], Dict[str, Any]]
    bounds: Tuple[float, float]


def controller_objective(strategy: Strategy, job: SearchJob, alpha: Optional[float] = None,
                         beta: Optional[float] = None, measure_each: bool = False) -> Optional[Objective]:
    """Target (``latency.target_ms``, else the middle of the latency range), reward, evaluator, and the
    hard constraint handed to the strategy (``latency.constraint=hard``: ``strategy.constrain`` with
    the latency source's prediction against the target; else none). The app's job and the bench
    scripts both set a search up with this. Under torchrun the other ranks than 0 evaluate what rank 0
    asks for here and get None."""
    space, lat = job.space, job.settings
    lo, hi = job.bounds()
    target = job.check_target() if lat.target_ms is not None else round((lo + hi) / 2, 3)
    reward = make_reward(target, lat.constraint, alpha, beta)
    if measure_each and not getattr(job.latency, "measurable", True):
        raise SearchError(f"method.measure_each=true: the latency source {job.latency!r} holds latencies measured "
                          "elsewhere; nothing can be timed here (drop measure_each)")

    def latency_ms(arch) -> float:
        if measure_each and dist.is_main():  # the other ranks' figures are not used: they do not time
            from nas.latency.measure import Setting, time_module

            threads = job.latency.fingerprint["threads"]
            setting = Setting(job.device, lat.dtype, lat.batch_size, threads, 0.1, runtime=lat.runtime)
            res = space.resolution
            return time_module(space.build(arch), [(3, res, res)], setting).median_ms
        return job.predict(arch)

    if dist.is_distributed() and getattr(strategy, "persistent", False):
        raise StrategyError(f"method={strategy.name}", "storage", "no shared study under torchrun (start each "
                            "worker as its own process: docs/distributed.md)", "a shared storage")
    evaluator = job.make_evaluator(latency_ms)
    if hasattr(evaluator, "prepare"):
        evaluator.prepare()  # under torchrun: every rank trains the supernet data-parallel
    strategy.constrain((lambda arch: job.predict(arch) <= target) if lat.constraint == "hard" else None)
    if not dist.is_main():  # evaluate the archs rank 0's strategy asks for, until it says stop
        while (arch := dist.broadcast_object(None)) is not None:
            evaluator(arch)
        return None

    def evaluate(arch):
        dist.broadcast_object(arch)  # the other ranks evaluate it with rank 0 (no-op on one process)
        figures = evaluator(arch)
        return reward.figures(figures.pop("accuracy"), figures.pop("latency_ms"), **figures)

    return Objective(target, reward, evaluator, evaluate, (lo, hi))


def run_controller(strategy: Strategy, job: SearchJob, budget: int = 100, alpha: Optional[float] = None,
                   beta: Optional[float] = None, measure_each: bool = False,
                   checkpoint_every: int = 10) -> SearchSummary:
    space, out = job.space, job.out_dir
    objective = controller_objective(strategy, job, alpha, beta, measure_each)
    if objective is None:  # a rank other than 0 under torchrun: it served rank 0's evaluations
        return None
    target, evaluator, (lo, hi) = objective.target_ms, objective.evaluator, objective.bounds

    def on_record(record, best):
        step = record.step + 1
        job.log_scalars("search", {k: record.result[k] for k in ("reward", "accuracy", "latency_ms")}, step)
        job.log_scalars("search", {"best_reward": best.reward}, step)

    try:
        result = run_strategy(strategy, objective.evaluate, budget, log_path=out / "archs.jsonl",
                              checkpoint_path=out / "search.pt", checkpoint_every=checkpoint_every,
                              on_record=on_record, resume=True)
    finally:
        if dist.is_distributed():
            dist.broadcast_object(None)  # stop the other ranks
    best = result.best
    best_path = best.arch.save(out / "best_arch.yaml")
    # a shared study: its best and front are every worker's (the same whichever worker reads them)
    records = strategy.records() if getattr(strategy, "persistent", False) else result.records
    front = pareto_front(records)
    cands = []
    for k, rec in enumerate(front):
        path = rec.arch.save(out / "pareto" / f"arch_{k}.yaml")
        cands.append(job.figures(rec.arch, path, **rec.result))
    fig = pareto_figure([(r.result["latency_ms"], r.result["accuracy"]) for r in records],
                        [(r.result["latency_ms"], r.result["accuracy"]) for r in front],
                        f"{strategy.name} on {space.name} ({len(records)} archs)", target_ms=target)
    fig.savefig(out / "pareto.png", dpi=120)
    if job.writer is not None:
        job.writer.add_figure("search/pareto", fig, len(records))
    found = job.figures(best.arch, best_path, **best.result)
    notes = job.measure([best.arch], [found])
    if hasattr(evaluator, "summarize"):  # ground truth the evaluator knows (a benchmark's)
        figures, more = evaluator.summarize(records, objective.reward)  # a shared study: every worker's
        job.log_scalars("truth", figures, len(records))
    else:
        figures, more = {}, list(getattr(evaluator, "notes", []))
    kind = getattr(evaluator, "accuracy_kind", f"{job.evaluator_name} evaluator")
    return SearchSummary(space=space.name, method=strategy.name, found=found, accuracy_kind=kind, candidates=cands,
                         candidates_are="Pareto front", evaluator=job.evaluator_name, target_ms=target,
                         latency_range_ms=[lo, hi], evaluations=result.evaluations, resumed=result.resumed,
                         notes=notes + more, figures=figures)
