"""Public FBNet-space latency data: imported HW-NAS-Bench tables against HELP's published latencies,
and the whole-network predictor's held-out accuracy on the devices whose latencies are not sums.

    python bench/latency_predictor.py [--train-frac 0.2] [--seed 0] [--data-dir ../shared/datasets/hw-nas-bench-fbnet]
"""

from __future__ import annotations

import argparse

import numpy as np

from nas.latency.hwnasbench import (ADDITIVE, archs_of, evaluate_predictor, format_rows, hwnasbench_space,
                                    import_table, load_help)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-frac", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    codes, lat = load_help(args.data_dir)
    space = hwnasbench_space()
    archs = archs_of(space, codes)
    print(f"imported HW-NAS-Bench tables vs the {len(archs)} published latencies of fbnet_help.npz:")
    for d in ADDITIVE:
        table = import_table(d, args.data_dir)
        err = np.abs(table.predict_many(space, archs) / lat[d] - 1)
        print(f"  {d:8s} max relative error {err.max():.1e}")
    rows = evaluate_predictor(train_frac=args.train_frac, seed=args.seed, data_dir=args.data_dir)
    print(f"\nwhole-network predictor, trained on {args.train_frac:.0%} of the archs (seed {args.seed}), tested on "
          f"the rest; accuracy in MAPE, share within +-10%, Kendall tau:")
    print(format_rows(rows))


if __name__ == "__main__":
    main()
