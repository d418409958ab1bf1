"""The headline benchmark (issue #15): found nets against hand-designed baselines on CIFAR-10 at equal
measured latency, one training recipe for every net, two seeds each, latencies timed together.

    python bench/cifar_headline.py --root DIR [--plan bench/cifar_headline.yaml] [--out outputs/bench/headline]
        [--steps targets search train time report] [--shard K/N]

DIR holds ``cifar-10-batches-py/``. The plan (``bench/cifar_headline.yaml``) fixes the recipe, seeds,
baselines, the searched space, the latency targets (ms, or ``baseline:NAME`` for NAME's latency) and the
searches (name -> ``nas.search`` overrides). The steps, each resumable (a rerun continues where it stopped):

- ``targets``: the search space's latency table on this CPU (built or reused), and every baseline timed
  against the table's reference network, so ``baseline:NAME`` targets are on the table's scale;
- ``search``: one ``nas.search`` run per (target, search); the found arch files;
- ``train``: ``nas.train`` for every net x seed with the plan's recipe on the full training set, the
  test set as validation; ``--shard K/N`` takes every N-th run from the K-th, so N processes (one thread
  each) share the queue; an overall line with the epochs done and the time left follows every run;
- ``time``: every net timed in one round-robin session (``nas.report.measure.remeasure``);
- ``report``: ``bench/results/cifar_headline.json`` (commit it), ``docs/img/cifar_headline.png``, and the
  headline table between the markers in README.md and docs/benchmarks.md. ``--steps report`` alone
  regenerates table and plot from the committed results without training.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from hydra import compose, initialize_config_dir

from nas.io import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")
RESULTS = REPO / "bench" / "results" / "cifar_headline.json"
PLOT = REPO / "docs" / "img" / "cifar_headline.png"
MARKERS = ("<!-- headline:start -->", "<!-- headline:end -->")
STEPS = ("targets", "search", "train", "time", "report")


def compose_app(app: str, overrides: List[str]):
    with initialize_config_dir(CONF, version_base="1.3"):
        return compose(app, overrides=overrides)


def load_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else default


def save_json(path: Path, data: Any) -> None:
    from nas.io import write_json

    write_json(path, data)


# --- nets --------------------------------------------------------------------------------------------
def baseline_nets(plan: Dict[str, Any], out: Path) -> List[Dict[str, Any]]:
    """The plan's baselines: registered models (CIFAR form), or FBNet-A/B/C as archs of the searched space."""
    from nas.models.fbnet import ARCHS
    from nas.space import load_space

    space = load_space(plan["space"]["name"], variant="cifar", width_mult=plan["space"]["width_mult"])
    nets = []
    for name in plan["baselines"]:
        if name in ARCHS:
            path = space.decode(ARCHS[name]).save(out / "baselines" / f"{name}.yaml")
            nets.append({"name": f"{name} (x{plan['space']['width_mult']:g})", "kind": "baseline",
                         "method": "hand-designed", "arch_file": str(path)})
        else:
            nets.append({"name": name, "kind": "baseline", "method": "hand-designed", "model": name})
    return nets


def search_nets(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{"name": f"{s['search']} @ {s['target_ms']:.2f} ms", "kind": "found", "method": s["search"],
             "arch_file": s["arch_file"], "target_ms": s["target_ms"], "search_seconds": s["seconds"]}
            for s in state.get("searches", {}).values() if s.get("arch_file")]


def build(net: Dict[str, Any]):
    from nas.models import create_model
    from nas.space import Arch, load_space

    if "model" in net:
        return create_model(net["model"], num_classes=10, variant="cifar")
    arch = Arch.load(net["arch_file"])
    return load_space(arch.space, **arch.space_args).build(arch)


# --- steps -------------------------------------------------------------------------------------------
def step_targets(plan, args, state) -> None:
    """Table of the searched space on this CPU, and every baseline timed against its reference network."""
    import torch

    from nas.latency import get_table
    from nas.latency.measure import Setting, table_reference, time_module
    from nas.space import load_space

    threads = plan["timing"]["threads"]
    space = load_space(plan["space"]["name"], variant="cifar", width_mult=plan["space"]["width_mult"])
    table = get_table(space, device="cpu", threads=threads)
    s = Setting("cpu", "float32", 1, threads, 0.2)
    ref = table_reference(table, space, s)
    lat = {}
    for net in baseline_nets(plan, args.out):
        torch.manual_seed(0)
        lat[net["name"].split(" ")[0]] = [time_module(build(net), [(3, 32, 32)], s, net["name"], ref).median_ms
                                          for _ in range(3)]
        print(f"{net['name']}: {statistics.median(lat[net['name'].split(' ')[0]]):.3f} ms (table scale)", flush=True)
    targets = []
    for t in plan["targets"]:
        if isinstance(t, str) and t.startswith("baseline:"):
            targets.append({"spec": t, "ms": round(statistics.median(lat[t.split(":", 1)[1]]), 3)})
        else:
            targets.append({"spec": str(t), "ms": float(t)})
    state["targets"] = {"table": str(table.path), "baselines_ms": lat, "targets": targets,
                        "load_before": round(__import__("os").getloadavg()[0], 2)}


