"""Does the supernet learn? Accuracy of uniformly sampled paths after BN re-estimation (issue #14's measure).

    python bench/supernet_paths.py --data digits                       # the main job's data (32 px)
    python bench/supernet_paths.py --data cifar10 --root /work/data --images 20000 --resolution 16 --steps 1000

Trains the space's supernet with the toolkit's one trainer (``nas.supernet.training``, the defaults of
the ``supernet`` config section unless ``--set KEY=VALUE``), then scores ``--paths`` (10) uniformly
drawn paths (seeded) with the shared weights: each path's BatchNorm statistics are re-estimated on
``--bn-batches`` weight-split batches, then it is tested on the validation images (CIFAR-10: the test
set; digits: the held-out 20%). ``--solo-steps N`` also trains each of those paths alone from scratch
for N steps with the same recipe and reports Kendall's tau between shared-weight and solo accuracy.
``--steps`` sets the step budget (it overrides ``epochs`` / ``max_steps_per_epoch``). Prints the training
curve, the paths' accuracies (min / mean / max), wall times and the load average, and appends a JSON line
to ``--out``. One thread by default (``--threads``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import yaml

from nas.data import BatchLoader, SearchData, resize, search_data
from nas.loops import Recipe, evaluate, make_optimizer, to_device, train_epoch
from nas.space import load_space
from nas.supernet.training import SupernetOptions, SupernetTrainer, score_path

RESULTS = Path(__file__).resolve().parent / "results"


def parse_sets(items):
    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"error: --set {item}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


def solo_accuracy(space, arch, data, opts: SupernetOptions, steps: int, seed: int, augment: bool) -> float:
    torch.manual_seed(seed)
    net = to_device(space.build(arch))
    loader = BatchLoader(data.weight, opts.batch_size, augment=augment, seed=seed, drop_last=True)
    epochs = max(1, math.ceil(steps / len(loader)))
    recipe = Recipe(epochs=epochs, batch_size=opts.batch_size, lr=opts.lr, momentum=opts.momentum,
                    weight_decay=opts.weight_decay, label_smoothing=opts.label_smoothing, augment=augment,
                    max_steps_per_epoch=math.ceil(steps / epochs))
    opt, sched = make_optimizer(net, recipe)
    for epoch in range(epochs):
        train_epoch(net, loader, opt, recipe, epoch, progress=False)
        sched.step()
    return evaluate(net, data.val)["val_acc"]


def kendall_tau(a, b) -> float:
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (1 if (a[i] - a[j]) * (b[i] - b[j]) > 0 else -1 if (a[i] - a[j]) * (b[i] - b[j]) < 0 else 0)
    return 2 * s / (n * (n - 1)) if n > 1 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="digits", help="digits | cifar10")
    ap.add_argument("--root", default="/work/data", help="CIFAR-10 root (holds cifar-10-batches-py)")
    ap.add_argument("--images", type=int, help="training images (a seeded subset; default all)")
    ap.add_argument("--val-images", type=int, default=2000, help="validation images (CIFAR-10 test set)")
    ap.add_argument("--resolution", type=int, help="input size (default: the space's, 32)")
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--width", type=float, default=1.0, help="the space's width multiplier")
    ap.add_argument("--fix-transitions", help="fix the channel-changing layers to this op (not searched)")
    ap.add_argument("--steps", type=int, help="training steps (default: the supernet section's epochs)")
    ap.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="supernet options (nas.supernet.training)")
    ap.add_argument("--paths", type=int, default=10, help="uniformly drawn paths to score")
    ap.add_argument("--solo-steps", type=int, default=0, help="also train each path alone for this many steps")
    ap.add_argument("--augment", action="store_true", help="crop (4 px padding) + flip, as nas.search does on "
                    "CIFAR; off by default: at 16 px and a few hundred steps it mostly slows training")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "supernet_paths.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    root = None if args.data == "digits" else args.root
    probe = load_space(args.space, variant="cifar", width_mult=args.width, resolution=args.resolution,
                       fix_transitions=args.fix_transitions)
    native = probe.resolution if args.data == "digits" else 32  # CIFAR-10 is read at 32 px, then resized
    data = search_data(args.data, root, resolution=native, arch_fraction=0.0, limit_train=args.images,
                       limit_val=None if args.data == "digits" else args.val_images, seed=args.seed)
    data = SearchData(*(resize(d, probe.resolution) for d in (data.weight, data.arch, data.val)))
    space = load_space(args.space, variant="cifar", width_mult=args.width, resolution=args.resolution,
                       num_classes=data.num_classes, fix_transitions=args.fix_transitions)
    augment = args.augment
    sets = {"cache_dir": "/tmp/nas-bench-supernets", **parse_sets(args.set)}
    if args.steps:
        per_epoch = len(data.weight) // sets.get("batch_size", SupernetOptions.batch_size)
        epochs = max(1, math.ceil(args.steps / per_epoch))
        sets.update(epochs=epochs, max_steps_per_epoch=math.ceil(args.steps / epochs))
    opts = SupernetOptions.of(sets)
    trainer = SupernetTrainer(space, data, opts, seed=args.seed, augment=augment)
    net = trainer.train()
    t_train = time.perf_counter() - t0
    rng = random.Random(args.seed + 1)
    archs = [space.sample(rng) for _ in range(args.paths)]
    scores = [score_path(net, a, data, opts.bn_batches, opts.batch_size, seed=args.seed, split="val") for a in archs]
    t_score = time.perf_counter() - t0 - t_train
    steps = opts.epochs * min(len(data.weight) // opts.batch_size, opts.max_steps_per_epoch or 10**9)
    record = {"data": args.data, "images": len(data.weight), "val_images": len(data.val), "resolution":
              space.resolution, "space": args.space, "width": args.width, "fix_transitions": args.fix_transitions, "steps": steps, "options": vars(opts),
              "threads": args.threads, "augment": augment, "train_s": round(trainer.seconds, 1), "reused": trainer.reused,
              "score_s": round(t_score, 1), "paths": [round(s, 4) for s in scores],
              "paths_min": min(scores), "paths_mean": sum(scores) / len(scores), "paths_max": max(scores),
              "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
              "command": " ".join(["python bench/supernet_paths.py", *(sys.argv[1:] if argv is None else argv)])}
    print(f"{args.data} {len(data.weight)} images at {space.resolution} px, {steps} steps, "
          f"{'reused cache' if trainer.reused else f'trained in {trainer.seconds:.0f} s'}; "
          f"paths after BN re-estimation: min {record['paths_min']:.3f} mean {record['paths_mean']:.3f} "
          f"max {record['paths_max']:.3f} ({t_score:.0f} s); load {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print("paths:", " ".join(f"{s:.3f}" for s in scores))
    print("train acc per epoch:", " ".join(f"{h['train_acc']:.2f}" for h in trainer.history))
    record["train_acc"] = [round(h["train_acc"], 4) for h in trainer.history]
    if args.solo_steps:
        solo = [solo_accuracy(space, a, data, opts, args.solo_steps, args.seed, augment) for a in archs]
        record.update(solo_steps=args.solo_steps, solo=[round(s, 4) for s in solo], kendall_tau=kendall_tau(scores, solo))
        print("solo:", " ".join(f"{s:.3f}" for s in solo), f"Kendall tau {record['kendall_tau']:+.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
