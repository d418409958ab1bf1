"""The hook ``nas.latency.measure`` calls when a setting names a runtime: lower the module (outside
inference mode, which ``torch.export`` does not trace under), cached by its content."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from torch import nn

from nas.runtimes import get_runtime, lower
from nas.runtimes.base import Lowered


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
