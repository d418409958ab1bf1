"""Does a weight-sharing supernet train in a few epochs? Train accuracy per epoch on digits.

    python bench/supernet_convergence.py --paths hard|random|fixed|pool:P [--epochs 4] [--lr 0.05] [--width 0.5]

The fbnet supernet (CIFAR variant; scikit-learn's 8x8 digits resized to 32 px, batch 64, SGD Nesterov momentum
0.9, one thread recommended) is trained on the weight split with paths chosen per step as
``hard`` (Gumbel single path, straight-through, uniform theta), ``random`` (a uniformly random fixed
path each step: no Gumbel, no straight-through), ``fixed`` (one random path throughout: an ordinary
network) or ``pool:P`` (one of P fixed random archs each step). README, "The main job", quotes its
figures.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from nas.data import BatchLoader, search_data
from nas.loops import Recipe, train_epoch
from nas.space import load_space
from nas.supernet import build_supernet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", default="hard", help="hard | random | fixed | pool:P")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--width", type=float, default=0.5)
    args = ap.parse_args()
    torch.manual_seed(0)
    space = load_space("fbnet", variant="cifar", width_mult=args.width, num_classes=10)
    data = search_data("digits", resolution=space.resolution)
    net = build_supernet(space).train().set_mode("hard", tau=5.0)
    if args.paths == "fixed":
        net.set_arch(space.sample(random.Random(0)))
    pool = int(args.paths.split(":")[1]) if args.paths.startswith("pool:") else None
    opt = torch.optim.SGD(list(net.weight_parameters()), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loader = BatchLoader(data.weight, 64, seed=0, drop_last=True)
    recipe = Recipe(epochs=args.epochs, batch_size=64, lr=args.lr, label_smoothing=0.0)
    step = [0]

    def choose_path() -> None:
        if args.paths == "random":
            net.set_arch(space.sample(random.Random(step[0] * 7)))
        elif pool is not None:
            net.set_arch(space.sample(random.Random(step[0] % pool)))
        step[0] += 1

    t0 = time.time()
    for epoch in range(args.epochs):
        m = train_epoch(net, loader, opt, recipe, epoch, before_step=choose_path, progress=False)
        print(f"{args.paths} width {args.width} lr {args.lr}: epoch {epoch + 1} train loss {m['train_loss']:.3f} "
              f"acc {m['train_acc']:.3f} ({time.time() - t0:.0f} s)", flush=True)

if __name__ == "__main__":
    main()
