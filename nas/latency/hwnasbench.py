"""Public FBNet-space latency data: HW-NAS-Bench's per-op tables (Li et al. 2021) and HELP's
5000-architecture measurements on 27 device settings (Lee et al. 2021), as stored in
``../shared/datasets/hw-nas-bench-fbnet/`` (see its README).

- :func:`import_table` turns the additive table of ``raspi4``, ``pixel3``, ``eyeriss`` or ``fpga``
  (22 x 9 costs relative to ``k3_e1`` plus a constant for stem and head) into a :class:`LatencyTable`
  keyed by op config and input shape of our ``fbnet`` CIFAR space; it reproduces the published
  latencies of ``fbnet_help.npz``.
- :func:`evaluate_predictor` fits :class:`FittedPredictor` on a share of the archs of each device
  whose latencies are end-to-end measurements (not sums) and reports its held-out accuracy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import FIELDS, today
from nas.latency.ops import op_key
from nas.latency.predictor import FittedPredictor
from nas.latency.table import Entry, LatencyTable

OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
ADDITIVE = ("raspi4", "pixel3", "eyeriss", "fpga")
NAMES = {"raspi4": "Raspberry Pi 4", "pixel3": "Google Pixel 3", "eyeriss": "Eyeriss (simulated ASIC)",
         "fpga": "FPGA (Xilinx ZC706)"}
HELP_FILE, LUT_FILE = "fbnet_help.npz", "fbnet_hwnasbench_additive_lut.npz"
ENV = "NAS_HWNASBENCH_DIR"
REPO = Path(__file__).resolve().parents[2]
# the space the data is for (the README's description)
EXPECTED = {"resolution": 32, "stem_stride": 1, "out_chs": [16] + [24] * 4 + [32] * 4 + [64] * 4 + [112] * 4
            + [184] * 4 + [352], "strides": [1, 1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1],
            "head_chs": 1504}


def find_data(data_dir: Optional[str | os.PathLike] = None) -> Path:
    """The data folder: ``data_dir``, else ``$NAS_HWNASBENCH_DIR``, else ``../shared/datasets/
    hw-nas-bench-fbnet`` beside the working directory or the repository."""
    if data_dir:
        tried = [Path(data_dir)]
    else:
        tried = [Path(os.environ[ENV])] if os.environ.get(ENV) else []
        tried += [Path.cwd().parent / "shared/datasets/hw-nas-bench-fbnet",
                  REPO.parent / "shared/datasets/hw-nas-bench-fbnet"]
    for d in tried:
        if (d / HELP_FILE).is_file() and (d / LUT_FILE).is_file():
            return d
    raise LatencyTableError(f"HW-NAS-Bench FBNet data: expected {HELP_FILE} and {LUT_FILE} in one of "
                            f"{', '.join(str(d) for d in tried)} (or set {ENV})")


def _load_npz(path: Path) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise LatencyTableError(f"{path}: expected a numpy .npz archive, the file is unreadable ({err})") from None


def hwnasbench_space():
    """Our ``fbnet`` space at CIFAR resolution, checked to be the one the data was measured for."""
    from nas.space import load_space

    space = load_space("fbnet", variant="cifar")
    got = {"resolution": space.resolution, "stem_stride": space.stem["stride"],
           "out_chs": [l.out_chs for l in space.layers], "strides": [l.stride for l in space.layers],
           "head_chs": space.head.get("chs")}
    for k, v in EXPECTED.items():
        if got[k] != v:
            raise LatencyTableError(f"{space.source}: {k}: expected {v} (HW-NAS-Bench's FBNet space), got {got[k]}")
    for d in space.decisions:
        if tuple(d.choices) != OPS:
            raise LatencyTableError(f"{space.source}: candidates: expected {list(OPS)} in this order, got "
                                    f"{list(d.choices)}")
    return space


def load_help(data_dir: Optional[str | os.PathLike] = None) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """``(arch codes (N x 22), {device: latencies (N,) in ms})``."""
    path = find_data(data_dir) / HELP_FILE
    z = _load_npz(path)
    if "arch" not in z or z["arch"].ndim != 2 or z["arch"].shape[1] != 22:
        raise LatencyTableError(f"{path}: arch: expected an N x 22 integer array")
    lat = {k[4:]: v.astype(float) for k, v in z.items() if k.startswith("lat_")}
    return z["arch"].astype(int), lat


def archs_of(space, codes: np.ndarray) -> List:
    return [space.decode([int(i) for i in row]) for row in codes]


def import_table(device: str, data_dir: Optional[str | os.PathLike] = None) -> LatencyTable:
    """HW-NAS-Bench's additive table of ``device`` as a :class:`LatencyTable` for the ``fbnet`` CIFAR space.

    Its entries are costs relative to ``k3_e1`` at the same layer (so ``k3_e1`` is 0 and ``skip`` is
    negative) and ``const_ms`` covers stem, head and the ``k3_e1`` baseline: sums are exact, single
    entries are not absolute latencies."""
    if device not in ADDITIVE:
        raise LatencyTableError(f"HW-NAS-Bench import: device: expected one of {', '.join(ADDITIVE)} (the devices "
                                f"with additive per-op tables), got {device!r}")
    path = find_data(data_dir) / LUT_FILE
    z = _load_npz(path)
    if f"lut_{device}" not in z or f"const_{device}" not in z:
        raise LatencyTableError(f"{path}: lut_{device}: expected a 22 x 9 table and const_{device}")
    lut, const = z[f"lut_{device}"], float(z[f"const_{device}"])
    space = hwnasbench_space()
    if lut.shape != (len(space.layers), len(OPS)):
        raise LatencyTableError(f"{path}: lut_{device}: expected shape (22, 9), got {lut.shape}")
    entries: Dict[str, Entry] = {}
    for i, layer in enumerate(space.layers):
        for j, name in enumerate(OPS):
            key = op_key(space.layer_op_instance(layer, name))
            value = float(lut[i, j])
            if key in entries and not math.isclose(entries[key].ms, value, rel_tol=1e-9, abs_tol=1e-12):
                raise LatencyTableError(f"{path}: lut_{device}[{i}, {j}]: expected the same cost as the layer with "
                                        f"the same op and shape ({entries[key].ms}), got {value}")
            entries[key] = Entry(value)
    fp = {k: None for k in FIELDS}
    fp.update(device=device, device_name=NAMES[device], batch_size=1, resolution=32, date=today())
    meta = {"source": f"HW-NAS-Bench per-op table (Li et al. 2021, MIT) from {path}",
            "space": {"name": space.name, "variant": space.variant, "resolution": space.resolution},
            "note": "entries are relative to k3_e1 at the same layer; const_ms covers stem, head and k3_e1"}
    return LatencyTable(fp, entries, const_ms=const, const_covers=["stem", "head"], meta=meta)


def non_additive_devices(latencies: Dict[str, np.ndarray]) -> List[str]:
    return sorted(d for d in latencies if d not in ADDITIVE)


def evaluate_predictor(devices: Optional[Sequence[str]] = None, train_frac: float = 0.2, seed: int = 0,
                       data_dir: Optional[str | os.PathLike] = None, tie: bool = True,
                       correction: str = "auto") -> List[Dict]:
    """Per device: fit on ``train_frac`` of the 5000 archs, report accuracy on the rest."""
    codes, lat = load_help(data_dir)
    space = hwnasbench_space()
    devices = list(devices) if devices else non_additive_devices(lat)
    unknown = [d for d in devices if d not in lat]
    if unknown:
        raise LatencyTableError(f"fbnet_help.npz: device: expected one of {', '.join(sorted(lat))}, got {unknown[0]!r}")
    if not 0 < train_frac < 1:
        raise LatencyTableError(f"train_frac: expected a number between 0 and 1, got {train_frac!r}")
    archs = archs_of(space, codes)
    perm = np.random.default_rng(seed).permutation(len(archs))
    n_train = int(round(train_frac * len(archs)))
    train, test = perm[:n_train], perm[n_train:]
    rows = []
    for d in devices:
        y = lat[d]
        p = FittedPredictor.fit(space, [archs[i] for i in train], y[train], tie=tie, correction=correction, seed=seed)
        acc = p.evaluate(space, [archs[i] for i in test], y[test])
        rows.append({"device": d, "n_train": len(train), "n_test": len(test), "correction": p.correction is not None,
                     **{f"{k}_{m}": v for k, a in acc.items() for m, v in a.items() if m != "n"}})
    return rows


def format_rows(rows: Sequence[Dict]) -> str:
    """One line per device: the predictor's held-out MAPE, share within +-10%, Kendall tau (with the
    correction where cross-validation kept it), and whether it was kept."""
    lines = [f"{'device':<16s} {'train':>5s} {'test':>5s} {'MAPE':>7s} {'within10':>9s} {'tau':>6s}  correction"]
    for r in rows:
        lines.append(f"{r['device']:<16s} {r['n_train']:5d} {r['n_test']:5d} {r['corrected_mape']:6.2f}% "
                     f"{r['corrected_within']:8.1f}% {r['corrected_kendall_tau']:6.3f}  "
                     f"{'kept' if r['correction'] else 'not kept (additive only)'}")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("corrected_mape", "corrected_within",
                                                               "corrected_kendall_tau")}
    lines.append(f"{'mean':<16s} {'':5s} {'':5s} {mean['corrected_mape']:6.2f}% {mean['corrected_within']:8.1f}% "
                 f"{mean['corrected_kendall_tau']:6.3f}")
    return "\n".join(lines)
