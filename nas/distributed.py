"""The process group of a data-parallel job (``torchrun --nproc-per-node=N -m nas.train|nas.search ...``).

One process per device; ``setup(device)`` joins the group torchrun describes in the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): gloo on CPU, NCCL on
CUDA (each process on ``cuda:<LOCAL_RANK>``). Without torchrun every helper here is a no-op and a
job runs exactly as it always did.

What a data-parallel epoch does (see docs/distributed.md):

- **Sharding**: the toolkit's :class:`~nas.data.BatchLoader` draws the same global batches (order and
  augmentation from ``(seed, epoch)``) on every rank; :func:`local_loader` makes each rank yield its
  equal slice of each global batch, so N processes see exactly the batches of one process.
- **Gradients**: :func:`prepare` wraps the model in DDP (which averages the weights' gradients during
  backward), with ``sync_bn`` after converting its BatchNorms to :class:`SyncBatchNorm` (statistics
  of the global batch, as one process computes them; torch's own refuses CPU tensors, this one runs
  on gloo), else keeping per-rank statistics with rank 0's running statistics broadcast. The
  parameters of an optimiser that DDP does not reduce (a model trained without a DDP wrapper) are
  all-reduced by :func:`average_gradients`; FBNet's theta is inside the DDP-wrapped supernet. With
  equal shards the average of the per-rank mean-loss gradients is the gradient of the global mean
  loss. (Never run a backward pass of the raw module between DDP's iterations: DDP's hooks on its
  parameters see it and its next iteration fails.)
- **Randomness**: every rank is seeded alike and consumes its generators alike, so a supernet's
  Gumbel draws or sampled paths are the same on every rank; :func:`sync_rng` re-broadcasts rank 0's
  generator states to make sure.
- **Writes**: rank 0 alone writes checkpoints, logs and results (:func:`is_main`); checkpoints hold
  the raw model's state (no ``module.`` prefix), so a run resumes at any world size.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import inspect
import os
import random
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import nn

from nas.errors import NasError
from nas.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm, has_unsynced_batchnorm, revert_sync_batchnorm


class DistributedError(NasError):
    """A data-parallel job that cannot run as launched (backend, device, batch size)."""


# --- the process group ---------------------------------------------------------------------------

def launched() -> bool:
    """Whether torchrun (or an equivalent launcher) started this process as part of a group."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str = "cpu", timeout_s: float = 1800.0, sync_bn: bool = False) -> str:
    """Join torchrun's process group (once; later calls reuse it) and return this process's device:
    ``cuda:<LOCAL_RANK>`` for ``cuda`` under torchrun, else ``device`` unchanged. ``sync_bn``: whether
    :func:`prepare` synchronises BatchNorm statistics over the ranks (see :func:`use_sync_batchnorm`)."""
    use_sync_batchnorm(sync_bn)
    kind = device.split(":")[0]
    if not launched() and not is_initialized():
        return device
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DistributedError("device.type=cuda: no CUDA device is available here (use device=cpu: gloo)")
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK={local}: expected fewer processes per node than CUDA devices "
                                   f"({torch.cuda.device_count()}); use --nproc-per-node={torch.cuda.device_count()}")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not is_initialized():
        backend = "nccl" if kind == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
        _OWNED.append(True)
        atexit.register(cleanup)
    return device


_OWNED: List[bool] = []  # whether setup() joined the group (then it leaves it at exit)
_SYNC_BN: List[bool] = [False]  # prepare()'s default (device.sync_bn)


def use_sync_batchnorm(flag: bool) -> None:
    """Make :func:`prepare` convert BatchNorms to :class:`SyncBatchNorm` (``True``: training statistics of
    the global batch, exactly one process's results, at the cost of two collectives per BatchNorm and
    step) or keep them per rank (``False``, the default: statistics of each rank's share, running
    statistics broadcast from rank 0; measured 2.4x faster for 2 gloo processes, docs/distributed.md)."""
    _SYNC_BN[0] = bool(flag)


def cleanup() -> None:
    """Leave the process group if :func:`setup` joined it."""
    if _OWNED and is_initialized():
        dist.destroy_process_group()
    _OWNED.clear()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def is_distributed() -> bool:
    """A process group of two or more processes (the only case in which anything here communicates)."""
    return is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """Rank 0 (or a single process): the one that writes files, logs and progress bars."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. builds and caches a latency table), the others after it."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


# --- communication -------------------------------------------------------------------------------

def _comm_device() -> torch.device:
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_sum(*values: float) -> List[float]:
    """The sums over ranks of ``values`` (float64; unchanged on one process)."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def sync_rng() -> None:
    """Give every rank rank 0's torch (CPU and current CUDA device) and Python generator states."""
    if not is_distributed():
        return
    states = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and dist.get_backend() == "nccl":
        states["cuda"] = torch.cuda.get_rng_state()
    states = broadcast_object(states)
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"])


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace each gradient by its mean over the ranks (one flat all-reduce). Every rank must hold a
    gradient for the same parameters (the same sampled path)."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_buffers(model: nn.Module, src: int = 0) -> None:
    """Every buffer of ``model`` (BatchNorm running statistics) set to rank ``src``'s."""
    if not is_distributed():
        return
    for b in model.buffers():  # once per epoch: one broadcast per buffer is cheap enough
        dist.broadcast(b, src)


