"""python -m nas.report: one table and one plot of found nets and baselines, accuracy vs latency.

    python -m nas.report <dir> [<dir> ...] [measure=true] [baselines=name1,name2] [out=DIR] [title=TEXT]
    python -m nas.report 'runs=[DIR1,DIR2]' ...                      (the same, in Hydra's syntax)

Each <dir> is a search run dir (summary.json), a train run dir (result.json), a Hydra multirun dir
(multirun.yaml + job dirs) or a directory holding such run dirs (unfinished runs in it are skipped
with a warning). Bare arguments are run dirs (also when their names hold '='), collected into
runs=[...]; the options are key=value (a Hydra app; schema: nas/report/config.py):
  runs=[A,B]         run dirs, in Hydra's list syntax
  measure=BOOL       re-time every net in one interleaved session (default false: latencies as recorded)
  threads=N          intra-op threads of the re-timing (default 1)
  rounds=N           interleaved rounds of the re-timing (default 20)
  min_run_time=S     seconds of torch.utils.benchmark runs per net per round (default 0.02)
  baselines=A,B      registered baselines without a train run (latency timed, no accuracy)
  variant=NAME       form of those baselines: cifar (default) or imagenet
  out=DIR            output directory (default outputs/report/<date>_<time>)
  title=TEXT         title of the table and plot
A user error ends in one `error:` line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Dict, List, Sequence

from omegaconf import DictConfig

from nas.cli import hydra_app, quote, quote_values, run
from nas.report.config import ReportConf, register_configs

register_configs()
KEYS = tuple(f.name for f in dataclasses.fields(ReportConf))
VALUE_FLAGS = ("--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp", "--config-name", "-cn",
               "--config-dir", "-cd", "--experimental-rerun")


def to_overrides(argv: Sequence[str]) -> List[str]:
    """Today's command line as Hydra overrides: bare run-dir arguments (which may hold ``=``) become one
    quoted ``runs=[...]``; ``baselines=a,b`` a list; path and title values quoted where Hydra's grammar
    would misread them."""
    from nas.checks import ConfigError

    out: List[str] = []
    runs: List[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if item.startswith("-"):
            out.append(item)
            if item in VALUE_FLAGS and i < len(items) and not items[i].startswith("-"):
                out.append(items[i])
                i += 1
            continue
        key, sep, value = item.partition("=")
        name = key.lstrip("+~").split(".")[0]
        if os.path.exists(item) and not (sep and name in KEYS):
            runs.append(item)  # an existing run dir, '=' in its name or not
        elif sep and (name in KEYS or name == "hydra"):
            if name == "baselines" and value[:1] not in ("[", "'", '"'):
                value = "[" + ",".join(quote(b.strip()) for b in value.split(",") if b.strip()) + "]"
                item = f"{key}={value}"
            out.append(item)
        elif item.startswith("~") or (sep and "/" not in key and os.sep not in key):
            out.append(item)  # an unknown key: Hydra's error names it
        else:
            runs.append(item)  # a run dir that does not exist: the report's error names it
    if runs:
        if any(o.partition("=")[0].lstrip("+~") == "runs" for o in out):
            raise ConfigError("command line", "runs", "run dirs either as bare arguments or as runs=[...], not both")
        out.append("runs=[" + ",".join(quote(r) for r in runs) + "]")
    return quote_values(out, ("out", "title", "variant"))


def check_config(cfg: DictConfig) -> None:
    from nas.checks import check_ranges, one_of, require

    check_ranges(cfg)
    one_of(cfg.variant, ("cifar", "imagenet"), "variant")
    if cfg.out:
        from nas.io import check_writable_dir

        check_writable_dir(cfg.out, "out")
    require(bool(cfg.runs) or bool(cfg.baselines), "runs", "at least one run dir (or baselines=...)")


def report(cfg: DictConfig) -> Dict[str, Path]:
    """Collect, (re-)time, write and print the report ``cfg`` asks for; returns the files written."""
    from nas.report.collect import baseline_rows, collect
    from nas.report.seeds import merge_seeds

    check_config(cfg)
    rows = merge_seeds(collect(list(cfg.runs))) if cfg.runs else []  # first: a bad dir ends before torch is imported
    from nas.report.measure import remeasure
    from nas.report.write import table, write_report

    extra = baseline_rows([b.strip() for b in cfg.baselines], variant=cfg.variant, existing=rows)
    rows += extra
    timing = {"threads": cfg.threads, "rounds": cfg.rounds, "min_run_time": cfg.min_run_time}
    if cfg.measure:
        remeasure(rows, **timing)
    elif extra:  # baselines have no recorded latency: time them (only them)
        remeasure(extra, **timing)
    out = Path(cfg.out or Path("outputs") / "report" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    paths_out = write_report(rows, out, title=cfg.title or "accuracy vs latency")
    print(table(rows))
    return paths_out


@hydra_app("report", argv_hook=to_overrides, uses_run_dir=False, help=__doc__)
def main(cfg: DictConfig) -> None:
    written = report(cfg)
    print()
    for name, path in written.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    run(main)
