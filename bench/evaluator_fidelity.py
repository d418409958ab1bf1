"""How well does each evaluator rank architectures? Kendall tau / Spearman rho against archs trained alone.

    python bench/evaluator_fidelity.py --data cifar10 --data-root /work/data --threads 1

Ground truth (issue #14): ``--archs`` (30) archs of the fbnet space (CIFAR form, width 0.5) spread
evenly over the space's MACs range, 5-57M (``nas.fidelity.MacsTable`` +
``nas.latency.calibrate.spread_archs``; ``--latency-table`` spreads over a latency table's range
instead), each trained alone from scratch with one recipe: SGD Nesterov, ``--gt-warmup`` (0.5)
warm-up epochs then cosine, label smoothing 0.1, crop + flip, ``--gt-epochs`` (3) epochs on
``--gt-train-images`` (2,560) CIFAR-10 training images at batch ``--gt-batch`` (128), lr ``--gt-lr``
(0.1), i.e. 60 steps, tested on ``--gt-test-images`` (2,500) test-set images. Kept in ``--truth``
(bench/results/evaluator_fidelity_truth.json): a rerun reuses it, an interrupted run trains only
the archs not yet done, the one it was training from its last whole epoch (``<truth>.partial.pt``). Any other ground truth (``arch key -> accuracy``, e.g. NAS-Bench-201's
accuracies) plugs in as a truth file with ``"source": "external"`` (``nas.fidelity.TruthFile``).
Archs are trained interleaved over the spread (0, 16, 8, 24, ...), so a truth still in training
already spans the range. How repeatable is the truth itself? ``--gt-seed S --truth OTHER`` trains the
same archs on the same images again with another seed (initialisation and batch order);
``--repeat-truth OTHER`` then reports the rank agreement of the two (over the archs both have): no
evaluator can be expected to agree with a truth better than it agrees with itself; and, over those
archs, each evaluator against either truth and against their mean accuracy (a truth with less seed noise).

Why that budget: one training step at batch 128 on one thread took 0.31 s (the 5.8M-MAC arch) to
7.2 s (53.9M MACs), 3.1 s on average over 8 of the 30 spread archs, and testing 500 images 0.4-6.6 s,
measured while other jobs loaded the 2 cores (load average 5-6). So 60 steps plus the test take
about 200 s per arch: 30 archs in about 1.5-2 hours on one core at that load, less on an idle one.
After 60 steps the accuracies are low (such a ground truth ranks archs by how fast they learn as
much as by what they reach); raise --gt-epochs / --gt-train-images when more CPU is free (with
another --truth file).

Evaluators (``--evaluators``: presets, listed in its help, or ``LABEL=NAME:KEY=VALUE,...`` with a registered
evaluator NAME and its recipe / keyword options) score the same archs on their own search data
(``--search-images`` (2,500) CIFAR-10 training images split 80/20 into weight / arch parts, as a
search does). Their scores are kept in ``--scores`` per evaluator and arch, so reruns and
interrupted runs reuse them and the evaluators can be run in several invocations; one that is not
available here (an option its evaluator does not take) is reported as skipped. ``--scores-only`` scores the
ground truth's archs (the same spread) without training or touching the truth file and writes no
report: run it beside a run that trains the truth, on the other core; each run writes only its own
evaluators' scores into the kept file. ``--shard I/N`` splits one evaluator's archs over N such runs. The ``oneshot*``
presets train supernets as the ``supernet`` config section says (``nas.supernet.training``;
``LABEL=oneshot:supernet.KEY=VALUE,...`` sets its options): ``oneshot`` plain SPOS (own weights per
candidate, as before), ``oneshot-superkernel`` the default (superkernels, zero-init residual gammas),
``oneshot-fair`` and ``oneshot-sandwich`` its sampling options. Measured
per arch (one repeat, load average 3.5): nwot at batch 128 3.0-6.6 s, synflow 0.1-1.0 s, params and macs
0.1-0.2 s; the proxy evaluator 2.1 / 18.3 / 22.0 s for 4 steps at batch 64 plus its 500-image test
on the cheapest / a middle / the dearest arch, so (extrapolated) proxy-1ep's 31 steps take about
0.2-2 minutes per arch, some 30 minutes for 30 archs, and proxy-3ep about 1.5 hours (the dearest
part after the ground truth). Output: ``--out`` (JSON) and ``--md`` (markdown table): tau and rho
with 95% bootstrap intervals over the archs (``--bootstrap`` resamples, seeded), seconds per arch,
one-off seconds (the supernet's training) and the cost per arch with the one-off share.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
import yaml
from tqdm import tqdm

from nas.data import DataError, search_data
from nas.errors import NasError
from nas.evaluators import EVALUATORS
from nas.fidelity import FidelityError, MacsTable, TruthFile, arch_key, rank_fidelity, spread_keys, train_truth
from nas.io import atomic_write_text, write_json
from nas.latency import LatencyTableError
from nas.latency.calibrate import spread_archs
from nas.registry import UnknownNameError
from nas.space import Arch, load_space
from nas.loops import Recipe

RESULTS = Path(__file__).resolve().parent / "results"
RECIPE_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "max_steps_per_epoch")
# label -> (registered evaluator, recipe and keyword options); recipes as conf/evaluator/*.yaml
# (oneshot: the ``supernet`` section's options, nas.supernet.training.SupernetOptions; {} = the defaults)
SPOS = {"superkernel": False, "zero_gamma": False, "epochs": 5, "lr": 0.1, "weight_decay": 5e-4}
PRESETS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "oneshot": ("oneshot", {"supernet": SPOS}),  # plain SPOS: every candidate its own weights
    "oneshot-superkernel": ("oneshot", {"supernet": {}}),  # the default supernet: superkernels + zero gammas
    "oneshot-fair": ("oneshot", {"supernet": {"sampling": "fair"}}),
    "oneshot-sandwich": ("oneshot", {"supernet": {"sandwich": True, "distill": True}}),
    "proxy-1ep": ("proxy", {"epochs": 1, "batch_size": 64, "lr": 0.05}),
    "proxy-3ep": ("proxy", {"epochs": 3, "batch_size": 64, "lr": 0.05}),
    "nwot": ("zerocost", {"proxy": "nwot", "batch_size": 128, "repeats": 3}),
    "synflow": ("zerocost", {"proxy": "synflow", "repeats": 3}),
    "params": ("zerocost", {"proxy": "params"}),
    "macs": ("zerocost", {"proxy": "macs"}),
}


def parse_spec(text: str) -> Tuple[str, str, Dict[str, Any]]:
    """``LABEL`` (a preset) or ``LABEL=NAME[:KEY=VALUE,...]`` -> (label, evaluator name, options); a dotted
    key sets a nested option (``supernet.epochs=3``)."""
    if "=" not in text.split(":")[0]:
        if text not in PRESETS:
            raise FidelityError("--evaluators", text, f"a preset ({', '.join(PRESETS)}) or LABEL=NAME:KEY=VALUE,...")
        return (text, *PRESETS[text])
    label, _, rest = text.partition("=")
    name, _, opts = rest.partition(":")
    options = {}
    for item in filter(None, opts.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise FidelityError("--evaluators", text, "options as KEY=VALUE separated by commas", item)
        section, dot, sub = key.partition(".")
        if dot:
            options.setdefault(section, {})[sub] = yaml.safe_load(value)
        else:
            options[key] = yaml.safe_load(value)
    return label, name, options


def make_evaluator(name: str, options: Dict[str, Any], space, data, seed: int, args):
    """The evaluator, or the reason it is not available here (a string)."""
    opts = {"batch_size": 64, "lr": 0.1, "weight_decay": 5e-4, "label_smoothing": 0.0, "epochs": 1, **options}
    if "supernet" in options:
        opts["supernet"] = {"cache_dir": args.cache_dir, **options["supernet"]}
    context = {"data": {"name": args.data, "search_images": args.search_images}, "classes": space.num_classes}
    try:
        cls = EVALUATORS.get(name)
    except UnknownNameError as err:
        return f"not available: {err}"
    takes = set(inspect.signature(cls.__init__).parameters)
    missing = sorted(k for k in options if k not in RECIPE_KEYS and k not in takes)
    if missing:  # an option this checkout's evaluator does not have (yet)
        return f"not available here (evaluator {name!r} has no option {missing[0]!r})"
    if "supernet" in options:
        from nas.supernet.training import SupernetOptions
        SupernetOptions.of(opts["supernet"])  # a misspelt supernet option fails before any training
    return cls.from_config(space, data, lambda arch: float("nan"), opts, seed=seed, augment=True, context=context)


def score_all(label: str, spec: Dict[str, Any], ev, space, archs: List[Arch], cache: Dict[str, Any],
              scores_path: Path) -> Dict[str, Any]:
    """Score every arch not yet in ``cache[label]`` (reused when its spec is this run's), saving as it goes."""
    entry = cache.get(label)
    if not entry or entry.get("spec") != spec:
        entry = cache[label] = {"spec": spec, "prepare_s": 0.0, "archs": {}}
    if hasattr(ev, "prepare") and len(entry["archs"]) < len(archs):
        started = time.perf_counter()
        ev.prepare()
        if not getattr(ev, "reused", False) or not entry["prepare_s"]:
            entry["prepare_s"] = round(time.perf_counter() - started, 2)
            entry["prepare_reused_cache"] = bool(getattr(ev, "reused", False))
    for arch in tqdm(archs, desc=f"evaluator {label}", unit="arch", disable=None):
        key = arch_key(space, arch)
        if key in entry["archs"]:
            continue
        out = ev(arch)
        entry["archs"][key] = {"accuracy": out["accuracy"], "eval_s": round(out["eval_s"], 4),
                               **({"score": out["score"]} if "score" in out else {})}
        save_scores(scores_path, label, entry, cache)
    return entry


def save_scores(path: Path, label: str, entry: Dict[str, Any], cache: Dict[str, Any]) -> None:
    """Write ``label``'s entry into the scores file, keeping the other labels as the file has them now
    (another run, e.g. a ``--scores-only`` one beside this, may be scoring them) and the archs another
    shard scored with the same spec."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        on_disk = json.loads(path.read_text()) if path.is_file() else {}
        theirs = on_disk.get(label)
        if theirs and theirs.get("spec") == entry.get("spec"):  # another shard's archs of this evaluator
            entry["archs"] = {**theirs["archs"], **entry["archs"]}
        cache.update({k: v for k, v in on_disk.items() if k != label})
        cache[label] = entry
        write_json(path, cache)


def parse_shard(text: str, scores_only: bool) -> Tuple[int, int]:
    """``I/N`` -> (I, N) with 0 <= I < N; only ``--scores-only`` runs are sharded."""
    i, slash, n = text.partition("/")
    if not (slash and i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise FidelityError("--shard", text, "I/N with 0 <= I < N, e.g. 0/2")
    if int(n) > 1 and not scores_only:
        raise FidelityError("--shard", text, "--scores-only beside it (a report needs every arch's score)")
    return int(i), int(n)


def score_spec(name: str, options: Dict[str, Any], args, space_desc: Dict[str, Any]) -> Dict[str, Any]:
    """What an evaluator's kept scores were made with (kept scores of another spec are made again)."""
    return {"name": name, "options": options, "data": args.data, "search_images": args.search_images,
            "space": space_desc, "seed": args.seed}


def fmt_ci(value, ci) -> str:
    return "n/a" if value is None else f"{value:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else f"{value:+.3f}"


def markdown(report: Dict[str, Any]) -> str:
    t = report["truth"]
    lines = [f"# Evaluator fidelity on {report['space']['name']} ({t['n']} archs)", "",
             f"Ground truth: {t['description']}; test accuracy {t['acc_min']:.3f}..{t['acc_max']:.3f}"
             + (f", {t['seconds_per_arch']:.0f} s per arch" if t.get("seconds_per_arch") else "") + ".",
             f"Command: `{report['command']}` ({report['threads']} thread(s), torch {report['torch']}).", "",
             "| evaluator | Kendall tau [95% CI] | Spearman rho [95% CI] | s / arch | one-off s | cost / arch (s) |",
             "|---|---|---|---|---|---|"]
    for label, r in report["evaluators"].items():
        if "skipped" in r:
            lines.append(f"| {label} | skipped: {r['skipped']} | | | | |")
            continue
        f = r["fidelity"]
        lines.append(f"| {label} | {fmt_ci(f['kendall_tau'], f['kendall_tau_ci'])} | "
                     f"{fmt_ci(f['spearman_rho'], f['spearman_rho_ci'])} | {r['eval_s_per_arch']:.2f} | "
                     f"{r['prepare_s']:.0f} | {r['cost_per_arch_s']:.2f} |")
    if report.get("truth_repeat"):
        r = report["truth_repeat"]
        f = r["fidelity"]
        lines += ["", f"The ground truth against itself trained again (training seed {r['seed']}, {f['n']} archs, "
                  f"`{r['file']}`): Kendall tau {fmt_ci(f['kendall_tau'], f['kendall_tau_ci'])}, Spearman rho "
                  f"{fmt_ci(f['spearman_rho'], f['spearman_rho_ci'])}: the most any evaluator can agree with it.",
                  "", f"Each evaluator over those {f['n']} archs (Kendall tau [95% CI]) against the truth, against it "
                  "trained again, and against the mean accuracy of the two (a truth with less seed noise):", "",
                  f"| evaluator | truth (seed {report['truth_seed']}) | trained again (seed {r['seed']}) | mean of the two |",
                  "|---|---|---|---|"]
        for label, e in report["evaluators"].items():
            if "repeat" in e:
                lines.append(f"| {label} | " + " | ".join(
                    fmt_ci(e["repeat"][k]["kendall_tau"], e["repeat"][k]["kendall_tau_ci"])
                    for k in ("first", "second", "mean")) + " |")
    lines += ["", f"Intervals: percentile bootstrap over the archs, {report['bootstrap']} resamples, seed "
              f"{report['seed']}. Zero-cost scores are the evaluators' `accuracy` (a squashed score, same ranks)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="cifar10", help="dataset (cifar10; digits for a toy run)")
    ap.add_argument("--data-root", default="/work/data", help="directory holding cifar-10-batches-py")
    ap.add_argument("--space", default="fbnet", help="search space of the archs")
    ap.add_argument("--variant", default="cifar", help="the space's variant")
    ap.add_argument("--width-mult", type=float, default=None,
                    help="the space's width multiplier (default: 0.5 for fbnet, the trained truth's; else the space's)")
    ap.add_argument("--archs", type=int, default=30, help="archs of the ground truth")
    ap.add_argument("--benchmark-truth", metavar="DATASET", default=None,
                    help="ground truth from the space's tabular benchmark instead of training (nb201: cifar10, "
                         "cifar100, imagenet16_120): --archs archs sampled uniformly without replacement (--seed), "
                         "their 200-epoch test accuracies (file: $NAS_NB201_DIR or ../shared)")
    ap.add_argument("--latency-table", help="spread the archs over this latency table's range (default: MACs)")
    ap.add_argument("--gt-epochs", type=int, default=3, help="ground truth: epochs per arch")
    ap.add_argument("--gt-train-images", type=int, default=2560, help="ground truth: training images")
    ap.add_argument("--gt-test-images", type=int, default=2500, help="ground truth: test images")
    ap.add_argument("--gt-batch", type=int, default=128, help="ground truth: batch size")
    ap.add_argument("--gt-lr", type=float, default=0.1, help="ground truth: peak learning rate")
    ap.add_argument("--gt-warmup", type=float, default=0.5, help="linear warm-up epochs before the cosine")
    ap.add_argument("--search-images", type=int, default=2500, help="training images the evaluators see")
    ap.add_argument("--evaluators", nargs="+", default=list(PRESETS), metavar="SPEC",
                    help=f"presets ({', '.join(PRESETS)}) or LABEL=NAME:KEY=VALUE,...")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--seed", type=int, default=0, help="seeds the arch list, data subsets, training, bootstrap")
    ap.add_argument("--gt-seed", type=int, default=None,
                    help="seeds only the ground truth's training (initialisation, batch order; default --seed): "
                         "the same archs and images trained again, into another --truth file")
    ap.add_argument("--repeat-truth", metavar="FILE", default=None,
                    help="a ground truth of the same archs trained with another --gt-seed: the report adds its "
                         "rank agreement with --truth (over the archs both have), the ceiling for any evaluator")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    ap.add_argument("--scores-only", action="store_true",
                    help="score the ground truth's archs with the evaluators and keep the scores, without training "
                         "(or touching) the ground truth and without a report: e.g. beside a run training it")
    ap.add_argument("--shard", default="0/1", metavar="I/N",
                    help="with --scores-only: score only archs I, I+N, I+2N, ... (run N shards side by side)")
    ap.add_argument("--cache-dir", default="outputs/supernets", help="the oneshot evaluator's supernet cache")
    ap.add_argument("--truth", help="ground-truth file (made, resumed or, with source external, read as it is; "
                                    "default: bench/results/evaluator_fidelity[_SPACE_DATASET]_truth.json)")
    ap.add_argument("--scores", help="evaluators' scores per arch (reused by reruns; default beside --truth)")
    ap.add_argument("--out", help="the report as JSON (default beside --truth)")
    ap.add_argument("--md", help="the report as a markdown table (default beside --truth)")
    args = ap.parse_args(argv)
    if args.width_mult is None and args.space == "fbnet":
        args.width_mult = 0.5
    stem = "evaluator_fidelity" + (f"_{Path(args.space).stem}_{args.benchmark_truth}" if args.benchmark_truth
                                   else "" if args.space == "fbnet" else f"_{Path(args.space).stem}")
    for key, suffix in (("truth", "_truth.json"), ("scores", "_scores.json"), ("out", ".json"), ("md", ".md")):
        if getattr(args, key) is None:
            setattr(args, key, str(RESULTS / f"{stem}{suffix}"))
    try:
        command = ["python bench/evaluator_fidelity.py", *(sys.argv[1:] if argv is None else argv)]
        return run(args, " ".join(command))
    except (NasError, DataError, LatencyTableError) as err:  # a user's mistake: one line
        print(f"error: {err}", file=sys.stderr)
        return 2


def benchmark_truth(space, space_desc: Dict[str, Any], truth: TruthFile, dataset: str, n: int, seed: int) -> None:
    """Write ``truth`` as an external truth file: ``n`` distinct archs of ``space`` drawn uniformly
    (seeded) with the tabular benchmark's accuracies on ``dataset``."""
    import random

    from nas.benchmarks.nb201 import code_numbers, load_bench
    from nas.benchmarks.truth import all_codes
    from nas.fidelity import TRUTH_FORMAT

    bench = load_bench()
    bench.check_space(space)
    acc = bench.by_code(bench.accuracy(dataset)) / 100.0  # by code number, as the benchmark evaluator reads it
    codes = all_codes([len(d.choices) for d in space.decisions])
    picked = sorted(random.Random(seed).sample(range(len(codes)), min(n, len(codes))))
    entries = []
    for i in picked:
        arch = space.decode(codes[i].tolist())
        number = int(code_numbers(np.asarray(space.encode(arch), dtype=np.int64)))
        entries.append({"key": arch_key(space, arch), "choices": dict(arch.choices), "accuracy": float(acc[number])})
    truth.data = {"format": TRUTH_FORMAT, "space": space_desc, "source": "external", "archs": entries,
                  "description": f"{bench.path.name}: {dataset} test accuracy after the benchmark's 200-epoch "
                                 f"training, {len(entries)} archs drawn uniformly (seed {seed})"}
    truth.save()


def gt_seed(args) -> int:
    return args.seed if args.gt_seed is None else args.gt_seed


def truth_repeat(path: str, acc: Dict[str, float], args) -> Dict[str, Any]:
    """Rank agreement of ``acc`` with another ground truth of the same archs (its training seed another)."""
    other = TruthFile(path)
    if not other.exists:
        raise FidelityError(path, "<file>", "a ground-truth file (--repeat-truth)", "no such file")
    again = other.accuracies()
    common = sorted(set(again) & set(acc))
    if len(common) < 3:
        raise FidelityError(path, "archs", "at least 3 of --truth's archs with an accuracy", f"{len(common)} in common")
    return {"file": path, "seed": other.data.get("recipe", {}).get("seed"),
            "fidelity": rank_fidelity(acc, again, args.bootstrap, args.seed),
            "accuracy": {k: again[k] for k in common},
            "mean": {k: (acc[k] + again[k]) / 2 for k in common}}


def ground_truth(args, space, space_desc: Dict[str, Any], truth: TruthFile, root) -> Tuple[List[Arch], str]:
    """The archs and a description of the truth: an external file as it is, or archs spread over the
    space and trained alone (resuming ``truth``)."""
    if args.benchmark_truth and not truth.exists:
        benchmark_truth(space, space_desc, truth, args.benchmark_truth, args.archs, args.seed)
    if truth.exists and truth.data.get("source") == "external":
        archs = [Arch(space.name, dict(e["choices"]), dict(space.args)) for e in truth.data["archs"]]
        return archs, truth.data.get("description", f"external ({truth.path})")
    if args.latency_table:
        from nas.latency import load_table
        table = load_table(args.latency_table)
    else:
        table = MacsTable(space)
    archs = spread_archs(table, space, args.archs, seed=args.seed)
    if args.scores_only:
        return archs, ""
    recipe = Recipe(epochs=args.gt_epochs, batch_size=args.gt_batch, lr=args.gt_lr, label_smoothing=0.1,
                    warmup_epochs=args.gt_warmup, augment=args.data != "digits")
    rdesc = {**vars(recipe), "data": args.data, "train_images": args.gt_train_images,
             "test_images": args.gt_test_images, "seed": gt_seed(args), "spread_by": args.latency_table or "macs"}
    truth.start(space_desc, rdesc, spread_keys(space, archs))
    data = search_data(args.data, root, resolution=space.resolution, arch_fraction=0.0,
                       limit_train=args.gt_train_images, limit_val=args.gt_test_images, seed=args.seed)
    train_truth(space, truth, data, recipe, seed=gt_seed(args))
    epochs = f"{recipe.epochs} epoch" + ("s" if recipe.epochs != 1 else "")
    description = (f"each arch trained alone, {epochs} on {len(data.weight)} {args.data} training "
                   f"images, batch {recipe.batch_size}, lr {recipe.lr} (SGD Nesterov, {recipe.warmup_epochs} "
                   f"warm-up epochs, cosine, label smoothing 0.1), tested on {len(data.val)} test images")
    diverged = sum(1 for e in truth.data["archs"] if e.get("diverged"))
    return archs, description + (f"; {diverged} archs diverged (counted at chance accuracy)" if diverged else "")


def run(args, command: str) -> int:
    torch.set_num_threads(args.threads)
    specs = [parse_spec(s) for s in args.evaluators]
    shard = parse_shard(args.shard, args.scores_only)
    truth = TruthFile(args.truth)
    probe = load_space(args.space, variant=args.variant, width_mult=args.width_mult)
    space_desc = {"name": args.space, "variant": args.variant, "width_mult": args.width_mult}
    root = None if args.data == "digits" else args.data_root
    # the evaluators first, so that a mistake in --evaluators shows before hours of training
    search = search_data(args.data, root, resolution=probe.resolution, limit_train=args.search_images,
                         seed=args.seed)
    space = load_space(args.space, variant=args.variant, width_mult=args.width_mult, num_classes=search.num_classes)
    evaluators = {label: (name, options, make_evaluator(name, options, space, search, args.seed, args))
                  for label, name, options in specs}
    archs, description = ground_truth(args, space, space_desc, truth, root)
    if args.scores_only:
        archs = archs[shard[0]::shard[1]]
        scores_path = Path(args.scores)
        for label, (name, options, ev) in evaluators.items():
            if isinstance(ev, str):
                print(f"{label}: skipped ({ev})", file=sys.stderr)
                continue
            cache = json.loads(scores_path.read_text()) if scores_path.is_file() else {}
            score_all(label, score_spec(name, options, args, space_desc), ev, space, archs, cache, scores_path)
        print(f"scores kept in {scores_path}; the report: the same command without --scores-only "
              "once the ground truth is complete")
        return 0
    # keyed by this space's encoding of each entry's choices (an external file may key its archs otherwise)
    acc = {arch_key(space, a): float(e["accuracy"]) for a, e in zip(archs, truth.data["archs"])
           if e.get("accuracy") is not None}
    train_s = [e["train_s"] + e.get("test_s", 0) for e in truth.data["archs"] if "train_s" in e]
    report: Dict[str, Any] = {
        "space": space_desc, "command": command, "threads": args.threads, "torch": torch.__version__,
        "seed": args.seed, "bootstrap": args.bootstrap, "truth_seed": truth.data.get("recipe", {}).get("seed"),
        "truth": {"file": str(truth.path), "n": len(acc), "description": description,
                  "acc_min": min(acc.values()), "acc_max": max(acc.values()),
                  "seconds_per_arch": sum(train_s) / len(train_s) if train_s else None},
        "evaluators": {}}
    if args.repeat_truth:
        report["truth_repeat"] = truth_repeat(args.repeat_truth, acc, args)
    scores_path = Path(args.scores)
    cache = json.loads(scores_path.read_text()) if scores_path.is_file() else {}
    for label, (name, options, ev) in evaluators.items():
        if isinstance(ev, str):
            report["evaluators"][label] = {"name": name, "options": options, "skipped": ev}
            print(f"{label}: skipped ({ev})", file=sys.stderr)
            continue
        entry = score_all(label, score_spec(name, options, args, space_desc), ev, space, archs, cache, scores_path)
        save_scores(scores_path, label, entry, cache)
        scores = {k: v["accuracy"] for k, v in entry["archs"].items()}
        eval_s = sum(v["eval_s"] for v in entry["archs"].values()) / len(entry["archs"])
        report["evaluators"][label] = {
            "name": name, "options": options, "fidelity": rank_fidelity(acc, scores, args.bootstrap, args.seed),
            "eval_s_per_arch": eval_s, "prepare_s": entry["prepare_s"],
            "cost_per_arch_s": eval_s + entry["prepare_s"] / len(archs)}
        if args.repeat_truth:  # over the archs both truths have: against each seed and their mean
            rep = report["truth_repeat"]
            report["evaluators"][label]["repeat"] = {
                which: rank_fidelity(truth_of, scores, args.bootstrap, args.seed)
                for which, truth_of in (("first", {k: acc[k] for k in rep["mean"]}), ("second", rep["accuracy"]),
                                       ("mean", rep["mean"]))}
    write_json(args.out, report)
    atomic_write_text(args.md, markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
