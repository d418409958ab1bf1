"""Supernet training-step cost: hard single-path vs the extracted child, and soft mode.

Times, in one run and interleaved (so machine drift hits all alike), one SGD training step (forward,
backward, update) of the extracted child, of the supernet on the child's fixed path, in hard
single-path Gumbel mode and in soft mode (every candidate runs), on the same batch; reports medians
and their ratio to the child. Memory: the activations autograd saves for backward in one step
(counted exactly through ``saved_tensors_hooks``, parameters excluded) and the weights each trains.

    python bench/supernet_step.py [--space fbnet] [--width 1.0] [--batch 32] [--repeats 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from nas.space import load_space
from nas.supernet import build_supernet


def step_fn(model, params, x, y):
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def activation_mb(model, x, y) -> float:
    """MB of tensors autograd saves for backward in one step (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in seen:
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    space = load_space(args.space, variant="cifar", width_mult=args.width)
    supernet = build_supernet(space)
    arch = space.sample(args.seed)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    child = supernet.extract(arch)
    child_step = step_fn(child, child.parameters(), x, y)
    super_step = step_fn(supernet, supernet.weight_parameters(), x, y)
    modes = {"child": child_step,
             "fixed": lambda: (supernet.set_arch(arch), super_step()),
             "hard": lambda: (supernet.set_mode("hard", tau=5.0), super_step()),
             "soft": lambda: (supernet.set_mode("soft", tau=5.0), super_step())}
    for fn in modes.values():  # warm-up
        fn()
        fn()
    times = {k: [] for k in modes}
    for r in range(args.repeats):
        for k in ("child", "fixed", "hard"):
            times[k].append(timed(modes[k]))
        if r % 4 == 0:  # soft is ~10x dearer: fewer samples
            times["soft"].append(timed(modes["soft"]))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    mem = {"child": activation_mb(child, x, y)}
    for k in ("fixed", "hard", "soft"):
        supernet.set_arch(arch) if k == "fixed" else supernet.set_mode(k, tau=5.0)
        mem[k] = activation_mb(supernet, x, y)
    weights = {"child": sum(p.numel() for p in child.parameters()) * 4 / 2**20}
    weights.update({k: sum(p.numel() for p in supernet.parameters()) * 4 / 2**20 for k in ("fixed", "hard", "soft")})
    print(f"space={args.space} (cifar, width {args.width}), batch {args.batch}, {args.threads} threads, "
          f"torch {torch.__version__}; medians of {args.repeats} interleaved steps (soft: {len(times['soft'])})")
    print("a hard step runs the path Gumbel samples, so its cost varies with the path; 'fixed' runs the child's")
    for k in modes:
        print(f"  {k:5s} step {med[k]:8.1f} ms  x{med[k] / med['child']:5.2f} of child   saved activations "
              f"{mem[k]:7.1f} MB (x{mem[k] / mem['child']:5.2f})   weights {weights[k]:6.1f} MB")


if __name__ == "__main__":
    main()
