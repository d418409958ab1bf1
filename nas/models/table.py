"""A table of every baseline: params, multiply-adds and CPU latency at batch 1.

Latency is the median of ``torch.utils.benchmark.Timer.blocked_autorange`` (many timed runs after
warm-up) in eval mode under ``torch.inference_mode``, with the thread count pinned and printed.
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.utils.benchmark as benchmark

from nas.models import MODELS, create_model, list_models, model_resolution
from nas.profile import profile
from nas.progress import progress as progress_bar


@dataclass
class ModelRow:
    name: str
    resolution: int
    params_m: float
    macs_m: float
    paper_params_m: float
    paper_macs_m: float
    latency_ms: Optional[float]


def measure_latency_ms(model: torch.nn.Module, resolution: int, threads: int, min_run_time: float = 1.0) -> float:
    """Median batch-1 latency in ms over many runs (after warm-up) with ``threads`` threads."""
    model.eval()
    x = torch.randn(1, 3, resolution, resolution)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads)
            with torch.inference_mode():
                m = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(prev)
    return m.median * 1e3


def model_rows(names: Sequence[str], variant: str = "imagenet", latency: bool = True, threads: int = 1,
               min_run_time: float = 1.0) -> List[ModelRow]:
    rows = []
    for name in progress_bar(names, desc="models", unit="model"):
        res = model_resolution(name, variant)
        model = create_model(name, variant=variant, num_classes=10 if variant == "cifar" else 1000)
        p = profile(model, (1, 3, res, res))
        lat = measure_latency_ms(model, res, threads, min_run_time) if latency else None
        meta = MODELS.meta(name)
        rows.append(ModelRow(name, res, p.params / 1e6, p.macs / 1e6, meta["params"], meta["macs"], lat))
    return rows


def format_rows(rows: Sequence[ModelRow], markdown: bool, variant: str) -> str:
    paper = variant == "imagenet"
    head = ["model", "input", "params (M)", "MACs (M)"] + (["paper params", "paper MACs"] if paper else []) + ["latency (ms)"]
    body = []
    for r in rows:
        cells = [r.name, f"{r.resolution}", f"{r.params_m:.2f}", f"{r.macs_m:.1f}"]
        if paper:
            cells += [f"{r.paper_params_m:g}", f"{r.paper_macs_m:g}"]
        cells.append("-" if r.latency_ms is None else f"{r.latency_ms:.2f}")
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c) + " |" for c in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(c) for c in body])


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nas.models", description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="*", help="glob over model names (default: all)")
    ap.add_argument("--variant", default="imagenet", choices=["imagenet", "cifar"])
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for latency (default 1)")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timed runs per model")
    ap.add_argument("--no-latency", action="store_true", help="sizes only")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args(argv)
    names = list_models(args.models)
    if not names:
        print(f"error: no model matches {args.models!r}; known models: {', '.join(list_models())}", file=sys.stderr)
        return 2
    rows = model_rows(names, args.variant, not args.no_latency, args.threads, args.min_run_time)
    cpu = platform.processor() or platform.machine()
    print(f"# {args.variant} forms; latency: batch 1, fp32, median of torch.utils.benchmark runs, "
          f"{args.threads} thread(s), torch {torch.__version__}, {cpu}")
    print(format_rows(rows, args.markdown, args.variant))
    return 0
