"""Would per-decision corrections fitted on whole-network timings make a runtime's table rank nets the way
the runtime does? Offline, on timings already made (no timing here).

A table prices each op timed on its own (or inside a context network) and a calibration of a few
coefficients fitted on 24 whole networks. This bench fits one additive correction per (decision,
candidate) -- ridge regression of (measured - calibrated prediction) on the one-hot choices, over the
``--train`` networks plus the table's own calibration networks at their build figures -- and reports,
for each ``--test`` file (other networks, ideally timed in another run), Kendall tau, the share within
±10% and MAPE of the table alone and corrected. The correction is additive, so FBNet's expected latency
could use it as it uses the table's entries. Beside them, the same networks' timings alone, without the
table: :class:`nas.latency.predictor.FittedPredictor` (one cost per op configuration, Huber regression;
additive too, ``to_table``), the predictor this project fits for devices where only whole networks can be
timed.

Inputs are ``validation.json`` files of ``python -m nas.latency ... table=T validate=N seed=S`` (or any JSON
with ``archs`` -- encodings -- and ``measured_ms``)::

    python bench/latency_opfit.py --table bench/results/opfit/table-onnxruntime-int8.json \\
        --train bench/results/opfit/onnxruntime-int8-seed7.json bench/results/opfit/onnxruntime-int8-seed2.json \\
        --test bench/results/opfit/onnxruntime-int8-seed0.json bench/results/opfit/onnxruntime-int8-seed0-repeat1.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

from nas.io import atomic_write_text
from nas.latency import load_table
from nas.latency.metrics import accuracy
from nas.latency.predictor import FittedPredictor
from nas.space import load_space


def one_hot(space, encodings) -> np.ndarray:
    sizes = [len(d.choices) for d in space.decisions]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x = np.zeros((len(encodings), sum(sizes)))
    for i, enc in enumerate(encodings):
        x[i, offsets + np.asarray(enc)] = 1.0
    return x


def scores(predicted: np.ndarray, measured: np.ndarray) -> dict:
    a = accuracy(predicted, measured)
    return {"tau": round(a["kendall_tau"], 3), "within_10pct": round(a["within"] / 100, 3),
            "mape": round(a["mape"] / 100, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--space", default="fbnet")
    ap.add_argument("--alpha", type=float, default=1.0, help="ridge penalty")
    ap.add_argument("--splits", type=int, default=10, help="2/3 : 1/3 splits of the train networks (internal check)")
    ap.add_argument("--out", default="outputs/bench/latency_opfit")
    args = ap.parse_args()
    space = load_space(args.space, variant="cifar", num_classes=10)
    table = load_table(args.table)

    def load(path):
        d = json.loads(Path(path).read_text())
        return np.array(d["archs"]), np.array(d["measured_ms"], dtype=float)

    def predict(encodings):
        return np.asarray(table.predict_many(space, [space.decode(e) for e in encodings], calibrated=True), dtype=float)

    parts = [load(p) for p in args.train]
    if table.calibration and table.calibration.space == space.name:
        parts.append((np.array(table.calibration.archs), np.array(table.calibration.measured_ms, dtype=float)))
    enc = np.vstack([e for e, _ in parts])
    ms = np.concatenate([m for _, m in parts])
    pred = predict(enc)
    rows = {"train_networks": len(ms), "alpha": args.alpha}
    rng = np.random.default_rng(0)
    inner = {"table": [], "corrected": []}
    for _ in range(args.splits):
        idx = rng.permutation(len(ms))
        tr, te = idx[: 2 * len(ms) // 3], idx[2 * len(ms) // 3:]
        fit = Ridge(alpha=args.alpha).fit(one_hot(space, enc[tr]), ms[tr] - pred[tr])
        inner["table"].append(scores(pred[te], ms[te])["tau"])
        inner["corrected"].append(scores(pred[te] + fit.predict(one_hot(space, enc[te])), ms[te])["tau"])
    rows["inner_tau"] = {k: round(float(np.mean(v)), 3) for k, v in inner.items()}
    fit = Ridge(alpha=args.alpha).fit(one_hot(space, enc), ms - pred)
    whole = FittedPredictor.fit(space, [space.decode(e) for e in enc], ms)
    rows["tests"] = {}
    for path in args.test:
        e, m = load(path)
        p = predict(e)
        rows["tests"][path] = {"table": scores(p, m), "corrected": scores(p + fit.predict(one_hot(space, e)), m),
                               "whole_network_fit": scores(whole.predict_many(space, [space.decode(x) for x in e]), m)}
    lines = [f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, `python {' '.join(sys.argv)}`", "",
             f"fitted on {len(ms)} networks (train files + the table's calibration networks); inner 2/3:1/3 tau: "
             f"table {rows['inner_tau']['table']}, corrected {rows['inner_tau']['corrected']}", "",
             "| test file | table: tau, within ±10%, MAPE | table + per-decision correction | whole-network fit alone |",
             "|---|---|---|---|"]
    for path, r in rows["tests"].items():
        cells = [f"{x['tau']}, {100 * x['within_10pct']:.0f}%, {100 * x['mape']:.1f}%"
                 for x in (r["table"], r["corrected"], r["whole_network_fit"])]
        lines.append(f"| {Path(path).name} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
