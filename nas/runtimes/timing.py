"""The hooks ``nas.latency.measure`` calls when a setting names a runtime: lower a module (outside
inference mode, which ``torch.export`` does not trace under), cached by its content; and lower a whole
sweep's modules before any is timed, in parallel processes.

Lowering is CPU work of seconds to a minute per network (ExecuTorch: ~30 s for an fbnet net on one
core), so :func:`prelower` does it in a pass of its own, on all cores, before timing starts: timing
then finds every program in the cache (``nas.runtimes.store``) and the machine quiet.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from nas.progress import progress as progress_bar
from nas.runtimes import get_runtime, lower
from nas.runtimes.base import Lowered, artifact, is_cached
from nas.runtimes.store import store_dir

MIN_PARALLEL = 3  # fewer programs than this are lowered in this process (a worker takes ~10 s to start)


def content_key(module: nn.Module) -> str:
    """A digest of the module's structure, weights and buffers (the same net lowers to the same program)."""
    h = hashlib.sha1(repr(module).encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def lowered(module: nn.Module, inputs: Sequence[torch.Tensor], s) -> Lowered:
    """``module`` lowered into ``s.runtime`` at ``s.dtype`` with ``s.threads`` threads."""
    with torch.inference_mode(False):
        example = [x.clone() for x in inputs]
        return lower(get_runtime(s.runtime), module, example, s.dtype, s.threads, key=content_key(module))


def _example(shapes: Sequence[Tuple[int, ...]], batch_size: int) -> List[torch.Tensor]:
    return [torch.zeros(batch_size, *shape) for shape in shapes]


def _lower_job(backend, dtype: str, module, shapes, batch_size: int, key: str) -> str:
    torch.set_num_threads(1)
    if isinstance(module, bytes):  # sent to a worker by value (see prelower)
        module = pickle.loads(module)
    artifact(backend, module, _example(shapes, batch_size), dtype, key=key)
    return key


def _dumps(obj) -> Optional[bytes]:
    """``obj`` pickled by value, or ``None`` if it cannot be (e.g. a class defined inside a function).
    Plain ``pickle``: the queue's pickler (torch's reductions) would pass each tensor as a shared-memory
    file descriptor, and a sweep of a few hundred modules ran out of open files."""
    try:
        return pickle.dumps(obj)
    except Exception:  # noqa: BLE001
        return None


def prelower(items: Sequence, make: Callable[[object], tuple], s, workers: Optional[int] = None,
             progress: bool = True) -> int:
    """Lower the module of every item (``make(item) -> (module, input shapes, ...)``) into ``s.runtime``
    that is not cached yet, in ``workers`` processes (default: one per core), so that timing finds
    them all in the cache. Returns how many were lowered. Lowering errors surface here, one line.
    Modules a worker cannot receive (not picklable) and backends defined inside a function are lowered
    in this process."""
    backend = get_runtime(s.runtime)
    backend.require()
    todo, seen = [], set()
    with torch.inference_mode(False):
        for item in items:
            module, shapes, *_ = make(item)
            module = module.to(dtype=torch.float32).eval()
            key, shapes = content_key(module), [tuple(x) for x in shapes]
            if (key, *shapes) not in seen and not is_cached(backend, s.dtype, key, _example(shapes, s.batch_size)):
                seen.add((key, *shapes))  # one program per module content and input shapes (cf. CallOnly)
                todo.append((module, shapes, s.batch_size, key))
    if not todo:
        return 0
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = progress_bar(total=len(todo), desc=f"lowering into {s.runtime} {s.dtype}", unit="program",
                       enabled=progress, leave=False)
    try:
        serial = workers == 1 or len(todo) < MIN_PARALLEL or store_dir() is None  # workers hand over by disk
        if serial or _dumps(backend) is None:
            for job in todo:
                _lower_job(backend, s.dtype, *job)
                bar.update()
            return len(todo)
        ctx = multiprocessing.get_context("spawn")  # no forked copy of this process's threads and caches
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = []
            for module, *rest in todo:
                data = _dumps(module)
                if data is not None:
                    futures.append(pool.submit(_lower_job, backend, s.dtype, data, *rest))
                else:
                    _lower_job(backend, s.dtype, module, *rest)
                    bar.update()
            try:
                for fut in as_completed(futures):
                    fut.result()
                    bar.update()
            except BaseException:  # a lowering error or ^C: do not lower the rest first
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        # the workers wrote the programs to the disk store; without one, this process lowers at timing
        return len(todo)
    finally:
        bar.close()
