"""Controller searches (``method=mnasnet | evolution | optuna | random``) with an evaluator.

Each sampled arch is scored by the evaluator (``oneshot``: inherited supernet weights; ``proxy``:
a short training from scratch), its latency comes from the device table (calibrated) or is measured,
and MNASNet's reward ACC * (LAT / T)^w ranks it. Writes ``archs.jsonl`` (every evaluated arch and its
figures), ``search.pt`` (checkpoint; ``resume=<run dir>`` continues), ``best_arch.yaml`` (+ the Pareto
front's archs under ``pareto/``), ``pareto.png`` and TensorBoard scalars and figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from omegaconf import DictConfig, OmegaConf

from nas.evaluators import EVALUATORS
from nas.latency.measure import Setting, time_module
from nas.latency.validate import measure_archs
from nas.strategies import create_strategy, make_reward, pareto_front, run_search
from nas.training import Recipe


def pareto_figure(records, front, target_ms: float, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([r.result["latency_ms"] for r in records], [r.result["accuracy"] for r in records], s=12,
               alpha=0.5, label="evaluated")
    ax.plot([r.result["latency_ms"] for r in front], [r.result["accuracy"] for r in front], "o-", color="C3",
            label="Pareto front")
    ax.axvline(target_ms, ls="--", color="gray", label=f"target {target_ms:.2f} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def make_evaluator(cfg: DictConfig, space, data, latency_ms, device: str, augment: bool):
    ev = cfg.evaluator
    recipe = Recipe(epochs=ev.epochs, batch_size=ev.batch_size, lr=ev.lr, weight_decay=ev.weight_decay,
                    label_smoothing=ev.label_smoothing, augment=augment, max_steps_per_epoch=ev.max_steps_per_epoch)
    kwargs: Dict[str, Any] = dict(device=device, seed=cfg.seed)
    if ev.name == "oneshot":
        kwargs.update(cache_dir=ev.cache_dir, bn_batches=ev.bn_batches,
                      cache_key={"data": OmegaConf.to_container(cfg.data), "classes": space.num_classes})
    return EVALUATORS.get(ev.name)(space, data, latency_ms, recipe, **kwargs)


def run_controller(cfg: DictConfig, out_dir: Path, space, data, table, device: str, augment: bool,
                   writer) -> Dict[str, Any]:
    m, lat = cfg.method, cfg.latency
    lo, hi = table.bounds(space, calibrated=lat.calibrated)
    target = lat.target_ms if lat.target_ms is not None else round((lo + hi) / 2, 3)
    reward = make_reward(target, lat.constraint, m.alpha, m.beta)
    size = (1, 3, space.resolution, space.resolution)
    threads = table.fingerprint["threads"]

    def latency_ms(arch) -> float:
        if m.measure_each:
            setting = Setting(device, lat.dtype, lat.batch_size, threads, 0.1, runtime=lat.get("runtime", "eager"))
            return time_module(space.build(arch), [size[1:]], setting).median_ms
        return table.predict(space, arch, calibrated=lat.calibrated)

    evaluator = make_evaluator(cfg, space, data, latency_ms, device, augment)
    if hasattr(evaluator, "prepare"):
        evaluator.prepare()
    options = OmegaConf.to_container(m.options, resolve=True) or {}
    if m.name == "optuna" and m.storage:
        options.setdefault("storage", m.storage)
    strategy = create_strategy(m.name, space, cfg.seed, **options)

    def evaluate(arch):
        figures = evaluator(arch)
        return reward.figures(figures.pop("accuracy"), figures.pop("latency_ms"), **figures)

    def on_record(record, best):
        step = record.step + 1
        for key in ("reward", "accuracy", "latency_ms"):
            writer.add_scalar(f"search/{key}", record.result[key], step)
        writer.add_scalar("search/best_reward", best.reward, step)

    result = run_search(strategy, evaluate, m.budget, log_path=out_dir / "archs.jsonl",
                        checkpoint_path=out_dir / "search.pt", checkpoint_every=m.checkpoint_every,
                        on_record=on_record)
    best = result.best
    best_path = best.arch.save(out_dir / "best_arch.yaml")
    front = pareto_front(result.records)
    for k, rec in enumerate(front):
        rec.arch.save(out_dir / "pareto" / f"arch_{k}.yaml")
    fig = pareto_figure(result.records, front, target, f"{m.name} on {space.name} ({len(result.records)} archs)")
    fig.savefig(out_dir / "pareto.png", dpi=120)
    writer.add_figure("search/pareto", fig, len(result.records))
    summary = {"arch_file": str(best_path), "space": space.name, "method": m.name, "evaluator": cfg.evaluator.name,
               "target_ms": target, "latency_range_ms": [lo, hi], "evaluations": result.evaluations,
               "resumed": result.resumed, "best": dict(best.result),
               "pareto": [{"arch_file": str(out_dir / "pareto" / f"arch_{k}.yaml"), **r.result}
                          for k, r in enumerate(front)]}
    if lat.measure:  # on the table's scale (timed against its reference network), as nas.latency validates
        summary["best"]["measured_ms"] = measure_archs(table, space, [best.arch], allow_mismatch=lat.allow_mismatch,
                                                       allow_busy=lat.get("allow_busy", False))[0][0]
    return summary
