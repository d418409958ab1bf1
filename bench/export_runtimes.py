"""Exported latency in each runtime against eager PyTorch, and the int8 speed-up, per network: found
archs (arch files) and the MobileNetV2/V3 baselines. Runs ``nas.export`` with every runtime format
(each checked against the eager net: fp32 max abs diff <= 1e-4, int8 top-1 agreement on 1,000 digits
images, enforced for trained weights) and collects its timings (one thread, in alternation with the
eager net).

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
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="nas-bench-export-") as tmp:
        for i, arch in enumerate(args.archs):
            r = export_arch(arch, Path(tmp) / f"a{i}", formats=args.formats, fresh=False)
            rows[f"{arch}"] = r.metadata["runtimes"]
        for model in args.models:
            r = export_model(model, Path(tmp) / model, variant=args.variant, formats=args.formats, fresh=False)
            rows[model] = r.metadata["runtimes"]
            print(model, json.dumps(rows[model]), flush=True)
    lines = [f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, `python {' '.join(sys.argv)}`",
             "", "| net | eager (ms) | " + " | ".join(f"{f} ms (x eager)" for f in args.formats)
             + " | " + " | ".join(f"{f} speed-up" for f in args.formats if f.endswith("_int8")) + " |",
             "|---|---|" + "---|" * (len(args.formats) + sum(f.endswith("_int8") for f in args.formats))]
    for net, info in rows.items():
        cells = [f"{info[f]['ms']:.3f} ({info[f]['ratio_to_eager']:.2f})" for f in args.formats]
        cells += [f"{info[f].get('speedup_over_fp32', float('nan')):.2f}x (top-1 agree "
                  f"{info[f]['top1_agreement']:.1%})" for f in args.formats if f.endswith("_int8")]
        lines.append(f"| {net} | {info['eager']['ms']:.3f} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    write_json(out / "summary.json", rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
