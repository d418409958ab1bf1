"""Deployment runtimes the latency tables, the exports and the device agent lower networks into.

>>> from nas.runtimes import get_runtime, lower
>>> rt = get_runtime("executorch")            # RuntimeUnavailable naming the pip extra when missing
>>> prog = lower(rt, net, [x], dtype="int8")  # an nn.Module that runs the .pte through ExecuTorch
>>> rt.version()

``eager`` is plain PyTorch (the default everywhere, and the only runtime that needs none of the
extras). The others: ``executorch`` (XNNPACK delegate), ``onnxruntime`` (CPU), ``openvino`` (CPU).
"""

from __future__ import annotations

from nas.registry import Registry, UnknownNameError
from nas.runtimes.base import (DTYPES, Artifact, Backend, Lowered, RuntimeUnavailable, RuntimeUseError,
                               calibration_batches, lower)
from nas.runtimes.eager import Eager
from nas.runtimes.et import ExecuTorch
from nas.runtimes.ort import OnnxRuntime
from nas.runtimes.ov import OpenVino

RUNTIMES = Registry("runtime")
for _cls in (Eager, ExecuTorch, OnnxRuntime, OpenVino):
    RUNTIMES.register(_cls.name, _cls)

EAGER = "eager"


def get_runtime(name: str) -> Backend:
    """The backend named ``name``; an unknown name is one :class:`RuntimeUseError` listing the known."""
    try:
        return RUNTIMES.get(name)()
    except UnknownNameError:
        raise RuntimeUseError("runtime", "name", f"one of {', '.join(RUNTIMES.names())}", name) from None


def runtime_info(name: str, dtype: str) -> dict:
    """What goes into a table's fingerprint for a non-eager runtime: name, version, dtype."""
    rt = get_runtime(name)
    rt.check_dtype(dtype)
    return {"runtime": rt.name, "runtime_version": rt.version()}


__all__ = ["Artifact", "Backend", "DTYPES", "EAGER", "Lowered", "RUNTIMES", "RuntimeUnavailable",
           "RuntimeUseError", "calibration_batches", "get_runtime", "lower", "runtime_info"]
