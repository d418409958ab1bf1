"""Training-step time in the default (NCHW) vs the channels-last memory format, interleaved.

    python bench/channels_last.py [--threads 2] [--batch 64] [--repeats 5] [--models a,b,...]

For every CIFAR-form model (and the fbnet supernet in hard single-path mode) it alternates the two
formats ``--repeats`` times, each a few timed SGD steps after warm-up, and prints the minimum step time
of each and their ratio. ``nas.loops`` trains in channels-last because of these figures.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from nas.models import create_model
from nas.space import load_space
from nas.supernet import build_supernet

DEFAULT = "fbnet_supernet,mobilenetv2_035,mobilenetv3_small_100,shufflenetv2_x0_5,ghostnet_100"


def build(name: str) -> torch.nn.Module:
    if name == "fbnet_supernet":
        return build_supernet(load_space("fbnet", variant="cifar", num_classes=10)).set_mode("hard", tau=5.0)
    return create_model(name, variant="cifar", num_classes=10)


def step_time(name: str, fmt: torch.memory_format, batch: int, steps: int = 4) -> float:
    torch.manual_seed(0)
    net = build(name).train().to(memory_format=fmt)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=DEFAULT)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"training step, batch {args.batch}, 32 px, {args.threads} threads, min of {args.repeats} interleaved rounds")
    print(f"{'model':24s} {'NCHW ms':>9s} {'NHWC ms':>9s} {'speed-up':>9s}")
    for name in args.models.split(","):
        times = {torch.contiguous_format: [], torch.channels_last: []}
        for _ in range(args.repeats):
            for fmt in times:
                times[fmt].append(step_time(name, fmt, args.batch))
        a, b = min(times[torch.contiguous_format]), min(times[torch.channels_last])
        print(f"{name:24s} {1e3 * a:9.1f} {1e3 * b:9.1f} {a / b:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
