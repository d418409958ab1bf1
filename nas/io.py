"""Atomic file writes: a temp file in the target's directory, then ``os.replace`` (never half a file)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status") as f:
            status = f.read()
    except OSError:  # not Linux: read it by setting it back
        status = ""
    for line in status.splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then move it over ``path`` (or remove it).
    The file gets the mode a plain ``open(path, "w")`` would give it (an existing file keeps its own),
    not the temp file's owner-only 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    return atomic_write(path, write)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def atomic_save_figure(fig, path: str | os.PathLike, dpi: int = 130) -> Path:
    """A matplotlib figure as PNG."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def check_writable_dir(path: str | os.PathLike, key: str, source: str = "config") -> Path:
    """Raise a NasError unless ``path`` is a writable directory or can be created as one (nothing is
    created here): the nearest existing ancestor must be a directory this process may write into."""
    from nas.errors import NasError

    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if path.exists() and not path.is_dir():
        raise NasError(source, key, "a directory to write into", f"{path} (a file)")
    if not existing.is_dir():
        raise NasError(source, key, "a directory that can be created", f"{path} ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise NasError(source, key, "a directory this process may write into", f"{path} ({existing} is read-only)")
    return path
