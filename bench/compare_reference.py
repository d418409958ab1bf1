"""Our baselines vs torchvision's reference implementations: batch-1 CPU latency, interleaved.

torchvision does not import beside this project's torch build, so run this from a separate environment
that has a matching torch + torchvision pair and this package on its path, e.g.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 pyyaml tqdm
    PYTHONPATH=. /tmp/tv/bin/python bench/compare_reference.py [--threads 1] [--rounds 15]

After a warm-up of each, both nets of a pair are timed in alternation (ABBA) (rounds of ``torch.utils.benchmark`` measurements), so
machine drift hits both alike; the figure is the ratio of their medians (ours / reference, <= 1.0 is
no slower). Parameter counts are printed to show the two are the same network.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.utils.benchmark as benchmark

PAIRS = [  # (ours, torchvision)
    ("mobilenetv2_100", "mobilenet_v2"), ("mobilenetv3_large_100", "mobilenet_v3_large"),
    ("mobilenetv3_small_100", "mobilenet_v3_small"), ("shufflenetv2_x1_0", "shufflenet_v2_x1_0"),
    ("mnasnet_b1", "mnasnet1_0"), ("squeezenet1_1", "squeezenet1_1"), ("densenet121", "densenet121"),
    ("googlenet", "googlenet"), ("vgg16", "vgg16"),
]


def median_ms(model, x, threads: int, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def main() -> None:
    import torchvision.models as tvm

    from nas.models import create_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--min-run-time", type=float, default=0.2)
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 1, 224x224, fp32, eval, inference_mode; "
          f"{args.rounds} interleaved rounds of >= {args.min_run_time}s each")
    print(f"{'ours':24s} {'torchvision':20s} {'params ours/ref':>20s} {'ours ms':>9s} {'ref ms':>9s} {'ratio':>6s}")
    for ours_name, ref_name in PAIRS:
        if args.models and ours_name not in args.models:
            continue
        kwargs = {"aux_logits": False, "init_weights": True} if ref_name == "googlenet" else {}
        ours, ref = create_model(ours_name).eval(), getattr(tvm, ref_name)(weights=None, **kwargs).eval()
        x = torch.randn(1, 3, 224, 224)
        a, b = [], []
        with torch.inference_mode():
            for m in (ours, ref):  # a long warm-up: the first net timed in a process is otherwise penalized
                median_ms(m, x, args.threads, args.min_run_time)
            for r in range(args.rounds):  # alternate which goes first (ABBA)
                if r % 2:
                    b.append(median_ms(ref, x, args.threads, args.min_run_time))
                    a.append(median_ms(ours, x, args.threads, args.min_run_time))
                else:
                    a.append(median_ms(ours, x, args.threads, args.min_run_time))
                    b.append(median_ms(ref, x, args.threads, args.min_run_time))
        pa, pb = (sum(p.numel() for p in m.parameters()) for m in (ours, ref))
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{ours_name:24s} {ref_name:20s} {pa / 1e6:9.3f}/{pb / 1e6:<9.3f} {ma:9.2f} {mb:9.2f} {ma / mb:6.3f}")


if __name__ == "__main__":
    main()
