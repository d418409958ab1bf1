"""ONNX Runtime (CPU execution provider): ONNX by the dynamo exporter; int8 by its static quantization."""

from __future__ import annotations

from typing import Sequence

import torch

from nas.runtimes.base import Artifact, Backend, weight_bytes
from nas.runtimes.onnx_export import export_onnx, input_names, quantize_onnx


def session_options(threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return so


class OnnxRuntime(Backend):
    name = "onnxruntime"
    package = "onnxruntime"
    also_needs = ("onnx", "onnxscript")
    extra = "onnxruntime"
    # op costs fitted on 300 whole networks (nas.latency.fit_entries): on the 2-core test CPU (fbnet, 100
    # fresh nets timed whole, 2026-12-02) 100% within +-10% at Kendall tau 0.955 / 0.970-0.977 for fp32 / int8,
    # where ops timed inside networks (op_timing=net) reached tau 0.88 / 0.72 and as programs less
    # (docs/latency_tables.md); OpenVINO inherits it (fp32 / int8: 100%, tau 0.959 / 0.919-0.932 with the
    # rank-keeping calibration; net: 0.82 / 0.74)
    op_timing = {"float32": "fit", "int8": "fit"}

    def export(self, module, inputs, dtype, calibration) -> Artifact:
        where = f"runtime={self.name}"
        data = export_onnx(module, inputs, where)
        if dtype == "int8":
            data = quantize_onnx(data, calibration, where)
        return Artifact(data, ".onnx", weight_bytes(module, dtype), input_names(len(inputs)))

    def session(self, artifact: Artifact, threads: int):
        import onnxruntime as ort

        sess = ort.InferenceSession(artifact.data, session_options(threads), providers=["CPUExecutionProvider"])
        names = artifact.input_names

        def run(inputs: Sequence[torch.Tensor]) -> torch.Tensor:
            return torch.from_numpy(sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0])

        return run
