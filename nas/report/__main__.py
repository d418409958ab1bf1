"""Command line: one table and one plot of found nets and baselines, accuracy vs latency.

    python -m nas.report <dir> [<dir> ...] [measure=true] [baselines=name1,name2] [out=DIR] [title=TEXT]

Each <dir> is a search run dir (summary.json), a train run dir (result.json), a Hydra multirun dir
(multirun.yaml + job dirs) or a directory holding such run dirs (unfinished runs in it are skipped
with a warning). Options are key=value pairs:
  measure=BOOL       re-time every net in one interleaved session (default false: latencies as recorded)
  threads=N          intra-op threads of the re-timing (default 1)
  rounds=N           interleaved rounds of the re-timing (default 20)
  min_run_time=S     seconds of torch.utils.benchmark runs per net per round (default 0.02)
  baselines=A,B      registered baselines without a train run (latency timed, no accuracy)
  variant=NAME       form of those baselines: cifar (default) or imagenet
  out=DIR            output directory (default outputs/report/<date>_<time>)
  title=TEXT         title of the table and plot
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

KEYS = ("measure", "threads", "rounds", "min_run_time", "baselines", "variant", "out", "title")
BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class UsageError(ValueError):
    pass


def parse(argv: List[str]) -> Tuple[List[str], Dict[str, object]]:
    """Arguments -> (run dirs, options). ``key=value`` with a known key is an option; anything else a
    path (Hydra job dirs have ``=`` in their names)."""
    paths: List[str] = []
    opts: Dict[str, object] = {}
    for item in argv:
        key, sep, value = item.partition("=")
        if sep and key in KEYS:
            if key in opts:
                raise UsageError(f"key {key!r} given twice")
            if not value and key not in ("baselines", "title"):
                raise UsageError(f"key {key!r}: expected a value")
            opts[key] = value
        elif sep and "/" not in key and not os.path.exists(item):
            raise UsageError(f"unknown key {key!r}; expected one of {', '.join(KEYS)} or a run dir")
        else:
            paths.append(item)
    if not paths and not opts.get("baselines"):
        raise UsageError("give at least one run dir (or baselines=...)")
    if "measure" in opts:
        if str(opts["measure"]).lower() not in BOOLS:
            raise UsageError(f"key 'measure': expected true or false, got {opts['measure']!r}")
        opts["measure"] = BOOLS[str(opts["measure"]).lower()]
    for key, cast in (("threads", int), ("rounds", int), ("min_run_time", float)):
        if key in opts:
            try:
                opts[key] = cast(opts[key])
            except ValueError:
                raise UsageError(f"key {key!r}: expected a {'number' if cast is float else 'positive integer'}, "
                                 f"got {opts[key]!r}") from None
            if opts[key] <= 0:
                raise UsageError(f"key {key!r}: expected a positive number, got {opts[key]!r}")
    if opts.get("variant", "cifar") not in ("cifar", "imagenet"):
        raise UsageError(f"key 'variant': expected cifar or imagenet, got {opts['variant']!r}")
    opts["baselines"] = [b for b in str(opts.get("baselines", "")).split(",") if b.strip()]
    return paths, opts


def run(paths: List[str], opts: Dict[str, object]) -> Dict[str, Path]:
    from nas.report.collect import baseline_rows, collect
    from nas.report.seeds import merge_seeds

    rows = merge_seeds(collect(paths)) if paths else []  # first: a bad dir ends before torch is imported
    from nas.report.measure import remeasure
    from nas.report.write import table, write_report

    extra = baseline_rows([b.strip() for b in opts["baselines"]], variant=str(opts.get("variant", "cifar")),
                          existing=rows)
    rows += extra
    timing = {k: opts[k] for k in ("threads", "rounds", "min_run_time") if k in opts}  # else remeasure's defaults
    if opts.get("measure"):
        remeasure(rows, **timing)
    elif extra:  # baselines have no recorded latency: time them (only them)
        remeasure(extra, **timing)
    out = Path(str(opts.get("out") or Path("outputs") / "report" / time.strftime("%Y-%m-%d_%H-%M-%S")))
    title = str(opts.get("title") or "accuracy vs latency")
    paths_out = write_report(rows, out, title=title)
    print(table(rows))
    return paths_out


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    from nas.errors import NasError
    from nas.registry import UnknownNameError

    try:
        paths, opts = parse(argv)
        written = run(paths, opts)
    except (UsageError, NasError, UnknownNameError, ValueError) as err:
        latency = sys.modules.get("nas.latency.errors")  # imported (with torch) only once timing started
        user = (UsageError, NasError, UnknownNameError) + ((latency.LatencyTableError,) if latency else ())
        if not isinstance(err, user):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
