"""Calibration at the cheap end of the range, where latency-constrained searches land.

Run after ``python bench/latency_lut.py`` (it reads that run's table and validation). Times archs from
the cheapest 30 % of the fbnet range end to end and compares two calibrations of the same table: the
table's own (fitted on archs spread over the range, ``nas.latency.calibrate.spread_archs``) and one
fitted on 24 uniformly random archs (the validation's first 24), which all lie mid-range.

    python bench/latency_cheap_end.py [--dir outputs/bench_latency] [--pool 40]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nas.latency import fit_calibration, load_table
from nas.latency.calibrate import spread_archs
from nas.latency.validate import measure_archs
from nas.space import load_space


def figures(pred: np.ndarray, measured: np.ndarray) -> str:
    err = np.abs(pred / measured - 1)
    return f"MAPE {100 * err.mean():5.2f}%  max {100 * err.max():5.1f}%  within +-10% {100 * np.mean(err <= 0.1):5.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="outputs/bench_latency")
    ap.add_argument("--pool", type=int, default=40, help="spread archs drawn; the cheapest 30%% of the range kept")
    args = ap.parse_args()
    folder = Path(args.dir)
    table = load_table(folder / "table.json")
    space = load_space(table.meta["space"]["name"], variant=table.meta["space"]["variant"])
    lo, hi = table.bounds(space, calibrated=False)
    cheap = [a for a in spread_archs(table, space, args.pool, seed=7)
             if table.predict(space, a, calibrated=False) < lo + 0.3 * (hi - lo)]
    measured = measure_archs(table, space, cheap).ms
    m = np.asarray(measured)
    print(f"{len(cheap)} archs from the cheapest 30% of the range, measured {m.min():.2f}..{m.max():.2f} ms")
    spread = np.array([table.predict(space, a, calibrated=True) for a in cheap])
    print(f"calibrated on spread archs ({table.calibration.model}):      {figures(spread, m)}")
    v = json.loads((folder / "validation.json").read_text())
    archs = [space.decode(e) for e in v["archs"][:24]]
    uniform = fit_calibration(table, space, archs, v["measured_ms"][:24])
    table.calibration = uniform
    pred = np.array([table.predict(space, a, calibrated=True) for a in cheap])
    print(f"calibrated on 24 uniform random archs ({uniform.model}): {figures(pred, m)}")


if __name__ == "__main__":
    main()