def step_search(plan, args, state) -> None:
    from nas.search.config import register_configs
    from nas.search.run import apply_default_space, run_search

    register_configs()
    state.setdefault("searches", {})
    space = [f"space={plan['space']['name']}", f"space.width_mult={plan['space']['width_mult']}"]
    for target in state["targets"]["targets"]:
        for name, overrides in plan["searches"].items():
            key = f"{name}@{target['ms']:.3f}"
            if state["searches"].get(key, {}).get("arch_file"):
                continue
            run_dir = args.out / "searches" / key.replace("@", "_")
            ovr = [*space, *plan["search_common"], f"data.root={args.root}", *overrides,
                   f"latency.target_ms={target['ms']}", f"out_dir={run_dir}"]
            cfg = apply_default_space(compose_app("search", ovr), ovr)
            if (run_dir / "summary.json").is_file():
                from nas.results import SearchSummary

                summary = SearchSummary.load(run_dir / "summary.json")
            else:
                resume = any((run_dir / m).is_file() for m in ("checkpoint.pt", "archs.jsonl"))
                if resume:
                    cfg = compose_app("search", [*ovr, f"resume={run_dir}"])
                    cfg = apply_default_space(cfg, ovr)
                print(f"search {key} ...", flush=True)
                summary = run_search(cfg, run_dir)
            state["searches"][key] = {"search": name, "target_ms": target["ms"], "target": target["spec"],
                                      "arch_file": summary.found.arch_file, "seconds": summary.seconds,
                                      "predicted_ms": summary.found.latency_ms, "estimate": summary.found.accuracy,
                                      "estimate_kind": summary.accuracy_kind}
            save_json(args.out / "state.json", state)


def runs_of(plan, args, state) -> List[Dict[str, Any]]:
    nets = baseline_nets(plan, args.out) + search_nets(state)
    return [{"net": n, "seed": seed, "dir": args.out / "train" / f"{re.sub(r'[^0-9A-Za-z_.-]+', '_', n['name'])}"
             f"_seed{seed}"} for n in nets for seed in plan["seeds"]]


