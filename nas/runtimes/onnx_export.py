"""ONNX programs for ONNX Runtime and OpenVINO: ``torch.export``-based (dynamo) exporter, and int8 by
ONNX Runtime's static quantization (QDQ format, per-channel int8 weights, uint8 activations,
calibrated on the given batches)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from typing import Sequence

import numpy as np
import torch
from torch import nn

from nas.runtimes.base import RuntimeUseError, first_line


@contextlib.contextmanager
def quiet_export():
    """The exporter's warnings and its chatter on stdout/stderr (it prints per-op notes)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
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


def input_names(n: int):
    return tuple(f"input{i}" for i in range(n))


def export_onnx(module: nn.Module, inputs: Sequence[torch.Tensor], where: str) -> bytes:
    """ONNX bytes of ``module`` (static shapes of ``inputs``), by the dynamo exporter."""
    try:
        with quiet_export():
            program = torch.onnx.export(module, tuple(inputs), None, dynamo=True, verbose=False,
                                        input_names=list(input_names(len(inputs))), output_names=["output0"])
        return program.model_proto.SerializeToString()
    except Exception as err:  # noqa: BLE001 - an exporter failure: one line
        raise RuntimeUseError(where, "onnx", "a module the torch.export-based ONNX exporter converts",
                              first_line(err)) from None


def quantize_onnx(model: bytes, calibration: Sequence[Sequence[torch.Tensor]], where: str) -> bytes:
    """Static int8 quantization (QDQ) of an ONNX model, calibrated on ``calibration`` batches."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        from nas.runtimes.base import RuntimeUnavailable

        raise RuntimeUnavailable(where, "onnxruntime", "onnxruntime installed for int8 (its static quantization): "
                                 "pip install -e '.[onnxruntime]'") from None

    names = input_names(len(calibration[0]))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{n: x.numpy().astype(np.float32) for n, x in zip(names, b)} for b in calibration])

        def get_next(self):
            return next(self.batches, None)

    try:
        with tempfile.TemporaryDirectory(prefix="nas-quant-") as d, quiet_export():
            src, pre, out = (os.path.join(d, f) for f in ("model.onnx", "pre.onnx", "int8.onnx"))
            with open(src, "wb") as f:
                f.write(model)
            logging.getLogger().setLevel(logging.WARNING)
            import onnxruntime

            onnxruntime.set_default_logger_severity(3)  # its calibration sessions' "Removing initializer" lines
            quant_pre_process(src, pre, skip_symbolic_shape=True)
            quantize_static(pre, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            with open(out, "rb") as f:
                return f.read()
    except Exception as err:  # noqa: BLE001
        raise RuntimeUseError(where, "int8", "a model ONNX Runtime's static quantization handles",
                              first_line(err)) from None
