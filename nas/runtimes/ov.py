"""OpenVINO (CPU plugin): it reads the ONNX program of the dynamo exporter (int8: the QDQ model of ONNX
Runtime's static quantization, which OpenVINO executes in int8), compiled with a latency hint and
the pinned thread count."""

from __future__ import annotations

import io
from typing import Sequence

import torch

from nas.runtimes.base import Artifact, Backend, weight_bytes
from nas.runtimes.onnx_export import export_onnx, input_names, quantize_onnx


class OpenVino(Backend):
    name = "openvino"
    package = "openvino"
    also_needs = ("onnx", "onnxscript")
    extra = "openvino"

    def export(self, module, inputs, dtype, calibration) -> Artifact:
        where = f"runtime={self.name}"
        data = export_onnx(module, inputs, where)
        if dtype == "int8":
            data = quantize_onnx(data, calibration, where)
        return Artifact(data, ".onnx", weight_bytes(module, dtype), input_names(len(inputs)))

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
