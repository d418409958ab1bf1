"""What every runtime backend provides, and the lowered program the timing machinery runs.

A backend turns an ``nn.Module`` (eval mode) with example inputs, and for int8 a few calibration
batches, into an *artifact* (the deployable program: ExecuTorch ``.pte`` bytes, ONNX bytes, ...) and
loads an artifact into a :class:`Lowered` module that runs torch inputs through the runtime. A
``Lowered`` is an ``nn.Module`` without parameters, so ``nas.latency.measure`` times it like any
module; ``reload()`` gives another instance of the same program (its own weights in memory: the
copies that time an op in context), and ``weight_bytes`` is what the copies hold.

Artifacts are cached in memory per (backend, dtype, name, input shapes) while they fit in
``CACHE_MB``, and on disk (``nas.runtimes.store``): a table build times every op in several sweeps,
and lowering costs seconds to a minute per network.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from nas.errors import NasError

DTYPES = ("float32", "int8")
CACHE_MB = 2048


class RuntimeUnavailable(NasError):
    """A runtime whose package is not installed: the message names the pip extra."""


class RuntimeUseError(NasError):
    """A runtime asked for something it cannot do (an unknown dtype, a net it cannot lower)."""


@dataclass(frozen=True)
class Artifact:
    """A lowered program: its bytes, the file suffix it is saved under, and input / output names."""

    data: bytes
    suffix: str
    weight_bytes: int
    input_names: Tuple[str, ...] = ("input0",)

    def save(self, path: str | Path) -> Path:
        path = Path(path).with_suffix(self.suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path


class Lowered(nn.Module):
    """Runs ``artifact`` through a backend's session: ``forward(*torch tensors) -> torch tensor``."""

    def __init__(self, backend: "Backend", artifact: Artifact, threads: int):
        super().__init__()
        self.backend, self.artifact, self.threads = backend, artifact, threads
        self.weight_bytes = artifact.weight_bytes
        self.run = backend.session(artifact, threads)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.run(inputs)

    def reload(self) -> "Lowered":
        return Lowered(self.backend, self.artifact, self.threads)


def weight_bytes(module: nn.Module, dtype: str) -> int:
    """Bytes of weights the deployed program holds (int8: one byte per weight)."""
    n = sum(p.numel() for p in module.parameters())
    return n * (1 if dtype == "int8" else 4)


class Backend:
    """One deployment runtime. Subclasses set ``name``, ``package`` (import name), ``extra`` (the pip
    extra of this project that installs it) and implement :meth:`export` and :meth:`session`."""

    name = "?"
    package = "?"
    extra = "?"
    also_needs: Tuple[str, ...] = ()  # further import names the lowering needs (e.g. onnxscript)
    dtypes: Tuple[str, ...] = DTYPES
    # per dtype, how a latency table times ops by default: "program" (each op alone; dtypes not named) or
    # "net" (inside a network, nas.latency.in_net); set from the measurements in docs/latency_tables.md
    op_timing: Dict[str, str] = {}

    def default_op_timing(self, dtype: str) -> str:
        return self.op_timing.get(dtype, "program")

    def missing(self) -> Tuple[str, ...]:
        return tuple(p for p in (self.package, *self.also_needs) if importlib.util.find_spec(p) is None)

    def available(self) -> bool:
        return not self.missing()

    def require(self) -> None:
        missing = self.missing()
        if missing:
            raise RuntimeUnavailable(f"runtime={self.name}", ", ".join(missing),
                                     f"the package installed (pip install -e '.[{self.extra}]')")

    def version(self) -> str:
        self.require()
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.package)
        except PackageNotFoundError:
            return getattr(importlib.import_module(self.package), "__version__", "unknown")

    def check_dtype(self, dtype: str) -> str:
        if dtype not in self.dtypes:
            raise RuntimeUseError(f"runtime={self.name}", "dtype", f"one of {', '.join(self.dtypes)}", dtype)
        return dtype

    def export(self, module: nn.Module, inputs: Sequence[torch.Tensor], dtype: str,
               calibration: Sequence[Sequence[torch.Tensor]]) -> Artifact:
        raise NotImplementedError

    def session(self, artifact: Artifact, threads: int) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
        raise NotImplementedError


_CACHE: "OrderedDict[tuple, Artifact]" = OrderedDict()


def calibration_batches(shapes: Sequence[Tuple[int, ...]], batch_size: int, n: int = 4,
                        seed: int = 0) -> List[List[torch.Tensor]]:
    """``n`` batches of standard-normal inputs: an op's latency does not depend on its data, so ops
    and timed networks are calibrated on these (exports on real images: ``nas.export.runtimes``)."""
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(batch_size, *s, generator=g) for s in shapes] for _ in range(n)]


def lower(backend: Backend, module: nn.Module, inputs: Sequence[torch.Tensor], dtype: str = "float32",
          threads: int = 1, calibration: Optional[Sequence[Sequence[torch.Tensor]]] = None,
          key: Optional[Any] = None) -> Lowered:
    """``module`` lowered into ``backend`` (cached under ``key`` when given: in memory and on disk)."""
    return Lowered(backend, artifact(backend, module, inputs, dtype, calibration, key), threads)


def _keys(backend: Backend, dtype: str, key: Any, inputs: Sequence[torch.Tensor]) -> Tuple[tuple, str]:
    from nas.runtimes import store

    ck = (backend.name, dtype, key, tuple(tuple(x.shape) for x in inputs))
    return ck, store.store_key(backend.name, backend.version(), *ck[1:])


def is_cached(backend: Backend, dtype: str, key: Any, inputs: Sequence[torch.Tensor]) -> bool:
    """Whether :func:`lower` with this ``key`` and input shapes would find its program without lowering."""
    from nas.runtimes import store

    ck, disk = _keys(backend, dtype, key, inputs)
    return ck in _CACHE or store.has(disk)


def artifact(backend: Backend, module: nn.Module, inputs: Sequence[torch.Tensor], dtype: str = "float32",
             calibration: Optional[Sequence[Sequence[torch.Tensor]]] = None, key: Optional[Any] = None) -> Artifact:
    """The program of ``module`` in ``backend``: from the memory or disk cache under ``key``, else lowered."""
    from nas.runtimes import store

    backend.require()
    backend.check_dtype(dtype)
    module = module.eval()
    ck, disk = _keys(backend, dtype, key, inputs) if key is not None else (None, None)
    art = _CACHE.get(ck) if ck is not None else None
    if art is not None:
        _CACHE.move_to_end(ck)
        return art
    if ck is not None:
        found = store.load(disk)
        if found is not None:
            data, meta = found
            art = Artifact(data, meta["suffix"], int(meta["weight_bytes"]), tuple(meta["input_names"]))
            _remember(ck, art)
            return art
    if dtype == "int8" and calibration is None:
        calibration = calibration_batches([tuple(x.shape[1:]) for x in inputs], inputs[0].shape[0])
    with torch.no_grad():
        art = backend.export(module, list(inputs), dtype, calibration or [])
    if ck is not None:
        _remember(ck, art)
        store.save(disk, art.data, {"suffix": art.suffix, "weight_bytes": art.weight_bytes,
                                    "input_names": list(art.input_names)})
    return art


def _remember(ck: tuple, art: Artifact) -> None:
    _CACHE[ck] = art
    while sum(a.weight_bytes + len(a.data) for a in _CACHE.values()) > CACHE_MB * 2**20 and len(_CACHE) > 1:
        _CACHE.popitem(last=False)


def first_line(err: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` (for one-line errors out of a runtime's deep tracebacks)."""
    text = (str(err).strip().splitlines() or [""])[0][:limit]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
