"""CIFAR-10 / CIFAR-100 in the official python layout (Krizhevsky 2009).

An extracted copy under ``root`` is validated by structure (files, shapes, dtypes, label range,
counts), not by checksum, so re-encoded copies with the same layout load. With ``download=True`` and no
copy on disk, the official archive is downloaded, its MD5 checked, and extracted.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from nas.data.base import DataError, ImageData
from nas.progress import progress as progress_bar

SPECS = {
    "cifar10": dict(folder="cifar-10-batches-py", train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                    label_key="labels", classes=10, counts=(50000, 10000),
                    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a",
                    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
    "cifar100": dict(folder="cifar-100-python", train=["train"], test=["test"], label_key="fine_labels", classes=100,
                     counts=(50000, 10000), url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                     md5="eb9058c3a382ffc7106e4002c42a8d85", mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762)),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts, lists, numpy arrays) and nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_batch(path: Path, label_key: str, classes: int) -> Tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: missing (expected the official python layout of the dataset)")
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as err:  # corrupt or not a pickle
        raise DataError(f"{path}: not a readable CIFAR batch ({err.__class__.__name__}: {err})") from None
    if isinstance(batch, dict):  # the official files (Python 2 pickles) have bytes keys, re-made ones str keys
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        raise DataError(f"{path}: expected a dict with keys 'data' and {label_key!r}")
    data, labels = np.asarray(batch["data"]), np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be uint8 N x 3072, got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],) or labels.min() < 0 or labels.max() >= classes:
        raise DataError(f"{path}: {label_key!r} must be {data.shape[0]} labels in 0..{classes - 1}")
    return data, labels


def _read_split(folder: Path, files: List[str], spec: Dict, count: int) -> Tuple[torch.Tensor, torch.Tensor]:
    parts = [_read_batch(folder / f, spec["label_key"], spec["classes"]) for f in files]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if len(data) != count:
        raise DataError(f"{folder}: {'/'.join(files)} hold {len(data)} images, expected {count}")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels.astype(np.int64))


def download(name: str, root: Path, url: str, md5: str) -> None:
    """Fetch the archive, check its MD5, extract under ``root`` (only regular files and dirs)."""
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".tar.gz.part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, os.fdopen(fd, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise DataError(f"{url}: MD5 {digest.hexdigest()} does not match the official {md5}; nothing extracted")
        with tarfile.open(tmp, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except OSError as err:
        raise DataError(f"data.download: could not fetch {url} ({err}); put an extracted copy under {root}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_cifar(name: str, root: str | os.PathLike, download_missing: bool = False, url: str | None = None,
               md5: str | None = None) -> Tuple[ImageData, ImageData]:
    """(train, test) of ``cifar10`` or ``cifar100`` from ``root``."""
    spec = SPECS[name]
    root = Path(root).expanduser()
    folder = root / spec["folder"]
    if not folder.is_dir():
        if not download_missing:
            raise DataError(f"data.root={root}: no {spec['folder']}/ there (expected the official python layout; "
                            f"set data.download=true to fetch it, or point data.root at your own copy)")
        download(name, root, url or spec["url"], md5 or spec["md5"])
    train = _read_split(folder, spec["train"], spec, spec["counts"][0])
    test = _read_split(folder, spec["test"], spec, spec["counts"][1])
    mk = lambda t: ImageData(t[0], t[1], spec["classes"], spec["mean"], spec["std"], name)
    return mk(train), mk(test)
