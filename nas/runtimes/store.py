"""Lowered programs on disk, so that lowering (seconds to a minute per network: ``torch.export`` and a
runtime's passes) is paid once per program, not once per run.

An artifact is keyed by the runtime, its version, torch's version, the dtype, the module's content
(structure, weights and buffers: ``nas.runtimes.timing.content_key``) and the input shapes; a program
is deterministic in those, so the store is shared by every table build, validation and search of a machine.

Location: ``$NAS_LOWERED_CACHE`` (``off`` disables it), default ``$XDG_CACHE_HOME/nas/lowered``
(``~/.cache/nas/lowered``). Size: ``$NAS_LOWERED_CACHE_MB`` (default 4096); past it the least recently
used programs are deleted. Files are written atomically; a damaged entry is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from nas.io import atomic_write, atomic_write_text

DEFAULT_MB = 4096


def store_dir() -> Optional[Path]:
    """The store's directory, or ``None`` when ``NAS_LOWERED_CACHE=off``."""
    where = os.environ.get("NAS_LOWERED_CACHE", "").strip()
    if where.lower() in ("off", "0", "none", "false"):
        return None
    if where:
        return Path(where).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nas" / "lowered"


def limit_bytes() -> int:
    try:
        return int(float(os.environ.get("NAS_LOWERED_CACHE_MB", DEFAULT_MB)) * 2**20)
    except ValueError:
        return DEFAULT_MB * 2**20


def store_key(runtime: str, version: str, dtype: str, key: Any, shapes: Any) -> str:
    """The file name of a program: runtime, its version, torch's (the exporters are torch's), dtype,
    module content key, input shapes."""
    import torch

    return hashlib.sha1(json.dumps([runtime, version, torch.__version__, dtype, repr(key), repr(shapes)])
                        .encode()).hexdigest()


def has(key: str) -> bool:
    root = store_dir()
    return root is not None and (root / f"{key}.json").is_file()


def load(key: str) -> Optional[Tuple[bytes, Dict[str, Any]]]:
    """The program stored under ``key`` and its description (``suffix`` and what the writer put in),
    or ``None`` (absent, or damaged)."""
    root = store_dir()
    if root is None:
        return None
    meta_path = root / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        data = (root / f"{key}{meta['suffix']}").read_bytes()
        if len(data) != meta["size"]:
            return None
        os.utime(meta_path)  # recently used: kept longest
        return data, meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(key: str, data: bytes, meta: Dict[str, Any]) -> None:
    """Write ``data`` (a file with ``meta['suffix']``) and ``meta`` under ``key``: the program first,
    then its description, so a reader never sees half."""
    root = store_dir()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write(root / f"{key}{meta['suffix']}", lambda tmp: Path(tmp).write_bytes(data))
        atomic_write_text(root / f"{key}.json", json.dumps({**meta, "size": len(data)}))
        _trim(root)
    except OSError:  # a read-only or full disk costs time, not correctness
        pass


def _trim(root: Path) -> None:
    """Delete the least recently used programs while the store is over its size limit."""
    files: dict = {}
    for f in root.iterdir():
        if not f.name.startswith("."):
            files.setdefault(f.name.split(".", 1)[0], []).append(f)
    entries = []
    for stem, group in files.items():
        stats = [(f, f.stat()) for f in group]
        used = max((st.st_mtime for f, st in stats if f.suffix == ".json"), default=0.0)
        entries.append((used, sum(st.st_size for _, st in stats), group))
    total, limit = sum(e[1] for e in entries), limit_bytes()
    for _, size, group in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        for f in group:
            f.unlink(missing_ok=True)
        total -= size
