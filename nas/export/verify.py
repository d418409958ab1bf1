"""Run exported networks in a fresh Python interpreter where this package cannot be imported.

:func:`run_fresh` starts ONE subprocess (current Python, working directory a temporary folder) whose
``sys.meta_path`` refuses ``nas`` and ``nas.*``. For each export directory it imports the generated
``<name>.py`` from its path, loads ``weights.pt`` with ``weights_only=True``, and runs it, the
TorchScript file and (when onnxruntime is installed there) the ONNX file, where present, on the given
inputs.
Outputs come back through a file; comparing them with the in-package network is the caller's job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch

from nas.export.errors import ExportError

SCRIPT = r'''
import importlib.abc, importlib.util, os, sys


class NoNas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "nas" or name.startswith("nas."):
            raise ModuleNotFoundError(f"{name} is blocked: exported code must not need it")
        return None


sys.meta_path.insert(0, NoNas())
import torch

torch.set_num_threads(1)
job = torch.load(sys.argv[1], weights_only=True)
try:
    import onnxruntime
except ImportError:
    onnxruntime = None
results = []
for i, (folder, name) in enumerate(job["items"]):
    x = job["inputs"][i]
    spec = importlib.util.spec_from_file_location(f"exported_{i}_{name}", f"{folder}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    net = module.build_model()
    net.load_state_dict(torch.load(f"{folder}/weights.pt", weights_only=True))
    net.eval()
    out = {}
    with torch.no_grad():
        out["standalone"] = net(x)
        if os.path.exists(f"{folder}/{name}.torchscript.pt"):
            out["torchscript"] = torch.jit.load(f"{folder}/{name}.torchscript.pt")(x)
    onnx_file = f"{folder}/{name}.onnx"
    if onnxruntime is not None and os.path.exists(onnx_file):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
        out["onnx"] = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    results.append(out)
nas_seen = sorted(m for m in sys.modules if m == "nas" or m.startswith("nas."))
torch.save({"results": results, "nas_modules": nas_seen}, sys.argv[2])
'''


def run_fresh(items: Sequence[Tuple[str | os.PathLike, str]], inputs: Sequence[torch.Tensor],
              timeout: float = 600) -> List[Dict[str, torch.Tensor]]:
    """Outputs ``{"standalone", "torchscript"[, "onnx"]}`` of each ``(export dir, name)`` on its input."""
    with tempfile.TemporaryDirectory(prefix="nas-export-fresh-") as tmp:
        job, result = Path(tmp) / "job.pt", Path(tmp) / "result.pt"
        torch.save({"items": [(str(Path(d).resolve()), n) for d, n in items], "inputs": list(inputs)}, job)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(job), str(result)], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ExportError("fresh interpreter", "run", "the exported files to run without nas", last)
        data = torch.load(result, weights_only=True)
    if data["nas_modules"]:
        raise ExportError("fresh interpreter", "imports", "no nas module loaded", data["nas_modules"])
    return data["results"]
