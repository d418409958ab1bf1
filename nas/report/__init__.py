"""Compare found nets with each other and with the hand-designed baselines: accuracy vs latency.

``collect(paths) -> rows`` reads search, train and Hydra multirun dirs; ``remeasure(rows, threads,
rounds)`` re-times every net in one interleaved session; ``pareto(rows)`` marks the accuracy-latency
front; ``write_report(rows, out)`` writes ``report.md``, ``pareto.png``, ``report.json`` and ``tb/``.
The command line is ``python -m nas.report <dir> [<dir> ...] [measure=true] [baselines=a,b] [out=DIR]``.

Timing, plotting and writing are imported on first use (PEP 562): reading run dirs, and the command
line's error paths, do not import torch or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.report.collect import BASELINE, FOUND, TRAINED_FOUND, ReportError, Row, baseline_rows, collect

_LAZY = {"build_net": "nas.report.measure", "remeasure": "nas.report.measure", "figure": "nas.report.front",
         "pareto": "nas.report.front", "table": "nas.report.write", "write_report": "nas.report.write"}
__all__ = ["BASELINE", "FOUND", "TRAINED_FOUND", "ReportError", "Row", "baseline_rows", "build_net", "collect",
           "figure", "pareto", "remeasure", "table", "write_report"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nas.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