def epochs_done(run_dir: Path) -> int:
    import torch

    if (run_dir / "result.json").is_file():
        return -1
    try:
        return int(torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - no (readable) checkpoint yet: start
        return 0


def step_train(plan, args, state) -> None:
    from nas.train.config import register_configs
    from nas.train.run import run_train

    register_configs()
    runs = runs_of(plan, args, state)
    k, n = (int(x) for x in args.shard.split("/"))
    mine = runs[k::n]
    epochs = plan["recipe"]["epochs"]
    done = {id(r): epochs_done(r["dir"]) for r in mine}
    total = epochs * len(mine)
    finished = sum(epochs if d < 0 else d for d in done.values())
    t0, trained = time.perf_counter(), 0
    print(f"shard {args.shard}: {len(mine)} of {len(runs)} runs, {finished}/{total} epochs done", flush=True)
    for r in mine:
        if done[id(r)] < 0:
            continue
        net, rec = r["net"], plan["recipe"]
        what = [f"model={net['model']}", "variant=cifar"] if "model" in net else [f"arch={net['arch_file']}"]
        ovr = [*what, "data=cifar10", f"data.root={args.root}", f"seed={r['seed']}", f"out_dir={r['dir']}",
               "device.threads=1", "measure_latency=false", *(f"{key}={v}" for key, v in rec.items())]
        if plan.get("train_images"):
            ovr.append(f"data.limit_train={plan['train_images']}")
        if done[id(r)] > 0:
            ovr.append(f"resume={r['dir']}")
        run_train(compose_app("train", ovr), r["dir"])
        trained += epochs - done[id(r)]
        finished += epochs - done[id(r)]
        per_epoch = (time.perf_counter() - t0) / trained
        left = (total - finished) * per_epoch
        print(f"[{finished}/{total} epochs] {net['name']} seed {r['seed']} done; about {left / 3600:.1f} h left "
              f"on this shard", flush=True)


def step_time(plan, args, state) -> None:
    from nas.report.collect import Row
    from nas.report.measure import remeasure

    nets = baseline_nets(plan, args.out) + search_nets(state)
    rows = [Row(name=n["name"], kind="baseline", method=n["method"], arch_file=n.get("arch_file"),
                model=n.get("model"), variant="cifar" if "model" in n else None, num_classes=10) for n in nets]
    remeasure(rows, threads=plan["timing"]["threads"], rounds=plan["timing"]["rounds"])
    state["timing"] = {"ms": {r.name: r.measured_ms for r in rows}, "setting": rows[0].latency_setting}


def step_report(plan, args, state) -> Dict[str, Any]:
    """Collect into the results file (when runs are here), then table and plot from it."""
    from nas.results import TrainResult

    if (args.out / "state.json").is_file() or state:
        nets = []
        for n in baseline_nets(plan, args.out) + search_nets(state):
            accs = {}
            for r in runs_of(plan, args, state):
                if r["net"]["name"] == n["name"] and (r["dir"] / "result.json").is_file():
                    res = TrainResult.load(r["dir"] / "result.json")
                    accs[str(r["seed"])] = res.val_acc
                    n.update(params_m=res.params_m, macs_m=res.macs_m)
            n["val_acc"] = accs
            n["latency_ms"] = state.get("timing", {}).get("ms", {}).get(n["name"])
            n["arch_file"] = n.get("arch_file") and str(Path(n["arch_file"]).relative_to(args.out.resolve())
                                                        if Path(n["arch_file"]).is_relative_to(args.out.resolve())
                                                        else n["arch_file"])
            nets.append(n)
        save_json(args.results, {"format": "nas.bench.cifar_headline/1", "plan": plan, "targets": state.get("targets"),
                            "searches": state.get("searches"), "timing": state.get("timing", {}).get("setting"),
                            "nets": nets})
    return write_outputs(load_json(args.results, None), args)


def mean_se(accs: Dict[str, float]):
    vals = list(accs.values())
    if not vals:
        return None, None
    se = statistics.stdev(vals) / len(vals) ** 0.5 if len(vals) > 1 else None
    return statistics.fmean(vals), se


def fmt(mean, se) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}" + (f" ± {100 * se:.2f}" if se is not None else " (1 seed)")


def headline_table(results: Dict[str, Any]) -> str:
    """Per target: the best found net against the best baseline within ±5% of its measured latency."""
    nets, rec = results["nets"], results["plan"]["recipe"]
    lines = [f"CIFAR-10, full training set, test set as validation; every net trained with one recipe ({rec['epochs']}"
             f" epochs, batch {rec['batch_size']}, SGD Nesterov lr {rec['lr']} cosine after {rec['warmup_epochs']} "
             f"warm-up epoch, label smoothing {rec['label_smoothing']}, crop + flip), "
             f"{len(results['plan']['seeds'])} seeds: mean ± standard error (%); latency: batch 1, 1 thread, all nets "
             f"timed together (`python bench/cifar_headline.py --steps report` regenerates this table from "
             f"`bench/results/cifar_headline.json`).", "",
             "| target | best found net | its accuracy | latency (ms) | best baseline within ±5% | its accuracy | "
             "latency (ms) | difference (points) | goal: +1.0 beyond the combined SE |", "|---|---|---|---|---|---|---|---|---|"]
    for t in (results.get("targets") or {}).get("targets", []):
        found = [n for n in nets if n["kind"] == "found" and abs(n.get("target_ms", -1) - t["ms"]) < 1e-6
                 and n["val_acc"] and n.get("latency_ms")]
        if not found:
            lines.append(f"| {t['spec']} ({t['ms']:.2f} ms) | not trained yet | | | | | | | |")
            continue
        best = max(found, key=lambda n: mean_se(n["val_acc"])[0])
        bm, bse = mean_se(best["val_acc"])
        near = [n for n in nets if n["kind"] == "baseline" and n["val_acc"] and n.get("latency_ms")
                and abs(n["latency_ms"] / best["latency_ms"] - 1) <= 0.05]
        if near:
            base = max(near, key=lambda n: mean_se(n["val_acc"])[0])
            am, ase = mean_se(base["val_acc"])
            diff = 100 * (bm - am)
            se = 100 * ((bse or 0) ** 2 + (ase or 0) ** 2) ** 0.5
            verdict = "met" if diff >= 1.0 and diff > se else f"missed ({diff:+.2f} vs SE {se:.2f})"
            lines.append(f"| {t['spec']} ({t['ms']:.2f} ms) | {best['name']} | {fmt(bm, bse)} | {best['latency_ms']:.3f} "
                         f"| {base['name']} | {fmt(am, ase)} | {base['latency_ms']:.3f} | {diff:+.2f} | {verdict} |")
        else:
            lines.append(f"| {t['spec']} ({t['ms']:.2f} ms) | {best['name']} | {fmt(bm, bse)} | {best['latency_ms']:.3f} "
                         f"| no baseline within ±5% | | | | - |")
    lines += ["", "| net | kind | accuracy (%) | latency (ms) | params (M) | MACs (M) |", "|---|---|---|---|---|---|"]
    for n in sorted(nets, key=lambda n: n.get("latency_ms") or 1e9):
        lat = f"{n['latency_ms']:.3f}" if n.get("latency_ms") else "-"
        size = (f"{n['params_m']:.2f} | {n['macs_m']:.1f}" if "params_m" in n else "- | -")
        lines.append(f"| {n['name']} | {n['kind']} | {fmt(*mean_se(n['val_acc']))} | {lat} | {size} |")
    return "\n".join(lines)


