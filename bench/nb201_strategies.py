"""Search strategies against NAS-Bench-201's ground truth (issue #13): best found test accuracy, regret to
the best feasible arch of the file and the share of runs that found a feasible arch, per strategy,
setting and budget.

    NAS_NB201_DIR=/path/to/nas-bench-201-hw python bench/nb201_strategies.py [--workers 2]

Each strategy runs ``--seeds`` (20) seeded searches of ``--budget`` (300) queries per setting, exactly
as ``python -m nas.search space=nb201 evaluator=benchmark latency.table=benchmark ...`` runs them
(``nas.search.simulate``: the app's evaluator, latency source, strategy classes and reward; hard
constraint = infeasible archs get no reward, the strategies get the constraint). The figures at 30
and 100 queries are the first 30 / 100 queries of each run: no strategy reads its budget, so a run
with ``method.budget=30`` proposes exactly those archs. Queries count as the app's budget does (a
repeated arch counts again).

Settings (``--settings report``, the issue's): unconstrained CIFAR-10; CIFAR-100 on gold_6226 at 8 /
11 / 14 ms; CIFAR-10 on raspi4 at 10 / 20 ms and on pixel3 at 5 ms. ``--settings tune`` are the ones
the defaults were tuned on (other datasets and devices; tune with ``--seed0 1000``, not the reported
seeds 0-19). Besides, NSGA-II (``optuna`` with objectives accuracy and latency) and random search are
scored by the hypervolume of their evaluated archs' front against the file's true front on each
(dataset, device) pair of the settings (``--no-fronts`` skips that).

Writes to ``--out`` (outputs/bench/nb201_strategies): ``results.md`` (the tables; each strategy against
random search: difference of the means, its standard error, a one-sided Mann-Whitney U test over the
seeds), ``results.json`` (every run's best-so-far curve), ``regret.png`` (mean regret vs queries per
setting) and ``tb/`` (TensorBoard: ``<setting>/<strategy>`` regret per query). Needs the NAS-Bench-201
file (docs/nb201.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.errors import NasError  # noqa: E402
from nas.io import atomic_write_text  # noqa: E402
from nas.search.simulate import Setting, best_curve, front_ratio, simulate, truth  # noqa: E402

REPORT = [Setting("cifar10"),
          Setting("cifar100", "gold_6226", 8.0), Setting("cifar100", "gold_6226", 11.0),
          Setting("cifar100", "gold_6226", 14.0),
          Setting("cifar10", "raspi4", 10.0), Setting("cifar10", "raspi4", 20.0), Setting("cifar10", "pixel3", 5.0)]
# tuning settings: datasets / devices / targets the report does not use (targets near the 15-70th
# percentile of each device's latencies)
TUNE = [Setting("imagenet16_120"), Setting("cifar100"),
        Setting("imagenet16_120", "silver_4114", 14.4), Setting("imagenet16_120", "pixel2", 15.0),
        Setting("cifar100", "samsung_s7", 16.0), Setting("cifar100", "eyeriss", 4.9),
        Setting("imagenet16_120", "titanx_1", 10.3), Setting("cifar10", "fpga", 2.8)]
STRATEGIES = {  # label: (registered method, options); defaults are the strategies' own
    "random": ("random", {}),
    "random, feasible only": ("random", {"feasible_only": True}),
    "evolution": ("evolution", {}),
    "RL (mnasnet, PPO)": ("mnasnet", {}),
    "TPE (optuna)": ("optuna", {"sampler": "tpe"}),
    "bo (GP, local candidates)": ("bo", {}),
}
LEARNING = ["evolution", "RL (mnasnet, PPO)", "TPE (optuna)", "bo (GP, local candidates)"]
FRONTS = {"random": ("random", {}), "NSGA-II (optuna)": ("optuna", {"objectives": ["accuracy", "latency_ms"]})}
GOALS = {"cifar100, gold_6226 <= 8 ms": 68.8, "cifar100, gold_6226 <= 11 ms": 71.2,
         "cifar100, gold_6226 <= 14 ms": 72.5, "cifar10, unconstrained": 94.30}


def run_task(task: Tuple[str, str, dict, Setting, List[int], int, bool]) -> Dict:
    """One (strategy, setting) over its seeds: best-so-far curves (or front ratios at the budgets)."""
    label, method, options, setting, seeds, budget, fronts = task
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    started = time.process_time()
    out = {"label": label, "setting": setting.label, "fronts": fronts, "curves": [], "ratios": []}
    t = truth(setting) if fronts else None
    for seed in seeds:
        records = simulate(method, options, setting, seed, budget)
        if fronts:
            out["ratios"].append([front_ratio(records[:b], t) for b in BUDGETS if b <= budget])
        else:
            out["curves"].append([None if math.isnan(v) else v for v in best_curve(records, setting)])
    out["cpu_s"] = time.process_time() - started
    return out


BUDGETS = (30, 100, 300)


def stats(values) -> Tuple[float, float, int]:
    v = np.array([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)) if len(v) else (math.nan, 0.0, 0)


def summarise(results: List[Dict], settings: List[Setting], budgets) -> Dict[str, Dict[str, Dict]]:
    """setting -> strategy -> {budget: (mean, std, n, regret, share)}."""
    table: Dict[str, Dict[str, Dict]] = {}
    for s in settings:
        opt = truth(s).optimum
        for r in results:
            if r["setting"] != s.label or r["fronts"]:
                continue
            row = {}
            for b in budgets:
                best = [c[b - 1] for c in r["curves"]]
                mean, std, n = stats(best)
                row[b] = {"mean": mean, "std": std, "n": n, "regret": opt - mean, "found": n / len(best),
                          "values": best}
            table.setdefault(s.label, {"optimum": opt})[r["label"]] = row
    return table


def beats(a: Dict, b: Dict) -> bool:
    """``a``'s mean above ``b``'s by more than two standard errors of the difference."""
    se = math.sqrt(a["std"] ** 2 / max(a["n"], 1) + b["std"] ** 2 / max(b["n"], 1))
    return a["mean"] - b["mean"] > 2 * se


def p_greater(x, y) -> float:
    """One-sided Mann-Whitney U test over the seeds that ``x`` exceeds ``y`` (a run that found no feasible
    arch ranks below every run that did): its p-value."""
    from scipy.stats import mannwhitneyu

    def worst(v):
        return [-math.inf if a is None or (isinstance(a, float) and math.isnan(a)) else a for a in v]

    return float(mannwhitneyu(worst(x), worst(y), alternative="greater").pvalue) if len(x) > 1 and len(y) > 1 \
        else math.nan


def versus_random(table, budgets, base_label: str = "random") -> List[str]:
    """Each strategy against ``base_label`` (random search) per setting and budget: difference of the means,
    its standard error, the one-sided Mann-Whitney p-value."""
    lines = ["| setting | strategy | " + " | ".join(f"{b} queries" for b in budgets) + " |",
             "|" + "---|" * (2 + len(budgets))]
    for setting, rows in table.items():
        base = rows.get(base_label)
        for label, row in rows.items():
            if label in ("optimum", "random", base_label) or base is None:
                continue
            cells = []
            for b in budgets:
                a, r = row[b], base[b]
                se = math.sqrt(a["std"] ** 2 / max(a["n"], 1) + r["std"] ** 2 / max(r["n"], 1))
                p = p_greater(a.get("values", []), r.get("values", []))
                cells.append(f"{a['mean'] - r['mean']:+.2f} ± {se:.2f}{'*' if beats(a, r) else ''} (p {p:.2g})")
            lines.append(f"| {setting} | {label} | " + " | ".join(cells) + " |")
    return lines


def markdown(table, fronts, budgets, meta) -> str:
    lines = []
    for m in meta["earlier"] + ([meta] if meta["tasks"] else []):
        lines.append(f"{'Runs reused from ' + m['file'] + ': d' if 'file' in m else 'D'}ate {m['date']}, command "
                     f"`{m['command']}`, wall time {m['wall_s']:.0f} s (CPU {m['cpu_s']:.0f} s in {m['workers']} "
                     f"processes), load average before / after: {m['load_before']} / {m['load_after']}, "
                     f"{m['machine']}.")
    lines += ["",
             "Best found test accuracy (%), mean ± std over the seeds (of runs that found a feasible arch), "
             "regret to the best feasible arch of the file, share of runs that found a feasible arch; "
             "`*`: above random search by more than two standard errors.", ""]
    head = "| setting (best feasible) | strategy | " + " | ".join(f"{b} queries" for b in budgets) + " |"
    lines += [head, "|" + "---|" * (2 + len(budgets))]
    for setting, rows in table.items():
        base = rows.get("random")
        for label, row in rows.items():
            if label == "optimum":
                continue
            cells = []
            for b in budgets:
                c = row[b]
                star = "*" if base and label != "random" and beats(c, base[b]) else ""
                found = "" if c["found"] == 1 else f", found {c['found']:.0%}"
                cells.append(f"{c['mean']:.2f} ± {c['std']:.2f}{star} (regret {c['regret']:.2f}{found})")
            lines.append(f"| {setting} ({rows['optimum']:.2f}) | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Against random search: the difference of the mean best found accuracy (points) ± its standard "
              "error; `*`: more than two standard errors; p: one-sided Mann-Whitney U test over the seeds that the "
              "strategy's best found accuracy exceeds random search's (a run without a feasible arch ranks last).",
              ""] + versus_random(table, budgets)
    lines += ["", "The learning strategies against random search restricted to feasible archs (`feasible_only`, what "
              "the latency model alone gives), constrained settings:", ""]
    constrained = {s: r for s, r in table.items() if "unconstrained" not in s}
    lines += versus_random(constrained, budgets, "random, feasible only")
    if fronts:
        lines += ["", "Hypervolume of the evaluated archs' accuracy-latency front over the file's true front's "
                  "(reference: the dearest arch's latency, the median accuracy), mean ± std; p: one-sided Mann-"
                  "Whitney U test over the seeds that it exceeds random search's:", "",
                  "| dataset, device | strategy | " + " | ".join(f"{b} queries" for b in budgets) + " |",
                  "|" + "---|" * (2 + len(budgets))]
        for r in fronts:
            base = next((q for q in fronts if q["setting"] == r["setting"] and q["label"] == "random"), None)
            cells = []
            for k, col in enumerate(zip(*r["ratios"])):
                p = "" if base is None or base is r else \
                    f" (p {p_greater(list(col), [x[k] for x in base['ratios']]):.2g})"
                cells.append(f"{np.mean(col):.3f} ± {np.std(col, ddof=1):.3f}{p}")
            lines.append(f"| {r['setting'].split(' <=')[0]} | {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def goals(table, budget: int = 100) -> str:
    lines = [f"Goals at {budget} queries:", ""]
    constrained = [s for s in table if "unconstrained" not in s]
    for label in LEARNING:
        won = [s for s in constrained if label in table[s] and beats(table[s][label][budget], table[s]["random"][budget])]
        sig = [s for s in constrained if label in table[s] and p_greater(table[s][label][budget]["values"],
                                                                          table[s]["random"][budget]["values"]) < 0.05]
        lines.append(f"- {label} beats random search by more than 2 SE on {len(won)} of {len(constrained)} "
                     f"constrained settings (one-sided Mann-Whitney p < 0.05 on {len(sig)})")
    for setting, goal in GOALS.items():
        if setting not in table:
            continue
        rows = {k: v[budget]["mean"] for k, v in table[setting].items() if k != "optimum"}
        best = max(rows, key=rows.get)
        lines.append(f"- {setting}: best {best} {rows[best]:.2f} (goal {goal:.2f}: "
                     f"{'met' if rows[best] >= goal else f'missed by {goal - rows[best]:.2f}'})")
    return "\n".join(lines) + "\n"


def plot(results, table, settings, out: Path, writer=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows_n = math.ceil(len(settings) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.3 * rows_n), squeeze=False)
    for ax, s in zip(axes.ravel(), settings):
        opt = table[s.label]["optimum"]
        for r in results:
            if r["setting"] != s.label or r["fronts"]:
                continue
            curves = np.array([[np.nan if v is None else v for v in c] for c in r["curves"]], dtype=float)
            with np.errstate(all="ignore"):
                regret = opt - np.nanmean(curves, axis=0)
            steps = np.arange(1, len(regret) + 1)
            ax.plot(steps, regret, label=r["label"], lw=1.2)
            if writer is not None:
                for t, v in zip(steps, regret):
                    if np.isfinite(v):
                        writer.add_scalar(f"{s.label}/{r['label']}/regret", float(v), int(t))
        ax.set_yscale("log")
        ax.set_title(s.label, fontsize=9)
        ax.set_xlabel("queries")
        ax.set_ylabel("mean regret (%)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(settings):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    if writer is not None:
        writer.add_figure("regret", fig)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", choices=("report", "tune"), default="report")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--seed0", type=int, default=0, help="first seed (tune on others than the reported 0-19)")
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--strategies", nargs="*", default=list(STRATEGIES), help="labels of STRATEGIES")
    p.add_argument("--option", action="append", default=[], metavar="LABEL=METHOD:JSON",
                   help='an extra strategy, e.g. \'bo-k3=bo:{"kappa": 3}\' (tuning)')
    p.add_argument("--front", action="append", default=[], metavar="LABEL=METHOD:JSON",
                   help="an extra strategy scored by its front's hypervolume (tuning)")
    p.add_argument("--no-fronts", action="store_true")
    p.add_argument("--reuse", action="append", default=[], metavar="RESULTS_JSON",
                   help="results.json of earlier runs: their runs of strategies not run now are kept (later files "
                        "win), e.g. to rerun one strategy after a change; with --strategies and --no-fronts alone "
                        "it only merges")
    p.add_argument("--resume", action="store_true", help="keep the finished tasks of an interrupted run of this "
                   "command (--out/tasks.jsonl) and run the rest")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="outputs/bench/nb201_strategies")
    args = p.parse_args(argv)
    settings = REPORT if args.settings == "report" else TUNE
    budgets = tuple(b for b in BUDGETS if b <= args.budget)
    strategies = {k: STRATEGIES[k] for k in args.strategies}
    for spec in args.option:
        label, rest = spec.split("=", 1)
        method, opts = rest.split(":", 1)
        strategies[label] = (method, json.loads(opts))
    front_strategies = dict(FRONTS)
    for spec in args.front:
        label, rest = spec.split("=", 1)
        method, opts = rest.split(":", 1)
        front_strategies[label] = (method, json.loads(opts))
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    try:
        for s in settings:
            truth(s)  # fail early: no file, unknown device or dataset
    except NasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tasks = [(label, m, o, s, seeds, args.budget, False) for s in settings for label, (m, o) in strategies.items()]
    if not args.no_fronts:
        pairs = {(s.dataset, s.device): s for s in settings if s.device}
        tasks += [(label, m, o, s, seeds, args.budget, True) for s in pairs.values()
                  for label, (m, o) in front_strategies.items()]
    tasks.sort(key=lambda t: t[1] in ("random", "evolution"))  # the slow ones first: better packing
    running = {(t[0], t[3].label, t[6]) for t in tasks}
    reused: Dict[Tuple, Dict] = {}
    earlier = []
    for path in args.reuse:
        old = json.loads(Path(path).read_text())
        earlier.append({"file": path, **old["meta"]})
        for r in old["runs"]:
            key = (r["label"], r["setting"], r["fronts"])
            if key not in running and r["setting"] in {s.label for s in settings}:
                reused[key] = r
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "tasks.jsonl"  # every finished task, as it finishes
    done = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] \
        if args.resume and log.is_file() else []
    finished = {(r["label"], r["setting"], r["fronts"]) for r in done}
    todo = [t for t in tasks if (t[0], t[3].label, t[6]) not in finished]
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    results = list(done)
    with get_context("spawn").Pool(args.workers) as pool, open(log, "a" if args.resume else "w") as f:
        for r in tqdm(pool.imap_unordered(run_task, todo), total=len(todo), desc="strategy x setting"):
            results.append(r)
            f.write(json.dumps(r) + "\n")
            f.flush()
    wall = time.perf_counter() - t0  # of this invocation (a --resume adds its earlier part: see tasks.jsonl)
    cpu_now = sum(r["cpu_s"] for r in results)
    results += list(reused.values())
    meta = {"date": datetime.now().astimezone().isoformat(timespec="seconds"), "command": " ".join(
        ["python bench/nb201_strategies.py", *(argv if argv is not None else sys.argv[1:])]), "wall_s": wall,
            "cpu_s": cpu_now, "workers": args.workers, "load_before": load_before, "earlier": earlier,
            "tasks": len(tasks), "resumed_tasks": len(done),
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"}
    order = {label: i for i, label in enumerate({**STRATEGIES, **strategies})}
    curves = sorted((r for r in results if not r["fronts"]), key=lambda r: order[r["label"]])
    fronts = sorted((r for r in results if r["fronts"]), key=lambda r: (r["setting"], r["label"]))
    table = summarise(curves, settings, budgets)
    text = markdown(table, fronts, budgets, meta) + "\n" + goals(table, 100 if 100 in budgets else budgets[-1])
    cpu = {f"{r['label']} | {r['setting']}": round(r["cpu_s"], 1) for r in results}
    atomic_write_text(out / "results.md", text)
    atomic_write_text(out / "results.json", json.dumps({"meta": meta, "table": table, "cpu_s": cpu, "runs": results}))
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out / "tb")) as writer:
        plot(curves, table, settings, out / "regret.png", writer)
    print(text)
    per = {}
    for r in results:
        per[r["label"]] = per.get(r["label"], 0) + r["cpu_s"]
    print("CPU s per strategy:", {k: round(v) for k, v in per.items()})
    print(f"wrote {out / 'results.md'}, {out / 'regret.png'}, {out / 'tb'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
