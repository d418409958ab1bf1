"""What a latency table was measured on: device and its name, threads, torch version, dtype, batch
size, resolution (and the date). A table is only valid for a target with the same fingerprint."""

from __future__ import annotations

import datetime as _dt
import platform
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from nas.latency.errors import LatencyTableError

FIELDS = ("device", "device_name", "threads", "torch", "dtype", "batch_size", "resolution", "date")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s model name on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def check_device(device: str) -> str:
    """``cpu`` or ``cuda`` (``cuda:N``); CUDA must be present."""
    if device == "cpu":
        return device
    if device.split(":")[0] != "cuda":
        raise LatencyTableError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if not torch.cuda.is_available():
        raise LatencyTableError(f"device: {device!r} was asked for, but no CUDA device is available here")
    return device


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def check_dtype(dtype: str, runtime: str = "eager") -> torch.dtype:
    """The torch dtype of an eager ``dtype``; for another runtime (``nas.runtimes``) its own dtypes
    (float32, int8), whose inputs are float32."""
    if runtime != "eager":
        from nas.runtimes import get_runtime

        get_runtime(runtime).check_dtype(dtype)
        return torch.float32
    if dtype not in DTYPES:
        raise LatencyTableError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def resolve_threads(threads: Optional[int]) -> int:
    """``None``: torch's current intra-op thread count (pinned from then on and recorded)."""
    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise LatencyTableError(f"threads: expected a positive integer or null, got {threads!r}")
    return threads


def target_fingerprint(device: str = "cpu", threads: Optional[int] = None, dtype: str = "float32",
                       batch_size: int = 1, resolution: Optional[int] = None,
                       runtime: str = "eager") -> Dict[str, Any]:
    """The fingerprint a table measured here, now, with these settings has (without the date). A
    runtime other than eager adds ``runtime`` and ``runtime_version`` (an eager table has neither:
    the fields of tables from before runtimes, and a missing ``runtime`` reads as ``eager``)."""
    check_device(device)
    check_dtype(dtype, runtime)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LatencyTableError(f"batch_size: expected a positive integer, got {batch_size!r}")
    fp = {"device": device.split(":")[0], "device_name": device_name(device), "threads": resolve_threads(threads),
          "torch": torch.__version__, "dtype": dtype, "batch_size": batch_size, "resolution": resolution}
    if runtime != "eager":
        from nas.runtimes import runtime_info

        fp.update(runtime_info(runtime, dtype))
    return fp


DEFAULTS = {"runtime": "eager"}  # what a field a table lacks means


def today() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def differences(have: Dict[str, Any], expected: Dict[str, Any]) -> Dict[str, tuple]:
    """Fields of ``expected`` (but ``date`` and ``None`` values: don't-care) that ``have`` differs in."""
    return {k: (have.get(k, DEFAULTS.get(k)), v) for k, v in expected.items()
            if k != "date" and v is not None and have.get(k, DEFAULTS.get(k)) != v}


def table_runtime(fingerprint: Dict[str, Any]) -> str:
    return fingerprint.get("runtime") or "eager"


def check_runtime(table, runtime: str) -> None:
    """One line when ``table`` was not timed in ``runtime`` (a table without the field is eager's): a search
    (or an app) on one runtime refuses a table timed in another."""
    have = table_runtime(table.fingerprint)
    if have != runtime:
        fp = table.fingerprint
        version = f" {fp.get('runtime_version')}" if fp.get("runtime_version") else ""
        raise LatencyTableError(f"{table.where}: fingerprint.runtime: expected {runtime!r} (latency.runtime), got "
                                f"{have!r}{version} {fp.get('dtype')}; use a table timed in {runtime} or set "
                                f"latency.runtime={have}")
