"""Controllers at an equal evaluation budget on CIFAR-10, and evaluations per minute of each evaluator.

    python bench/controllers_cifar.py --root DIR [--budget 60] [--seeds 0 1] [--target-ms T]
        [--methods random mnasnet evolution optuna] [--evaluator proxy|oneshot] [--proxy-evals 3] [--threads 1]

DIR holds ``cifar-10-batches-py/`` (``python ../shared/datasets/cifar10/make_cifar10.py DIR`` makes one).
Every method searches the same space (``mnasnet`` at ``--width``) with the same evaluator, latency table,
target and budget; the table lists the best MNASNet reward each reached per seed. ``--evaluator proxy``
(default) trains each child from scratch for ``--proxy-epochs``; ``oneshot`` scores archs with a SPOS
supernet trained once and cached (measured here: at 5 epochs on 10,000 images its archs score at
chance, so its rewards rank latency only). Both evaluators' evaluations per minute are timed.
Each search runs through ``nas.search.run.run_search``, as ``python -m nas.search method=... `` does.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from nas.io import atomic_write_text
from nas.search.config import register_configs
from nas.search.run import apply_default_space, run_search

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def search(overrides, out_dir: Path):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    cfg = apply_default_space(cfg, overrides)
    t0 = time.perf_counter()
    summary = run_search(cfg, out_dir)
    return summary, time.perf_counter() - t0


def evaluator_overrides(name: str, args) -> list:
    if name == "oneshot":  # the supernet's training is the `supernet` section's (shared with FBNet's warm-up)
        return [f"evaluator={name}", f"supernet.epochs={args.supernet_epochs}"]
    return [f"evaluator={name}", f"evaluator.epochs={args.proxy_epochs}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="directory holding cifar-10-batches-py/")
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--methods", nargs="+", default=["random", "mnasnet", "evolution", "optuna"])
    ap.add_argument("--target-ms", type=float, default=None, help="latency target (default: middle of the range)")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--limit-train", type=int, default=10000)
    ap.add_argument("--limit-val", type=int, default=2000)
    ap.add_argument("--supernet-epochs", type=int, default=5)
    ap.add_argument("--evaluator", choices=["proxy", "oneshot"], default="proxy")
    ap.add_argument("--proxy-epochs", type=int, default=1)
    ap.add_argument("--proxy-evals", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="outputs/bench/controllers_cifar10")
    args = ap.parse_args()
    register_configs()
    out = Path(args.out)
    common = ["space=mnasnet", f"space.width_mult={args.width}", "data=cifar10", f"data.root={args.root}",
              f"data.limit_train={args.limit_train}", f"data.limit_val={args.limit_val}",
              f"device.threads={args.threads}", "latency.measure=false"]
    if args.target_ms is not None:
        common.append(f"latency.target_ms={args.target_ms}")
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            run_dir = out / f"{method}_seed{seed}"
            s, secs = search([*common, f"method={method}", f"method.budget={args.budget}", f"seed={seed}",
                              *evaluator_overrides(args.evaluator, args)], run_dir)
            rows.append({"method": method, "seed": seed, "best_reward": s["best"]["reward"],
                         "best_accuracy": s["best"]["accuracy"], "best_latency_ms": s["best"]["latency_ms"],
                         "target_ms": s["target_ms"], "evaluations": s["evaluations"], "seconds": secs})
            print(json.dumps(rows[-1]), flush=True)
    # evaluations per minute: one-shot (the supernet is cached by now) vs proxy training
    rates = {}
    if args.evaluator == "proxy":  # train (or reuse) the one-shot supernet before timing its evaluations
        search([*common, "method=random", "method.budget=1", "seed=100", *evaluator_overrides("oneshot", args)],
               out / "oneshot_prepare")
    for name, budget in (("oneshot", args.budget), ("proxy", args.proxy_evals)):
        _, secs = search([*common, "method=random", f"method.budget={budget}", "seed=100",
                          *evaluator_overrides(name, args)], out / f"rate_{name}")
        rates[name] = {"evaluations": budget, "seconds": secs, "per_minute": 60 * budget / secs}
        print(json.dumps({"evaluator": name, **rates[name]}), flush=True)

    print(f"\nbest reward after {args.budget} evaluations (mnasnet space x{args.width}, {args.evaluator} evaluator, "
          f"{args.limit_train} CIFAR-10 training images, target {rows[0]['target_ms']:.2f} ms):")
    print("| method | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean | best arch: acc / latency |")
    print("|---|" + "---|" * (len(args.seeds) + 2))
    for method in args.methods:
        mine = [r for r in rows if r["method"] == method]
        best = max(mine, key=lambda r: r["best_reward"])
        mean = sum(r["best_reward"] for r in mine) / len(mine)
        print(f"| {method} | " + " | ".join(f"{r['best_reward']:.4f}" for r in mine) +
              f" | {mean:.4f} | {best['best_accuracy']:.3f} / {best['best_latency_ms']:.2f} ms |")
    print("\nevaluations per minute (search wall time incl. setup; the one-shot supernet cached beforehand):")
    for name, r in rates.items():
        print(f"  {name:8s} {r['per_minute']:.1f}/min ({r['evaluations']} in {r['seconds']:.0f} s)")
    atomic_write_text(out / "results.json", json.dumps({"rows": rows, "rates": rates}, indent=2) + "\n")


if __name__ == "__main__":
    main()
