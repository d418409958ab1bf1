"""ExecuTorch with the XNNPACK delegate: ``torch.export`` -> ``to_edge_transform_and_lower`` with the
XNNPACK partitioner -> ``.pte``; int8 by the PT2E flow (``prepare_pt2e`` with the XNNPACK quantizer,
symmetric per-channel weights, calibration batches, ``convert_pt2e``) before lowering. Run by the
ExecuTorch runtime's Python bindings; XNNPACK's thread pool is set to the pinned thread count."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from typing import Sequence

import torch

from nas.runtimes.base import Artifact, Backend, RuntimeUseError, first_line, weight_bytes


# importing executorch imports torchao, which warns for each CUDA kernel library it cannot load on a CPU
# machine ("Failed to load ..._C_cutlass_90a.abi3.so"), and torch's pytree warns about a deprecated
# registration: noise to a user, printed again by every lowering worker
_NOISY = ("", "torchao", "torch.utils._pytree")


@contextlib.contextmanager
def _quiet():
    loggers = [logging.getLogger(n) for n in _NOISY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


@contextlib.contextmanager
def _quiet_native_stderr():
    """Native code's writes to file descriptor 2 go to /dev/null (Python's own stderr is flushed first)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class ExecuTorch(Backend):
    name = "executorch"
    package = "executorch"
    extra = "executorch"

    def export(self, module, inputs, dtype, calibration) -> Artifact:
        try:
            with _quiet():
                from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
                from executorch.exir import to_edge_transform_and_lower

                args = tuple(inputs)
                if dtype == "int8":
                    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                        XNNPACKQuantizer, get_symmetric_quantization_config)
                    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

                    quantizer = XNNPACKQuantizer()
                    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
                    prepared = prepare_pt2e(torch.export.export(module, args).module(), quantizer)
                    for batch in calibration:
                        prepared(*batch)
                    module = convert_pt2e(prepared)
                program = torch.export.export(module, args)
                edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
                data = edge.to_executorch().buffer
        except Exception as err:  # noqa: BLE001 - a lowering failure: one line
            raise RuntimeUseError(f"runtime={self.name}", dtype, "a module torch.export and XNNPACK lower",
                                  first_line(err)) from None
        return Artifact(bytes(data), ".pte", weight_bytes(module if dtype != "int8" else prepared, dtype),
                        tuple(f"input{i}" for i in range(len(inputs))))

    def session(self, artifact: Artifact, threads: int):
        # its C++ logs (cpuinfo probing ARM-only files, "Resetting threadpool to 1 threads") are not for users
        with _quiet(), _quiet_native_stderr():
            import executorch.extension.pybindings.portable_lib as lib
            from executorch.runtime import Runtime

            if lib._threadpool_get_thread_count() != threads:
                lib._unsafe_reset_threadpool(threads)
        method = Runtime.get().load_program(artifact.data).load_method("forward")

        def run(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
            return method.execute(tuple(inputs))[0]

        return run
