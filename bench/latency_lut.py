"""Latency LUT of a space on this CPU: build time, and accuracy on random archs timed end to end.

Builds the table from scratch (into a fresh cache directory: nothing cached is reused), timing the
op sweep and the calibration apart, then times ``--archs`` other random architectures whole and
prints the raw (plain op sum) and calibrated figures: MAPE, share within +-10%, Kendall's tau. The
machine's load average is printed before and after: timings on a loaded machine are not the
machine's.

    python bench/latency_lut.py [--space fbnet] [--variant cifar] [--threads 1] [--archs 100] [--calibrate 32]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from nas.latency import get_table
from nas.latency.validate import validate_table, write_report
from nas.space import load_space


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--variant", default="cifar")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--archs", type=int, default=100, help="random archs timed end to end for the accuracy figures")
    ap.add_argument("--calibrate", type=int, default=24)
    ap.add_argument("--min-run-time", type=float, default=0.02)
    ap.add_argument("--net-min-run-time", type=float, default=0.2, help="per validated network and sweep")
    ap.add_argument("--passes", type=int, default=3, help="sweeps over the ops and calibration networks")
    ap.add_argument("--val-passes", type=int, default=5, help="sweeps over the validated networks")
    ap.add_argument("--no-reference", action="store_true", help="plain timing (no reference network)")
    ap.add_argument("--context-mb", type=float, default=16.0, help="ops in context: MB of weight copies (0: hot)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="outputs/bench_latency")
    args = ap.parse_args()
    space = load_space(args.space, variant=args.variant)
    print(f"# {args.space} ({args.variant}, {space.resolution}px), batch {args.batch_size}, fp32, {args.threads} "
          f"thread(s), torch {torch.__version__}; before: {load()}")
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        table = get_table(space, "cpu", args.batch_size, "float32", args.threads, cache, calibrate=args.calibrate,
                          min_run_time=args.min_run_time, passes=args.passes, seed=args.seed,
                          reference=not args.no_reference, context_mb=args.context_mb)
        total = time.perf_counter() - t0
        m, c = table.meta, table.calibration
        print(f"build: {total:.1f} s in all = ops {m['ops_seconds']:.1f} s ({len(table.entries)} distinct (op, shape), "
              f"{args.passes} sweeps of {args.min_run_time} s each) + calibration {m.get('calibration_seconds', 0):.1f} s "
              f"({args.calibrate} archs)")
        if c:
            print(f"calibration model '{c.model}': {dict(zip(c.features, [round(x, 4) for x in c.coef]))}, intercept "
                  f"{c.intercept_ms:.4f} ms; leave-one-out MAPE {c.loo_mape:.2f}% (op sum {c.raw_mape:.2f}%)")
        v = validate_table(table, space, args.archs, seed=args.seed, passes=args.val_passes,
                           min_run_time=args.net_min_run_time)
        files = write_report(v, args.out)
        table.save(os.path.join(args.out, "table.json"))
    print(v.summary())
    print(f"plot: {files['png']}, table: {os.path.join(args.out, 'table.json')}; after: {load()}")


if __name__ == "__main__":
    main()
