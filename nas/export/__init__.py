"""Export found nets and baselines as standalone PyTorch code, weights, TorchScript and ONNX.

>>> from nas.export import export_arch, export_model
>>> export_arch("runs/fbnet/arch.yaml", "exported/fbnet_a", weights="runs/fbnet/supernet.pt")
>>> export_model("mobilenetv2_100", "exported/mbv2", variant="cifar")

``python -m nas.export arch=<arch file> [weights=<checkpoint>] out=<dir>`` (or ``model=<name>``) does
the same from the command line. :func:`generate` gives the standalone source of any network that a
callable builds from this package's blocks.
"""

from nas.export.codegen import build_recorded, generate, write_source
from nas.export.errors import ExportError
from nas.export.export import ExportResult, Target, arch_target, export, export_arch, export_model, model_target
from nas.export.weights import CHECKPOINT_KEYS, read_state_dict

__all__ = ["CHECKPOINT_KEYS", "ExportError", "ExportResult", "Target", "arch_target", "build_recorded", "export",
           "export_arch", "export_model", "generate", "model_target", "read_state_dict", "write_source"]