def plot(results: Dict[str, Any], path: Path) -> None:
    """One accuracy-latency plot with error bars and the Pareto front (nas.report's figure)."""
    from nas.io import atomic_save_figure
    from nas.report.collect import BASELINE, TRAINED_FOUND, Row
    from nas.report.front import figure

    rows = []
    for n in results["nets"]:
        mean, se = mean_se(n["val_acc"])
        rows.append(Row(name=n["name"], kind=TRAINED_FOUND if n["kind"] == "found" else BASELINE, method=n["method"],
                        accuracy=mean, accuracy_se=se, accuracy_kind="trained (val)", measured_ms=n.get("latency_ms"),
                        target_ms=n.get("target_ms"), seeds=[int(s) for s in n["val_acc"]]))
    fig = figure(rows, "CIFAR-10: found vs hand-designed nets (one recipe; mean ± SE over seeds)")
    atomic_save_figure(fig, path)


def write_outputs(results: Optional[Dict[str, Any]], args) -> Dict[str, Any]:
    if results is None:
        raise SystemExit(f"error: {args.results}: no results yet (run the train and time steps first)")
    md = headline_table(results)
    plot(results, args.plot)
    for doc in ((REPO / "README.md", REPO / "docs" / "benchmarks.md") if args.docs else ()):
        text = doc.read_text()
        if MARKERS[0] in text:
            head, rest = text.split(MARKERS[0], 1)
            atomic_write_text(doc, head + MARKERS[0] + "\n" + md + "\n" + MARKERS[1] + rest.split(MARKERS[1], 1)[1])
    print(md)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[1])
    ap.add_argument("--root", help="directory holding cifar-10-batches-py/ (all steps but report)")
    ap.add_argument("--plan", type=Path, default=REPO / "bench" / "cifar_headline.yaml", help="the plan (YAML)")
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "bench" / "headline", help="run dirs and state")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    ap.add_argument("--shard", default="0/1", help="K/N: this process trains runs K, K+N, ... of the queue")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the results file (commit it)")
    ap.add_argument("--plot", type=Path, default=PLOT)
    ap.add_argument("--no-docs", dest="docs", action="store_false", help="leave README.md and docs/ alone")
    args = ap.parse_args()
    args.out = args.out.resolve()
    plan = yaml.safe_load(args.plan.read_text())
    if set(args.steps) - {"report"} and not args.root:
        ap.error("--root is required for the steps targets, search, train and time")
    state = load_json(args.out / "state.json", {})
    for step in STEPS:
        if step not in args.steps:
            continue
        if step in ("search", "train", "time") and "targets" not in state:
            raise SystemExit(f"error: {args.out / 'state.json'}: step {step} needs the targets step first")
        print(f"== {step}", flush=True)
        {"targets": step_targets, "search": step_search, "train": step_train, "time": step_time,
         "report": step_report}[step](plan, args, state)
        if step != "report":
            save_json(args.out / "state.json", state)


if __name__ == "__main__":
    main()
