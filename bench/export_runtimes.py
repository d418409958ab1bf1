"""Exported latency in each runtime against eager PyTorch, and the int8 speed-up, per network: found
archs (arch files) and the MobileNetV2/V3 baselines. Runs ``nas.export`` with every runtime format
(each checked against the eager net: fp32 max abs diff <= 1e-4, int8 top-1 agreement on 1,000 digits
images, enforced for trained weights) and collects its timings (one thread, in alternation with the
eager net).

Weights: an arch file with the search's ``checkpoint.pt`` beside it (``nas.search`` writes both) is
exported with the weights it inherits from that supernet, so the int8 agreement is a real check (and
enforced); the baselines and any other arch are freshly initialised, whose logits are near ties (about
1e-9 here), so their agreement is not a check and the table says "fresh". A format that fails its
check is recorded with its one-line error and the net exported again without it.

    python bench/export_runtimes.py [--archs outputs/bench/runtime_search/*/arch.yaml]
        [--models mobilenetv2_100 mobilenetv3_large_100 mobilenetv3_small_100] [--variant cifar]
        [--formats executorch onnx openvino executorch_int8 onnx_int8 openvino_int8]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

from nas.errors import NasError
from nas.export.export import export_arch, export_model
from nas.io import atomic_write_text, write_json

FORMATS = ["executorch", "onnx", "openvino", "executorch_int8", "onnx_int8", "openvino_int8"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="*", default=[])
    ap.add_argument("--models", nargs="*", default=["mobilenetv2_100", "mobilenetv3_large_100", "mobilenetv3_small_100"])
    ap.add_argument("--variant", default="cifar")
    ap.add_argument("--formats", nargs="+", default=FORMATS)
    ap.add_argument("--out", default="outputs/bench/export_runtimes")
    ap.add_argument("--fresh", action="store_true", help="fresh weights for arch files too (no checkpoint)")
    args = ap.parse_args()
    rows, weights = {}, {}
    with tempfile.TemporaryDirectory(prefix="nas-bench-export-") as tmp:
        jobs = []
        for i, arch in enumerate(args.archs):
            ckpt = Path(arch).with_name("checkpoint.pt")
            w = str(ckpt) if ckpt.is_file() and not args.fresh else None
            jobs.append((str(arch), w, lambda formats, arch=arch, i=i, w=w: export_arch(
                arch, Path(tmp) / f"a{i}", formats=formats, fresh=False, weights=w)))
        for model in args.models:
            jobs.append((model, None, lambda formats, model=model: export_model(
                model, Path(tmp) / model, variant=args.variant, formats=formats, fresh=False)))
        for net, w, run in jobs:
            weights[net] = w
            rows[net] = export_checked(run, list(args.formats))
            print(net, json.dumps(rows[net]), flush=True)
    lines = [f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, `python {' '.join(sys.argv)}`",
             "", "| net | eager (ms) | " + " | ".join(f"{f} ms (x eager)" for f in args.formats)
             + " | " + " | ".join(f"{f} speed-up" for f in args.formats if f.endswith("_int8")) + " |",
             "|---|---|" + "---|" * (len(args.formats) + sum(f.endswith("_int8") for f in args.formats))]
    for net, info in rows.items():
        cells = [f"{info[f]['ms']:.3f} ({info[f]['ratio_to_eager']:.2f})" if "ms" in info[f] else "failed"
                 for f in args.formats]
        cells += [(f"{info[f].get('speedup_over_fp32', float('nan')):.2f}x (top-1 agree "
                   + (f"{info[f]['top1_agreement']:.1%})" if weights[net] else "- : fresh weights)"))
                  if "ms" in info[f] else "failed" for f in args.formats if f.endswith("_int8")]
        name = f"{net} (weights: {weights[net]})" if weights[net] else f"{net} (fresh weights)"
        lines.append(f"| {name} | {info['eager']['ms']:.3f} | " + " | ".join(cells) + " |")
    failed = [f"- {net} {f}: {info[f]['error']}" for net, info in rows.items() for f in args.formats
              if "error" in info[f]]
    if failed:
        lines += ["", "Formats that failed their check (left out, the net exported again without them):", *failed]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    write_json(out / "summary.json", rows)
    print("\n".join(lines))


def export_checked(run, formats):
    """``run(formats)``'s runtime records; a format failing its check (a one-line ``NasError`` whose
    source names it) is recorded as ``{"error": ...}`` and the rest exported again."""
    failed = {}
    while True:
        try:
            info = dict(run(formats).metadata["runtimes"])
            break
        except NasError as err:
            fmt = getattr(err, "source", None)
            if fmt not in formats:
                raise
            failed[fmt] = {"error": str(err)}
            formats = [f for f in formats if f != fmt]
    info.update(failed)
    return info


if __name__ == "__main__":
    main()