def ddp_parameters(model: nn.Module) -> set:
    """ids of the parameters whose gradients DDP reduces (none when ``model`` is not a DDP)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return {id(p) for p in model.module.parameters() if p.requires_grad}
    return set()


# --- data ----------------------------------------------------------------------------------------

def shard_bounds(n: int, rank_: Optional[int] = None, world: Optional[int] = None) -> Tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``n`` rows that rank ``rank_`` of ``world`` takes."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    return r * n // w, (r + 1) * n // w


def local_loader(loader):
    """``loader`` as this rank's share of each global batch (``loader`` itself on one process, or when
    it is already sharded for this group)."""
    if not is_distributed() or getattr(loader, "world", 1) == world_size():
        return loader
    return loader.shard(rank(), world_size())


def local_rows(x: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a global batch."""
    if not is_distributed():
        return x
    lo, hi = shard_bounds(len(x))
    return x[lo:hi]


# --- models --------------------------------------------------------------------------------------

def prepare(model: nn.Module, device: str = "cpu", find_unused_parameters: bool = False,
            sync_bn: Optional[bool] = None) -> nn.Module:
    """The module to train data-parallel: ``model`` wrapped in DDP, its BatchNorms first converted to
    :class:`SyncBatchNorm` in place when ``sync_bn`` (default: :func:`use_sync_batchnorm`'s setting;
    parameters and buffers kept, so optimisers made before still hold them). ``model`` itself on one
    process. ``find_unused_parameters`` for supernets, whose step runs one path. Keep using ``model``
    (not the wrapper) for checkpoints, evaluation and architecture logic."""
    if not is_distributed():
        return model
    if isinstance(model, nn.modules.batchnorm._BatchNorm):
        raise DistributedError("distributed.prepare: expected a model containing BatchNorms, not a BatchNorm")
    sync = _SYNC_BN[0] if sync_bn is None else sync_bn
    if sync:
        convert_sync_batchnorm(model)
    dev = torch.device(device)
    ids = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else None
    # synchronised BatchNorms keep the buffers equal: no broadcast of rank 0's before every forward;
    # per-rank ones get rank 0's running statistics before every forward (and after an epoch: train_epoch)
    key = "forward_sync_buffers" if "forward_sync_buffers" in _DDP_ARGS else "broadcast_buffers"
    buffers = {key: not sync}
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters,
                                               **buffers)


_DDP_ARGS = set(inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def strip_module_prefix(state: dict) -> dict:
    """A state dict saved from a DDP wrapper, as the raw module's (no ``module.`` prefixes)."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


# --- mixed precision -----------------------------------------------------------------------------

AMP_MODES = ("auto", "bf16", "off")


def autocast(device: str, amp: str = "auto"):
    """The forward pass's autocast context: bfloat16 on CUDA when ``amp`` is ``auto`` or ``bf16``; on
    CPU only when ``amp=bf16`` (slower there: for testing the code path); else no autocast."""
    if amp not in AMP_MODES:
        raise DistributedError("config", "amp", f"one of {', '.join(AMP_MODES)}", amp)
    kind = torch.device(device).type
    if amp == "bf16" or (amp == "auto" and kind == "cuda"):
        return torch.autocast(kind, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_divisible(batch_size: int, what: str = "batch_size") -> None:
    """A global batch every rank takes an equal share of (else the averaged gradient is not the global one)."""
    w = world_size()
    if w > 1 and batch_size % w:
        raise DistributedError("config", what, f"a multiple of the number of processes ({w}): each takes an "
                               f"equal share of every global batch", batch_size)


__all__: Sequence[str] = (
    "AMP_MODES", "DistributedError", "SyncBatchNorm", "all_sum", "autocast", "average_gradients", "barrier",
    "broadcast_buffers", "broadcast_object", "check_divisible", "cleanup", "convert_sync_batchnorm", "ddp_parameters",
    "has_unsynced_batchnorm", "is_distributed", "is_initialized", "is_main", "launched", "local_loader",
    "local_rows", "main_first", "prepare", "rank", "revert_sync_batchnorm", "setup", "shard_bounds",
    "strip_module_prefix", "sync_rng", "unwrap", "use_sync_batchnorm", "world_size")
