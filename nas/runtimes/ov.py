"""OpenVINO (CPU plugin): it reads the ONNX program of the dynamo exporter (int8: the QDQ model of ONNX
Runtime's static quantization, which OpenVINO executes in int8), compiled with a latency hint and
the pinned thread count."""

from __future__ import annotations

import functools
from typing import Sequence

import torch

from nas.runtimes.base import Artifact
from nas.runtimes.ort import OnnxRuntime


@functools.lru_cache(maxsize=1)
def _core():
    """One OpenVINO Core per process: a new one per session made every reload (the copies that time an
    op in context, up to 64 per op) cost ~0.9 s instead of ~0.08 s."""
    import openvino as ov

    return ov.Core()


@functools.lru_cache(maxsize=8)
def read_program(data: bytes):
    """The ONNX program read into an OpenVINO model once per artifact (each copy compiles it again; an
    export saves it), by
    the Core's ONNX reader: ``ov.convert_model`` gives the same model, but each call also sends
    OpenVINO's telemetry from forked copies of this process, which took ~50% of a core each while
    the next programs were timed (seen by py-spy on the 2-core test CPU; offline, the sends fail)."""
    return _core().read_model(data)


class OpenVino(OnnxRuntime):
    """Exports as ONNX Runtime does (the same ONNX program; int8 by ONNX Runtime's quantizer)."""

    name = "openvino"
    package = "openvino"
    also_needs = ("onnx", "onnxscript", "onnxruntime")
    extra = "openvino"

    def session(self, artifact: Artifact, threads: int):
        model = read_program(artifact.data)
        # f32 stated: the CPU plugin's default is bf16 on a CPU with native bf16 (avx512_bf16, AMX), which
        # made float32 programs 1e-2 off the eager net and timed another dtype than the table says
        compiled = _core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                        "PERFORMANCE_HINT": "LATENCY",
                                                        "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()

        def run(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
            request.infer([x.numpy() for x in inputs], share_inputs=True)
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

        return run

    def version(self) -> str:
        self.require()
        import openvino as ov

        return ov.get_version().split("-")[0]
