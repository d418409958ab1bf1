"""Latency tables in each deployment runtime on this CPU: build time, and accuracy on random archs
timed end to end in the same runtime (the issue's goal: >= 95% of 100 archs within +-10%, Kendall
tau >= 0.9, for each runtime in fp32 and int8).

For each ``runtime:dtype`` a table is built from scratch (fresh cache dir), then ``--archs`` random
archs (none of the calibration's) are lowered into the runtime and timed whole, against the table's
reference network. The contention monitor refuses a busy machine (``--allow-busy`` to force; the
load seen goes into the output). Writes ``<out>/summary.json`` and ``summary.md``, one validation
scatter plot per runtime. ``--repeat K`` validates the same archs K times: the measured truths'
agreement with the first (Kendall tau, share within ±10%) bounds what any table can reach. Every
validation times ``--anchors`` of the table's calibration networks among the archs and puts the run on
the calibration's scale (``nas.latency.measure.measure_archs``); the table's accuracy without that
correction, from the same timings, is reported beside (``--anchors 0``: none).

    python bench/latency_runtimes.py --archs 100 [--cache-dir outputs/latency_tables] [--runtimes eager:float32 executorch:float32 executorch:int8
        onnxruntime:float32 onnxruntime:int8 openvino:float32 openvino:int8] [--space fbnet] [--threads 1]
        [--op-timing program|net] [--net-passes 9] [--repeat 3] [--anchors 8] [--validate-seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from nas.io import atomic_write_text
from nas.latency.fit_entries import FIT_NETS
from nas.latency import get_table
from nas.latency.measure import ANCHORS, NET_MIN_RUN_TIME, NET_PASSES
from nas.latency.metrics import accuracy, format_accuracy
from nas.latency.validate import validate_table, write_report
from nas.runtimes import get_runtime
from nas.space import load_space

ALL = ["eager:float32", "executorch:float32", "executorch:int8", "onnxruntime:float32", "onnxruntime:int8",
       "openvino:float32", "openvino:int8"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtimes", nargs="+", default=ALL, help="runtime:dtype pairs")
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--variant", default="cifar")
    ap.add_argument("--width-mult", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--calibrate", type=int, default=24)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--min-run-time", type=float, default=0.02)
    ap.add_argument("--net-min-run-time", type=float, default=NET_MIN_RUN_TIME)
    ap.add_argument("--net-passes", type=int, default=NET_PASSES, help="sweeps over whole networks (calibration, "
                    "validation, --op-timing net), each in a fresh session")
    ap.add_argument("--repeat", type=int, default=1, help="validate the same archs this many times: the table "
                    "against each, and how far the measured truths agree with the first (Kendall tau, within ±10%%)")
    ap.add_argument("--validate-seed", type=int, default=0, help="which random archs are validated (the same ones "
                    "for a given seed; another seed checks a change developed on earlier runs on fresh nets)")
    ap.add_argument("--anchors", type=int, default=ANCHORS, help="calibration networks timed among the archs of "
                    "each validation to put it on the calibration's scale (0: none)")
    ap.add_argument("--allow-busy", action="store_true")
    ap.add_argument("--op-timing", choices=["program", "net", "fit"], default=None,
                    help="ops timed alone, inside a network (nas.latency.in_net) or fitted on whole networks "
                         "(nas.latency.fit_entries); default: the runtime's")
    ap.add_argument("--fit-nets", type=int, default=FIT_NETS, help="--op-timing fit: networks timed to fit on")
    ap.add_argument("--out", default="outputs/bench/latency_runtimes")
    ap.add_argument("--cache-dir", default=None,
                    help="build each table afresh here and leave it for searches (e.g. outputs/latency_tables, "
                         "the searches' default); default: a temporary directory")
    args = ap.parse_args()
    space = load_space(args.space, variant=args.variant, width_mult=args.width_mult)
    out = Path(args.out)
    rows = []
    for pair in args.runtimes:
        runtime, _, dtype = pair.partition(":")
        dtype = dtype or "float32"
        rt = get_runtime(runtime)
        if runtime != "eager" and not rt.available():
            print(f"{pair}: skipped ({rt.package} not installed: pip install -e '.[{rt.extra}]')", file=sys.stderr)
            continue
        print(f"== {pair} ({rt.version()}); load average {os.getloadavg()[0]:.2f}", flush=True)
        with tempfile.TemporaryDirectory(prefix="nas-bench-rt-") as tmp:
            t0 = time.perf_counter()
            table = get_table(space, threads=args.threads, dtype=dtype, cache_dir=args.cache_dir or tmp,
                              rebuild=True, runtime=runtime, calibrate=args.calibrate, passes=args.passes,
                              min_run_time=args.min_run_time, allow_busy=args.allow_busy, op_timing=args.op_timing,
                              fit_nets=args.fit_nets,
                              net_passes=args.net_passes)
            build = time.perf_counter() - t0
            table.save(out / f"table-{runtime}-{dtype}.json")
        v = validate_table(table, space, args.archs, args.validate_seed, passes=args.net_passes,
                           min_run_time=args.net_min_run_time, allow_busy=args.allow_busy, anchors=args.anchors)
        write_report(v, out / f"{runtime}-{dtype}")
        print(v.summary(), flush=True)
        repeats = []
        for k in range(1, args.repeat):  # the truth's own repeatability bounds what any table can reach
            again = validate_table(table, space, args.archs, args.validate_seed, passes=args.net_passes,
                                   min_run_time=args.net_min_run_time, allow_busy=args.allow_busy,
                                   anchors=args.anchors)
            write_report(again, out / f"{runtime}-{dtype}-repeat{k}")
            truth = accuracy(again.measured_ms, v.measured_ms)
            print(again.summary(), flush=True)
            print(format_accuracy(f"repeat {k} against the first", truth), flush=True)
            repeats.append({"raw": again.raw, "calibrated": again.calibrated, "truth_vs_first": truth,
                            "anchor_scale": again.anchor_scale, "unanchored": again.unanchored,
                            "truth_vs_first_unanchored": (accuracy(again.unanchored_ms, v.unanchored_ms)
                                                          if v.unanchored_ms and again.unanchored_ms else None),
                            "load_validation": again.load})
        m = table.meta
        rows.append({"runtime": runtime, "version": rt.version(), "dtype": dtype, "op_timing": m.get("op_timing", "program"),
                     "build_s": round(build, 1),
                     "ops_s": m.get("ops_seconds"), "calibration_s": m.get("calibration_seconds"),
                     "range_ms": table.bounds(space), "raw": v.raw, "calibrated": v.calibrated,
                     "anchors": v.anchors, "anchor_scale": v.anchor_scale, "unanchored": v.unanchored,
                     "load_build": m.get("load"), "load_validation": v.load, "repeats": repeats})
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    cmd = "python " + " ".join(sys.argv)
    atomic_write_text(out / "summary.json", json.dumps({"date": stamp, "command": cmd, "rows": rows}, indent=1,
                                                      default=str))
    lines = [f"{stamp}, `{cmd}`", "", "| runtime | dtype | build (s) | range (ms) | within ±10% | Kendall tau | MAPE "
             "| without anchors: within, tau | anchor scale | load avg (build) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["calibrated"] or r["raw"]
        lo, hi = r["range_ms"]
        lines.append(f"| {r['runtime']} {r['version']} | {r['dtype']} | {r['build_s']} | {lo:.3f}-{hi:.3f} | "
                     f"{c['within']:.0f}% | {c['kendall_tau']:.3f} | {c['mape']:.2f}% | {_unanchored(r)} | "
                     f"{(r['load_build'] or {}).get('loadavg_before')} |")
    for r in rows:
        for k, rep in enumerate(r["repeats"], 1):
            c, t = rep["calibrated"] or rep["raw"], rep["truth_vs_first"]
            lines.append(f"\n{r['runtime']} {r['dtype']}, validation {k + 1}: table {c['within']:.0f}% within ±10%, tau "
                         f"{c['kendall_tau']:.3f} (without anchors: {_unanchored(rep).replace(' |', ';')}); measured "
                         f"against the first validation: {t['within']:.0f}% within ±10%, tau {t['kendall_tau']:.3f}, "
                         f"MAPE {t['mape']:.2f}%"
                         + (f" (without anchors: {rep['truth_vs_first_unanchored']['within']:.0f}%, tau "
                            f"{rep['truth_vs_first_unanchored']['kendall_tau']:.3f}, MAPE "
                            f"{rep['truth_vs_first_unanchored']['mape']:.2f}%)" if rep.get("truth_vs_first_unanchored")
                            else ""))
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def _unanchored(r) -> str:
    u = r.get("unanchored")
    if not u:
        return "- | -"
    return f"{u['within']:.0f}%, {u['kendall_tau']:.3f} | {r['anchor_scale']:.4f}"


if __name__ == "__main__":
    main()
