"""OpenVINO (CPU plugin): it reads the ONNX program of the dynamo exporter (int8: the QDQ model of ONNX
Runtime's static quantization, which OpenVINO executes in int8), compiled with a latency hint and
the pinned thread count."""

from __future__ import annotations

import io
from typing import Sequence

import torch

from nas.runtimes.base import Artifact
from nas.runtimes.ort import OnnxRuntime


class OpenVino(OnnxRuntime):
    """Exports as ONNX Runtime does (the same ONNX program; int8 by ONNX Runtime's quantizer)."""

    name = "openvino"
    package = "openvino"
    also_needs = ("onnx", "onnxscript", "onnxruntime")
    extra = "openvino"

    def session(self, artifact: Artifact, threads: int):
        import openvino as ov

        model = ov.convert_model(io.BytesIO(artifact.data))
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                          "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()

        def run(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
            request.infer([x.numpy() for x in inputs], share_inputs=True)
            return torch.from_numpy(request.get_output_tensor(0).data.copy())

        return run

    def version(self) -> str:
        self.require()
        import openvino as ov

        return ov.get_version().split("-")[0]
