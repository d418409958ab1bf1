"""NAS-Bench-201 ground truth (Dong & Yang 2020): test accuracy on 3 datasets and measured latency on 27
device settings of all 15,625 architectures, read from ``nb201_hw.npz`` (see ``docs/nb201.md``).

The file's order is the benchmark's index (a shuffle: index <-> arch string needs the file). Arrays:
``archs`` (the arch strings), ``acc_<dataset>`` (test accuracy, %), ``lat_<device>`` (ms).

>>> bench = NB201Bench()                       # finds the file (see find_data) or takes a path
>>> i = bench.index("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
>>> bench.accuracy("cifar10", [i]), bench.latency("pixel3", [i])
>>> idx = bench.index_of_codes(codes)         # (N, 6) op indices (a cell space's encodings) -> indices
>>> bench = load_bench()                       # the same, loaded once per process and path

Codes are per edge (``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``) the op's position in :data:`OPS`, the
benchmark's op order, which is also the ``nb201`` space's encoding (:meth:`NB201Bench.check_space`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from nas.benchmarks.errors import BenchmarkError

FILE = "nb201_hw.npz"
ENV = "NAS_NB201_DIR"
SHARED = "shared/datasets/nas-bench-201-hw"
REPO = Path(__file__).resolve().parents[2]
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")
SIZE = len(OPS) ** len(EDGES)
# dataset names as the space's variants call them
ALIASES = {"cifar": "cifar10", "imagenet16": "imagenet16_120", "ImageNet16-120": "imagenet16_120"}
HOW_TO_GET = ("NAS-Bench-201 test accuracies (NATS-Bench topology space, e.g. via the nats-bench-landscape "
              "tables) and latencies (HELP's NAS-Bench-201 data; HW-NAS-Bench for raspi4/pixel3/eyeriss/fpga) "
              "as one npz, see docs/nb201.md")


def find_data(path: Optional[str | os.PathLike] = None) -> Path:
    """The npz file: ``path`` (the file or its folder), else ``$NAS_NB201_DIR``, else
    ``../shared/datasets/nas-bench-201-hw`` beside the working directory or the repository."""
    if path:
        p = Path(path)
        tried = [p / FILE if p.is_dir() else p]
    else:
        tried = [Path(os.environ[ENV]) / FILE] if os.environ.get(ENV) else []
        tried += [Path.cwd().parent / SHARED / FILE, REPO.parent / SHARED / FILE]
    for p in tried:
        if p.is_file():
            return p
    raise BenchmarkError(" or ".join(dict.fromkeys(str(p) for p in tried)), "<file>",
                         f"the NAS-Bench-201 file {FILE}: {HOW_TO_GET} (or set ${ENV} to its folder)")


_LOADED: Dict[Path, "NB201Bench"] = {}


def load_bench(path: Optional[str | os.PathLike] = None) -> "NB201Bench":
    """:class:`NB201Bench` of the file :func:`find_data` finds, loaded once per process (the file is
    read-only data; the evaluator and the latency source of one search share it)."""
    where = find_data(path).resolve()
    if where not in _LOADED:
        _LOADED[where] = NB201Bench(where)
    return _LOADED[where]


def parse_codes(strings: Sequence[str], where: str = "arch strings") -> np.ndarray:
    """``(N, 6)`` op indices of NB201 arch strings (a malformed string is a BenchmarkError)."""
    out = np.empty((len(strings), len(EDGES)), dtype=np.int64)
    pos = {op: k for k, op in enumerate(OPS)}
    for n, s in enumerate(strings):
        ops = [item.split("~")[0] for item in str(s).replace("|+|", "|").strip("|").split("|")]
        if len(ops) == len(EDGES) and all(op in pos for op in ops):
            out[n] = [pos[op] for op in ops]
            if arch_string(out[n]) == s:
                continue
        raise BenchmarkError(where, f"[{n}]", f"an arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops from "
                             f"{', '.join(OPS)}", s)
    return out


def arch_string(code: Sequence[int]) -> str:
    """The arch string of one code (6 op indices)."""
    ops = [f"{OPS[int(k)]}~{e[-1]}" for k, e in zip(code, EDGES)]
    return f"|{ops[0]}|+|{ops[1]}|{ops[2]}|+|{ops[3]}|{ops[4]}|{ops[5]}|"


def code_numbers(codes: np.ndarray) -> np.ndarray:
    """Base-5 numbers of ``(N, 6)`` codes (first edge most significant)."""
    return codes @ (len(OPS) ** np.arange(len(EDGES) - 1, -1, -1))


class NB201Bench:
    """The benchmark file, loaded once and checked. Queries take indices (any int array-like; ``None``:
    all, in index order) and return numpy arrays."""

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.path = find_data(path)
        where = str(self.path)
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise BenchmarkError(where, "<file>", f"a numpy .npz archive, the file is unreadable ({err})") from None
        archs = data.get("archs")
        if archs is None or archs.shape != (SIZE,) or archs.dtype.kind != "U":
            raise BenchmarkError(where, "archs", f"{SIZE} arch strings",
                                 "missing" if archs is None else f"{archs.dtype} array of shape {archs.shape}")
        self._arrays: Dict[str, np.ndarray] = {}
        for key, a in data.items():
            if key.startswith(("acc_", "lat_")):
                if a.shape != (SIZE,) or a.dtype.kind not in "fiu" or not np.isfinite(a).all():
                    raise BenchmarkError(where, key, f"{SIZE} finite numbers", f"{a.dtype} array of shape {a.shape}")
                self._arrays[key] = a.astype(np.float64)
        for prefix, what in (("acc_", "test accuracies"), ("lat_", "latencies")):
            if not any(k.startswith(prefix) for k in self._arrays):
                raise BenchmarkError(where, f"{prefix}<name>", f"at least one array of {what}")
        self.archs = archs
        self.codes = parse_codes(archs, f"{where}: archs")
        numbers = code_numbers(self.codes)
        self._by_number = np.full(SIZE, -1, dtype=np.int64)
        self._by_number[numbers] = np.arange(SIZE)
        if (self._by_number < 0).any():
            missing = int(np.flatnonzero(self._by_number < 0)[0])
            code = [(missing // len(OPS) ** p) % len(OPS) for p in range(len(EDGES) - 1, -1, -1)]
            raise BenchmarkError(where, "archs", f"each of the {SIZE} architectures once (some appear twice; "
                                 f"{arch_string(code)} is missing)")
        self._index = {s: i for i, s in enumerate(archs.tolist())}

    def __len__(self) -> int:
        return SIZE

    def __repr__(self) -> str:
        return f"NB201Bench({str(self.path)!r}, datasets={self.datasets()}, {len(self.devices())} devices)"

    # --- names -----------------------------------------------------------------------------------
    def datasets(self) -> List[str]:
        return sorted(k[4:] for k in self._arrays if k.startswith("acc_"))

    def devices(self) -> List[str]:
        return sorted(k[4:] for k in self._arrays if k.startswith("lat_"))

    # --- index <-> architecture ------------------------------------------------------------------
    def index(self, arch: str) -> int:
        """The benchmark index of an arch string."""
        try:
            return self._index[arch]
        except (KeyError, TypeError):
            raise BenchmarkError(str(self.path), "archs", "one of the benchmark's arch strings "
                                 "(|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)", arch) from None

    def indices(self, archs: Sequence[str]) -> np.ndarray:
        return np.array([self.index(a) for a in archs], dtype=np.int64)

    def arch_string(self, index: int) -> str:
        return str(self.archs[self._check(index)])

    def index_of_codes(self, codes) -> np.ndarray:
        """Indices of ``(N, 6)`` (or one ``(6,)``) op-index codes, vectorised."""
        c = np.asarray(codes, dtype=np.int64)
        one = c.ndim == 1
        c = c.reshape(-1, len(EDGES)) if c.size else c.reshape(0, len(EDGES))
        if c.ndim != 2 or c.shape[1] != len(EDGES) or (c < 0).any() or (c >= len(OPS)).any():
            raise BenchmarkError(str(self.path), "codes", f"rows of {len(EDGES)} op indices in 0..{len(OPS) - 1}",
                                 f"array of shape {np.shape(codes)}")
        out = self._by_number[code_numbers(c)]
        return out[0] if one else out

    def by_code(self, values: np.ndarray) -> np.ndarray:
        """``values`` in index order (e.g. :meth:`accuracy` of all) reordered by code number (base 5 of
        the 6 op indices, first edge most significant): ``by_code(v)[code_numbers(codes)]`` is fast."""
        return np.asarray(values)[self._by_number]

    def check_space(self, space) -> None:
        """Raise unless ``space``'s decisions are the benchmark's edges with its ops in its order (so
        ``space.encode(arch)`` is a code of this file)."""
        got = [(d.label, tuple(d.choices)) for d in space.decisions]
        if got != [(e, OPS) for e in EDGES]:
            raise BenchmarkError(f"space '{space.name}'", "decisions", f"the NAS-Bench-201 edges {', '.join(EDGES)} "
                                 f"each with ops {', '.join(OPS)} in this order", got)

    # --- metrics ---------------------------------------------------------------------------------
    def _check(self, indices):
        if indices is None:
            return slice(None)
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise BenchmarkError(str(self.path), "indices", f"integers in 0..{SIZE - 1}", f"{idx.dtype} values")
        bad = idx[(idx < 0) | (idx >= SIZE)]
        if bad.size:
            raise BenchmarkError(str(self.path), "indices", f"integers in 0..{SIZE - 1}", int(bad.ravel()[0]))
        return idx

    def _array(self, prefix: str, name: str, names: List[str], what: str) -> np.ndarray:
        key = prefix + ALIASES.get(name, name)
        if key not in self._arrays:
            raise BenchmarkError(str(self.path), what, f"one of {', '.join(names)}", name)
        return self._arrays[key]

    def accuracy(self, dataset: str, indices=None) -> np.ndarray:
        """Test accuracy (%) on ``dataset`` (``cifar10``, ``cifar100``, ``imagenet16_120``; the space's
        variant names ``cifar``, ``imagenet16`` too) after the benchmark's 200-epoch training."""
        return self._array("acc_", dataset, self.datasets(), "dataset")[self._check(indices)]

    def latency(self, device: str, indices=None) -> np.ndarray:
        """Measured latency (ms) on ``device`` (see :meth:`devices`)."""
        return self._array("lat_", device, self.devices(), "device")[self._check(indices)]
