"""Wall time of a fixed FBNet supernet epoch with 1 vs N data-parallel processes (gloo on CPU).

    python bench/distributed_scaling.py --nprocs 1 2 --threads 1 --steps 20 --batch-size 64
    python bench/distributed_scaling.py --device cuda --nprocs 1 2 4 8 --steps 50 --batch-size 256  # a GPU server

Each configuration runs the same global work: ``--steps`` weight steps plus ``--steps`` theta steps of
FBNet's supernet (``--space``, ``--mode``) at global batch ``--batch-size`` on the digits data, after one
untimed warm-up epoch; each process runs ``--threads`` intra-op threads. The 1-process rows are also run
with ``N x threads`` threads, the fair comparison on a machine whose cores are the limit; the N-process
rows with per-rank BatchNorms (``device.sync_bn=false``, the default) and with SyncBatchNorm
(``--sync-bn both``, the default here: its two collectives per BatchNorm and step). Prints a table
and writes ``--out`` (JSON). Run it on a quiet machine: on 2 shared cores the speed-up is capped at 2
and eaten by anything else running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.io import atomic_write_text  # noqa: E402


def epoch_seconds(rank: int, world: int, init_file: str, args: argparse.Namespace, threads: int, out: str,
                  sync_bn: bool = False) -> None:
    """One rank: build the supernet and its data, warm up one epoch, time ``args.epochs`` epochs."""
    torch.set_num_threads(threads)
    if world > 1:
        backend = "nccl" if args.device == "cuda" else "gloo"
        torch.distributed.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
        if args.device == "cuda":
            torch.cuda.set_device(rank)
    from nas import distributed as dist

    dist.use_sync_batchnorm(sync_bn)
    from nas.data import search_data
    from nas.seeding import seed_everything
    from nas.space import load_space
    from nas.strategies.fbnet import FBNetOptions, FBNetSearch, LatencyModel
    from nas.supernet import build_supernet

    seed_everything(0)
    space = load_space(args.space, variant="cifar", width_mult=args.width_mult)
    data = search_data("digits", seed=0)
    net = build_supernet(space)
    costs = {label: torch.ones(len(m.names)) for label, m in net.mixed_ops().items()}
    opts = FBNetOptions(epochs=args.epochs + 1, warmup_epochs=0, batch_size=args.batch_size, mode=args.mode,
                        max_steps_per_epoch=args.steps)
    device = f"cuda:{rank}" if args.device == "cuda" else "cpu"
    search = FBNetSearch(net, data, LatencyModel(1.0, costs), opts, seed=0, device=device)
    search.evaluate = lambda arch: 0.0  # time the training, not the per-epoch validation
    search.run_epoch()  # warm-up (allocations, DDP buckets)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        search.run_epoch()
    if args.device == "cuda":
        torch.cuda.synchronize()
    dist.barrier()
    seconds = (time.perf_counter() - t0) / args.epochs
    if rank == 0:
        atomic_write_text(out, json.dumps({"seconds": seconds}))
    if world > 1:
        torch.distributed.destroy_process_group()


def run(world: int, threads: int, args: argparse.Namespace, sync_bn: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        if world == 1:
            epoch_seconds(0, 1, "", args, threads, out)
        else:
            mp.spawn(epoch_seconds, args=(world, os.path.join(tmp, "pg"), args, threads, out, sync_bn), nprocs=world)
        return json.loads(Path(out).read_text())["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="fbnet")
    p.add_argument("--width-mult", type=float, default=0.5)
    p.add_argument("--mode", default="hard", choices=["hard", "soft"])
    p.add_argument("--batch-size", type=int, default=64, help="global batch (a multiple of every --nprocs)")
    p.add_argument("--steps", type=int, default=20, help="weight steps (and theta steps) per timed epoch")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (their mean is reported)")
    p.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sync-bn", default="both", choices=["off", "on", "both"],
                   help="multi-process rows with per-rank BatchNorms (device.sync_bn=false, the default), "
                        "SyncBatchNorm (true), or both")
    p.add_argument("--out", default="outputs/bench/distributed_scaling.json")
    args = p.parse_args()
    rows = []
    syncs = {"off": [False], "on": [True], "both": [False, True]}[args.sync_bn]
    for n in args.nprocs:
        configs = [(n, args.threads, sync) for sync in (syncs if n > 1 else [False])]
        configs += [(1, n * args.threads, False)] if n > 1 and args.device == "cpu" else []
        for world, threads, sync in configs:
            if any(r["processes"] == world and r["threads"] == threads and r["sync_bn"] == sync for r in rows):
                continue
            s = run(world, threads, args, sync)
            rows.append({"processes": world, "threads": threads, "sync_bn": sync, "seconds_per_epoch": round(s, 3),
                         "images_per_s": round(2 * args.steps * args.batch_size / s, 1)})
            print(f"{world} process(es) x {threads} thread(s){' SyncBN' if sync else ''}: {s:.2f} s per epoch "
                  f"({rows[-1]['images_per_s']} images/s)", flush=True)
    base = next(r for r in rows if r["processes"] == 1 and r["threads"] == args.threads)["seconds_per_epoch"]
    for r in rows:
        r["speedup_vs_1_process"] = round(base / r["seconds_per_epoch"], 2)
    meta = {k: v for k, v in vars(args).items() if k != "out"}
    meta.update(cpus=os.cpu_count(), torch=torch.__version__, load_average=os.getloadavg())
    atomic_write_text(args.out, json.dumps({"settings": meta, "rows": rows}, indent=2) + "\n")
    print(f"{'processes':>9} {'threads':>7} {'sync_bn':>7} {'s/epoch':>8} {'images/s':>9} {'speed-up':>8}")
    for r in rows:
        print(f"{r['processes']:>9} {r['threads']:>7} {str(r['sync_bn']).lower():>7} {r['seconds_per_epoch']:>8.2f} "
              f"{r['images_per_s']:>9.1f} {r['speedup_vs_1_process']:>8.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
