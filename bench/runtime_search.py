"""Do searches on tables of different runtimes find different archs? FBNet on the fbnet space with a
latency target, once per ``runtime:dtype`` table (e.g. the int8 ExecuTorch table and the fp32 eager
table), then: the op histogram per layer side by side, and each found arch's latency measured end
to end in its own runtime against its target (the issue's goal: within 5%). With ``latency.meet_target``
(on by default) the search times its found arch and re-derives it where the table was off; the summary
shows the arch as first derived beside the one kept (``--extra latency.meet_target=0``: the table alone).

Each search is ``python -m nas.search method=fbnet device=cpu latency.runtime=R latency.dtype=D
latency.target_ms=T ...`` in a subprocess (its table built or reused from outputs/latency_tables).
The target: ``--target-ms`` for all, or ``--target-frac F``: lo + F * (hi - lo) of each table's
calibrated range (runtimes differ by several x in speed; the same ms can be outside one's range).

    python bench/runtime_search.py --pairs eager:float32 executorch:int8 --target-frac 0.3 [--threads 1]
        [--extra method.epochs=6 ...] [--repeat-found 6]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from nas.io import atomic_write_text
from nas.latency import get_table
from nas.space import load_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=["eager:float32", "executorch:int8"])
    ap.add_argument("--target-ms", type=float, default=None)
    ap.add_argument("--target-frac", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--space", default="fbnet", help="space name or YAML path (cifar variant)")
    ap.add_argument("--out", default="outputs/bench/runtime_search")
    ap.add_argument("--allow-busy", action="store_true")
    ap.add_argument("--cache-dir", default="outputs/latency_tables", help="tables (shared with the searches)")
    ap.add_argument("--extra", nargs="*", default=[], help="more overrides for nas.search")
    ap.add_argument("--report-only", action="store_true", help="reuse the run dirs that have a summary.json")
    ap.add_argument("--repeat-found", type=int, default=0, metavar="N",
                    help="time each found arch N more times, each a separate measurement with its anchors: how far "
                         "one measurement of one net moves")
    args = ap.parse_args()
    out = Path(args.out)
    space = load_space(args.space, variant="cifar", num_classes=10)
    runs = {}
    for pair in args.pairs:
        runtime, _, dtype = pair.partition(":")
        target = args.target_ms
        if target is None:  # the table (built now, cached for the search) gives the range
            table = get_table(space, threads=args.threads, dtype=dtype, runtime=runtime, allow_busy=args.allow_busy,
                              cache_dir=args.cache_dir)
            lo, hi = table.bounds(space)
            target = round(lo + args.target_frac * (hi - lo), 4)
        run_dir = out / f"{runtime}-{dtype}"
        cmd = [sys.executable, "-m", "nas.search", "method=fbnet", "device=cpu", f"device.threads={args.threads}",
               f"latency.runtime={runtime}", f"latency.dtype={dtype}", f"latency.target_ms={target}",
               f"latency.allow_busy={str(args.allow_busy).lower()}", f"out_dir={run_dir}",
               f"space.name={args.space}", f"latency.cache_dir={args.cache_dir}", *args.extra]
        print(" ".join(cmd), flush=True)
        if not (args.report_only and (run_dir / "summary.json").is_file()):
            subprocess.run(cmd, check=True)
        summary = json.loads((run_dir / "summary.json").read_text())
        arch = yaml.safe_load((run_dir / "arch.yaml").read_text())
        runs[pair] = {"target_ms": target, "summary": summary, "choices": arch["choices"]}
        if args.repeat_found:
            runs[pair]["repeats_ms"] = repeat_found(run_dir, space, args.repeat_found, args.allow_busy)
    labels = list(next(iter(runs.values()))["choices"])
    lines = [f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, `python {' '.join(sys.argv)}`",
             "", "| layer | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(str(r["choices"][label]) for r in runs.values()) + " |")
    hist = {p: collections.Counter(r["choices"].values()) for p, r in runs.items()}
    ops = sorted(set().union(*hist.values()))
    lines += ["", "| op | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    lines += [f"| {op} | " + " | ".join(str(hist[p][op]) for p in runs) + " |" for op in ops]
    differ = sum(len({r["choices"][lab] for r in runs.values()}) > 1 for lab in labels)
    lines += ["", f"layers whose op differs: {differ} of {len(labels)}", "",
              "| table | target (ms) | predicted (ms) | measured in its runtime (ms) | vs target | as first derived: "
              "predicted / measured (ms), vs target | re-derivations |", "|---|---|---|---|---|---|---|"]
    for p, r in runs.items():
        f = r["summary"]["found"]  # nas.results.SearchSummary's found arch: latency_ms is the table's prediction
        m, target = f.get("measured_ms"), r["target_ms"]
        got = "-" if m is None else f"{m:.3f}"
        off = "-" if m is None else f"{100 * (m / target - 1):+.1f}%"
        rounds = (f.get("extra") or {}).get("meet_target") or []  # latency.meet_target's timings (SearchJob)
        first = "-" if not rounds else f"{rounds[0]['predicted_ms']:.3f} / {rounds[0]['measured_ms']:.3f}, " \
                                       f"{100 * (rounds[0]['measured_ms'] / target - 1):+.1f}%"
        lines.append(f"| {p} | {target:.3f} | {f['latency_ms']:.3f} | {got} | {off} | {first} | "
                     f"{max(0, len(rounds) - 1)} |")
    if args.repeat_found:
        lines += ["", f"Each found arch timed again {args.repeat_found} times (separate measurements, anchored):", "",
                  "| table | min (ms) | median (ms) | max (ms) | median vs target | max / min |", "|---|---|---|---|---|---|"]
        for p, r in runs.items():
            ms = sorted(r["repeats_ms"])
            med = statistics.median(ms)
            lines.append(f"| {p} | {ms[0]:.3f} | {med:.3f} | {ms[-1]:.3f} | {100 * (med / r['target_ms'] - 1):+.1f}% | "
                         f"{ms[-1] / ms[0]:.3f} |")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(runs, indent=1, default=str))
    print("\n".join(lines))


def repeat_found(run_dir: Path, space, n: int, allow_busy: bool) -> list:
    """The run's found arch timed ``n`` times against the table the search used, one measurement each."""
    from nas.latency import load_table
    from nas.space import Arch

    table, arch = load_table(run_dir / "latency_table.json"), Arch.load(run_dir / "arch.yaml")
    return [table.measure(space, [arch], allow_busy=allow_busy)[0] for _ in range(n)]


if __name__ == "__main__":
    main()
