"""Deployment artefacts of a standalone module: frozen TorchScript (BatchNorm folded) and ONNX.

- TorchScript: ``torch.jit.script`` then ``torch.jit.freeze``, whose frozen-graph optimisations fold
  every BatchNorm that directly follows a convolution into that convolution's weights and bias.
  A BatchNorm that reads anything else (the pre-activation BN of DenseNet, CondenseNet and PVANet,
  applied to a concatenation or an index-select), or a convolution whose output is also read
  elsewhere (DenseNet's CIFAR stem, whose output is concatenated too), cannot be folded and stays, as
  an inference-mode ``batch_norm``; :func:`batchnorm_report` counts each kind.
  (``torch.jit.optimize_for_inference`` would also convert to MKLDNN layouts, which ties the file to
  CPUs with oneDNN, so it is not used.) Folding changes float32 rounding: on CIFAR-sized nets with
  logits of order 1 the frozen file stays within ~1e-5 of the unfolded network; a BatchNorm whose
  running variance is near zero (a dead channel) multiplies that rounding by up to ``1/sqrt(eps)``.
- ONNX (the optional ``export`` extra: onnx, onnxruntime): the TorchScript-based exporter, which needs
  only ``onnx``; where this torch no longer has it, the ``torch.export``-based one (needs onnxscript).
  The batch dimension is dynamic.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, Optional

import torch
from torch import nn

CONV_KINDS = ("aten::conv2d", "aten::_convolution", "aten::conv1d", "aten::conv3d")


@contextmanager
def quiet() -> Iterator[None]:
    """Silence torch.jit / torch.onnx deprecation and tracer warnings around export calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load_source(path: str | Path) -> ModuleType:
    """Import a generated file under a unique module name (TorchScript needs it in ``sys.modules``)."""
    path = Path(path)
    name = f"_nas_export_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _nodes(graph) -> Iterator[Any]:
    for node in graph.nodes():
        yield node
        for block in node.blocks():
            yield from _nodes(block)


def freeze(net: nn.Module) -> torch.jit.ScriptModule:
    """Scripted, frozen (eval mode) module with conv-BatchNorm pairs folded."""
    with quiet():
        return torch.jit.freeze(torch.jit.script(net.eval()))


def foldable(node) -> bool:
    """Whether a ``batch_norm`` graph node could be folded: it reads a conv output nothing else reads."""
    value = node.inputsAt(0)
    return value.node().kind() in CONV_KINDS and len(value.uses()) == 1


def batchnorm_report(net: nn.Module, frozen: torch.jit.ScriptModule) -> Dict[str, int]:
    """BatchNorm modules in ``net``; how many the frozen graph still runs, and how many of those were foldable."""
    total = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    left = [n for n in _nodes(frozen.graph) if n.kind() == "aten::batch_norm"]
    return {"total": total, "folded": total - len(left), "left": len(left),
            "left_foldable": sum(foldable(n) for n in left)}


def onnx_status() -> Optional[str]:
    """None when ONNX export and checking are available, else why not."""
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return (f"skipped: {' and '.join(missing)} not installed (install the export extra: "
                "pip install -e '.[export]')")
    return None


def export_onnx(net: nn.Module, example: torch.Tensor, path: str | Path, exporter: str = "auto") -> str:
    """Write ``net`` (eval mode) as ONNX with a dynamic batch axis; returns the exporter used.

    ``exporter``: ``torchscript`` (needs onnx), ``dynamo`` (``torch.export``-based, needs onnxscript), or
    ``auto``: torchscript, and dynamo where this torch has no torchscript exporter any more.
    """
    net = net.eval()
    names = dict(input_names=["input"], output_names=["logits"])
    with quiet():
        if exporter in ("auto", "torchscript"):
            try:
                torch.onnx.export(net, (example,), str(path), dynamo=False,
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **names)
                return "torchscript"
            except (TypeError, NotImplementedError) as err:  # the legacy exporter is gone
                if exporter == "torchscript":
                    raise
                if importlib.util.find_spec("onnxscript") is None:
                    raise RuntimeError(f"this torch has no TorchScript-based ONNX exporter ({err}); the "
                                       "torch.export-based one needs onnxscript (pip install onnxscript)") from err
        program = torch.onnx.export(net, (example,), None, dynamo=True, verbose=False,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
        program.save(str(path))
        return "dynamo"


def run_onnx(path: str | Path, x: torch.Tensor) -> torch.Tensor:
    """Outputs of the ONNX file under onnxruntime (CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
